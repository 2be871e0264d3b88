/**
 * A container's process before it becomes the container's command. Three
 * ways in, each started from a read-only bind mount of denocker's own
 * binary (Deno, or the compiled denocker), so that a container that gets
 * hold of it (`/proc/self/exe` as its command, or a `#!/proc/self/exe`
 * script) can neither write nor chmod the host's copy:
 *
 * - **run** (`unshare` made the mount, PID, UTS, IPC and, unless the
 *   host's is used, network namespaces; this process is their PID 1):
 *   1. closes every descriptor it inherited, mounts the overlay root
 *      (lower directories by short links in the container's `lower/`, so
 *      that many layers fit in one mount's options), makes sure `/proc`,
 *      `/sys` and `/dev` are real directories of the container, mounts
 *      them (`/proc` and `/sys` with docker's masked and read-only paths)
 *      and binds the container's `hostname`, `hosts` and `resolv.conf` into
 *      its `/etc`, each path resolved inside the root (securejoin's rule:
 *      `secure_join.ts`);
 *   2. `pivot_root`s into the root and detaches the host's mounts; from
 *      here on every path is the container's: the working directory is
 *      made, the user looked up, the root made read-only;
 *   3. takes a session of its own (no controlling terminal), marks every
 *      descriptor above 2 close-on-exec, joins the cgroups, restricts
 *      itself ({@link restrictThread}: capabilities, `no_new_privs`,
 *      seccomp, ids), enters the working directory, resets signals and
 *      `execve`s the command, which so stays PID 1.
 * - **exec**: stays in the host's PID namespace, out of the container's
 *   sight; this thread joins the container's namespaces and the mount
 *   namespace's root, restricts itself the same way, and starts the
 *   command, born in the container's PID namespace with all of it.
 * - **runtime**: mounts the root in a mount namespace of its own, looks up
 *   the user inside it, writes the ids into the OCI bundle's `config.json`
 *   and becomes the OCI runtime (runc, crun), which does the rest.
 *
 * A failure before the command is reached prints one line and exits 125; a
 * command that cannot be found exits 127, one that cannot be run 126, as
 * in docker. This module imports nothing from Node: loading Deno's Node
 * layer would cost this short-lived process more than its work.
 *
 * @module
 */

import {
  chdir,
  CLONE,
  closeInheritedDescriptors,
  closeOnExecFrom3,
  closeRaw,
  detach,
  execve,
  exitNow,
  joinNamespace,
  limitCapabilities,
  loadSeccompFilter,
  loopbackUp,
  mknodChar,
  mount,
  MS,
  newSession,
  O,
  openProc,
  openPseudoTerminal,
  openRaw,
  permittedCapabilities,
  pivotRoot,
  readFileInRoot,
  readRegularFile,
  readSome,
  releaseHostFiles,
  resetSignals,
  setCapabilitySets,
  setHostname,
  setIds,
  setNoNewPrivileges,
  setUndumpable,
  spawn,
  statDescriptor,
  SystemCallError,
  takeControllingTerminal,
  unshareFileSystem,
  useTerminal,
  waitFor,
  writeAll,
} from "./_libc.ts";
import { type Capability, capabilityNumber, capabilityWords } from "./capabilities.ts";
import { MAX_USER_DATABASE_BYTES, resolveUser, type UserIds } from "./user.ts";
import { mkdirInRoot } from "./secure_join.ts";
import { closeMountTarget, mountedAt, type MountTarget, openMountTarget } from "./mount_target.ts";
import { DenockerError } from "../errors.ts";
import type { CgroupDirectory } from "./cgroup.ts";
import { TERMINAL_MARK } from "./terminal_mark.ts";
import type { MountSpec } from "./volumes.ts";
import { runtimeStateDirectory } from "./runtime_state.ts";

