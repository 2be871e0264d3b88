/**
 * The libc calls running a container needs and Deno has no API for:
 * mounts, `pivot_root`, device nodes, xattrs, the hostname, user ids,
 * capabilities, `no_new_privs`, seccomp, namespaces, descriptors,
 * `execve`. Loaded through FFI (`--allow-ffi`), Linux only (x86_64 and
 * aarch64). Every call acts on the calling thread where Linux makes it
 * per-thread (capabilities, seccomp, namespaces after `unshare(CLONE_FS)`):
 * the thread that then calls `execve`, whose state the new program keeps.
 *
 * @module
 */

import { DenockerError } from "../errors.ts";
import { forkExecCode, REQUEST } from "./_fork_exec.ts";

const SYMBOLS = {
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  sethostname: { parameters: ["buffer", "usize"], result: "i32" },
  chdir: { parameters: ["buffer"], result: "i32" },
  syscall: { parameters: ["i64", "buffer", "buffer"], result: "i64" },
  setgroups: { parameters: ["usize", "buffer"], result: "i32" },
  setgid: { parameters: ["u32"], result: "i32" },
  setuid: { parameters: ["u32"], result: "i32" },
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  rt_sigaction: {
    name: "syscall",
    parameters: ["i64", "i64", "buffer", "buffer", "usize"],
    result: "i64",
  },
  sigprocmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  capset: { parameters: ["buffer", "buffer"], result: "i32" },
  capget: { parameters: ["buffer", "buffer"], result: "i32" },
  ids: { name: "syscall", parameters: ["i64", "u64", "u64", "u64"], result: "i64" },
  groups: { name: "syscall", parameters: ["i64", "u64", "buffer"], result: "i64" },
  setsid: { parameters: [], result: "i32" },
  unshare: { parameters: ["i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  close_range: { name: "syscall", parameters: ["i64", "u32", "u32", "u32"], result: "i64" },
  openat2: {
    name: "syscall",
    parameters: ["i64", "i32", "buffer", "buffer", "usize"],
    result: "i64",
  },
  bpf: { name: "syscall", parameters: ["i64", "i32", "buffer", "u32"], result: "i64" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  mprotect: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  getdents64: { name: "syscall", parameters: ["i64", "i32", "buffer", "usize"], result: "i64" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  fchown: { parameters: ["i32", "u32", "u32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  ioctl_value: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  pidfd: { name: "syscall", parameters: ["i64", "i64", "i64", "i64"], result: "i64" },
  read_blocking: {
    name: "read",
    parameters: ["i32", "buffer", "usize"],
    result: "isize",
    nonblocking: true,
  },
  write_blocking: {
    name: "write",
    parameters: ["i32", "buffer", "usize"],
    result: "isize",
    nonblocking: true,
  },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32", nonblocking: false },
  _exit: { parameters: ["i32"], result: "void" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let loaded: Libc | undefined;

function libc(): Libc {
  if (Deno.build.os !== "linux") {
    throw new DenockerError("Cannot run containers: they need Linux");
  }
  loaded ??= Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  return loaded;
}

/** Error numbers by name, as Linux (x86_64 and aarch64) numbers them. */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM: operation not permitted",
  2: "ENOENT: no such file or directory",
  3: "ESRCH: no such process",
  5: "EIO: input/output error",
  6: "ENXIO: no such device or address",
  7: "E2BIG: argument list too long",
  8: "ENOEXEC: exec format error",
  9: "EBADF: bad file descriptor",
  11: "EAGAIN: resource temporarily unavailable",
  12: "ENOMEM: cannot allocate memory",
  13: "EACCES: permission denied",
  14: "EFAULT: bad address",
  16: "EBUSY: device or resource busy",
  17: "EEXIST: file exists",
  19: "ENODEV: no such device (is the file system type supported?)",
  20: "ENOTDIR: not a directory",
  21: "EISDIR: is a directory",
  22: "EINVAL: invalid argument",
  28: "ENOSPC: no space left on device",
  24: "EMFILE: too many open files",
  30: "EROFS: read-only file system",
  36: "ENAMETOOLONG: file name too long",
  38: "ENOSYS: function not implemented",
  40: "ELOOP: too many levels of symbolic links",
  95: "EOPNOTSUPP: operation not supported",
};

/** The calling thread's `errno`. */
export function errno(): number {
  const pointer = libc().__errno_location();
  return pointer === null ? 0 : new Deno.UnsafePointerView(pointer).getInt32();
}

/** An error for a failed call, with errno in words. */
export class SystemCallError extends DenockerError {
  /** The errno. */
  readonly errno: number;
  constructor(call: string, code: number) {
    super(`${call} failed: ${ERRNO_NAMES[code] ?? `errno ${code}`}`);
    this.errno = code;
  }
}

function check(result: number | bigint, call: string): void {
  if (Number(result) === -1) throw new SystemCallError(call, errno());
}

/** A NUL-terminated C string. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${text}\0`);
}

const NULL = null as unknown as Uint8Array<ArrayBuffer>;

/** mount(2) flags used here. */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  REMOUNT: 32,
  BIND: 4096,
  REC: 16384,
  PRIVATE: 1 << 18,
  STRICTATIME: 1 << 24,
} as const;

/** mount(2). */
export function mount(
  source: string | null,
  target: string,
  type: string | null,
  flags: number,
  data: string | null = null,
): void {
  check(
    libc().mount(
      source === null ? NULL : cString(source),
      cString(target),
      type === null ? NULL : cString(type),
      BigInt(flags),
      data === null ? NULL : cString(data),
    ),
    `mount ${type ?? ""} ${target}`.replace("  ", " "),
  );
}

/** umount2(2) with MNT_DETACH. */
export function detach(target: string): void {
  check(libc().umount2(cString(target), 2), `umount ${target}`);
}

/** mknod(2) of a character device. */
export function mknodChar(path: string, mode: number, major: number, minor: number): void {
  // glibc's makedev for small numbers.
  const device = BigInt((major << 8) | minor);
  check(libc().mknod(cString(path), 0o020000 | mode, device), `mknod ${path}`);
}

/** lsetxattr(2). */
export function setXattr(path: string, name: string, value: string): void {
  const bytes = new TextEncoder().encode(value);
  check(
    libc().lsetxattr(cString(path), cString(name), bytes, BigInt(bytes.byteLength), 0),
    `setxattr ${name} ${path}`,
  );
}

/**
 * lgetxattr(2) of a value of at most 256 bytes.
 *
 * @returns The value, or undefined when the file has none of that name.
 */
export function getXattr(path: string, name: string): string | undefined {
  const buffer = new Uint8Array(256);
  const length = Number(
    libc().lgetxattr(cString(path), cString(name), buffer, BigInt(buffer.byteLength)),
  );
  if (length >= 0) return new TextDecoder().decode(buffer.subarray(0, length));
  const code = errno();
  // ENODATA, or a file system without xattrs.
  if (code === 61 || code === 95) return undefined;
  throw new SystemCallError(`getxattr ${name} ${path}`, code);
}

/** sethostname(2). */
export function setHostname(name: string): void {
  const bytes = new TextEncoder().encode(name);
  check(libc().sethostname(bytes, BigInt(bytes.byteLength)), "sethostname");
}

/** chdir(2) of this process (Deno.chdir does the same; this one reports errno). */
export function chdir(path: string): void {
  check(libc().chdir(cString(path)), `chdir ${path}`);
}

const SYS_PIVOT_ROOT: Record<string, number> = { x86_64: 155, aarch64: 41 };
const SYS_RT_SIGACTION: Record<string, number> = { x86_64: 13, aarch64: 134 };
const SYS_BPF: Record<string, number> = { x86_64: 321, aarch64: 280 };
// The same number on every architecture (they came after the tables were unified).
const SYS_CLOSE_RANGE = 436;
const SYS_OPENAT2 = 437;

/** pivot_root(2). */
export function pivotRoot(newRoot: string, putOld: string): void {
  const number = SYS_PIVOT_ROOT[Deno.build.arch];
  check(libc().syscall(BigInt(number), cString(newRoot), cString(putOld)), "pivot_root");
}

const SYS_SETGROUPS: Record<string, number> = { x86_64: 116, aarch64: 159 };
const SYS_SETRESGID: Record<string, number> = { x86_64: 119, aarch64: 149 };
const SYS_SETRESUID: Record<string, number> = { x86_64: 117, aarch64: 147 };

/**
 * setgroups(2), setresgid(2), setresuid(2) of this thread alone, in that
 * order. The raw system calls, not libc's, which would make every thread
 * of the process follow: the thread that then runs (or starts) the command
 * is the one that matters, and the others keep what they need.
 */
export function setIds(uid: number, gid: number, groups: number[]): void {
  const c = libc();
  const arch = Deno.build.arch;
  const list = new Uint32Array(groups);
  check(
    c.groups(BigInt(SYS_SETGROUPS[arch]), BigInt(groups.length), new Uint8Array(list.buffer)),
    "setgroups",
  );
  const g = BigInt(gid);
  check(c.ids(BigInt(SYS_SETRESGID[arch]), g, g, g), "setresgid");
  const u = BigInt(uid);
  check(c.ids(BigInt(SYS_SETRESUID[arch]), u, u, u), "setresuid");
}

/** Brings the loopback interface up (SIOCGIFFLAGS / SIOCSIFFLAGS on `lo`). */
export function loopbackUp(): void {
  const c = libc();
  const socket = c.socket(2, 2, 0); // AF_INET, SOCK_DGRAM
  check(socket, "socket");
  try {
    const request = new Uint8Array(40); // struct ifreq: name[16], then flags (short).
    request.set(new TextEncoder().encode("lo"));
    check(c.ioctl(socket, 0x8913n, request), "ioctl SIOCGIFFLAGS lo");
    const view = new DataView(request.buffer);
    view.setUint16(16, view.getUint16(16, true) | 0x1 | 0x40, true); // IFF_UP | IFF_RUNNING
    check(c.ioctl(socket, 0x8914n, request), "ioctl SIOCSIFFLAGS lo");
  } finally {
    c.close(socket);
  }
}

/**
 * Restores what a new program should start with: every signal's default
 * action (Deno ignores SIGPIPE, and ignored signals survive `execve`) and
 * no blocked signal.
 */
export function resetSignals(): void {
  const c = libc();
  // struct sigaction of the kernel, all zero: SIG_DFL, no flags, nothing blocked while handling.
  const action = new Uint8Array(32);
  const number = SYS_RT_SIGACTION[Deno.build.arch];
  for (let signal = 1; signal <= 64; signal++) {
    if (signal === 9 || signal === 19) continue; // SIGKILL and SIGSTOP cannot be changed.
    c.rt_sigaction(BigInt(number), BigInt(signal), action, NULL, 8n);
  }
  c.sigprocmask(2, new Uint8Array(128), NULL); // SIG_SETMASK to the empty set.
}

/**
 * execve(2). Returns only when it failed, with the error.
 *
 * @param path The program.
 * @param argv Its arguments, the program's name first.
 * @param env `KEY=VALUE` entries.
 * @returns The error.
 */
export function execve(path: string, argv: string[], env: string[]): SystemCallError {
  const strings = new CStringArrays();
  libc().execve(cString(path), strings.array(argv), strings.array(env));
  const code = errno();
  strings.release();
  return new SystemCallError(`exec ${path}`, code);
}

/** NULL-terminated arrays of C strings, kept alive until released. */
class CStringArrays {
  #keep: Uint8Array<ArrayBuffer>[] = [];

  array(strings: string[]): Uint8Array<ArrayBuffer> {
    const pointers = new BigUint64Array(strings.length + 1);
    strings.forEach((text, i) => {
      const bytes = cString(text);
      this.#keep.push(bytes);
      pointers[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
    });
    return new Uint8Array(pointers.buffer);
  }

  release(): void {
    this.#keep.length = 0;
  }
}

const FORK_EXEC = { parameters: ["buffer"], result: "i64" } as const;
let forkExec: Deno.UnsafeFnPointer<typeof FORK_EXEC> | undefined;

/** The fork-and-exec machine code, in memory that may run (made once). */
function forkExecFunction() {
  if (forkExec) return forkExec;
  const code = forkExecCode(Deno.build.arch);
  if (!code) {
    throw new DenockerError(`Cannot exec: no code for the ${Deno.build.arch} architecture`);
  }
  const c = libc();
  const PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20;
  const memory = c.mmap(null, 4096n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (memory === null || Deno.UnsafePointer.value(memory) === 0xffffffffffffffffn) {
    check(-1, "mmap");
  }
  new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(memory!, code.byteLength)).set(code);
  check(c.mprotect(memory, 4096n, PROT_READ | PROT_EXEC), "mprotect");
  forkExec = new Deno.UnsafeFnPointer(
    memory as Deno.PointerObject<typeof FORK_EXEC>,
    FORK_EXEC,
  );
  return forkExec;
}

/**
 * Lets go of what of the host this process holds that a child of it could
 * hand on before its exec: the regular files it has open (Deno's caches,
 * the cgroup files), the procfs descriptor `proc` (closed), and its shared
 * mappings (SQLite's shared memory of those caches), which a child
 * shares, not copies. Only for a process that does nothing with them any
 * more: an init about to become (or to start) the command.
 *
 * @param proc A procfs in which this thread is visible ({@link openProc}).
 */
export function releaseHostFiles(proc: number): void {
  const c = libc();
  const maps = readRegularDescriptorUnchecked(
    c.openat(proc, cString("thread-self/maps"), O.RDONLY | O.CLOEXEC, 0),
  );
  for (const line of new TextDecoder().decode(maps).split("\n")) {
    const [range, permissions] = line.split(" ");
    if (!permissions || permissions[3] !== "s") continue;
    const [start, end] = range.split("-").map((hex) => BigInt(`0x${hex}`));
    c.munmap(Deno.UnsafePointer.create(start), end - start);
  }
  const stat = new Uint8Array(256);
  const view = new DataView(stat.buffer);
  for (const fd of openDescriptors(proc)) {
    if (fd < 3) continue;
    if (c.statx(fd, cString(""), AT_EMPTY_PATH, STATX_TYPE_SIZE, stat) !== 0) continue;
    const type = view.getUint16(0x1c, true) & S_IFMT;
    // Files, directories and devices of the host, anything a path can reopen; not Deno's own
    // event descriptors, sockets and pipes, which it still waits on.
    if (HOST_FILE_TYPES.includes(type)) c.close(fd);
  }
  c.close(proc);
}

const SYS_GETDENTS64: Record<string, number> = { x86_64: 217, aarch64: 61 };

/** The descriptors this process has open, as its `fd/` directory in `proc` lists them. */
function openDescriptors(proc: number): number[] {
  const c = libc();
  const directory = c.openat(
    proc,
    cString("thread-self/fd"),
    O.RDONLY | O.DIRECTORY | O.CLOEXEC,
    0,
  );
  check(directory, "open fd/");
  const found: number[] = [];
  const buffer = new Uint8Array(32768);
  const view = new DataView(buffer.buffer);
  try {
    for (;;) {
      const n = Number(
        c.getdents64(BigInt(SYS_GETDENTS64[Deno.build.arch]), directory, buffer, 32768n),
      );
      if (n < 0) check(-1, "getdents64");
      if (n <= 0) break;
      // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
      for (let offset = 0; offset < n;) {
        const length = view.getUint16(offset + 16, true);
        const name = new TextDecoder().decode(
          buffer.subarray(offset + 19, buffer.indexOf(0, offset + 19)),
        );
        if (/^[0-9]+$/.test(name)) found.push(Number(name));
        offset += length;
      }
    }
  } finally {
    c.close(directory);
  }
  // Its own descriptor for the listing is closed now.
  return found.filter((fd) => fd !== directory);
}

/** All of a procfs file (its size is not known ahead). */
function readRegularDescriptorUnchecked(fd: number): Uint8Array {
  check(fd, "open maps");
  const c = libc();
  const chunks: Uint8Array[] = [];
  for (;;) {
    const buffer = new Uint8Array(65536);
    const n = Number(c.read(fd, buffer, BigInt(buffer.byteLength)));
    if (n <= 0) break;
    chunks.push(buffer.subarray(0, n));
  }
  c.close(fd);
  const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return all;
}

/**
 * Starts a program as fork and execve would, from this thread (see
 * `_fork_exec.ts`): the child has a copy of this process's memory, this
 * thread's credentials, capabilities, seccomp filter, root, working
 * directory, namespaces (the PID namespace its children go to) and signal
 * state, a session of its own, and the descriptors but those close-on-exec.
 * Nothing of Deno runs in the child.
 *
 * @param path The program.
 * @param argv Its arguments, the program's name first.
 * @param env `KEY=VALUE` entries.
 * @param proc A host procfs descriptor: given, the process first lets go of
 *   the host's files and shared memory (`releaseHostFiles`), and of it.
 * @returns The new process's PID.
 * @throws {SystemCallError} When the program could not be executed.
 */
export function spawn(path: string, argv: string[], env: string[], proc?: number): number {
  const c = libc();
  const run = forkExecFunction();
  if (proc !== undefined) releaseHostFiles(proc);
  const strings = new CStringArrays();
  const pipe = new Int32Array(2);
  check(c.pipe2(new Uint8Array(pipe.buffer), O.CLOEXEC), "pipe2");
  const request = new BigUint64Array(REQUEST.size / 8);
  const pathBytes = cString(path);
  const argvArray = strings.array(argv);
  const envArray = strings.array(env);
  const address = (bytes: Uint8Array<ArrayBuffer>) =>
    BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
  request[REQUEST.path / 8] = address(pathBytes);
  request[REQUEST.argv / 8] = address(argvArray);
  request[REQUEST.envp / 8] = address(envArray);
  request[REQUEST.errorPipe / 8] = BigInt(pipe[1]);
  const pid = Number(run.call(new Uint8Array(request.buffer)));
  c.close(pipe[1]);
  strings.release();
  if (pid < 0) {
    c.close(pipe[0]);
    throw new SystemCallError("clone", -pid);
  }
  // The pipe closes with a successful exec; a failed one writes its errno first.
  const failure = new Int32Array(1);
  const n = Number(c.read(pipe[0], new Uint8Array(failure.buffer), 4n));
  c.close(pipe[0]);
  if (n === 4) {
    waitFor(pid);
    throw new SystemCallError(`exec ${path}`, failure[0]);
  }
  return pid;
}

/**
 * waitpid(2) for a child, blocking this thread until it ends.
 *
 * @param pid The child.
 * @returns Its exit status as a shell reports it: its code, or 128 + the signal.
 */
export function waitFor(pid: number): number {
  const status = new Int32Array(1);
  for (;;) {
    const result = libc().waitpid(pid, new Uint8Array(status.buffer), 0);
    if (result === pid) break;
    if (errno() !== 4) check(-1, "waitpid"); // EINTR: again.
  }
  const value = status[0];
  const signal = value & 0x7f;
  return signal === 0 ? (value >> 8) & 0xff : 128 + signal;
}

/** _exit(2): ends the process now, without anything of the runtime's own. */
export function exitNow(code: number): never {
  libc()._exit(code);
  throw new Error("unreachable");
}

// prctl(2) options.
const PR_SET_DUMPABLE = 4;
const PR_SET_SECCOMP = 22;
const PR_CAPBSET_READ = 23;
const PR_CAPBSET_DROP = 24;
const PR_SET_NO_NEW_PRIVS = 38;
const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_CLEAR_ALL = 4;
const SECCOMP_MODE_FILTER = 2;

/** Marks the process undumpable: no core, and its /proc files (fd, exe, mem) are root's only. */
export function setUndumpable(): void {
  check(libc().prctl(PR_SET_DUMPABLE, 0n, 0n, 0n, 0n), "prctl PR_SET_DUMPABLE");
}

/**
 * Shrinks the capability bounding set to `keep` (what no later `execve`
 * can exceed, setuid files included) and clears the ambient set.
 *
 * @param keep Capability numbers to keep.
 */
export function limitCapabilities(keep: readonly number[]): void {
  const c = libc();
  // Every capability the kernel knows: PR_CAPBSET_READ answers 1 or 0 for those, and -1 past the
  // last one. The answer alone decides, not errno: read after the call, errno can be another
  // call's by then (a drop past the last capability once read as ENOENT, not EINVAL).
  for (let capability = 0; capability < 64; capability++) {
    const held = c.prctl(PR_CAPBSET_READ, BigInt(capability), 0n, 0n, 0n);
    if (held === -1) break;
    if (held === 0 || keep.includes(capability)) continue;
    check(c.prctl(PR_CAPBSET_DROP, BigInt(capability), 0n, 0n, 0n), "prctl PR_CAPBSET_DROP");
  }
  check(
    c.prctl(PR_CAP_AMBIENT, BigInt(PR_CAP_AMBIENT_CLEAR_ALL), 0n, 0n, 0n),
    "prctl PR_CAP_AMBIENT",
  );
}

/**
 * capset(2) of this thread: the effective, permitted and inheritable sets,
 * each as its two 32-bit words.
 */
export function setCapabilitySets(
  effective: [number, number],
  permitted: [number, number],
  inheritable: [number, number],
): void {
  const header = new Uint32Array([0x20080522, 0]); // _LINUX_CAPABILITY_VERSION_3, this thread.
  const data = new Uint32Array([
    effective[0],
    permitted[0],
    inheritable[0],
    effective[1],
    permitted[1],
    inheritable[1],
  ]);
  check(
    libc().capset(new Uint8Array(header.buffer), new Uint8Array(data.buffer)),
    "capset",
  );
}

/** This thread's permitted capabilities (capget(2)), as two 32-bit words. */
export function permittedCapabilities(): [number, number] {
  const header = new Uint32Array([0x20080522, 0]);
  const data = new Uint32Array(6);
  check(
    libc().capget(new Uint8Array(header.buffer), new Uint8Array(data.buffer)),
    "capget",
  );
  return [data[1], data[4]];
}

/** Sets `no_new_privs`: no later `execve` gains privileges (setuid bits and file capabilities). */
export function setNoNewPrivileges(): void {
  check(libc().prctl(PR_SET_NO_NEW_PRIVS, 1n, 0n, 0n, 0n), "prctl PR_SET_NO_NEW_PRIVS");
}

/**
 * Installs a seccomp filter on this thread (kept across `execve`, and
 * inherited by every child). Needs `no_new_privs` or CAP_SYS_ADMIN.
 *
 * @param program The `sock_filter` array.
 */
export function loadSeccompFilter(program: Uint8Array<ArrayBuffer>): void {
  const fprog = new BigUint64Array(2); // struct sock_fprog: length (u16, padded), then the pointer.
  fprog[0] = BigInt(program.byteLength / 8);
  fprog[1] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(program)));
  const pointer = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(fprog)));
  check(
    libc().prctl(PR_SET_SECCOMP, BigInt(SECCOMP_MODE_FILTER), pointer, 0n, 0n),
    "prctl PR_SET_SECCOMP",
  );
}

/** setsid(2): a new session without a controlling terminal (the caller's is out of reach). */
export function newSession(): void {
  check(libc().setsid(), "setsid");
}

const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const CLOSE_RANGE_CLOEXEC = 4;

/**
 * Marks every descriptor from 3 on close-on-exec, so that the program
 * `execve` starts has only stdin, stdout and stderr (this process keeps
 * using its own until then). Uses close_range(2), or each open descriptor
 * where the kernel is older than 5.11.
 */
export function closeOnExecFrom3(): void {
  const c = libc();
  if (Number(c.close_range(BigInt(SYS_CLOSE_RANGE), 3, 0xffffffff, CLOSE_RANGE_CLOEXEC)) === 0) {
    return;
  }
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(entry.name);
    if (fd < 3) continue;
    const flags = c.fcntl(fd, F_GETFD, 0);
    if (flags >= 0) check(c.fcntl(fd, F_SETFD, flags | FD_CLOEXEC), "fcntl F_SETFD");
  }
}

/**
 * Closes every descriptor from 3 on that is not close-on-exec: those came
 * from whoever started denocker (Deno opens its own close-on-exec), and
 * none may be reachable inside the container, not even as
 * `/proc/self/fd/N` while the container is being set up.
 */
export function closeInheritedDescriptors(): void {
  const c = libc();
  for (const entry of [...Deno.readDirSync("/proc/self/fd")]) {
    const fd = Number(entry.name);
    if (fd < 3) continue;
    const flags = c.fcntl(fd, F_GETFD, 0);
    if (flags >= 0 && (flags & FD_CLOEXEC) === 0) c.close(fd);
  }
}

/** Namespace types for setns(2). */
export const CLONE = {
  FS: 0x200,
  NEWNS: 0x20000,
  NEWPID: 0x20000000,
  NEWUTS: 0x4000000,
  NEWIPC: 0x8000000,
  NEWNET: 0x40000000,
} as const;

/**
 * unshare(2) of CLONE_FS: this thread gets its own root and working
 * directory, which it may then change alone (a mount namespace can be
 * joined only so by a thread of a process with several).
 */
export function unshareFileSystem(): void {
  check(libc().unshare(CLONE.FS), "unshare CLONE_FS");
}

/** setns(2) of this thread into the namespace `fd` refers to. */
export function joinNamespace(fd: number, type: number): void {
  check(libc().setns(fd, type), "setns");
}

/** Open flags used here. */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  NONBLOCK: 0o4000,
  DIRECTORY: Deno.build.arch === "aarch64" ? 0o40000 : 0o200000,
  NOFOLLOW: Deno.build.arch === "aarch64" ? 0o100000 : 0o400000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

/** open(2); returns the descriptor. */
export function openRaw(path: string, flags: number): number {
  const fd = libc().open(cString(path), flags | O.CLOEXEC, 0);
  check(fd, `open ${path}`);
  return fd;
}

/** close(2). */
export function closeRaw(fd: number): void {
  libc().close(fd);
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
/** Regular files, directories, symlinks (O_PATH), block and character devices. */
const HOST_FILE_TYPES = [0o100000, 0o040000, 0o120000, 0o060000, 0o020000];
const AT_EMPTY_PATH = 0x1000;
const STATX_TYPE_SIZE = 0x1 | 0x200;
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_IN_ROOT = 0x10;

/**
 * Reads a regular file of at most `maxBytes` through an `O_PATH`
 * descriptor, which is closed. Opening with `O_PATH` runs nothing of the
 * file (a FIFO does not block, a device's driver is not called); only
 * once it is known to be a regular file of a size allowed is it opened for
 * reading, through `/proc/thread-self/fd` of a procfs this thread is
 * visible in, so that it is the same file. Anything else, or a larger
 * file, is refused: a hostile file can neither block the reader, nor act
 * as a device, nor fill its memory.
 */
function readRegularDescriptor(
  pathFd: number,
  what: string,
  maxBytes: number,
  proc: number,
): Uint8Array {
  const c = libc();
  let fd = -1;
  try {
    const stat = new Uint8Array(256);
    check(c.statx(pathFd, cString(""), AT_EMPTY_PATH, STATX_TYPE_SIZE, stat), `statx ${what}`);
    const view = new DataView(stat.buffer);
    const mode = view.getUint16(0x1c, true);
    if ((mode & S_IFMT) !== S_IFREG) {
      throw new DenockerError(`Cannot read ${what}: it is not a regular file`);
    }
    if (Number(view.getBigUint64(0x28, true)) > maxBytes) {
      throw new DenockerError(`Cannot read ${what}: it is larger than ${maxBytes} bytes`);
    }
    fd = c.openat(proc, cString(`thread-self/fd/${pathFd}`), O.RDONLY | O.CLOEXEC | O.NOCTTY, 0);
    check(fd, `open ${what}`);
    const buffer = new Uint8Array(maxBytes + 1);
    let length = 0;
    while (length < buffer.byteLength) {
      const n = Number(c.read(fd, buffer.subarray(length), BigInt(buffer.byteLength - length)));
      if (n < 0) check(-1, `read ${what}`);
      if (n <= 0) break;
      length += n;
    }
    if (length > maxBytes) {
      throw new DenockerError(`Cannot read ${what}: it is larger than ${maxBytes} bytes`);
    }
    return buffer.slice(0, length);
  } finally {
    if (fd >= 0) c.close(fd);
    c.close(pathFd);
  }
}

/**
 * A directory descriptor on a procfs, for {@link readRegularFile}: one in
 * which this thread is visible (the host's for a thread in the host's PID
 * namespace, the container's for its first process).
 *
 * @param path Where that procfs is mounted, as this thread sees it now.
 * @returns The descriptor.
 */
export function openProc(path = "/proc"): number {
  return openRaw(path, O.PATH | O.DIRECTORY);
}

/**
 * Reads a regular file of this thread's file system; see
 * {@link readRegularDescriptor} for the rules.
 *
 * @param path The file.
 * @param maxBytes The most it may hold.
 * @param proc A procfs in which this thread is visible ({@link openProc}).
 * @returns Its content, or undefined when it does not exist.
 */
export function readRegularFile(
  path: string,
  maxBytes: number,
  proc: number,
): Uint8Array | undefined {
  const fd = libc().open(cString(path), O.PATH | O.CLOEXEC, 0);
  if (fd < 0) {
    const code = errno();
    if (code === 2 || code === 20) return undefined;
    throw new SystemCallError(`open ${path}`, code);
  }
  return readRegularDescriptor(fd, path, maxBytes, proc);
}

/**
 * Reads a regular file at `path` inside the directory `rootFd` refers to,
 * as if it were `/`: symlinks and `..` are resolved by the kernel and can
 * never leave it (openat2 with RESOLVE_IN_ROOT, Linux 5.6). The rules of
 * {@link readRegularFile} apply.
 *
 * @param rootFd A directory descriptor.
 * @param path The path inside it.
 * @param maxBytes The most it may hold.
 * @param proc A procfs in which this thread is visible ({@link openProc}).
 * @returns Its content, or undefined when it does not exist.
 */
export function readFileInRoot(
  rootFd: number,
  path: string,
  maxBytes: number,
  proc: number,
): Uint8Array | undefined {
  let fd: number | undefined;
  try {
    fd = openInRoot(rootFd, path, O.PATH);
  } catch (error) {
    if (error instanceof SystemCallError && error.errno === 20) return undefined;
    throw error;
  }
  return fd === undefined ? undefined : readRegularDescriptor(fd, path, maxBytes, proc);
}

/** What a descriptor refers to, from statx(2). */
export interface DescriptorStat {
  /** `directory`, `file` (regular), `symlink` or `other`. */
  type: "directory" | "file" | "symlink" | "other";
  /** The device and inode, as `MAJOR:MINOR:INODE`: equal for the same file. */
  identity: string;
}

/** statx(2) of a descriptor (any, `O_PATH` too). */
export function statDescriptor(fd: number): DescriptorStat {
  const stat = new Uint8Array(256);
  // STATX_TYPE | STATX_INO.
  check(libc().statx(fd, cString(""), AT_EMPTY_PATH, 0x1 | 0x100, stat), "statx");
  const view = new DataView(stat.buffer);
  const format = view.getUint16(0x1c, true) & S_IFMT;
  const type = format === S_IFREG
    ? "file"
    : format === 0o040000
    ? "directory"
    : format === 0o120000
    ? "symlink"
    : "other";
  const inode = view.getBigUint64(0x20, true);
  return { type, identity: `${view.getUint32(0x88, true)}:${view.getUint32(0x8c, true)}:${inode}` };
}

/**
 * Opens `path` inside the directory `rootFd` refers to, as if it were
 * `/`: the kernel resolves every symlink and `..` and none leaves it
 * (openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, Linux 5.6).
 *
 * @param rootFd A directory descriptor.
 * @param path The path inside it.
 * @param flags Open flags (`O.PATH` to only hold the file).
 * @returns The descriptor, or undefined when a component does not exist.
 */
export function openInRoot(rootFd: number, path: string, flags: number): number | undefined {
  // struct open_how: flags, mode, resolve.
  const how = new BigUint64Array([
    BigInt(flags | O.CLOEXEC),
    0n,
    BigInt(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS),
  ]);
  const fd = Number(
    libc().openat2(BigInt(SYS_OPENAT2), rootFd, cString(path), new Uint8Array(how.buffer), 24n),
  );
  if (fd >= 0) return fd;
  const code = errno();
  if (code === 2) return undefined;
  if (code === 38) {
    throw new DenockerError(
      `Cannot open ${path} inside the container: the kernel has no openat2 (Linux 5.6 or later is needed)`,
    );
  }
  throw new SystemCallError(`open ${path}`, code);
}

/**
 * openat(2) of one name in the directory `dirFd`.
 *
 * @returns The descriptor, or undefined when nothing has that name.
 */
export function openAt(dirFd: number, name: string, flags: number): number | undefined {
  const fd = libc().openat(dirFd, cString(name), flags | O.CLOEXEC, 0);
  if (fd >= 0) return fd;
  const code = errno();
  if (code === 2) return undefined;
  throw new SystemCallError(`open ${name}`, code);
}

/**
 * mkdirat(2) of one name in the directory `dirFd` (a symlink there is
 * not followed).
 *
 * @returns False when something of that name exists.
 */
export function makeDirectoryAt(dirFd: number, name: string, mode: number): boolean {
  if (libc().mkdirat(dirFd, cString(name), mode) === 0) return true;
  const code = errno();
  if (code === 17) return false;
  throw new SystemCallError(`mkdir ${name}`, code);
}

/**
 * Creates an empty regular file of one name in the directory `dirFd`
 * (O_CREAT | O_EXCL | O_NOFOLLOW: never through a symlink).
 *
 * @returns False when something of that name exists.
 */
export function createFileAt(dirFd: number, name: string, mode: number): boolean {
  const flags = O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC | O.NOCTTY;
  const fd = libc().openat(dirFd, cString(name), flags, mode);
  if (fd >= 0) {
    libc().close(fd);
    return true;
  }
  const code = errno();
  if (code === 17) return false;
  throw new SystemCallError(`create ${name}`, code);
}

/**
 * bpf(2).
 *
 * @param command The command (BPF_PROG_LOAD, BPF_PROG_ATTACH, …).
 * @param attr Its `union bpf_attr`.
 * @returns The result (a descriptor for BPF_PROG_LOAD).
 */
export function bpf(command: number, attr: Uint8Array<ArrayBuffer>): number {
  const result = Number(
    libc().bpf(BigInt(SYS_BPF[Deno.build.arch]), command, attr, attr.byteLength),
  );
  check(result, "bpf");
  return result;
}

// Terminal ioctls, the same on x86_64 and aarch64.
const TIOCSPTLCK = 0x40045431n;
const TIOCGPTN = 0x80045430n;
const TIOCSWINSZ = 0x5414n;
const TIOCGWINSZ = 0x5413n;
const SYS_PIDFD_OPEN = 434n;
const SYS_PIDFD_GETFD = 438n;

/**
 * Opens a new pseudo-terminal of the devpts at `/dev/pts` (in a container,
 * its own instance): the master, and its slave (both close-on-exec, the
 * slave not made this process's controlling terminal). `/dev/pts/ptmx`
 * itself, not `/dev/ptmx`, which a running container could replace.
 *
 * @returns Both descriptors.
 */
export function openPseudoTerminal(): { master: number; slave: number } {
  const c = libc();
  const master = c.open(cString("/dev/pts/ptmx"), O.RDWR | O.NOCTTY | O.CLOEXEC, 0);
  check(master, "open /dev/pts/ptmx");
  const value = new Int32Array(1);
  check(c.ioctl(master, TIOCSPTLCK, new Uint8Array(value.buffer)), "ioctl TIOCSPTLCK");
  check(c.ioctl(master, TIOCGPTN, new Uint8Array(value.buffer)), "ioctl TIOCGPTN");
  const slave = c.open(cString(`/dev/pts/${value[0]}`), O.RDWR | O.NOCTTY | O.CLOEXEC, 0);
  check(slave, `open /dev/pts/${value[0]}`);
  return { master, slave };
}

/**
 * Makes a terminal this process's stdin, stdout and stderr (owned by the
 * user it will run as), and closes the descriptor it came in.
 *
 * @param slave The terminal.
 * @param owner Its new owner.
 */
export function useTerminal(slave: number, owner: { uid: number; gid: number }): void {
  const c = libc();
  check(c.fchown(slave, owner.uid, owner.gid), "fchown of the terminal");
  for (const fd of [0, 1, 2]) check(c.dup2(slave, fd), "dup2");
  c.close(slave);
}

/** Makes stdin, a terminal, this session leader's controlling terminal (TIOCSCTTY). */
export function takeControllingTerminal(): void {
  check(libc().ioctl_value(0, 0x540en, 0n), "ioctl TIOCSCTTY");
}

/** write(2) of all of `bytes` to a descriptor, blocking this thread. */
export function writeAll(fd: number, bytes: Uint8Array<ArrayBuffer>): void {
  for (let offset = 0; offset < bytes.byteLength;) {
    const n = Number(libc().write(fd, bytes.subarray(offset), BigInt(bytes.byteLength - offset)));
    if (n < 0 && errno() === 4) continue;
    check(n, "write");
    offset += n;
  }
}

/** read(2) into `buffer`, blocking this thread; the bytes read (0 at the end). */
export function readSome(fd: number, buffer: Uint8Array<ArrayBuffer>): number {
  for (;;) {
    const n = Number(libc().read(fd, buffer, BigInt(buffer.byteLength)));
    if (n < 0 && errno() === 4) continue;
    check(n, "read");
    return n;
  }
}

/**
 * A copy of another process's descriptor (pidfd_getfd, Linux 5.6), as
 * runc's console socket hands a container's terminal over.
 *
 * @param pid The process.
 * @param fd Its descriptor.
 * @returns This process's copy (close-on-exec).
 */
export function takeDescriptor(pid: number, fd: number): number {
  const c = libc();
  const pidfd = Number(c.pidfd(SYS_PIDFD_OPEN, BigInt(pid), 0n, 0n));
  check(pidfd, "pidfd_open");
  const copy = Number(c.pidfd(SYS_PIDFD_GETFD, BigInt(pidfd), BigInt(fd), 0n));
  const error = errno();
  c.close(pidfd);
  if (copy === -1) throw new SystemCallError("pidfd_getfd", error);
  return copy;
}

/** Sets a terminal's window size (the kernel tells its foreground processes: SIGWINCH). */
export function setWindowSize(fd: number, rows: number, columns: number): void {
  const size = new Uint16Array([rows, columns, 0, 0]);
  check(libc().ioctl(fd, TIOCSWINSZ, new Uint8Array(size.buffer)), "ioctl TIOCSWINSZ");
}

/** A terminal's window size. */
export function windowSize(fd: number): { rows: number; columns: number } {
  const size = new Uint16Array(4);
  check(libc().ioctl(fd, TIOCGWINSZ, new Uint8Array(size.buffer)), "ioctl TIOCGWINSZ");
  return { rows: size[0], columns: size[1] };
}

/**
 * read(2) on a thread of Deno's pool: this one goes on meanwhile. At the
 * end, or on a failure (a terminal whose other side is gone fails with
 * EIO; the pool thread's errno is not this one's to read), 0.
 */
export async function readAsync(fd: number, buffer: Uint8Array<ArrayBuffer>): Promise<number> {
  const n = Number(await libc().read_blocking(fd, buffer, BigInt(buffer.byteLength)));
  return n > 0 ? n : 0;
}

/** write(2) of all of `bytes`, on a thread of Deno's pool. */
export async function writeAsync(fd: number, bytes: Uint8Array<ArrayBuffer>): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength;) {
    const chunk = bytes.slice(offset);
    const n = Number(await libc().write_blocking(fd, chunk, BigInt(chunk.byteLength)));
    // The pool thread's errno is not this one's to read: the terminal is gone, or failed.
    if (n < 0) throw new SystemCallError("write", 5);
    offset += n;
  }
}

/** close(2). */
export function closeDescriptor(fd: number): void {
  libc().close(fd);
}
