/**
 * Asking Deno whether a permission is already granted, without ever
 * prompting: a prompt in the middle of a pull (Deno prompts on a terminal)
 * is worse than doing without what it would have allowed.
 *
 * @module
 */

import { DenockerError } from "./errors.ts";

/**
 * Whether a permission is granted now; never prompts.
 *
 * @param descriptor The permission.
 * @returns True when granted.
 */
export function permissionGranted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/** Whether Deno was given every permission (`--allow-all`). */
export function allPermissionsGranted(): boolean {
  const names = ["read", "write", "net", "env", "run", "ffi", "sys"] as const;
  return names.every((name) => permissionGranted({ name }));
}

/**
 * Fails unless Deno was given every permission (`--allow-all`), which
 * running containers needs: Deno lets only that read `/proc` and `/sys`.
 *
 * @param what What needs it, e.g. "run containers".
 */
export function requireAllPermissions(what: string): void {
  if (allPermissionsGranted()) return;
  throw new DenockerError(
    `Cannot ${what}: Deno must be given every permission (--allow-all, -A) for that, as it reads /proc and /sys`,
  );
}

/**
 * The one-line explanation of Deno's refusal to create a symlink under
 * path-scoped `--allow-read`/`--allow-write`, or undefined for any other
 * error. Nearly every image has symlinks, so extracting one needs the
 * unscoped grants.
 *
 * @param error What `Deno.symlink` threw.
 * @param what The entry being made, e.g. `layer entry "bin/sh"`.
 * @returns The error to throw instead.
 */
export function symlinkRefusal(error: unknown, what: string): DenockerError | undefined {
  if (!(error instanceof Deno.errors.NotCapable)) return undefined;
  return new DenockerError(
    `Cannot create ${what}: it is a symlink, and Deno creates symlinks only with unscoped --allow-read and --allow-write (a path-scoped grant cannot confine where a link points)`,
    { cause: error },
  );
}