/** What limits a container's processes (the first one and every exec'd one alike). */
export interface SecuritySpec {
  /** The capabilities kept: the bounding set, and root's permitted and effective ones. */
  capabilities: Capability[];
  /** Set `no_new_privs`. */
  noNewPrivileges: boolean;
  /** The seccomp program's file (in the container's directory); none: unconfined. */
  seccomp?: string;
  /** No masked or read-only paths in /proc and /sys, /sys writable. */
  privileged: boolean;
  /** Mount the root `nodev` (where the machine cannot enforce device rules). */
  rootNodev: boolean;
}

/** What the init needs to know, written by `run` into the container's directory. */
export interface InitSpec {
  /** The container's directory. */
  directory: string;
  /** An overlay over the layers, or a bind mount of the container's own copy (`copy/`). */
  rootfs: "overlay" | "copy";
  /** Lower directories, topmost first (linked as `lower/0`, `lower/1`, …). */
  lowerCount: number;
  hostname: string;
  /** `KEY=VALUE` entries. */
  env: string[];
  /** The command and its arguments. */
  args: string[];
  /** Working directory inside. */
  cwd: string;
  /** `uid[:gid]` or `name[:group]`, or empty for root. */
  user: string;
  /** Volumes, bind mounts and tmpfs, mounted in this order over the root. */
  mounts?: MountSpec[];
  /** `none`: a namespace of its own with `lo` up here; `bridge`: one made and joined before. */
  network: "none" | "host" | "bridge";
  readOnly: boolean;
  /** The cgroups to be in (some joined from the outside already). */
  cgroups: CgroupDirectory[];
  security: SecuritySpec;
  /** Set when an OCI runtime runs the container (its binary, absolute). */
  runtime?: string;
  /** Give the command a new pseudo-terminal (`-t`), handed to the host side. */
  tty?: boolean;
  /**
   * A static init on the host (`--init`: tini) to run as PID 1, mounted
   * read-only at `/dev/init`; it starts the command.
   */
  init?: string;
}

/** What `exec` asks of the exec init. */
export interface ExecSpec {
  /** The container's first process (host PID) and its start time, to join. */
  pid: number;
  start: string;
  /** Join its network namespace too (not with the host's network). */
  joinNetwork: boolean;
  env: string[];
  args: string[];
  cwd: string;
  user: string;
  cgroups: CgroupDirectory[];
  security: SecuritySpec;
  /** Give the command a new pseudo-terminal (`exec -t`), handed to the host side. */
  tty?: boolean;
}

/** Paths docker hides in /proc and /sys: directories get an empty read-only tmpfs, files null. */
export const MASKED_PATHS = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** Paths docker makes read-only. */
export const READONLY_PATHS = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Joins path parts with "/". */
function join(...parts: string[]): string {
  return parts.join("/").replace(/\/+/g, "/").replace(/(.)\/$/, "$1");
}

class InitError extends Error {
  readonly code: number;
  constructor(message: string, code = 125) {
    super(message);
    this.code = code;
  }
}

