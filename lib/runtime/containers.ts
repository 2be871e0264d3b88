/**
 * Containers on disk: `<root>/containers/<id>/container.json` records one
 * container (its image, command, state, processes, cgroup); beside it its
 * overlay `upper/` and `work/`, the `rootfs/` mount point, `lower/` links
 * and the `hostname`, `hosts` and `resolv.conf` it sees. Records are
 * written atomically. A record whose `denocker run` died is found and
 * cleaned by the next container command ({@link ContainerStore.reap}).
 *
 * @module
 */

import { join } from "../io/path.ts";
import { InvalidInputError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic_file.ts";
import { lstatIfExists, readDirIfExists } from "../io/fs.ts";
import type { InitSpec } from "./init.ts";
import { runtimeStateDirectory } from "./runtime_state.ts";
import { type Limits, removeCgroup } from "./cgroup.ts";
import type { LogOptions } from "./container_log.ts";
import { hostEnvironment } from "./host_tools.ts";
import { detachNetwork, type NetworkAttachment } from "./network.ts";
import type { PortBinding } from "./ports.ts";
import { VolumeStore } from "./volumes.ts";
import { rootLayout } from "../store/layout.ts";

/** A process, told apart from a later one with the same PID by its start time. */
export interface ProcessRef {
  /** Host PID. */
  pid: number;
  /** Field 22 of `/proc/PID/stat` (start time in clock ticks since boot). */
  start: string;
}

/** A container as `ps` shows it. */
export interface ContainerSummary {
  /** 64 hex digits. */
  id: string;
  /** Its name. */
  name: string;
  /** The image as the user named it. */
  image: string;
  /** The image's ID. */
  imageId: string;
  /** The command and its arguments. */
  command: string[];
  /** When it was created (ISO time). */
  created: string;
  /**
   * `running`, `exited`, `created` (not started yet), or `restarting` (its
   * monitor waits to start it again, `--restart`).
   */
  state: "created" | "running" | "restarting" | "exited";
  /** When it started (ISO time). */
  started?: string;
  /** When it ended (ISO time). */
  finished?: string;
  /** Its exit status, once ended. */
  exitCode?: number;
  /** `--label KEY=VALUE` entries. */
  labels?: Record<string, string>;
}

/** When a container's monitor starts its command again (`--restart`), as docker's policies. */
export interface RestartPolicy {
  /** `no`, `on-failure` (a status other than 0), `always`, `unless-stopped`. */
  name: "no" | "on-failure" | "always" | "unless-stopped";
  /** For `on-failure`: at most this many restarts (0: no limit). */
  maximumRetryCount: number;
}

/** What is recorded of a container. */
export interface ContainerRecord extends ContainerSummary {
  /** The entrypoint part of its command (the image's, or `--entrypoint`). */
  entrypoint?: string[];
  /** The rest: the given command, or the image's Cmd. */
  cmd?: string[];
  /** The layers it runs on (kept from garbage collection while it exists). */
  diffIds: string[];
  /** Remove it when it ends (`--rm`). */
  autoRemove: boolean;
  /** Its stdin stays open for attached clients (`-i`). */
  interactive?: boolean;
  /** The container's first process (PID 1 inside), while running. */
  process?: ProcessRef;
  /** The `denocker run`, or the detached container's monitor, that waits for it. */
  owner?: ProcessRef;
  /** Its cgroup directories (none while it is not running). */
  cgroups: string[];
  /** Its limits, kept to make its cgroups again when it is started again. */
  limits?: Limits;
  /** When its monitor starts it again. */
  restartPolicy?: RestartPolicy;
  /** How often its monitor started it again. */
  restartCount?: number;
  /** The signal `stop` sends first (SIGTERM by default). */
  stopSignal?: string;
  /** Seconds `stop` waits before SIGKILL (10 by default). */
  stopTimeout?: number;
  /** Its log's rotation. */
  log?: LogOptions;
  /** Why its last start failed, when it did. */
  error?: string;
  /** Its bridge network when not the default one (`--network NAME`). */
  networkName?: string;
  /** More names it is found by there (`--network-alias`). */
  aliases?: string[];
  /** The address it asked for there (`--ip`). */
  ipAddress?: string;
  /** The hardware address it asked for (`--mac-address`). */
  macAddress?: string;
  /** `/etc/hosts` lines of its own (`--add-host HOST:IP`, as `IP\tHOST`). */
  extraHosts?: string[];
  /** The ports it publishes (a host port of 0: a free one, chosen at each start). */
  ports?: PortBinding[];
  /** Its place on a bridge network while it runs (or until what its end left is cleaned). */
  attachment?: NetworkAttachment;
  /** The networks it was connected to besides its first (`network connect`), in order. */
  connections?: NetworkConnection[];
  /** Its places on those while it runs (`eth1`…). */
  connected?: NetworkAttachment[];
  /** What the init reads. */
  spec: InitSpec;
}

/** A network a container was connected to with `network connect`. */
export interface NetworkConnection {
  /** The network's name. */
  network: string;
  /** More names it is found by there (`--alias`). */
  aliases?: string[];
  /** The address it asked for there (`--ip`). */
  ipAddress?: string;
}

/** Signal numbers by name (Linux, x86-64 and arm64 alike). */
const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/**
 * A signal as docker takes it: a name with or without `SIG`, any case, or
 * a number.
 *
 * @param text What the user typed.
 * @returns Its name, as Deno names signals.
 * @throws {InvalidInputError} When it is none.
 */
export function parseSignal(text: string): Deno.Signal {
  const upper = text.trim().toUpperCase();
  if (/^[0-9]+$/.test(upper)) {
    const name = Object.keys(SIGNAL_NUMBERS).find((key) => SIGNAL_NUMBERS[key] === Number(upper));
    if (name) return name as Deno.Signal;
  } else {
    const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
    if (name in SIGNAL_NUMBERS) return name as Deno.Signal;
  }
  throw new InvalidInputError(`Invalid signal: ${text}`);
}

/** A stop was asked for: the monitor does not restart the container (`containers/<id>/stopped`). */
export function stopMarkerPath(directory: string): string {
  return join(directory, "stopped");
}

/** A signal's number (0 for one this table lacks). */
export function signalNumber(signal: Deno.Signal): number {
  return SIGNAL_NUMBERS[signal] ?? 0;
}

/** The exit status docker reports for a process: its code, or 128 + the signal's number. */
export function exitStatus(status: Deno.CommandStatus): number {
  if (status.signal !== null) return 128 + signalNumber(status.signal);
  return status.code;
}

/** Start time of a live process, or undefined when there is none with that PID. */
export async function processStart(pid: number): Promise<string | undefined> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces and parentheses: count after its last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z") return undefined;
    return fields[19];
  } catch (error) {
    // Only a missing process means none (ESRCH: it went while its file was read); without
    // permission to look, nothing can be said.
    if (error instanceof Deno.errors.NotFound) return undefined;
    const gone = (error as { code?: string }).code === "ESRCH" ||
      /\(os error 3\)/.test((error as Error).message);
    if (gone) return undefined;
    throw error;
  }
}

