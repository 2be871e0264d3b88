/**
 * Managing containers: list (`ps`), remove (`rm`), stop, and run another
 * command in a running one (`exec`).
 *
 * @module
 */

import { join } from "node:path";
import { DenockerError, InvalidInputError } from "../errors.ts";
import { storeOf, type StoreOptions } from "../store/store.ts";
import { lstatIfExists } from "../store/_fs.ts";
import { requireAllPermissions } from "../_permissions.ts";
import { resolveUser } from "../runtime/_init.ts";
import {
  type ContainerRecord,
  ContainerStore,
  type ContainerSummary,
  exitStatus,
  isAlive,
} from "../runtime/containers.ts";

export type { ContainerRecord, ContainerSummary };

/** The container `name` names (name, ID or ID prefix) among the store's, if it has any. */
function lookUp(containers: ContainerStore | undefined, name: string): Promise<ContainerRecord> {
  if (!containers) {
    throw new InvalidInputError(`Cannot find container "${name}": no such container`);
  }
  return containers.find(name);
}

/** The store's containers and the one `name` names. */
async function findContainer(
  name: string,
  options: StoreOptions,
): Promise<{ containers: ContainerStore; record: ContainerRecord }> {
  const containers = await containersOf(options);
  const record = await lookUp(containers, name);
  return { containers: containers!, record };
}

async function containersOf(options: StoreOptions): Promise<ContainerStore | undefined> {
  requireAllPermissions("manage containers");
  const store = await storeOf(options);
  const containers = new ContainerStore(store.root);
  if (!(await lstatIfExists(containers.directory))) return undefined;
  await containers.reap();
  return containers;
}

/**
 * Lists containers, newest first: running ones, and with `all` every one.
 * Containers whose `denocker run` died are cleaned first.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @example
 * ```ts
 * import { listContainers } from "@denocker/denocker";
 * for (const c of await listContainers({ root: "/var/lib/denocker", all: true })) {
 *   console.log(c.id.slice(0, 12), c.name, c.state);
 * }
 * ```
 *
 * @param options The store; `all` for exited containers too.
 * @returns The containers.
 */
export async function listContainers(
  options: StoreOptions & { all?: boolean },
): Promise<ContainerSummary[]> {
  const containers = await containersOf(options);
  if (!containers) return [];
  return (await containers.list())
    .filter((record) => options.all || record.state === "running")
    .map(({ id, name, image, imageId, command, created, state, started, finished, exitCode }) => ({
      id,
      name,
      image,
      imageId,
      command,
      created,
      state,
      started,
      finished,
      exitCode,
    }));
}

async function running(record: ContainerRecord): Promise<boolean> {
  return record.state === "running" && await isAlive(record.process);
}

/** Waits until a process is gone, up to `ms`; whether it is. */
async function waitGone(record: ContainerRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await isAlive(record.process))) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return !(await isAlive(record.process));
}

/**
 * Waits until the `denocker run` of a container has recorded its end (or
 * is gone, when the record is then cleaned here).
 */
async function settled(containers: ContainerStore, id: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    const record = await containers.read(id);
    if (!record || record.state === "exited") return;
    if (!(await isAlive(record.owner))) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await containers.reap();
}

/**
 * Stops a running container as docker does: SIGTERM to its first process,
 * then SIGKILL after `timeout` seconds (10 by default).
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param name A container's name or ID (prefix).
 * @param options The store; the grace period in seconds.
 * @returns The container's ID.
 */
export async function stopContainer(
  name: string,
  options: StoreOptions & { timeout?: number },
): Promise<string> {
  const { containers, record } = await findContainer(name, options);
  if (await running(record)) {
    try {
      Deno.kill(record.process!.pid, "SIGTERM");
    } catch {
      // Ended meanwhile.
    }
    if (!(await waitGone(record, (options.timeout ?? 10) * 1000))) {
      try {
        Deno.kill(record.process!.pid, "SIGKILL");
      } catch {
        // Ended meanwhile.
      }
      await waitGone(record, 5000);
    }
  }
  await settled(containers, record.id);
  return record.id;
}

