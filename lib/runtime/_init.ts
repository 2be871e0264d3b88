/**
 * A container's first process, before it becomes the container's command.
 * It runs inside the new namespaces `unshare` made (mount, PID, UTS, IPC,
 * and network unless the host's is used), as PID 1, and:
 *
 * 1. mounts the overlay root (lower directories by short links in the
 *    container's `lower/`, so that many layers fit in one mount's options);
 * 2. mounts `/proc`, `/sys` (read-only), a minimal `/dev` with `pts` and
 *    `shm`, and the container's `hostname`, `hosts` and `resolv.conf`;
 * 3. sets the hostname, brings `lo` up, joins the container's cgroup;
 * 4. `pivot_root`s into the root and detaches the host's mounts;
 * 5. takes the user, the working directory, and `execve`s the command,
 *    which so stays PID 1.
 *
 * A failure before the command is reached prints one line and exits 125; a
 * command that cannot be found exits 127, one that cannot be run 126, as
 * in docker.
 *
 * @module
 */

import {
  chdir,
  detach,
  execve,
  loopbackUp,
  mknodChar,
  mount,
  MS,
  pivotRoot,
  resetSignals,
  setHostname,
  setIds,
  SystemCallError,
} from "./_libc.ts";

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
  network: "none" | "host";
  readOnly: boolean;
  /** `cgroup.procs` files to join. */
  cgroupProcs: string[];
}

/**
 * Joins path parts with "/" (no `node:path`: loading Node's compatibility
 * layer would cost this short-lived process more than its work).
 */
