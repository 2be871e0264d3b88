/**
 * A container's cgroup, on cgroup v2 (one unified tree) or v1 (a tree per
 * controller: devices, memory, cpu, pids): made with its limits and its
 * device rules before the container starts, joined by the container's
 * first process, removed when the container has ended.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { DenockerError } from "../errors.ts";
import { lstatIfExists } from "../io/fs.ts";
import { attachDeviceProgram, type DeviceRule, deviceRuleLine } from "./devices.ts";

/** Limits of a container; each absent one is not set. */
export interface Limits {
  /** Bytes of memory (swap included: none beyond it). */
  memory?: number;
  /** CPUs, e.g. 0.5 or 2. */
  cpus?: number;
  /** Processes and threads. */
  pids?: number;
  /** The devices it may use (enforced always, but for a privileged container: none given). */
  devices?: readonly DeviceRule[];
}

const CGROUP_ROOT = "/sys/fs/cgroup";
const V1_CONTROLLERS = ["devices", "freezer", "memory", "cpu", "pids"] as const;
const CPU_PERIOD_US = 100_000;

/** Which cgroup version a cgroup mount point holds: 2 when it is the unified tree. */
export async function cgroupVersion(base = CGROUP_ROOT): Promise<1 | 2> {
  return await lstatIfExists(join(base, "cgroup.controllers")) ? 2 : 1;
}

/** One cgroup directory of a container, and how its first process joins it. */
export interface CgroupDirectory {
  /** The directory. */
  directory: string;
  /** The controller as `/proc/PID/cgroup` names it (`devices`, `memory`, …; "" on cgroup v2). */
  controller: string;
  /** The cgroup's path as `/proc/PID/cgroup` shows it: `/denocker/<id>`. */
  path: string;
  /**
   * It limits nothing the init's start-up uses (device rules only), so it may
   * be joined from the outside as soon as the init exists, while it starts:
   * a cgroup migration can wait 10-20 ms for an RCU grace period.
   */
  early: boolean;
}