/** This process, as a container record names its owner. */
export async function currentProcess(): Promise<ProcessRef> {
  return { pid: Deno.pid, start: (await processStart(Deno.pid)) ?? "" };
}

/** Whether a recorded process is still the one that runs. */
export async function isAlive(process: ProcessRef | undefined): Promise<boolean> {
  return process !== undefined && await processStart(process.pid) === process.start;
}

/**
 * Releases what a container held on the machine while it ran: its place
 * on a network (namespace, veth pair, address; the record forgets it), and
 * the OCI runtime's state and cgroup when one ran it. Nothing is left
 * after a clean end, and it is safe to call again.
 */
export async function releaseRuntime(record: ContainerRecord): Promise<void> {
  for (const attachment of record.connected ?? []) await detachNetwork(attachment);
  record.connected = undefined;
  if (record.attachment) {
    await detachNetwork(record.attachment);
    record.attachment = undefined;
  }
  const runtime = record.spec.runtime;
  if (!runtime) return;
  const state = runtimeStateDirectory(record.spec.directory);
  if (!(await lstatIfExists(state))) return;
  await new Deno.Command(runtime, {
    args: ["--root", state, "delete", "--force", record.id],
    clearEnv: true,
    env: hostEnvironment(),
    stdout: "null",
    stderr: "null",
  }).output().catch(() => {});
}

