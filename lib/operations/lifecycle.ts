/**
 * A container's life after `run`: stop, kill, start again, restart, wait
 * for its end, rename, prune the ended ones, and list its processes.
 *
 * @module
 */

import { DenockerError, InvalidInputError } from "../errors.ts";
import type { StoreOptions } from "../store/store.ts";
import { withLock } from "../io/lock.ts";
import { lstatIfExists } from "../io/fs.ts";
import {
  type ContainerRecord,
  type ContainerStore,
  freeName,
  isAlive,
  stopMarkerPath,
} from "../runtime/containers.ts";
import { startMonitor } from "../runtime/launch.ts";
import { unmountStale } from "./container_copy.ts";
import { join } from "../io/path.ts";
import { hostEnvironment, hostTool } from "../runtime/host_tools.ts";
import {
  containersOf,
  findContainer,
  namespaceMembers,
  running,
  settled,
  waitGone,
} from "./_container_lookup.ts";

/** Sends a signal to a container's first process; false when it had ended. */
function signal(record: ContainerRecord, name: Deno.Signal): boolean {
  try {
    Deno.kill(record.process!.pid, name);
    return true;
  } catch {
    return false;
  }
}

/** Marks a stop that was asked for: the monitor does not restart the container. */
async function markStopped(record: ContainerRecord): Promise<void> {
  await Deno.writeTextFile(stopMarkerPath(record.spec.directory), "").catch(() => {});
}

/**
 * Stops a running container as docker does: its stop signal (`--stop-signal`,
 * SIGTERM by default) to its first process, then SIGKILL after `timeout`
 * seconds (its `--stop-timeout`, else 10). Its `--restart` policy does not
 * start it again. Stopping an ended container does nothing.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @example
 * ```ts
 * import { stopContainer } from "@denocker/denocker";
 * await stopContainer("web", { root: "/var/lib/denocker", timeout: 2 });
 * ```
 *
 * @param name A container's name or ID (prefix).
 * @param options The store; the grace period in seconds.
 * @returns The container's ID.
 */
export async function stopContainer(
  name: string,
  options: StoreOptions & { timeout?: number } = {},
): Promise<string> {
  const { containers, record } = await findContainer(name, options);
  if (record.state === "running" || record.state === "restarting") await markStopped(record);
  if (await running(record)) {
    const first = (record.stopSignal ?? "SIGTERM") as Deno.Signal;
    const timeout = options.timeout ?? record.stopTimeout ?? 10;
    if (signal(record, first) && !(await waitGone(record, timeout * 1000))) {
      signal(record, "SIGKILL");
      await waitGone(record, 5000);
    }
  }
  await settled(containers, record.id);
  return record.id;
}

/**
 * Sends a signal to a running container's first process (SIGKILL by
 * default), as `docker kill`; its `--restart` policy then does not start
 * it again. As for any PID 1, a signal its command has no handler for is
 * ignored, but for SIGKILL.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param name A container's name or ID (prefix).
 * @param options The store; the signal.
 * @returns The container's ID.
 * @throws {DenockerError} When it is not running.
 */
export async function killContainer(
  name: string,
  options: StoreOptions & { signal?: Deno.Signal } = {},
): Promise<string> {
  const { containers, record } = await findContainer(name, options);
  if (!(await running(record))) {
    throw new DenockerError(`Cannot kill container ${name}: it is not running`);
  }
  const sent = options.signal ?? "SIGKILL";
  await markStopped(record);
  if (!signal(record, sent)) {
    throw new DenockerError(`Cannot kill container ${name}: it is not running`);
  }
  if (sent === "SIGKILL") {
    await waitGone(record, 5000);
    await settled(containers, record.id);
  }
  return record.id;
}

/**
 * Starts an ended (or created) container again, detached: a monitor of its
 * own runs its command again on the same root (its files as it left
 * them), with the same limits and policy. A running one is left as it is.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @example
 * ```ts
 * import { startStoppedContainer } from "@denocker/denocker";
 * await startStoppedContainer("web", { root: "/var/lib/denocker" });
 * ```
 *
 * @param name A container's name or ID (prefix).
 * @param options The store; `holdOutput`: a `-i`/`-t` container's monitor keeps its output
 *   until a first client attaches (`start -ai`).
 * @returns The container's ID.
 */
export async function startStoppedContainer(
  name: string,
  options: StoreOptions & { holdOutput?: boolean } = {},
): Promise<string> {
  const { containers, record } = await findContainer(name, options);
  await withLock(containers.lockPath, { exclusive: true }, async () => {
    const current = await containers.read(record.id);
    if (!current) throw new InvalidInputError(`Cannot start container ${name}: no such container`);
    if (current.state === "running" || current.state === "restarting") {
      if (await isAlive(current.owner)) return;
    }
    current.owner = undefined;
    current.state = "created";
    await unmountStale(join(current.spec.directory, "rootfs"));
    await containers.save(current);
    await startMonitor(containers, current, options.holdOutput);
  });
  return record.id;
}

/**
 * Stops a container (see {@link stopContainer}) and starts it again.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param name A container's name or ID (prefix).
 * @param options The store; the grace period in seconds.
 * @returns The container's ID.
 */