/** Writes a cgroup file (small writes: synchronous ones cost the start less). */
function write(path: string, value: string): void {
  try {
    Deno.writeTextFileSync(path, value);
  } catch (error) {
    throw new DenockerError(
      `Cannot set up the container's cgroup: writing "${value}" to ${path} failed: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
}

/**
 * Whether device rules can be enforced here: always on cgroup v2 (by an
 * eBPF program), on v1 where the `devices` controller is mounted.
 *
 * @param base Where the cgroup file systems are mounted.
 * @returns True when they can.
 */
export async function deviceRulesAvailable(base = CGROUP_ROOT): Promise<boolean> {
  return await cgroupVersion(base) === 2 ||
    await lstatIfExists(join(base, "devices")) !== undefined;
}

/**
 * Makes the cgroup directories of a container with its limits.
 *
 * @param id The container's ID.
 * @param limits Its limits.
 * @param base Where the cgroup file systems are mounted (tests use a directory of their own).
 * @returns The directories made (their `cgroup.procs` are to be joined).
 */
export async function createCgroup(
  id: string,
  limits: Limits,
  base = CGROUP_ROOT,
): Promise<CgroupDirectory[]> {
  const path = `/denocker/${id}`;
  // Only the hierarchies the device rules and the limits need: each one joined costs the start a
  // few milliseconds (a cgroup migration waits for an RCU grace period), and the PID namespace
  // already ends every process of the container with its first.
  // The freezer always: `cp` freezes a running container while it copies (v2 has it built in).
  const wanted = {
    devices: limits.devices !== undefined,
    freezer: true,
    memory: limits.memory !== undefined,
    cpu: limits.cpus !== undefined,
    pids: limits.pids !== undefined,
  };
  if (await cgroupVersion(base) === 2) return [await createV2Cgroup(base, id, path, limits)];
  const directories: CgroupDirectory[] = [];
  for (const controller of V1_CONTROLLERS) {
    if (!wanted[controller]) continue;
    const hierarchy = join(base, controller);
    if (!(await lstatIfExists(hierarchy))) {
      // A limit the machine cannot set is not set; device rules asked for must hold.
      if (controller === "devices") {
        throw new DenockerError("Cannot set up the container's cgroup: no devices controller");
      }
      continue;
    }
    const directory = join(hierarchy, "denocker", id);
    await Deno.mkdir(directory, { recursive: true });
    // Joined from outside while the init starts: the device rules hold from the start, and the
    // freezer has no limit that could weigh on the init.
    const early = controller === "devices" || controller === "freezer";
    directories.push({ directory, controller, path, early });
    await setV1Limits(directory, controller, limits);
  }
  return directories;
}

/** Makes a container's cgroup v2 directory (enabling its controllers above it) with its limits. */
async function createV2Cgroup(
  base: string,
  id: string,
  path: string,
  limits: Limits,
): Promise<CgroupDirectory> {
  const parent = join(base, "denocker");
  await Deno.mkdir(parent, { recursive: true });
  // Controllers a child may use must be enabled in each parent's subtree_control.
  const available = (await Deno.readTextFile(join(base, "cgroup.controllers"))).split(
    /\s+/,
  );
  const enabled = ["memory", "cpu", "pids"].filter((name) => available.includes(name));
  for (const directory of [base, parent]) {
    write(
      join(directory, "cgroup.subtree_control"),
      enabled.map((name) => `+${name}`).join(" "),
    );
  }
  const directory = join(parent, id);
  await Deno.mkdir(directory);
  await setV2Limits(directory, limits);
  const limited = limits.memory !== undefined || limits.cpus !== undefined ||
    limits.pids !== undefined;
  return { directory, controller: "", path, early: !limited };
}

/**
 * Writes a container's limits into its cgroup v2 directory and attaches its
 * device program; the directory is removed when the program cannot be.
 */
async function setV2Limits(directory: string, limits: Limits): Promise<void> {
  if (limits.memory !== undefined) {
    write(join(directory, "memory.max"), String(limits.memory));
    if (await lstatIfExists(join(directory, "memory.swap.max"))) {
      write(join(directory, "memory.swap.max"), "0");
    }
  }
  if (limits.cpus !== undefined) {
    write(
      join(directory, "cpu.max"),
      `${Math.round(limits.cpus * CPU_PERIOD_US)} ${CPU_PERIOD_US}`,
    );
  }
  if (limits.pids !== undefined) write(join(directory, "pids.max"), String(limits.pids));
  if (limits.devices) {
    try {
      attachDeviceProgram(directory, limits.devices);
    } catch (error) {
      await Deno.remove(directory).catch(() => {});
      throw new DenockerError(
        `Cannot set up the container's cgroup: its device program could not be attached to ${directory}: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  }
}

/** Writes what a container's limits set in one cgroup v1 controller's directory. */
async function setV1Limits(
  directory: string,
  controller: typeof V1_CONTROLLERS[number],
  limits: Limits,
): Promise<void> {
  if (controller === "devices" && limits.devices) {
    // One rule a write.
    write(join(directory, "devices.deny"), "a");
    for (const rule of limits.devices) {
      write(join(directory, "devices.allow"), deviceRuleLine(rule));
    }
  }
  if (controller === "memory" && limits.memory !== undefined) {
    write(join(directory, "memory.limit_in_bytes"), String(limits.memory));
    if (await lstatIfExists(join(directory, "memory.memsw.limit_in_bytes"))) {
      write(join(directory, "memory.memsw.limit_in_bytes"), String(limits.memory));
    }
  }
  if (controller === "cpu" && limits.cpus !== undefined) {
    write(join(directory, "cpu.cfs_period_us"), String(CPU_PERIOD_US));
    write(
      join(directory, "cpu.cfs_quota_us"),
      String(Math.round(limits.cpus * CPU_PERIOD_US)),
    );
  }
  if (controller === "pids" && limits.pids !== undefined) {
    write(join(directory, "pids.max"), String(limits.pids));
  }
}

/** The processes still in a cgroup directory. */
export async function cgroupProcesses(directory: string): Promise<number[]> {
  try {
    const text = await Deno.readTextFile(join(directory, "cgroup.procs"));
    return text.split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Removes a container's cgroup directories, killing what is left in them
 * first (a process that outlived the container's first one).
 *
 * @param directories What {@link createCgroup} made.
 */
export async function removeCgroup(directories: string[]): Promise<void> {
  // A frozen process cannot die: what a crashed `cp` left frozen is thawed first.
  await thaw(directories);
  for (const directory of directories) {
    if (!(await lstatIfExists(directory))) continue;
    for (let attempt = 0;; attempt++) {
      for (const pid of await cgroupProcesses(directory)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Gone already.
        }
      }
      try {
        await Deno.remove(directory);
        break;
      } catch (error) {
        // EBUSY while the last processes are being reaped.
        if (attempt >= 100) {
          throw new DenockerError(
            `Cannot remove cgroup ${directory}: ${(error as Error).message}`,
            { cause: error },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
}

/** The file that freezes a cgroup directory, and the values that freeze and thaw it. */
function freezerOf(directory: string): { file: string; frozen: string; thawed: string } {
  return directory.includes("/freezer/")
    ? { file: join(directory, "freezer.state"), frozen: "FROZEN", thawed: "THAWED" }
    : { file: join(directory, "cgroup.freeze"), frozen: "1", thawed: "0" };
}

/** Whether a cgroup directory can be frozen: v1's freezer hierarchy, or any v2 directory. */
async function freezable(directory: string): Promise<boolean> {
  if (directory.includes("/freezer/")) return true;
  return !/\/(devices|memory|cpu|pids)\//.test(directory) &&
    await lstatIfExists(join(directory, "cgroup.freeze")) !== undefined;
}

/** Whether a freezable directory says every process in it is frozen. */
async function isFrozen(directory: string): Promise<boolean> {
  if (directory.includes("/freezer/")) {
    return (await Deno.readTextFile(join(directory, "freezer.state"))).trim() === "FROZEN";
  }
  return /^frozen 1$/m.test(await Deno.readTextFile(join(directory, "cgroup.events")));
}

/**
 * Freezes every process of a container (cgroup v1's freezer, v2's
 * `cgroup.freeze`), as `docker pause` does: none runs, none can be made
 * (a child is born frozen, a process that joins is frozen), until
 * {@link thaw}. Unlike SIGSTOP, nothing in the container can undo it.
 *
 * @param directories The container's cgroup directories.
 * @returns Whether it is frozen (false where it has no freezer).
 */
export async function freeze(directories: string[]): Promise<boolean> {
  const targets = [];
  for (const directory of directories) {
    if (await freezable(directory)) targets.push(directory);
  }
  if (targets.length === 0) return false;
  for (const directory of targets) {
    const { file, frozen } = freezerOf(directory);
    await Deno.writeTextFile(file, frozen);
  }
  for (let attempt = 0; attempt < 500; attempt++) {
    if ((await Promise.all(targets.map(isFrozen))).every(Boolean)) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await thaw(targets);
  throw new DenockerError("Cannot freeze the container: its processes did not stop");
}

/** Lets a frozen container's processes go on. */
export async function thaw(directories: string[]): Promise<void> {
  for (const directory of directories) {
    if (!(await freezable(directory).catch(() => false))) continue;
    const { file, thawed } = freezerOf(directory);
    await Deno.writeTextFile(file, thawed).catch(() => {});
  }
}
