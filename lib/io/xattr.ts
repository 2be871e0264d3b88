/**
 * Extended attributes of files, as image layers carry them (tar's PAX
 * `SCHILY.xattr.NAME` records): file capabilities (`security.capability`,
 * what `setcap` writes) and `user.*` attributes. Others are not carried:
 * `trusted.*` would speak to overlayfs, `security.selinux` is the host's
 * policy. Through libc (FFI), loaded when first used; without
 * `--allow-ffi`, or off Linux, there are none.
 *
 * @module
 */

import { DenockerError } from "../errors.ts";
import { permissionGranted } from "../permissions.ts";

const SYMBOLS = {
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

let loaded: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | undefined | null;

function libc() {
  if (loaded === undefined) {
    loaded = Deno.build.os === "linux" && permissionGranted({ name: "ffi" })
      ? Deno.dlopen("libc.so.6", SYMBOLS).symbols
      : null;
  }
  return loaded;
}

function errno(): number {
  const pointer = libc()!.__errno_location();
  return pointer ? new Deno.UnsafePointerView(pointer).getInt32() : 0;
}

function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${text}\0`);
}

/** Whether a layer carries an attribute of this name. */
export function carriedXattr(name: string): boolean {
  return name === "security.capability" || (name.startsWith("user.") && name.length > 5);
}

/**
 * The carried attributes of a file (a symlink's own, not its target's).
 *
 * @param path The file.
 * @returns Their values by name (empty where there are none, or no way to read them).
 */
export function readXattrs(path: string): Record<string, Uint8Array> {
  const c = libc();
  if (!c) return {};
  const list = new Uint8Array(64 * 1024);
  const length = Number(c.llistxattr(cString(path), list, BigInt(list.byteLength)));
  if (length < 0) return {};
  const found: Record<string, Uint8Array> = {};
  const decoder = new TextDecoder();
  for (const name of decoder.decode(list.subarray(0, length)).split("\0")) {
    if (!carriedXattr(name)) continue;
    const value = new Uint8Array(64 * 1024);
    const size = Number(c.lgetxattr(cString(path), cString(name), value, BigInt(value.byteLength)));
    if (size >= 0) found[name] = value.slice(0, size);
  }
  return found;
}

/**
 * Sets the carried attributes on a file; others are left out. Without a
 * way to set them (no `--allow-ffi`), nothing is set.
 *
 * @param path The file.
 * @param values Values by name.
 */
export function writeXattrs(path: string, values: Record<string, Uint8Array>): void {
  const c = libc();
  if (!c) return;
  for (const [name, value] of Object.entries(values)) {
    if (!carriedXattr(name)) continue;
    const bytes = new Uint8Array(value);
    if (c.lsetxattr(cString(path), cString(name), bytes, BigInt(bytes.byteLength), 0) !== 0) {
      const code = errno();
      // A file system without them (95), or user.* where the file type takes none (1).
      if (code === 95 || code === 1) continue;
      throw new DenockerError(`Cannot set the attribute ${name} of ${path}: errno ${code}`);
    }
  }
}
