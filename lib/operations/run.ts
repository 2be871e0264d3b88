/**
 * Running a stored image as a container: new mount, PID, UTS, IPC (and
 * network) namespaces made by util-linux `unshare`, an overlay root over
 * the stored layers, cgroup limits, and the image's command as PID 1
 * (see `lib/runtime/_init.ts` for what happens inside).
 *
 * @module
 */

import { join, relative } from "node:path";
import { DenockerError, ImageNotFoundError, InvalidInputError } from "../errors.ts";
import { parseReference } from "../model/reference.ts";
import {
  type FoundImage,
  type Store,
  storeOf,
  type StoreOptions,
  storeParts,
} from "../store/store.ts";
import { withLock } from "../store/_lock.ts";
import { requireAllPermissions } from "../_permissions.ts";
import { createCgroup, removeCgroup } from "../runtime/_cgroup.ts";
import {
  chainIds,
  lowerDirectories,
  overlayDirectory,
  prepareLayer,
  type StackLayer,
} from "../runtime/_overlay.ts";
import { lstatIfExists } from "../store/_fs.ts";
import {
  type ContainerRecord,
  ContainerStore,
  exitStatus,
  type ProcessRef,
  processStart,
} from "../runtime/containers.ts";
import { pull, type PullOptions, type PullResult } from "./pull.ts";
import { flatten } from "./_flatten.ts";

/** Options for {@link startContainer}. */
export interface RunOptions extends StoreOptions {
  /** The container's name; a generated one by default. */
  name?: string;
  /** Hostname inside; the ID's first 12 digits by default. */
  hostname?: string;
  /** `KEY=VALUE` entries over the image's `Env`; a bare `KEY` takes this process's value. */
  env?: string[];
  /** Working directory inside; the image's `WorkingDir`, else `/`. */
  workdir?: string;
  /** `uid[:gid]` or `name[:group]`; the image's `User`, else root. */
  user?: string;
  /** Memory limit in bytes (a process over it is killed). */
  memory?: number;
  /** CPU quota, in CPUs. */
  cpus?: number;
  /** Most processes and threads. */
  pidsLimit?: number;
  /** `none` (default: a network namespace with only `lo`) or `host`. */
  network?: "none" | "host";
  /** Mount the root read-only. */
  readOnly?: boolean;
  /** Remove the container when it ends. */
  remove?: boolean;
  /** How a missing image is pulled (transport options and progress). */
  pull?: Omit<PullOptions, "root" | "store">;
  /** Called when the image is not stored, before it is pulled. */
  onPull?: (reference: string) => void;
  /** Called when that pull is done. */
  onPulled?: (result: PullResult) => void;
  /** Where the container's stdin, stdout and stderr go; the caller's by default. */
  stdio?: "inherit" | "null";
  /**
   * The root: an overlay over the stored layers, or a copy of the image
   * made for the container (slower to start, more disk). By default the
   * overlay, or the copy where the kernel has no overlayfs.
   */
  rootfs?: "overlay" | "copy";
  /** Told what the user should know (e.g. that the root is a copy). */
  onWarning?: (message: string) => void;
}

/** A container that was started. */
export interface RunningContainer {
  /** 64 hex digits. */
  id: string;
  /** Its name. */
  name: string;
  /**
   * Sends a signal to the container's first process. As for any PID 1, a
   * signal it has no handler for is ignored, but for SIGKILL.
   */
  kill(signal: Deno.Signal): void;
  /** Settles with the exit status once the container has ended (and was cleaned up). */
  exited: Promise<number>;
}

const ADJECTIVES = [
  "brave",
  "calm",
  "eager",
  "fond",
  "keen",
  "lucid",
  "merry",
  "quiet",
  "swift",
  "wise",
];
const NAMES = [
  "babbage",
  "curie",
  "darwin",
  "euler",
  "gauss",
  "hopper",
  "lovelace",
  "noether",
  "turing",
  "wu",
];