function lstat(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Makes `/NAME` of the root a real directory: anything else there (a
 * symlink to a host path, a file) is removed first, never followed.
 */
function realDirectory(rootfs: string, name: string): string {
  const path = join(rootfs, name);
  const info = lstat(path);
  if (info?.isDirectory) return path;
  if (info) Deno.removeSync(path);
  Deno.mkdirSync(path, { mode: 0o755 });
  return path;
}

function mountDev(dev: string): void {
  mount("tmpfs", dev, "tmpfs", MS.NOSUID | MS.STRICTATIME, "mode=755,size=65536k");
  const nodes: [string, number, number][] = [
    ["null", 1, 3],
    ["zero", 1, 5],
    ["full", 1, 7],
    ["random", 1, 8],
    ["urandom", 1, 9],
    ["tty", 5, 0],
  ];
  for (const [name, major, minor] of nodes) {
    mknodChar(join(dev, name), 0o666, major, minor);
    Deno.chmodSync(join(dev, name), 0o666);
  }
  Deno.mkdirSync(join(dev, "pts"));
  mount(
    "devpts",
    join(dev, "pts"),
    "devpts",
    MS.NOSUID | MS.NOEXEC,
    "newinstance,ptmxmode=0666,mode=0620,gid=5",
  );
  Deno.symlinkSync("pts/ptmx", join(dev, "ptmx"));
  Deno.mkdirSync(join(dev, "shm"));
  mount("shm", join(dev, "shm"), "tmpfs", MS.NOSUID | MS.NODEV | MS.NOEXEC, "size=65536k");
  Deno.chmodSync(join(dev, "shm"), 0o1777);
  Deno.mkdirSync(join(dev, "mqueue"));
  mount("mqueue", join(dev, "mqueue"), "mqueue", MS.NOSUID | MS.NODEV | MS.NOEXEC);
  for (
    const [name, target] of [
      ["fd", "/proc/self/fd"],
      ["stdin", "/proc/self/fd/0"],
      ["stdout", "/proc/self/fd/1"],
      ["stderr", "/proc/self/fd/2"],
    ]
  ) {
    Deno.symlinkSync(target, join(dev, name));
  }
}

/** Hides docker's masked paths and makes its read-only ones so (those this kernel has). */
function maskPaths(rootfs: string): void {
  for (const path of MASKED_PATHS) {
    const target = join(rootfs, path);
    const info = lstat(target);
    if (!info) continue;
    if (info.isDirectory) {
      mount("tmpfs", target, "tmpfs", MS.RDONLY);
    } else {
      mount(join(rootfs, "dev", "null"), target, null, MS.BIND);
    }
  }
  for (const path of READONLY_PATHS) {
    const target = join(rootfs, path);
    if (!lstat(target)) continue;
    mount(target, target, null, MS.BIND | MS.REC);
    mount(
      null,
      target,
      null,
      MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.REC,
    );
  }
}

/**
 * Mounts a volume, host path or tmpfs at its target, resolved inside the
 * root and held by a descriptor until mounted ({@link openMountTarget}):
 * neither the image's symlinks nor a process of another container sharing
 * a volume mounted here can lead it out. A file is mounted on a file, made
 * empty where there is none.
 */
function mountVolume(rootfs: string, rootFd: number, volume: MountSpec, nodev: boolean): void {
  let source: number | undefined;
  let target: MountTarget | undefined;
  try {
    source = volume.type === "tmpfs" ? undefined : openRaw(volume.source!, O.PATH);
    const sourceStat = source === undefined ? undefined : statDescriptor(source);
    const kind = sourceStat?.type === "directory" || !sourceStat ? "directory" : "file";
    target = openMountTarget(rootfs, rootFd, volume.target, kind);
    if (target.type !== kind) {
      throw new InitError(
        `cannot mount ${kind === "file" ? "the file " : ""}${
          volume.source ?? "a tmpfs"
        } on ${volume.target}: it is a ${target.type} in the container`,
      );
    }
    const readOnly = volume.readOnly ? MS.RDONLY : 0;
    if (source === undefined || !sourceStat) {
      const options = volume.options ?? "mode=1777";
      mount("tmpfs", target.path, "tmpfs", MS.NOSUID | MS.NODEV | readOnly, options);
      return;
    }
    mount(`/proc/thread-self/fd/${source}`, target.path, null, MS.BIND | MS.REC);
    // Where the machine cannot enforce device rules, no device node of a volume opens either.
    const flags = readOnly | (nodev ? MS.NODEV : 0);
    if (!flags) return;
    const mounted = mountedAt(target, sourceStat.identity);
    if (!mounted) throw new InitError(`cannot mount on ${volume.target}: it was replaced`);
    try {
      mount(null, mounted.path, null, MS.REMOUNT | MS.BIND | flags);
    } finally {
      closeRaw(mounted.fd);
    }
  } catch (error) {
    if (error instanceof InitError) throw error;
    throw new InitError(`cannot mount on ${volume.target}: ${(error as Error).message}`);
  } finally {
    if (source !== undefined) closeRaw(source);
    if (target) closeMountTarget(target, rootFd);
  }
}

/** Mounts the spec's volumes, bind mounts and tmpfs, in order, over the root. */
function mountVolumes(rootfs: string, spec: InitSpec): void {
  if (!spec.mounts?.length) return;
  const rootFd = openRaw(rootfs, O.PATH | O.DIRECTORY);
  for (const volume of spec.mounts) mountVolume(rootfs, rootFd, volume, spec.security.rootNodev);
  closeRaw(rootFd);
}

function bindEtcFile(rootfs: string, source: string, name: string): void {
  const etc = mkdirInRoot(rootfs, "/etc");
  const target = join(etc, name);
  const info = lstat(target);
  if (info?.isSymlink) Deno.removeSync(target);
  if (!info || info.isSymlink) Deno.writeFileSync(target, new Uint8Array(), { createNew: true });
  mount(source, target, null, MS.BIND);
}

/**
 * A reader of the user database in this thread's root: a regular file of
 * bounded size only, never a FIFO or a device (see `readRegularFile`).
 *
 * @param proc A procfs in which this thread is visible.
 */
function userFiles(proc: number): (path: string) => Uint8Array | undefined {
  return (path) => readRegularFile(path, MAX_USER_DATABASE_BYTES, proc);
}

function lookUpUser(read: (path: string) => Uint8Array | undefined, user: string): UserIds {
  try {
    return resolveUser(read, user);
  } catch (error) {
    throw new InitError((error as Error).message);
  }
}

/** Finds the command as execvp would, in the container's PATH (inside its root). */
function resolveCommand(command: string, env: string[]): string {
  if (command.includes("/")) return command;
  const path = env.find((entry) => entry.startsWith("PATH="))?.slice(5) ?? DEFAULT_PATH;
  for (const directory of path.split(":")) {
    const candidate = join(directory || ".", command);
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile) return candidate;
    } catch {
      // Not here.
    }
  }
  throw new InitError(`exec: "${command}": executable file not found in $PATH`, 127);
}