export async function restartContainer(
  name: string,
  options: StoreOptions & { timeout?: number } = {},
): Promise<string> {
  const id = await stopContainer(name, options);
  return await startStoppedContainer(id, options);
}

/**
 * Waits for a container to end and returns its exit status, as `docker
 * wait`. A container whose `denocker run` died is cleaned up (and so ends)
 * while waiting.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @example
 * ```ts
 * import { waitContainer } from "@denocker/denocker";
 * const status = await waitContainer("web", { root: "/var/lib/denocker" });
 * ```
 *
 * @param name A container's name or ID (prefix).
 * @param options The store; an abort signal.
 * @returns Its exit status.
 */
export async function waitContainer(
  name: string,
  options: StoreOptions & { signal?: AbortSignal } = {},
): Promise<number> {
  const { containers, record } = await findContainer(name, options);
  const status = await containers.ended(record.id, options.signal);
  if (status === undefined) {
    throw new InvalidInputError(
      `Cannot wait for container "${name}": it was removed (--rm) before its status was read`,
    );
  }
  return status;
}

/**
 * Gives a container another name (unique among the store's containers).
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param name A container's name or ID (prefix).
 * @param newName Its new name.
 * @param options The store.
 * @returns The container's ID.
 */
export async function renameContainer(
  name: string,
  newName: string,
  options: StoreOptions = {},
): Promise<string> {
  const { containers, record } = await findContainer(name, options);
  await withLock(containers.lockPath, { exclusive: true }, async () => {
    const current = await containers.read(record.id);
    if (!current) throw new InvalidInputError(`Cannot rename container ${name}: no such container`);
    if (current.name === newName) {
      throw new InvalidInputError(
        `Cannot rename container ${name}: renaming a container with the same name as its current name`,
      );
    }
    current.name = await freeName(containers, newName);
    await containers.save(current);
  });
  return record.id;
}

/** What a container's directory holds on disk, in bytes (its upper layer, log, copy). */
async function directorySize(path: string): Promise<number> {
  let total = 0;
  const walk = async (directory: string) => {
    for await (const entry of Deno.readDir(directory)) {
      const full = `${directory}/${entry.name}`;
      const info = await Deno.lstat(full).catch(() => undefined);
      if (!info) continue;
      if (info.isDirectory) await walk(full);
      else total += info.size;
    }
  };
  await walk(path).catch(() => {});
  return total;
}

/**
 * Removes every ended container, as `docker container prune`.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param options The store.
 * @returns The IDs removed and the bytes their directories held.
 */
export async function pruneContainers(
  options: StoreOptions = {},
): Promise<{ removed: string[]; reclaimed: number }> {
  const containers = await containersOf(options);
  const removed: string[] = [];
  let reclaimed = 0;
  for (const record of await containers?.list() ?? []) {
    if (record.state !== "exited" && record.state !== "created") continue;
    // One being made (by a run, or for its monitor) is young; older ones were left by a crash.
    if (record.state === "created" && Date.now() - Date.parse(record.created) < 60_000) continue;
    if (await lstatIfExists(containers!.path(record.id))) {
      reclaimed += await directorySize(containers!.path(record.id));
    }
    await (containers as ContainerStore).remove(record);
    removed.push(record.id);
  }
  return { removed, reclaimed };
}

/**
 * The processes of a running container, as `docker top` shows them: the
 * host's procps `ps` (never a program of the container) over the PIDs in
 * the container's PID namespace.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param name A container's name or ID (prefix).
 * @param options The store; `ps` options (`-ef` by default, as docker).
 * @returns `ps`'s header and rows, each split in its columns.
 * @throws {DenockerError} When it is not running.
 */
export async function containerProcesses(
  name: string,
  options: StoreOptions & { psOptions?: string[] } = {},
): Promise<{ titles: string[]; processes: string[][] }> {
  const { record } = await findContainer(name, options);
  if (!(await running(record))) {
    throw new DenockerError(`Cannot list the processes of container ${name}: it is not running`);
  }
  const pids = new Set(await namespaceMembers(record.process!.pid));
  const ps = hostTool("ps", "procps");
  const output = await new Deno.Command(ps, {
    args: options.psOptions ?? ["-ef"],
    clearEnv: true,
    env: hostEnvironment(),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new DenockerError(
      `Cannot list the processes of container ${name}: ps failed: ${
        new TextDecoder().decode(output.stderr).trim().split("\n")[0]
      }`,
    );
  }
  const [header, ...lines] = new TextDecoder().decode(output.stdout).split("\n").filter(Boolean);
  const titles = header.trim().split(/\s+/);
  const pidColumn = titles.indexOf("PID");
  if (pidColumn < 0) {
    throw new InvalidInputError(`Cannot list the processes of container ${name}: ps shows no PID`);
  }
  // The last column (the command) may hold blanks: the line is split into as many columns.
  const split = (line: string) => {
    const parts = line.trim().split(/\s+/);
    return [...parts.slice(0, titles.length - 1), parts.slice(titles.length - 1).join(" ")];
  };
  const processes = lines.map(split).filter((row) => pids.has(Number(row[pidColumn])));
  return { titles, processes };
}
