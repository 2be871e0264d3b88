/**
 * Advisory OS file locks between denocker processes sharing a root.
 *
 * @module
 */

/** How long a lock is waited for before `onWait` is called. */
const WAIT_NOTICE_MS = 1000;

/** Options for {@link withLock}. */
export interface LockOptions {
  /** Exclusive (one holder) or shared (many holders, no exclusive one). */
  exclusive: boolean;
  /** Called once when the lock has not been had within a second (another process holds it). */
  onWait?: () => void;
}

/** Whether an error says this process may not write there (permissions, read-only mount). */
function mayNotWrite(error: unknown): boolean {
  return error instanceof Deno.errors.PermissionDenied ||
    error instanceof Deno.errors.NotCapable ||
    (error as { code?: string }).code === "EROFS";
}

/**
 * Opens the lock file. A shared lock needs no write access: on a store the
 * user may only read (or a read-only mount), the file is opened read-only,
 * and when it cannot even be created there, nobody can be writing the
 * store, so no lock is needed.
 */
async function openLockFile(path: string, exclusive: boolean): Promise<Deno.FsFile | undefined> {
  try {
    return await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  } catch (error) {
    if (exclusive || !mayNotWrite(error)) throw error;
  }
  try {
    return await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Runs `fn` while holding a lock on `path` (created if missing). Exclusive
 * locks exclude every other holder; shared locks exclude only exclusive
 * ones. The lock is released when `fn` settles, and by the OS if the
 * process dies.
 *
 * Requires `--allow-read` and, for exclusive locks, `--allow-write`.
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
 * @param options Whether the lock is exclusive; what to call while waiting.
 * @param fn The work to do under the lock.
 * @returns What `fn` returns.
 */
export async function withLock<T>(
  path: string,
  options: LockOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const release = await acquireLock(path, options);
  try {
    return await fn();
  } finally {
    release();
  }
}

/**
 * Takes a lock on `path` and keeps it until the returned function is
 * called (or the process dies), for a lock held across several steps.
 *
 * @param path The lock file.
 * @param options Whether the lock is exclusive; what to call while waiting.
 * @returns Releases the lock.
 */
export async function acquireLock(path: string, options: LockOptions): Promise<() => void> {
  const file = await openLockFile(path, options.exclusive);
  if (file === undefined) return () => {};
  try {
    const notice = options.onWait ? setTimeout(options.onWait, WAIT_NOTICE_MS) : undefined;
    try {
      await file.lock(options.exclusive);
    } finally {
      clearTimeout(notice);
    }
  } catch (error) {
    file.close();
    throw error;
  }
  let released = false;
  return () => {
    if (!released) {
      released = true;
      file.close();
    }
  };
}