function generatedName(id: string): string {
  const n = parseInt(id.slice(0, 8), 16);
  return `${ADJECTIVES[n % ADJECTIVES.length]}_${NAMES[(n >> 8) % NAMES.length]}_${id.slice(0, 4)}`;
}

async function self(): Promise<ProcessRef> {
  return { pid: Deno.pid, start: (await processStart(Deno.pid)) ?? "" };
}

/** The image `text` names, pulled when it is a reference to an image not stored. */
async function findOrPull(store: Store, text: string, options: RunOptions): Promise<FoundImage> {
  try {
    return await store.find(text);
  } catch (error) {
    if (!(error instanceof ImageNotFoundError) && !(error instanceof InvalidInputError)) {
      throw error;
    }
    let reference;
    try {
      reference = parseReference(text);
    } catch {
      throw error;
    }
    options.onPull?.(text);
    options.onPulled?.(await pull(reference, { ...options.pull, store }));
    return await store.find(text);
  }
}

/** The image's config section (`Env`, `Cmd`, …) as docker names its fields. */
interface RuntimeConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
}

function environment(image: string[], given: string[], hostname: string): string[] {
  const entries = new Map<string, string>();
  const add = (entry: string) => {
    const at = entry.indexOf("=");
    if (at < 0) {
      const value = Deno.env.get(entry);
      if (value !== undefined) entries.set(entry, value);
      return;
    }
    entries.set(entry.slice(0, at), entry.slice(at + 1));
  };
  add("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  add(`HOSTNAME=${hostname}`);
  for (const entry of image) add(entry);
  for (const entry of given) add(entry);
  return [...entries].map(([key, value]) => `${key}=${value}`);
}

/** How the init is started: this program again (compiled), or Deno running the init module. */
function initCommand(containerJson: string): string[] {
  if (Deno.build.standalone) return [Deno.execPath(), "__container-init", containerJson];
  return [
    Deno.execPath(),
    "run",
    "--allow-all",
    "--no-config",
    "--quiet",
    new URL("../runtime/_init.ts", import.meta.url).href,
    containerJson,
  ];
}

/** The host PID of `parent`'s first child, waited for (unshare forks it at once). */
async function firstChild(parent: number): Promise<number | undefined> {
  for (let attempt = 0; attempt < 500; attempt++) {
    try {
      const text = await Deno.readTextFile(`/proc/${parent}/task/${parent}/children`);
      const child = Number(text.trim().split(" ")[0]);
      if (child > 0) return child;
    } catch {
      return undefined; // The parent is gone.
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return undefined;
}

/** Makes the container's directory and record (under the containers lock: names are unique). */
async function createContainer(
  store: Store,
  containers: ContainerStore,
  found: FoundImage,
  image: string,
  command: string[],
  options: RunOptions,
): Promise<ContainerRecord> {
  const { record, config } = await store.image(found.record.id);
  const runtime = (config.config ?? {}) as RuntimeConfig;
  const args = [
    ...(runtime.Entrypoint ?? []),
    ...(command.length > 0 ? command : runtime.Cmd ?? []),
  ];
  if (args.length === 0) {
    throw new InvalidInputError(`Cannot run ${image}: no command given and the image has none`);
  }
  const id = Array.from(crypto.getRandomValues(new Uint8Array(32)))
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
  const network = options.network ?? "none";
  const hostname = options.hostname ??
    (network === "host"
      ? (await Deno.readTextFile("/proc/sys/kernel/hostname")).trim()
      : id.slice(0, 12));
  const diffIds = record.layers.map((layer) => layer.diffId);
  const chains = chainIds(diffIds);
  const stack: StackLayer[] = diffIds.map((diffId, i) => ({ diffId, chainId: chains[i] }));
  const { layers } = storeParts(store);
  const mode = options.rootfs ?? (await overlayAvailable() ? "overlay" : "copy");
  if (mode === "copy" && options.rootfs === undefined) {
    options.onWarning?.(
      "the kernel has no overlayfs: the container runs on a copy of the image (slower to start, more disk)",
    );
  }
  // Each layer stack is prepared once; after that a container needs no staging.
  const ready = mode === "copy" || (await Promise.all(
    stack.map((layer) => lstatIfExists(overlayDirectory(store.root, layer.chainId))),
  )).every(Boolean);
  const holding = <T>(fn: (staging: string) => Promise<T>) =>
    ready ? store.whileReading(() => fn("")) : store.whileAdding(fn);
  return await holding(async (staging) => {
    for (let i = 0; i < stack.length && !ready; i++) {
      await prepareLayer(store.root, layers, stack, i, staging);
    }
    const lowers = mode === "copy" ? [] : await lowerDirectories(store.root, layers, stack);
    await Deno.mkdir(containers.directory, { recursive: true });
    const container = await withLock(
      `${containers.directory}.lock`,
      { exclusive: true },
      async () => {
        const name = options.name ?? generatedName(id);
        if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
          throw new InvalidInputError(
            `Cannot create container: invalid name "${name}"; use letters, digits, _ . -`,
          );
        }
        const taken = (await containers.list()).find((other) => other.name === name);
        if (taken) {
          throw new InvalidInputError(
            `Cannot create container: the name "${name}" is already in use by container ${
              taken.id.slice(0, 12)
            }; remove it or choose another name`,
          );
        }
        const directory = containers.path(id);
        await Deno.mkdir(directory);
        for (const part of ["upper", "work", "rootfs", "lower"]) {
          await Deno.mkdir(join(directory, part));
        }
        // The root's own attributes show from the upper directory: those of the top layer's root.
        const top = lowers.length > 0 ? await Deno.stat(lowers[0]) : undefined;
        if (top) {
          await Deno.chmod(join(directory, "upper"), (top.mode ?? 0o755) & 0o7777);
          await Deno.chown(join(directory, "upper"), top.uid, top.gid);
        }
        const empty = join(directory, "empty");
        if (lowers.length === 0) await Deno.mkdir(empty);
        for (const [i, lower] of (lowers.length > 0 ? lowers : [empty]).entries()) {
          await Deno.symlink(
            relative(join(directory, "lower"), lower),
            join(directory, "lower", String(i)),
          );
        }
        await Deno.writeTextFile(join(directory, "hostname"), `${hostname}\n`);
        await Deno.writeTextFile(
          join(directory, "hosts"),
          network === "host"
            ? await Deno.readTextFile("/etc/hosts").catch(() => "127.0.0.1\tlocalhost\n")
            : `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
        );
        await Deno.writeTextFile(
          join(directory, "resolv.conf"),
          await Deno.readTextFile("/etc/resolv.conf").catch(() => ""),
        );
        const cgroups = await createCgroup(id, {
          memory: options.memory,
          cpus: options.cpus,
          pids: options.pidsLimit,
        }).catch(async (error) => {
          await Deno.remove(directory, { recursive: true });
          throw error;
        });
        const container: ContainerRecord = {
          id,
          name,
          image,
          imageId: record.id,
          diffIds,
          command: args,
          created: new Date().toISOString(),
          state: "created",
          autoRemove: options.remove ?? false,
          owner: await self(),
          cgroups,
          spec: {
            directory,
            rootfs: mode,
            lowerCount: Math.max(lowers.length, 1),
            hostname,
            env: environment(runtime.Env ?? [], options.env ?? [], hostname),
            args,
            cwd: options.workdir ?? (runtime.WorkingDir || "/"),
            user: options.user ?? runtime.User ?? "",
            network,
            readOnly: options.readOnly ?? false,
            cgroupProcs: cgroups.map((cgroup) => join(cgroup, "cgroup.procs")),
          },
        };
        await containers.save(container);
        return container;
      },
    );
    if (mode === "copy") {
      try {
        await Deno.mkdir(join(container.spec.directory, "copy"));
        await flatten(layers, record, join(container.spec.directory, "copy"), {
          preserveOwnership: true,
        });
      } catch (error) {
        await containers.remove(container).catch(() => {});
        throw error;
      }
    }
    return container;
  });
}

/** Whether the kernel has overlayfs (listed in /proc/filesystems, or loadable as a module). */
async function overlayAvailable(): Promise<boolean> {
  const listed = await Deno.readTextFile("/proc/filesystems").catch(() => "");
  if (/\toverlay$/m.test(listed)) return true;
  const release = await Deno.readTextFile("/proc/sys/kernel/osrelease").catch(() => "");
  return await lstatIfExists(`/lib/modules/${release.trim()}/kernel/fs/overlayfs`) !== undefined;
}

/**
 * Starts an image as a container in the foreground: pulls it when it is
 * not stored (a reference), makes the container (overlay root, files,
 * cgroup with the limits), and starts its command, the image's
 * `Entrypoint` + `Cmd` unless `command` replaces the `Cmd`, with the
 * image's `Env`, `WorkingDir` and `User` unless options override them.
 * Linux only, as root; needs util-linux `unshare` and coreutils `timeout`.
 *
 * Requires every permission (`--allow-all`): Deno lets only that read the
 * `/proc` and `/sys` files containers need.
 *
 * @example
 * ```ts
 * import { startContainer } from "@denocker/denocker";
 * const container = await startContainer("busybox", ["echo", "hello"], {
 *   root: "/var/lib/denocker",
 *   remove: true,
 * });
 * console.log(await container.exited); // 0
 * ```
 *
 * @param image A stored image's name or ID, or a reference to pull.
 * @param command Replaces the image's `Cmd` when not empty.
 * @param options Store, limits, and the rest.
 * @returns The running container.
 */
export async function startContainer(
  image: string,
  command: string[],
  options: RunOptions,
): Promise<RunningContainer> {
  if (Deno.build.os !== "linux") throw new DenockerError("Cannot run containers: they need Linux");
  requireAllPermissions("run containers");
  if (Deno.uid() !== 0) {
    throw new DenockerError("Cannot run containers: denocker needs to run as root for that");
  }
  const store = await storeOf(options, { create: true });
  const containers = new ContainerStore(store.root);
  await containers.reap();
  const found = await findOrPull(store, image, options);
  const record = await createContainer(store, containers, found, image, command, options);
  const unshare = new Deno.Command("unshare", {
    args: [
      "--mount",
      "--uts",
      "--ipc",
      "--pid",
      ...(record.spec.network === "none" ? ["--net"] : []),
      "--",
      // unshare itself stays outside the new PID namespace; timeout (without a time limit)
      // forks the init into it as PID 1, passes signals on, and ends as the container's
      // first process ends: with its code, or killed by the same signal. (`unshare --fork`
      // cannot: it fails with a message of its own when its child is killed by SIGKILL.)
      "timeout",
      "--foreground",
      "0",
      ...initCommand(join(containers.path(record.id), "container.json")),
    ],
    stdin: options.stdio ?? "inherit",
    stdout: options.stdio ?? "inherit",
    stderr: options.stdio ?? "inherit",
  });
  let child: Deno.ChildProcess;
  try {
    child = unshare.spawn();
  } catch (error) {
    await containers.remove(record).catch(() => {});
    throw new DenockerError(
      `Cannot run containers: util-linux unshare could not be started (${
        (error as Error).message
      })`,
      { cause: error },
    );
  }
  const pid = await firstChild(child.pid);
  const start = pid === undefined ? undefined : await processStart(pid);
  record.state = "running";
  record.started = new Date().toISOString();
  if (pid !== undefined && start !== undefined) record.process = { pid, start };
  await containers.save(record);
  const exited = (async () => {
    const status = exitStatus(await child.status);
    await removeCgroup(record.cgroups);
    if (record.autoRemove) {
      await containers.remove(record);
    } else {
      await containers.save({
        ...record,
        state: "exited",
        exitCode: status,
        finished: new Date().toISOString(),
        process: undefined,
        owner: undefined,
      });
    }
    return status;
  })();
  return {
    id: record.id,
    name: record.name,
    kill(signal) {
      try {
        if (record.process) Deno.kill(record.process.pid, signal);
      } catch {
        // Already ended.
      }
    },
    exited,
  };
}
