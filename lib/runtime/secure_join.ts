/**
 * Paths inside a container's root, resolved as the container itself would
 * resolve them: every symlink is followed inside the root (an absolute
 * target starts again at the root), and `..` never climbs above it. This
 * is the rule of runc's `securejoin`, applied while the container is
 * being set up, when nothing runs in it that could change the tree.
 *
 * @module
 */

import { DenockerError } from "../errors.ts";

/** As Linux: more symlinks than this on one path is a loop. */
const MAX_SYMLINKS = 40;

function lstat(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw error;
  }
}

/**
 * The host path of `path` inside `root`, with every symlink and `..`
 * resolved within `root`. Components that do not exist are kept as they
 * are (so the result can be created).
 *
 * @param root The container's root, an absolute host path without symlinks.
 * @param path A path as the container sees it (absolute or relative to `/`).
 * @returns An absolute host path under `root` whose existing components are
 *   all real directories (but the last, which may be anything but a symlink).
 */
export function secureJoin(root: string, path: string): string {
  const resolved: string[] = [];
  let pending = path.split("/").filter((part) => part !== "" && part !== ".");
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const host = [root, ...resolved, part].join("/");
    const info = lstat(host);
    if (!info?.isSymlink) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new DenockerError(`Cannot resolve ${path} in the container: too many symlinks`);
    }
    const target = Deno.readLinkSync(host);
    if (target.startsWith("/")) resolved.length = 0;
    pending = [...target.split("/").filter((item) => item !== "" && item !== "."), ...pending];
  }
  return [root, ...resolved].join("/");
}

/**
 * Creates a directory (and its parents) at `path` inside `root`, resolved
 * as {@link secureJoin} does.
 *
 * @param root The container's root.
 * @param path The directory as the container sees it.
 * @returns Its host path.
 */
export function mkdirInRoot(root: string, path: string): string {
  const target = secureJoin(root, path);
  const relative = target.slice(root.length).split("/").filter(Boolean);
  let current = root;
  for (const part of relative) {
    current = `${current}/${part}`;
    const info = lstat(current);
    if (info?.isDirectory) continue;
    if (info) {
      throw new DenockerError(
        `Cannot create ${path} in the container: ${current.slice(root.length)} is not a directory`,
      );
    }
    Deno.mkdirSync(current, { mode: 0o755 });
  }
  return target;
}
