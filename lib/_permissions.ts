/**
 * Asking Deno whether a permission is already granted, without ever
 * prompting: a prompt in the middle of a pull (Deno prompts on a terminal)
 * is worse than doing without what it would have allowed.
 *
 * @module
 */

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
