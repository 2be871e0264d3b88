/**
 * Advisory OS file locks between denocker processes sharing a root.
 *
 * @module
 */

/**
 * Runs `fn` while holding a lock on `path` (created if missing). Exclusive
 * locks exclude every other holder; shared locks exclude only exclusive
 * ones. The lock is released when `fn` settles, and by the OS if the
 * process dies.
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @example
 * ```ts
 * import { withLock } from "./lock.ts";
 * await withLock("/tmp/example.lock", { exclusive: true }, async () => {
 *   // read, modify, write
 * });
 * ```
 *
 * @param path The lock file.
 * @param options Whether the lock is exclusive.
 * @param fn The work to do under the lock.
 * @returns What `fn` returns.
 */
export async function withLock<T>(
  path: string,
  options: { exclusive: boolean },
  fn: () => Promise<T>,
): Promise<T> {
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  try {
    await file.lock(options.exclusive);
    return await fn();
  } finally {
    file.close();
  }
}