/** A cgroup to be in, opened while its host path can still be reached. */
interface OpenCgroup {
  file: Deno.FsFile;
  /** How /proc/.../cgroup shows membership: `CONTROLLER:PATH`. */
  member: string;
}

/**
 * Opens the cgroups to join: their `cgroup.procs` (the whole process), or
 * with `thread` on cgroup v1 their `tasks` (this thread alone, so that the
 * init's own threads do not count against the container's pids limit; what
 * the thread starts is born in its cgroups).
 */
function openCgroups(cgroups: CgroupDirectory[] | undefined, thread = false): OpenCgroup[] {
  return (cgroups ?? []).map((cgroup) => ({
    file: Deno.openSync(
      `${cgroup.directory}/${thread && cgroup.controller !== "" ? "tasks" : "cgroup.procs"}`,
      { write: true },
    ),
    member: `${cgroup.controller}:${cgroup.path}`,
  }));
}

/**
 * The cgroups of `cgroups` this thread is not in yet (denocker moves the
 * init into some while it starts), as /proc shows membership now: read
 * while /proc is one the container cannot have touched.
 */
function notJoined(cgroups: OpenCgroup[]): OpenCgroup[] {
  if (cgroups.length === 0) return [];
  const current = new Set<string>();
  for (const line of Deno.readTextFileSync("/proc/thread-self/cgroup").split("\n")) {
    const [, controllers, path] = line.split(":");
    if (path === undefined) continue;
    for (const controller of controllers.split(",")) current.add(`${controller}:${path}`);
  }
  return cgroups.filter((cgroup) => !current.has(cgroup.member));
}

function join0(cgroups: OpenCgroup[]): void {
  for (const cgroup of cgroups) cgroup.file.writeSync(new TextEncoder().encode("0"));
}