/** A container name, checked: well-formed, and no other container's (call under the lock). */
export async function freeName(containers: ContainerStore, name: string): Promise<string> {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
    throw new InvalidInputError(
      `Cannot name the container: invalid name "${name}"; use letters, digits, _ . -`,
    );
  }
  const taken = (await containers.list()).find((other) => other.name === name);
  if (taken) {
    throw new InvalidInputError(
      `Cannot name the container: the name "${name}" is already in use by container ${
        taken.id.slice(0, 12)
      }; remove it or choose another name`,
    );
  }
  return name;
}

/** The containers of a store root. */
export class ContainerStore {
  /** The store root. */
  readonly root: string;
  /** `<root>/containers`. */
  readonly directory: string;
  /** The lock under which containers are named (names are unique). */
  readonly lockPath: string;
  /** Where record writes keep their temp files: the store's `tmp/`. */
  readonly #tempDirectory: string;

  /**
   * Opens the container records of a root.
   *
   * @param root The store root.
   */
  constructor(root: string) {
    const layout = rootLayout(root);
    this.root = root;
    this.directory = layout.containers;
    this.lockPath = layout.containersLock;
    this.#tempDirectory = layout.tmp;
  }

  /** Makes `containers/`, root's alone (mode 0700). */
  async create(): Promise<void> {
    await Deno.mkdir(this.directory, { recursive: true, mode: 0o700 });
    await Deno.chmod(this.directory, 0o700);
  }

  /** A container's directory. */
  path(id: string): string {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new InvalidInputError(`"${id}" is not a container ID`);
    return join(this.directory, id);
  }

  /** A container's log, docker's json-file: `containers/<id>/<id>-json.log`. */
  logPath(id: string): string {
    return join(this.path(id), `${id}-json.log`);
  }

  /** Every container, newest first. */
  async list(): Promise<ContainerRecord[]> {
    const records: ContainerRecord[] = [];
    for (const entry of await readDirIfExists(this.directory)) {
      const record = await this.read(entry.name);
      if (record) records.push(record);
    }
    return records.sort((a, b) => b.created.localeCompare(a.created));
  }