/**
 * Removes containers; a running one only with `force` (it is killed first).
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param names Containers' names or IDs (prefixes).
 * @param options The store; `force` for running ones.
 * @returns The IDs removed.
 */
export async function removeContainers(
  names: string[],
  options: StoreOptions & { force?: boolean },
): Promise<string[]> {
  const containers = await containersOf(options);
  const records = [];
  for (const name of names) records.push(await lookUp(containers, name));
  const removed: string[] = [];
  for (const record of records) {
    if (await running(record)) {
      if (!options.force) {
        throw new InvalidInputError(
          `Cannot remove container ${record.name}: it is running; stop it or use --force`,
        );
      }
      Deno.kill(record.process!.pid, "SIGKILL");
      await waitGone(record, 5000);
      await settled(containers!, record.id);
    }
    const current = await containers!.read(record.id);
    if (current) await containers!.remove(current);
    removed.push(record.id);
  }
  return removed;
}

/** Options for {@link execInContainer}. */
export interface ExecOptions extends StoreOptions {
  /** `KEY=VALUE` entries over the container's environment. */
  env?: string[];
  /** Working directory inside; the container's by default. */
  workdir?: string;
  /** `uid[:gid]` or `name[:group]`; the container's user by default. */
  user?: string;
  /** Where stdin, stdout and stderr go; the caller's by default. */
  stdio?: "inherit" | "null";
}

/**
 * Runs a command in a running container: in its namespaces, root and
 * cgroup (util-linux `nsenter`), with its environment.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param name A container's name or ID (prefix).
 * @param command The command and its arguments.
 * @param options The store, environment, directory, user.
 * @returns The command's exit status (126/127 when it cannot be run or found).
 */
export async function execInContainer(
  name: string,
  command: string[],
  options: ExecOptions,
): Promise<number> {
  if (command.length === 0) throw new InvalidInputError("exec needs a COMMAND");
  const { record } = await findContainer(name, options);
  if (!(await running(record))) {
    throw new DenockerError(`Cannot exec in container ${record.name}: it is not running`);
  }
  const env = new Map(
    [...record.spec.env, ...(options.env ?? [])].map((entry) => {
      const at = entry.indexOf("=");
      return at < 0
        ? [entry, Deno.env.get(entry) ?? ""]
        : [entry.slice(0, at), entry.slice(at + 1)];
    }),
  );
  const pid = String(record.process!.pid);
  const user = options.user ?? record.spec.user;
  let ids: { uid: number; gid: number } | undefined;
  try {
    // Names are looked up in the container's own /etc/passwd and /etc/group.
    ids = user === "" ? undefined : resolveUser(`/proc/${pid}/root`, user);
  } catch (error) {
    throw new InvalidInputError(`Cannot exec as "${user}": ${(error as Error).message}`);
  }
  // The shell joins the cgroup, then becomes nsenter, whose child runs inside.
  const procs = record.cgroups.map((directory) => join(directory, "cgroup.procs"));
  const script = `for f in ${
    procs.map((path) => `'${path}'`).join(" ")
  }; do echo $$ > "$f"; done; exec "$@"`;
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      script,
      "sh",
      "nsenter",
      "--target",
      pid,
      "--mount",
      "--uts",
      "--ipc",
      "--pid",
      ...(record.spec.network === "none" ? ["--net"] : []),
      "--root",
      // Opened from outside, so through the container's root as /proc shows it.
      `--wd=/proc/${pid}/root${options.workdir ?? record.spec.cwd}`,
      ...(ids ? ["--setuid", String(ids.uid), "--setgid", String(ids.gid)] : []),
      "--",
      ...command,
    ],
    clearEnv: true,
    env: Object.fromEntries(env),
    stdin: options.stdio ?? "inherit",
    stdout: options.stdio ?? "inherit",
    stderr: options.stdio ?? "inherit",
  }).spawn();
  return exitStatus(await child.status);
}