/** Reads the seccomp program while its host path can still be reached. */
function readSeccomp(security: SecuritySpec): Uint8Array<ArrayBuffer> | undefined {
  return security.seccomp === undefined ? undefined : Deno.readFileSync(security.seccomp);
}

/**
 * Capability words cut to what this process holds (`--privileged` asks for
 * every capability; a machine may not give them all).
 */
function heldOnly(words: [number, number], held: [number, number]): [number, number] {
  return [(words[0] & held[0]) >>> 0, (words[1] & held[1]) >>> 0];
}

/**
 * Leaves this thread with only what the container's processes may have:
 * the bounding set cut to the container's, `no_new_privs` if asked, the
 * seccomp filter (loaded while CAP_SYS_ADMIN is still held, needed without
 * `no_new_privs`; the calls after it are ones it allows), the user's ids,
 * and the capability sets (root keeps the container's set; another user
 * has none left after setresuid, the kernel clears them, and gets back
 * only what a setuid or file-capability program brings, within the
 * bounding set; nothing is inheritable, as in docker). Every value comes
 * from the spec or was read before the container's files were reachable.
 */
function restrictThread(options: {
  user: UserIds;
  security: SecuritySpec;
  seccomp?: Uint8Array<ArrayBuffer>;
  held: [number, number];
}): void {
  limitCapabilities(options.security.capabilities.map(capabilityNumber));
  if (options.security.noNewPrivileges) setNoNewPrivileges();
  if (options.seccomp) loadSeccompFilter(options.seccomp);
  setIds(options.user.uid, options.user.gid, options.user.groups);
  const words: [number, number] = options.user.uid === 0
    ? heldOnly(capabilityWords(options.security.capabilities), options.held)
    : [0, 0];
  setCapabilitySets(words, words, [0, 0]);
}

/**
 * Enters the working directory (as the user), and makes sure it is inside
 * the root: a path through a descriptor of the host (`/proc/self/fd/N`)
 * would leave it.
 */
function enterDirectory(cwd: string): void {
  try {
    chdir(cwd);
  } catch (error) {
    throw new InitError(
      `cannot enter the working directory ${cwd}: ${(error as Error).message}`,
      126,
    );
  }
  let where: string;
  try {
    where = Deno.cwd();
  } catch {
    where = "";
  }
  if (!where.startsWith("/")) {
    throw new InitError(`cannot enter the working directory ${cwd}: it is outside the container`);
  }
}

/** Mounts the container's root at `rootfs/` of its directory. */
function mountRoot(spec: InitSpec): string {
  const rootfs = join(spec.directory, "rootfs");
  const nodev = spec.security.rootNodev ? MS.NODEV : 0;
  if (spec.rootfs === "copy") {
    mount(join(spec.directory, "copy"), rootfs, null, MS.BIND | MS.REC);
    if (nodev) mount(null, rootfs, null, MS.REMOUNT | MS.BIND | nodev);
  } else {
    chdir(join(spec.directory, "lower"));
    const lower = Array.from({ length: spec.lowerCount }, (_, i) => String(i)).join(":");
    mount(
      "overlay",
      rootfs,
      "overlay",
      nodev,
      `lowerdir=${lower},upperdir=../upper,workdir=../work`,
    );
  }
  return rootfs;
}

