/**
 * Crash-safe writes: temp file, sync, rename. The temp file is in the same
 * directory, or in a store's `tmp/` (named after the writing process, so
 * that the next command removes it when a kill left it there and `check`
 * never finds half-written files outside `tmp/`).
 *
 * @module
 */

import { dirname, join } from "./path.ts";

/**
 * A name for a temp file that no other writer picks.
 *
 * @param prefix Readable start of the name.
 * @returns A unique file name (no directory).
 */
export function tempName(prefix: string): string {
  return `${prefix}.${crypto.randomUUID()}.tmp`;
}

/**
 * Syncs a directory so that a rename inside it survives a crash. Where the
 * platform cannot open directories this is a no-op.
 *
 * @param path The directory.
 */
export async function syncDirectory(path: string): Promise<void> {
  let directory: Deno.FsFile | undefined;
  try {
    directory = await Deno.open(path, { read: true });
    await directory.sync();
  } catch {
    // Not every platform lets a directory be opened and synced; the rename itself is still atomic.
  } finally {
    directory?.close();
  }
}

/**
 * Writes a whole file atomically: readers see the old content or the new,
 * never a part, even after a crash.
 *
 * Requires `--allow-write`.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic_file.ts";
 * await writeFileAtomic("/tmp/example.json", new TextEncoder().encode("{}"));
 * ```
 *
 * @param path Destination.
 * @param data Content.
 * @param options File mode (0o644 by default); `tempDirectory`, on the same
 *   file system, for the temp file (a store's `tmp/`), else the destination's.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  options: { mode?: number; tempDirectory?: string } = {},
): Promise<void> {
  const directory = dirname(path);
  let temp = join(directory, tempName(".write"));
  if (options.tempDirectory !== undefined) {
    await Deno.mkdir(options.tempDirectory, { recursive: true, mode: 0o700 });
    temp = join(options.tempDirectory, `${Deno.pid}-${tempName("write")}`);
  }
  const file = await Deno.open(temp, { write: true, createNew: true, mode: options.mode ?? 0o644 });
  try {
    let written = 0;
    while (written < data.byteLength) written += await file.write(data.subarray(written));
    await file.sync();
  } catch (error) {
    file.close();
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  file.close();
  try {
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await syncDirectory(directory);
}
