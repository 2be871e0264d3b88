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

import { join } from "node:path";
import { InvalidInputError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic_file.ts";
import { lstatIfExists, readDirIfExists } from "../io/fs.ts";
import { type InitSpec, runtimeStateDirectory } from "./init.ts";
import { removeCgroup } from "./cgroup.ts";
import { hostEnvironment } from "./host_tools.ts";
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
  /** `running`, `exited`, or `created` (not started yet). */
  state: "created" | "running" | "exited";
  /** When it started (ISO time). */
  started?: string;
  /** When it ended (ISO time). */
  finished?: string;
  /** Its exit status, once ended. */
  exitCode?: number;
}

/** What is recorded of a container. */
export interface ContainerRecord extends ContainerSummary {
  /** The layers it runs on (kept from garbage collection while it exists). */
  diffIds: string[];
  /** Remove it when it ends (`--rm`). */
  autoRemove: boolean;
  /** The container's first process (PID 1 inside), while running. */
  process?: ProcessRef;
  /** The `denocker run` that waits for it. */
  owner?: ProcessRef;
  /** Its cgroup directories. */
  cgroups: string[];
  /** What the init reads. */
  spec: InitSpec;
}

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
};

/** The exit status docker reports for a process: its code, or 128 + the signal's number. */
export function exitStatus(status: Deno.CommandStatus): number {
  if (status.signal !== null) return 128 + (SIGNAL_NUMBERS[status.signal] ?? 0);
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

/** Whether a recorded process is still the one that runs. */
export async function isAlive(process: ProcessRef | undefined): Promise<boolean> {
  return process !== undefined && await processStart(process.pid) === process.start;
}

/**
 * Has the OCI runtime that ran a container forget it (its state and
 * cgroup), when one did; nothing is left to forget after a clean end.
 */
async function releaseRuntime(record: ContainerRecord): Promise<void> {
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

/** The containers of a store root. */
export class ContainerStore {
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

  /** Removes a container's directory and cgroup (it must not run). */
  async remove(record: ContainerRecord): Promise<void> {
    await releaseRuntime(record);
    await removeCgroup(record.cgroups);
    const directory = this.path(record.id);
    // The record first: a crash halfway leaves a directory without one, which reap removes.
    await Deno.remove(join(directory, "container.json")).catch(() => {});
    await Deno.remove(directory, { recursive: true }).catch(async (error) => {
      if (await lstatIfExists(directory)) throw error;
    });
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
        await this.remove(record);
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
}