function runInit(spec: InitSpec): never {
  closeInheritedDescriptors();
  // Its /proc files (fd, mem, environ) stay closed to the container's processes, which exist
  // (through exec) while this process, already with their ids, still waits to execve.
  setUndumpable();
  const held = permittedCapabilities();
  // Nothing mounted here reaches the host.
  mount(null, "/", null, MS.REC | MS.PRIVATE);
  const rootfs = mountRoot(spec);
  const proc = realDirectory(rootfs, "proc");
  const sys = realDirectory(rootfs, "sys");
  const dev = realDirectory(rootfs, "dev");
  mount("proc", proc, "proc", MS.NOSUID | MS.NODEV | MS.NOEXEC);
  const sysReadOnly = spec.security.privileged ? 0 : MS.RDONLY;
  mount("sysfs", sys, "sysfs", sysReadOnly | MS.NOSUID | MS.NODEV | MS.NOEXEC);
  mountDev(dev);
  if (spec.init) mountInit(spec.init, join(dev, "init"));
  if (!spec.security.privileged) maskPaths(rootfs);
  for (const name of ["hostname", "hosts", "resolv.conf"]) {
    bindEtcFile(rootfs, join(spec.directory, name), name);
  }
  mountVolumes(rootfs, spec);
  const cgroups = openCgroups(spec.cgroups);
  const seccomp = readSeccomp(spec.security);
  chdir(rootfs);
  pivotRoot(".", ".");
  detach(".");
  chdir("/");
  // Inside the root now: paths resolve as the container's own, and no process of the container
  // runs yet that could have changed anything there.
  try {
    mkdirInRoot("", spec.cwd);
  } catch (error) {
    throw new InitError(
      `cannot create the working directory ${spec.cwd}: ${(error as Error).message}`,
    );
  }
  const procfs = openProc("/proc");
  const user = lookUpUser(userFiles(procfs), spec.user);
  // Remounted with what the root was mounted with (nodev where there are no device rules).
  const nodev = spec.security.rootNodev ? MS.NODEV : 0;
  if (spec.readOnly) mount(null, "/", null, MS.REMOUNT | MS.BIND | MS.RDONLY | nodev);
  setHostname(spec.hostname);
  if (spec.network === "none") loopbackUp();
  // The caller's terminal (and session) stay out of reach: /dev/tty opens nothing.
  newSession();
  closeOnExecFrom3();
  // Joined last, so the init's own memory is not the container's.
  join0(notJoined(cgroups));
  // Nothing of the host's files stays open from here to the exec: Deno's caches, the cgroup
  // files (the exec may wait, for a lease of the container's, with descriptors still open).
  releaseHostFiles(procfs);
  const path = resolveCommand(spec.args[0], spec.env);
  if (spec.tty) {
    handOverTerminal(user);
    takeControllingTerminal();
  }
  restrictThread({ user, security: spec.security, seccomp, held });
  enterDirectory(spec.cwd);
  resetSignals();
  const failure = spec.init
    ? execve(INIT_PATH, [INIT_PATH, "--", path, ...spec.args.slice(1)], spec.env)
    : execve(path, spec.args, spec.env);
  throw new InitError(failure.message, failure.errno === 2 ? 127 : 126);
}

/**
 * Gives the command a new pseudo-terminal of the container's own devpts
 * (`-t`), as runc's console socket does: the master's descriptor number is
 * written on stdout for the host side, which takes a copy of it
 * (pidfd_getfd) and answers a byte on stdin; then the slave, owned by the
 * command's user, becomes stdin, stdout and stderr, and the master is
 * closed (this process never reads it).
 */
function handOverTerminal(owner: UserIds): void {
  let terminal;
  try {
    terminal = openPseudoTerminal();
  } catch (error) {
    throw new InitError(`cannot open a terminal: ${(error as Error).message}`);
  }
  writeAll(1, new TextEncoder().encode(`${TERMINAL_MARK} ${terminal.master}\n`));
  if (readSome(0, new Uint8Array(1)) !== 1) {
    throw new InitError("the terminal was not taken over");
  }
  closeRaw(terminal.master);
  useTerminal(terminal.slave, owner);
}

/** Where `--init` puts the init inside (the container's own /dev, a tmpfs). */
const INIT_PATH = "/dev/init";

/** Bind-mounts the host's static init read-only (and nosuid) at `target`. */
function mountInit(init: string, target: string): void {
  Deno.writeFileSync(target, new Uint8Array(), { mode: 0o755 });
  mount(init, target, null, MS.BIND);
  mount(null, target, null, MS.REMOUNT | MS.BIND | MS.RDONLY | MS.NOSUID | MS.NODEV);
}

