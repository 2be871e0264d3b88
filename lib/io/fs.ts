/**
 * File-system calls where "it is not there" is a normal answer, not an error.
 *
 * @module
 */

import { join } from "./path.ts";

/**
 * Removes a file or (with `recursive`) a tree; a missing path is fine, any other failure throws.
 *
 * @param path What to remove.
 * @param options `recursive` for directories with content.
 */
export async function removeIfExists(
  path: string,
  options: { recursive?: boolean } = {},
): Promise<void> {
  try {
    await Deno.remove(path, options);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * The entries of a directory, or none when it does not exist.
 *
 * @param path The directory.
 * @returns Its entries.
 */
export async function readDirIfExists(path: string): Promise<Deno.DirEntry[]> {
  try {
    return await Array.fromAsync(Deno.readDir(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/**
 * A path's own metadata (links not followed), or undefined when it does not exist.
 *
 * @param path The path.
 * @returns Its metadata.
 */
export async function lstatIfExists(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * The first parent of `relative` under `root` that is not a real directory
 * (a symlink, a file), or the first that is missing; undefined when every
 * parent is a directory.
 *
 * @param root The tree's top.
 * @param relative A path inside it, `a/b/c`.
 * @returns That parent's path and what it is (no `info` when missing).
 */
export async function firstNonDirectoryParent(
  root: string,
  relative: string,
): Promise<{ path: string; info?: Deno.FileInfo } | undefined> {
  let current = root;
  for (const part of relative.split("/").slice(0, -1)) {
    current = join(current, part);
    const info = await lstatIfExists(current);
    if (!info?.isDirectory) return { path: current, info };
  }
  return undefined;
}