function join(...parts: string[]): string {
  return parts.join("/").replace(/\/+/g, "/").replace(/(.)\/$/, "$1");
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

class InitError extends Error {
  readonly code: number;
  constructor(message: string, code = 125) {
    super(message);
    this.code = code;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Makes `path` exist as a file (for a bind mount onto it). */
function touch(path: string): void {
  if (exists(path)) return;
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")) || "/", { recursive: true });
  Deno.writeFileSync(path, new Uint8Array());
}

function mountDev(rootfs: string): void {
  const dev = join(rootfs, "dev");
  Deno.mkdirSync(dev, { recursive: true });
  mount("tmpfs", dev, "tmpfs", MS.NOSUID, "mode=755,size=65536k");
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
    "newinstance,ptmxmode=0666,mode=0620",
  );
  Deno.symlinkSync("pts/ptmx", join(dev, "ptmx"));
  Deno.mkdirSync(join(dev, "shm"));
  mount(
    "shm",
    join(dev, "shm"),
    "tmpfs",
    MS.NOSUID | MS.NODEV | MS.NOEXEC,
    "mode=1777,size=65536k",
  );
  for (
    const [name, target] of [["fd", "/proc/self/fd"], ["stdin", "/proc/self/fd/0"], [
      "stdout",
      "/proc/self/fd/1",
    ], ["stderr", "/proc/self/fd/2"]]
  ) {
    Deno.symlinkSync(target, join(dev, name));
  }
}

/** Reads `name:…:id…` lines of an /etc file of the image. */
function lookup(
  path: string,
  match: string | ((fields: string[]) => boolean),
): string[] | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
  const test = typeof match === "string" ? (fields: string[]) => fields[0] === match : match;
  return text.split("\n").map((line) => line.split(":")).find(test);
}

/**
 * The uid, gid and groups `user` (`uid[:gid]` or `name[:group]`) names,
 * from /etc/passwd and /etc/group under `rootfs`.
 *
 * @param rootfs The container's root as this process sees it.
 * @param user The user as given; empty for root.
 * @returns The ids.
 */
export function resolveUser(
  rootfs: string,
  user: string,
): { uid: number; gid: number; groups: number[] } {
  if (user === "") return { uid: 0, gid: 0, groups: [0] };
  const [userPart, groupPart] = user.split(":", 2);
  let uid: number;
  let gid: number | undefined;
  if (/^[0-9]+$/.test(userPart)) {
    uid = Number(userPart);
    const entry = lookup(join(rootfs, "etc", "passwd"), (fields) => fields[2] === userPart);
    if (entry) gid = Number(entry[3]);
  } else {
    const entry = lookup(join(rootfs, "etc", "passwd"), userPart);
    if (!entry) {
      throw new InitError(`unable to find user ${userPart}: no matching entries in passwd file`);
    }
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (groupPart !== undefined) {
    if (/^[0-9]+$/.test(groupPart)) {
      gid = Number(groupPart);
    } else {
      const entry = lookup(join(rootfs, "etc", "group"), groupPart);
      if (!entry) {
        throw new InitError(`unable to find group ${groupPart}: no matching entries in group file`);
      }
      gid = Number(entry[2]);
    }
  }
  return { uid, gid: gid ?? 0, groups: [gid ?? 0] };
}

/** Finds the command as execvp would, in the container's PATH (after pivot_root). */
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

/** Sets the container up and becomes its command. Returns only on failure, with the exit code. */
export function containerInit(specPath: string): number {
  try {
    const spec = JSON.parse(Deno.readTextFileSync(specPath)).spec as InitSpec;
    const rootfs = join(spec.directory, "rootfs");
    // Nothing mounted here reaches the host.
    mount(null, "/", null, MS.REC | MS.PRIVATE);
    if (spec.rootfs === "copy") {
      mount(join(spec.directory, "copy"), rootfs, null, MS.BIND | MS.REC);
    } else {
      chdir(join(spec.directory, "lower"));
      const lower = Array.from({ length: spec.lowerCount }, (_, i) => String(i)).join(":");
      mount(
        "overlay",
        rootfs,
        "overlay",
        0,
        `lowerdir=${lower},upperdir=../upper,workdir=../work`,
      );
    }
    for (const directory of ["proc", "sys", "etc"]) {
      Deno.mkdirSync(join(rootfs, directory), { recursive: true });
    }
    mount("proc", join(rootfs, "proc"), "proc", MS.NOSUID | MS.NODEV | MS.NOEXEC);
    mount("sysfs", join(rootfs, "sys"), "sysfs", MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC);
    mountDev(rootfs);
    for (const name of ["hostname", "hosts", "resolv.conf"]) {
      const target = join(rootfs, "etc", name);
      // A symlink there (some images point resolv.conf elsewhere) is replaced by a file.
      if (exists(target) && Deno.lstatSync(target).isSymlink) Deno.removeSync(target);
      touch(target);
      mount(join(spec.directory, name), target, null, MS.BIND);
    }
    const user = resolveUser(rootfs, spec.user);
    if (spec.cwd !== "/") Deno.mkdirSync(join(rootfs, spec.cwd), { recursive: true });
    if (spec.readOnly) mount(null, rootfs, null, MS.REMOUNT | MS.BIND | MS.RDONLY);
    setHostname(spec.hostname);
    if (spec.network === "none") loopbackUp();
    // Joined last, so the init's own memory is not the container's.
    for (const procs of spec.cgroupProcs) Deno.writeTextFileSync(procs, "0");
    chdir(rootfs);
    pivotRoot(".", ".");
    detach(".");
    chdir("/");
    const path = resolveCommand(spec.args[0], spec.env);
    setIds(user.uid, user.gid, user.groups);
    try {
      chdir(spec.cwd);
    } catch (error) {
      throw new InitError(
        `cannot enter the working directory ${spec.cwd}: ${(error as Error).message}`,
        126,
      );
    }
    resetSignals();
    const failure = execve(path, spec.args, spec.env);
    throw new InitError(
      `${failure.message}`,
      failure.errno === 2 ? 127 : 126,
    );
  } catch (error) {
    const code = error instanceof InitError ? error.code : 125;
    const message = error instanceof SystemCallError || error instanceof InitError
      ? error.message
      : `cannot start the container: ${(error as Error).message}`;
    Deno.stderr.writeSync(new TextEncoder().encode(`denocker: ${message}\n`));
    return code;
  }
}

if (import.meta.main) Deno.exit(containerInit(Deno.args[0]));
