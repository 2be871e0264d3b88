/**
 * The permissions denocker's tasks grant: what `deno task denocker`,
 * `deno task compile` and the CLI tests run with.
 *
 * @module
 */

/** The permissions of the `denocker` and `compile` tasks. */
export const DENOCKER_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys=uid,gid",
  "--allow-run",
];