  /** A container's record, or undefined when it has none (yet, or any more). */
  async read(id: string): Promise<ContainerRecord | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(join(this.path(id), "container.json")));
    } catch {
      return undefined;
    }
  }

  /** Writes a record (atomically), readable by root alone: it holds the `-e` environment. */
  async save(record: ContainerRecord): Promise<void> {
    await writeFileAtomic(
      join(this.path(record.id), "container.json"),
      new TextEncoder().encode(JSON.stringify(record, null, 2)),
      { tempDirectory: this.#tempDirectory, mode: 0o600 },
    );
  }

  /**
   * Saves the state a container's owner keeps (its process, state, times)
   * over its current record: what other commands change meanwhile (its
   * name) is kept. `record` gets those fields too.
   */
  async saveState(record: ContainerRecord): Promise<void> {
    const current = await this.read(record.id);
    if (current) record.name = current.name;
    await this.save(record);
  }

  /**
   * Takes into `record` what other commands change while its owner holds
   * it: its name (`rename`) and its networks (`network connect|disconnect`).
   * Before its end releases them.
   */
  async refresh(record: ContainerRecord): Promise<void> {
    const current = await this.read(record.id);
    if (!current) return;
    record.name = current.name;
    record.connections = current.connections;
    record.connected = current.connected;
    record.attachment = current.attachment;
    record.networkName = current.networkName;
    record.aliases = current.aliases;
    record.ipAddress = current.ipAddress;
    record.spec.network = current.spec.network;
  }

  /**
   * Finds a container by ID, ID prefix or name.
   *
   * @param text What the user typed.
   * @returns The record.
   * @throws {InvalidInputError} When none or several match.
   */
  async find(text: string): Promise<ContainerRecord> {
    const all = await this.list();
    const byName = all.find((record) => record.name === text);
    if (byName) return byName;
    const matches = /^[0-9a-f]+$/.test(text)
      ? all.filter((record) => record.id.startsWith(text))
      : [];
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) {
      throw new InvalidInputError(`Cannot find container "${text}": several IDs start so`);
    }
    throw new InvalidInputError(`Cannot find container "${text}": no such container`);
  }

  /**
   * Removes a container's directory and cgroup (it must not run), and with
   * `volumes` its anonymous volumes (`rm -v`, `--rm`).
   */
  async remove(record: ContainerRecord, options: { volumes?: boolean } = {}): Promise<void> {
    await releaseRuntime(record);
    await removeCgroup(record.cgroups);
    const directory = this.path(record.id);
    // The record first: a crash halfway leaves a directory without one, which reap removes.
    await Deno.remove(join(directory, "container.json")).catch(() => {});
    await Deno.remove(directory, { recursive: true }).catch(async (error) => {
      if (await lstatIfExists(directory)) throw error;
    });
    if (!options.volumes) return;
    const volumes = new VolumeStore(this.root);
    for (const mount of record.spec.mounts ?? []) {
      if (mount.anonymous && mount.name) await volumes.remove(mount.name).catch(() => {});
    }
  }

  /**
   * Cleans what crashed `denocker run`s left: a container whose run is gone
   * is killed if it still runs, its cgroup removed, and it is recorded as
   * exited (or removed, with `--rm`); a directory without a record is
   * removed.
   *
   * @returns How many containers were cleaned.
   */
  async reap(): Promise<number> {
    let cleaned = 0;
    for (const entry of await readDirIfExists(this.directory)) {
      if (entry.name.startsWith(".")) continue;
      const record = await this.read(entry.name);
      if (!record) {
        const info = await lstatIfExists(join(this.directory, entry.name));
        // A record being created is younger than a minute; older ones are crash leftovers.
        if (info?.mtime && Date.now() - info.mtime.getTime() > 60_000) {
          await Deno.remove(join(this.directory, entry.name), { recursive: true }).catch(() => {});
          cleaned++;
        }
        continue;
      }
      if (record.state === "exited" || await isAlive(record.owner)) continue;
      if (record.state === "created" && record.owner === undefined) continue;
      if (record.process && await isAlive(record.process)) {
        Deno.kill(record.process.pid, "SIGKILL");
        for (let i = 0; i < 200 && await isAlive(record.process); i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
      cleaned++;
      if (record.autoRemove) {
        await this.remove(record, { volumes: true });
        continue;
      }
      await releaseRuntime(record);
      await removeCgroup(record.cgroups);
      await this.save({
        ...record,
        state: "exited",
        exitCode: record.exitCode ?? 137,
        finished: record.finished ?? new Date().toISOString(),
        process: undefined,
        owner: undefined,
      });
    }
    return cleaned;
  }

  /**
   * Waits until a container has ended (or was removed, with `--rm`): its
   * record says `exited`. A container whose owner died is cleaned up (and
   * so ends) meanwhile.
   *
   * @param id The container's ID.
   * @param signal Stops the wait.
   * @returns Its exit status; undefined when it was removed.
   */
  async ended(id: string, signal?: AbortSignal): Promise<number | undefined> {
    for (let polls = 1;; polls++) {
      const current = await this.read(id);
      if (current === undefined) return undefined;
      if (current.state === "exited") return current.exitCode ?? 0;
      signal?.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (polls % 20 === 0) await this.reap();
    }
  }
}
