/**
 * A layer's extracted files in one digest: what extraction left in `fs/`,
 * recorded when the layer is stored and computed again by `check`, so that
 * a file deleted, added, re-moded or re-linked by hand is found.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** What a layer's `fs/` held, summarized. */
export interface ExtractedFiles {
  /** Entries below the layer root (whiteout markers included; the root itself is not counted). */
  entries: number;
  /**
   * `sha256:<hex>` of the canonical listing: per entry, in a fixed order, its
   * path, type, mode (setuid, setgid and sticky bits included), owner and
   * group, and its size (regular files), target (symlinks) or first path
   * (further names of a hardlinked file). Times and content are not in it.
   */
  digest: string;
}

/**
 * The type of an entry as the listing names it. A later name of a file
 * already listed is a `hardlink` to its first name.
 */
function typeOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "directory";
  if (info.isSymlink) return "symlink";
  if (info.isFile) return "file";
  return "other"; // A FIFO, socket or device: extraction never makes one.
}

/**
 * Summarizes the tree under `directory` without following symlinks. The
 * walk is depth first with each directory's names sorted, so the same tree
 * gives the same digest wherever it lies and whatever its inode numbers.
 * Synchronous calls: one per entry, and far cheaper than awaited ones.
 *
 * Requires `--allow-read`.
 *
 * @param directory A layer's `fs/` directory.
 * @returns Its entry count and digest.
 */
export function summarizeExtractedFiles(directory: string): ExtractedFiles {
  const hash = createHash("sha256");
  /** Device and inode of each multiply-linked file -> the first path listed for it. */
  const firstNames = new Map<string, string>();
  let entries = -1; // The root is listed (its mode and owner matter) but not counted.
  const pending = [""];
  while (pending.length > 0) {
    const relative = pending.pop()!;
    const path = relative === "" ? directory : `${directory}/${relative}`;
    const info = Deno.lstatSync(path);
    entries++;
    let type = typeOf(info);
    let detail: string | number | null = null;
    if (type === "file") {
      detail = info.size;
      if ((info.nlink ?? 1) > 1) {
        const inode = `${info.dev}:${info.ino}`;
        const first = firstNames.get(inode);
        if (first === undefined) firstNames.set(inode, relative);
        else [type, detail] = ["hardlink", first];
      }
    } else if (type === "symlink") {
      detail = Deno.readLinkSync(path);
    }
    // One JSON array per line: no name (a newline in one included) can pass for another entry.
    hash.update(
      `${
        JSON.stringify([relative, type, (info.mode ?? 0) & 0o7777, info.uid, info.gid, detail])
      }\n`,
    );
    if (type !== "directory") continue;
    const names: string[] = [];
    for (const entry of Deno.readDirSync(path)) names.push(entry.name);
    // Pushed in reverse so that they are popped, and listed, in sorted order.
    names.sort().reverse();
    for (const name of names) pending.push(relative === "" ? name : `${relative}/${name}`);
  }
  return { entries, digest: `sha256:${hash.digest("hex")}` };
}
