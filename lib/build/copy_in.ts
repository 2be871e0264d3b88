/**
 * `COPY` and `ADD` into a root nothing runs in: each destination is
 * resolved inside the root (the image's symlinks never lead out; see
 * `secure_join.ts`), what is in the way is replaced (a symlink is never
 * written through), missing parents are made `0755` and root's, files get
 * their source's mode and time and the owner asked for (root by default,
 * as docker gives them), a directory's contents are copied into the
 * destination, as docker copies them.
 *
 * @module
 */

import { basename, dirname } from "../io/path.ts";
import { lchownSync, lutimesSync } from "node:fs";
import { DenockerError } from "../errors.ts";
import { lstatIfExists } from "../io/fs.ts";
import { mkdirInRoot, secureJoin } from "../runtime/secure_join.ts";
import type { Source, SourceTree } from "./context.ts";

/** How files land. */
export interface CopyOptions {
  /** Their owner (`--chown`); none: the source's own (an archive's, for ADD). */
  owner?: { uid: number; gid: number };
  /** Their mode (`--chmod`); none: the source's. */
  mode?: number;
}

/** One entry to write at a path of the root. */
interface Planned {
  source: Source;
  target: string;
}

function joinPath(directory: string, name: string): string {
  return directory.endsWith("/") ? `${directory}${name}` : `${directory}/${name}`;
}

/**
 * Copies sources into `root`.
 *
 * @param root The container's root (a host path, nothing running in it).
 * @param tree Where the sources are.
 * @param sources What COPY named (resolved by {@link SourceTree.resolve}).
 * @param destination Absolute, in the container; a trailing `/` makes it a directory.
 * @param options Owner and mode.
 */
export async function copyInto(
  root: string,
  tree: SourceTree,
  sources: Source[],
  destination: string,
  options: CopyOptions = {},
): Promise<void> {
  // A directory there (or a symlink to one, followed inside the root) takes the files.
  const existing = await lstatIfExists(secureJoin(root, destination));
  const intoDirectory = destination.endsWith("/") || sources.length > 1 ||
    existing?.isDirectory === true;
  const plan: Planned[] = [];
  for (const source of sources) {
    if (source.info.isDirectory) {
      // Its contents, not itself.
      plan.push({ source, target: destination });
      for await (const child of tree.walk(source.relative)) {
        const below = source.relative === ""
          ? child.relative
          : child.relative.slice(source.relative.length + 1);
        plan.push({ source: child, target: joinPath(destination, below) });
      }
    } else {
      const name = basename(source.relative || source.path);
      plan.push({ source, target: intoDirectory ? joinPath(destination, name) : destination });
    }
  }
  // Times of directories last: writing into them changes theirs.
  const directories: [string, Deno.FileInfo][] = [];
  for (const { source, target } of plan) {
    const host = mkdirParentOf(root, target);
    const info = source.info;
    const present = await lstatIfExists(host);
    if (present && !(present.isDirectory && info.isDirectory)) {
      await Deno.remove(host, { recursive: true });
    }
    const uid = options.owner?.uid ?? info.uid ?? 0;
    const gid = options.owner?.gid ?? info.gid ?? 0;
    const mode = options.mode ?? ((info.mode ?? 0o644) & 0o7777);
    if (info.isDirectory) {
      // The root itself keeps its own; a destination made for a directory's contents is 0755.
      if (host === root) continue;
      const top = target === destination;
      if (top && present) continue;
      if (!present) await Deno.mkdir(host);
      await Deno.chown(
        host,
        options.owner?.uid ?? (top ? 0 : uid),
        options.owner?.gid ?? (top ? 0 : gid),
      );
      await Deno.chmod(host, options.mode ?? (top ? 0o755 : (info.mode ?? 0o755) & 0o7777));
      if (!top) directories.push([host, info]);
    } else if (info.isSymlink) {
      await Deno.symlink(await Deno.readLink(source.path), host);
      lchownSync(host, uid, gid);
      const mtime = info.mtime ?? new Date(0);
      lutimesSync(host, mtime, mtime);
    } else if (info.isFile) {
      const file = await Deno.open(host, { write: true, createNew: true, mode: 0o600 });
      const input = await Deno.open(source.path);
      await input.readable.pipeTo(file.writable);
      if (options.owner) {
        // As docker's builder: the mode, then the owner, which clears setuid and setgid.
        await Deno.chmod(host, mode);
        await Deno.chown(host, uid, gid);
      } else {
        // An archive's files keep their owners and modes, setuid bits too.
        await Deno.chown(host, uid, gid);
        await Deno.chmod(host, mode);
      }
      const mtime = info.mtime ?? new Date(0);
      await Deno.utime(host, mtime, mtime);
    } else {
      throw new DenockerError(
        `Cannot copy ${source.relative}: only files, directories and symlinks can be copied`,
      );
    }
  }
  for (const [host, info] of directories.reverse()) {
    const mtime = info.mtime ?? new Date(0);
    await Deno.utime(host, mtime, mtime);
  }
}

/**
 * The host path of `path` in the root: its parent resolved inside the root
 * (and made where missing), its last component as it is.
 */
function mkdirParentOf(root: string, path: string): string {
  const trimmed = path.replace(/\/+$/, "") || "/";
  if (trimmed === "/") return root;
  return joinPath(mkdirInRoot(root, dirname(trimmed)), basename(trimmed));
}
