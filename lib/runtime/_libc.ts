/**
 * The few libc calls running a container needs and Deno has no API for:
 * mounts, `pivot_root`, device nodes, xattrs, the hostname, user ids,
 * `execve`. Loaded through FFI (`--allow-ffi`), Linux only.
 *
 * @module
 */

import { DenockerError } from "../errors.ts";

const SYMBOLS = {
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
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
  5: "EIO: input/output error",
  8: "ENOEXEC: exec format error",
  13: "EACCES: permission denied",
  16: "EBUSY: device or resource busy",
  17: "EEXIST: file exists",
  19: "ENODEV: no such device (is the file system type supported?)",
  20: "ENOTDIR: not a directory",
  21: "EISDIR: is a directory",
  22: "EINVAL: invalid argument",
  28: "ENOSPC: no space left on device",
  30: "EROFS: read-only file system",
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

/** pivot_root(2). */
export function pivotRoot(newRoot: string, putOld: string): void {
  const number = SYS_PIVOT_ROOT[Deno.build.arch];
  check(libc().syscall(BigInt(number), cString(newRoot), cString(putOld)), "pivot_root");
}

/** setgroups(2), setgid(2), setuid(2), in that order. */
export function setIds(uid: number, gid: number, groups: number[]): void {
  const list = new Uint32Array(groups);
  check(
    libc().setgroups(BigInt(groups.length), new Uint8Array(list.buffer)),
    "setgroups",
  );
  check(libc().setgid(gid), "setgid");
  check(libc().setuid(uid), "setuid");
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
  const keep: Uint8Array<ArrayBuffer>[] = [];
  const array = (strings: string[]) => {
    const pointers = new BigUint64Array(strings.length + 1);
    strings.forEach((text, i) => {
      const bytes = cString(text);
      keep.push(bytes);
      pointers[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
    });
    return new Uint8Array(pointers.buffer);
  };
  libc().execve(cString(path), array(argv), array(env));
  const code = errno();
  keep.length = 0;
  return new SystemCallError(`exec ${path}`, code);
}
