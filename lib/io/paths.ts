/**
 * Path problems in words: "its parent /a/b does not exist", "/a is not a
 * directory", "permission denied", instead of `os error 20: mkdir ''`.
 *
 * @module
 */

import { dirname, resolve } from "./path.ts";
import { InvalidInputError } from "../errors.ts";

/** What an OS error means for a path, in a few words. */
export function describeFsError(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) {
    return "denocker was not given permission to use it (--allow-read/--allow-write)";
  }
  if (error instanceof Deno.errors.NotFound) return "it does not exist";
  if (error instanceof Deno.errors.NotADirectory) return "a part of it is not a directory";
  if ((error as { code?: string }).code === "EROFS") return "it is on a read-only file system";
  if ((error as { code?: string }).code === "ENOSPC") return "no space left on the device";
  const message = error instanceof Error ? error.message : String(error);
  // Deno appends the call and the path ("…: mkdir '/x'"); the caller names the path itself.
  return message.replace(/(\(os error [0-9]+\)):? .*$/, "$1");
}

/**
 * Finds why `path` cannot be made: the first ancestor that exists but is
 * not a directory, or the nearest one missing. Undefined when every
 * ancestor is a directory.
 */
async function ancestorProblem(path: string): Promise<string | undefined> {
  const absolute = resolve(path);
  const ancestors: string[] = [];
  for (let current = dirname(absolute);; current = dirname(current)) {
    ancestors.unshift(current);
    if (current === dirname(current)) break;
  }
  for (const ancestor of ancestors) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(ancestor);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return `${ancestor} does not exist`;
      if (error instanceof Deno.errors.NotADirectory) continue;
      return `${ancestor}: ${describeFsError(error)}`;
    }
    if (!info.isDirectory) return `${ancestor} is not a directory`;
  }
  return undefined;
}

/**
 * Says in words why a directory cannot be used or made, given the error
 * an attempt threw.
 *
 * @param path The directory.
 * @param error What the attempt threw.
 * @returns A reason, e.g. "/a is not a directory".
 */
export async function directoryProblem(path: string, error: unknown): Promise<string> {
  if (
    error instanceof Deno.errors.NotADirectory || error instanceof Deno.errors.NotFound ||
    (error as { code?: string }).code === "ENOTDIR"
  ) {
    return (await ancestorProblem(path)) ?? describeFsError(error);
  }
  return describeFsError(error);
}

/**
 * Makes sure a directory exists (creating it and its parents when
 * `create`), with a one-line error in words otherwise.
 *
 * @param path The directory.
 * @param what How the error names it, e.g. "store root".
 * @param options Whether to create it, and the mode it is created with (its parents get the
 *   usual one).
 * @returns Whether it exists now.
 */
export async function ensureDirectory(
  path: string,
  what: string,
  options: { create: boolean; mode?: number },
): Promise<boolean> {
  const fail = (reason: string) => new InvalidInputError(`Cannot use ${what} ${path}: ${reason}`);
  if (path === "") throw new InvalidInputError(`Cannot use ${what}: the path is empty`);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw fail(await directoryProblem(path, error));
    if (!options.create) {
      const problem = await ancestorProblem(path);
      if (problem?.endsWith("is not a directory")) throw fail(problem);
      return false;
    }
    try {
      if (options.mode === undefined) {
        await Deno.mkdir(path, { recursive: true });
        return true;
      }
      // The parent is made only when missing: permission to write may be scoped to the root.
      const make = () =>
        Deno.mkdir(path, { mode: options.mode }).catch((error) => {
          if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        });
      await make().catch(async (error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        await Deno.mkdir(dirname(path), { recursive: true });
        await make();
      });
      await Deno.chmod(path, options.mode);
      return true;
    } catch (mkdirError) {
      throw fail(await directoryProblem(path, mkdirError));
    }
  }
  if (!info.isDirectory) throw fail("it is not a directory");
  return true;
}

/**
 * Whether an error (or one of its causes) says the disk is full, including
 * one that crossed a worker boundary as a message only.
 *
 * @param error What was thrown.
 * @returns True for ENOSPC and quota errors.
 */
export function isDiskFull(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; depth++) {
    const code = (current as { code?: string }).code;
    if (code === "ENOSPC" || code === "EDQUOT") return true;
    if (
      /No space left on device|Disk quota exceeded|os error 28|os error 122/.test(current.message)
    ) {
      return true;
    }
    current = current.cause;
  }
  return false;
}