/** Whether the process `pid` still is the one that started at `start`. */
function sameProcess(pid: number, start: string): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] === start;
  } catch {
    return false;
  }
}

/**
 * The exec init stays in the host's PID namespace, where no process of the
 * container can see it: this thread joins the container's namespaces (the
 * PID one for what it starts), takes the mount namespace's own root (not
 * the first process's, which that process may have changed with chroot),
 * joins the cgroups, and restricts itself as the container's first process
 * is restricted; the command it then starts inherits all of it, and is
 * born in the container's PID namespace already so.
 */
function execInit(spec: ExecSpec): never {
  closeInheritedDescriptors();
  setUndumpable();
  // Everything the host side must know is read now, before any file of the container is.
  const held = permittedCapabilities();
  const kinds: [string, number][] = [
    ["uts", CLONE.NEWUTS],
    ["ipc", CLONE.NEWIPC],
    ...(spec.joinNetwork ? [["net", CLONE.NEWNET] as [string, number]] : []),
    ["pid", CLONE.NEWPID],
    ["mnt", CLONE.NEWNS],
  ];
  const namespaces = kinds.map(([name, type]) => ({
    fd: openRaw(`/proc/${spec.pid}/ns/${name}`, O.RDONLY),
    type,
  }));
  // Opened from the process that was recorded, not from another that took its PID since.
  if (!sameProcess(spec.pid, spec.start)) throw new InitError("the container is not running");
  // Until its first process has exec'd the command, that process is denocker's init (or the
  // shell before it), with the host's files and privileges: no process may join it then.
  const own = Deno.statSync("/proc/self/exe");
  const first = Deno.statSync(`/proc/${spec.pid}/exe`);
  if (first.dev === own.dev && first.ino === own.ino) {
    throw new InitError("the container is still starting; try again");
  }
  const cgroups = notJoined(openCgroups(spec.cgroups, true));
  const seccomp = readSeccomp(spec.security);
  // The host's procfs, where this thread is visible, and its root, to tell it from the
  // container's.
  const proc = openProc("/proc");
  const hostRoot = Deno.statSync("/");
  // In the container's cgroups (its device rules) before any of its files is touched.
  join0(cgroups);
  unshareFileSystem();
  for (const { fd, type } of namespaces) {
    joinNamespace(fd, type);
    closeRaw(fd);
  }
  chdir("/");
  // A container whose first process has not yet pivoted into its root has the host's as its
  // mount namespace's: nothing may run there.
  const root = Deno.statSync("/");
  if (root.dev === hostRoot.dev && root.ino === hostRoot.ino) {
    throw new InitError("the container is still starting; try again");
  }
  const user = lookUpUser(userFiles(proc), spec.user);
  newSession();
  closeOnExecFrom3();
  const path = resolveCommand(spec.args[0], spec.env);
  // The command takes the terminal as its controlling one itself, in its new session.
  if (spec.tty) handOverTerminal(user);
  restrictThread({ user, security: spec.security, seccomp, held });
  enterDirectory(spec.cwd);
  // What the command must not inherit: signals this process ignores or blocks.
  resetSignals();
  // From here on only plain system calls: this thread can start processes in the container's
  // PID namespace, but no thread of its own (Linux refuses that across PID namespaces).
  let pid: number;
  try {
    pid = spawn(path, spec.args, spec.env, proc);
  } catch (error) {
    const code = error instanceof SystemCallError && error.errno === 2 ? 127 : 126;
    throw new InitError((error as Error).message, code);
  }
  // denocker passes signals on to the command itself.
  exitNow(waitFor(pid));
}

/**
 * Mounts the root in this mount namespace (the OCI runtime makes its own
 * under it), puts the user's ids, looked up inside the root, into the
 * bundle's `config.json` (the container's directory), and becomes the
 * runtime.
 */
function runtimeInit(spec: InitSpec): never {
  closeInheritedDescriptors();
  mount(null, "/", null, MS.REC | MS.PRIVATE);
  if (spec.network === "none") loopbackUp();
  const rootfs = mountRoot(spec);
  // The runtime refuses to mount on anything but a directory: what the image has there is
  // replaced, as denocker's own init does (and docker's init layer); and it cannot make a
  // working directory through the image's symlinks, which docker makes for it.
  for (const name of ["proc", "sys", "dev"]) realDirectory(rootfs, name);
  // Mounted here, not by the runtime: its own creation of missing targets can be raced onto the
  // host (runc before 1.1.14, CVE-2024-45310); it binds the root with these mounts under it.
  mountVolumes(rootfs, spec);
  try {
    // Held by descriptors as it is made: it may be under a volume another container shares.
    if (spec.cwd.split("/").some((part) => part !== "" && part !== ".")) {
      const rootFd = openRaw(rootfs, O.PATH | O.DIRECTORY);
      const cwd = openMountTarget(rootfs, rootFd, spec.cwd, "directory");
      closeMountTarget(cwd, rootFd);
      closeRaw(rootFd);
      if (cwd.type !== "directory") throw new Error("it is not a directory");
    }
  } catch (error) {
    throw new InitError(
      `cannot create the working directory ${spec.cwd}: ${(error as Error).message}`,
    );
  }
  const rootFd = openRaw(rootfs, O.PATH | O.DIRECTORY);
  const proc = openProc("/proc");
  const user = lookUpUser(
    (path) => readFileInRoot(rootFd, path, MAX_USER_DATABASE_BYTES, proc),
    spec.user,
  );
  closeRaw(rootFd);
  closeRaw(proc);
  const configPath = join(spec.directory, "config.json");
  const config = JSON.parse(Deno.readTextFileSync(configPath));
  config.process.user = { uid: user.uid, gid: user.gid, additionalGids: user.groups };
  Deno.writeTextFileSync(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
  closeOnExecFrom3();
  resetSignals();
  const runtime = spec.runtime!;
  const id = spec.directory.slice(spec.directory.lastIndexOf("/") + 1);
  const failure = execve(runtime, [
    runtime,
    "--root",
    runtimeStateDirectory(spec.directory),
    "run",
    "--bundle",
    spec.directory,
    "--pid-file",
    join(spec.directory, "runtime.pid"),
    id,
  ], [`PATH=${DEFAULT_PATH}`]);
  throw new InitError(`cannot start the OCI runtime ${runtime}: ${failure.message}`);
}

/**
 * Sets a container (or an exec'd process) up and becomes its command.
 * Returns only on failure, with the exit code.
 *
 * @param mode `run`, `exec` or `runtime`.
 * @param specPath The spec: the container's record, or an exec request.
 * @returns The exit code of the failure.
 */
export function containerInit(mode: string, specPath: string): number {
  try {
    const document = JSON.parse(Deno.readTextFileSync(specPath));
    if (mode === "exec") {
      // The request is for this process only.
      Deno.removeSync(specPath);
      execInit(document as ExecSpec);
    }
    const spec = document.spec as InitSpec;
    if (mode === "runtime") runtimeInit(spec);
    runInit(spec);
  } catch (error) {
    const code = error instanceof InitError ? error.code : 125;
    const message = error instanceof SystemCallError || error instanceof InitError ||
        error instanceof DenockerError
      ? error.message
      : `cannot start the container: ${(error as Error).message}`;
    Deno.stderr.writeSync(new TextEncoder().encode(`denocker: ${message}\n`));
    // Not Deno's own exit: the init may have let go of files and memory that Deno's shutdown
    // would use.
    exitNow(code);
  }
}

if (import.meta.main) Deno.exit(containerInit(Deno.args[0], Deno.args[1]));
