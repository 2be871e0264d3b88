/**
 * What a container changed: its overlay's upper directory read against
 * the image beneath it, as docker's `diff` lists it and as `commit` turns
 * it into a layer.
 *
 * The upper directory holds what was added or changed, a character device
 * 0/0 for each file removed (overlayfs's whiteout), and the
 * `trusted.overlay.opaque` xattr on a directory made again where the image
 * had one (nothing beneath shows through). The image's own tree is read
 * through a read-only overlay of the container's lower directories, so
 * that "was it there" is answered as the container saw it (whiteouts and
 * opaque directories of its layers applied).
 *
 * What denocker's init makes as mount points and docker keeps in a layer of
 * its own (`/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf` as empty files,
 * `/proc`, `/sys`, `/dev` as empty directories the image lacks) is left out,
 * as is a directory that is only there because of them.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { DenockerError } from "../errors.ts";
import { lstatIfExists } from "../io/fs.ts";
import { readXattrs } from "../io/xattr.ts";
import { hostEnvironment, hostTool } from "./host_tools.ts";
import { getXattr } from "./_libc.ts";
import type { TarEntrySpec } from "../archive/tar_writer.ts";
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from "../model/layer.ts";

/** One entry of a container's upper directory that is a change. */
export interface UpperEntry {
  /** Its path relative to the root (`etc/passwd`). */
  relative: string;
  /** Its host path in the upper directory. */
  path: string;
  /** Its status. */
  info: Deno.FileInfo;
  /** A whiteout: the image's file of that name was removed. */
  whiteout: boolean;
  /** A directory made again where the image had one: nothing of the image's shows through. */
  opaque: boolean;
  /** What the image has at that path, if anything. */
  lower?: Deno.FileInfo;
}

/** docker's `diff` kinds: added, changed, deleted. */
export type ChangeKind = "A" | "C" | "D";

/** The kind of change an entry is. */
export function changeKind(entry: UpperEntry): ChangeKind {
  if (entry.whiteout) return "D";
  return entry.lower ? "C" : "A";
}

const PLACEHOLDER_FILES = new Set(["etc/hostname", "etc/hosts", "etc/resolv.conf"]);
const PLACEHOLDER_DIRECTORIES = new Set(["proc", "sys", "dev"]);

function isWhiteout(info: Deno.FileInfo): boolean {
  return info.isCharDevice === true && (info.rdev ?? 0) === 0;
}

function sameOwnerAndMode(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;
}

/**
 * The changes in `upper` against the image tree `lower`, parents before
 * their children, names in byte order (a stable order: the same tree gives
 * the same list, and the same layer).
 *
 * @param upper The container's upper directory.
 * @param lower The image's tree as the container saw it ({@link withImageTree}).
 */
export async function upperEntries(upper: string, lower: string): Promise<UpperEntry[]> {
  async function walk(relative: string): Promise<UpperEntry[]> {
    const directory = relative === "" ? upper : join(upper, relative);
    const names = (await Array.fromAsync(Deno.readDir(directory))).map((entry) => entry.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const found: UpperEntry[] = [];
    for (const name of names) {
      const path = relative === "" ? name : `${relative}/${name}`;
      const host = join(upper, path);
      const info = await Deno.lstat(host);
      const image = await lstatIfExists(join(lower, path));
      const whiteout = isWhiteout(info);
      if (whiteout) {
        // A whiteout of nothing (the image never had it) is no change.
        if (image) found.push({ relative: path, path: host, info, whiteout, opaque: false });
        continue;
      }
      if (!info.isDirectory) {
        const placeholder = PLACEHOLDER_FILES.has(path) && !image && info.isFile &&
          info.size === 0;
        if (!placeholder) {
          found.push({ relative: path, path: host, info, whiteout, opaque: false, lower: image });
        }
        continue;
      }
      const opaque = image?.isDirectory === true &&
        getXattr(host, "trusted.overlay.opaque") === "y";
      const below = await walk(path);
      const entry: UpperEntry = {
        relative: path,
        path: host,
        info,
        whiteout,
        opaque,
        lower: image,
      };
      const kept = below.length > 0 || opaque ||
        (image
          ? !image.isDirectory || !sameOwnerAndMode(info, image)
          : !(PLACEHOLDER_DIRECTORIES.has(path) && below.length === 0));
      if (kept) found.push(entry, ...below);
    }
    return found;
  }
  return await walk("");
}

async function run(program: string, args: string[], cwd?: string): Promise<void> {
  const output = await new Deno.Command(program, {
    args,
    cwd,
    clearEnv: true,
    env: hostEnvironment(),
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new DenockerError(
      `Cannot read the container's image tree: ${
        new TextDecoder().decode(output.stderr).trim().split("\n")[0]
      }`,
    );
  }
}

/**
 * Runs `fn` with the image's tree beneath a container, as it saw it: its
 * lower directories mounted as a read-only overlay (`nosuid,nodev,noexec`)
 * on a directory of its own, unmounted afterwards.
 *
 * @param directory The container's directory (`lower/0`, `lower/1`, … in it).
 * @param lowerCount How many lower directories it has.
 * @param fn What to do with the tree.
 */
export async function withImageTree<T>(
  directory: string,
  lowerCount: number,
  fn: (tree: string) => Promise<T>,
): Promise<T> {
  const tree = join(directory, `image-tree-${crypto.randomUUID()}`);
  const empty = `${tree}.empty`;
  await Deno.mkdir(tree, { mode: 0o700 });
  await Deno.mkdir(empty, { mode: 0o700 });
  try {
    // overlayfs wants two lower directories at least when it has no upper one.
    // Short names, relative to lower/, as the init mounts them: the options fit one page.
    const lower = [
      ...Array.from({ length: lowerCount }, (_, i) => String(i)),
      `../${empty.split("/").at(-1)}`,
    ].join(":");
    await run(hostTool("mount", "util-linux"), [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `ro,nosuid,nodev,noexec,lowerdir=${lower}`,
      tree,
    ], join(directory, "lower"));
    try {
      return await fn(tree);
    } finally {
      await run(hostTool("umount", "util-linux"), [tree]);
    }
  } finally {
    await Deno.remove(tree).catch(() => {});
    await Deno.remove(empty).catch(() => {});
  }
}

/** A device number's major and minor, as glibc's `major()` and `minor()` split it. */
function deviceNumbers(rdev: number): { major: number; minor: number } {
  const value = BigInt(rdev);
  return {
    major: Number(((value >> 8n) & 0xfffn) | ((value >> 32n) & ~0xfffn)),
    minor: Number((value & 0xffn) | ((value >> 12n) & ~0xffn)),
  };
}

/**
 * The changes as a layer's tar, as docker writes one: whiteouts as empty
 * `.wh.NAME` files, an opaque directory followed by `.wh..wh..opq`,
 * hardlinks within the layer as tar links, owners, modes (setuid and
 * sticky bits too) and times kept; FIFOs and device nodes as themselves;
 * sockets left out.
 *
 * @param entries The changes ({@link upperEntries}), in their order.
 * @param clamp Times later than this (seconds; `SOURCE_DATE_EPOCH`) become it.
 * @returns The archive's entries, for `tarEntries`.
 */
export async function* layerEntries(
  entries: UpperEntry[],
  clamp?: number,
): AsyncGenerator<TarEntrySpec> {
  const links = new Map<string, string>();
  const time = (info: Deno.FileInfo) => {
    const seconds = Math.floor((info.mtime?.getTime() ?? 0) / 1000);
    return clamp === undefined ? seconds : Math.min(seconds, clamp);
  };
  for (const entry of entries) {
    const { info, relative } = entry;
    const owner = { mode: (info.mode ?? 0) & 0o7777, uid: info.uid ?? 0, gid: info.gid ?? 0 };
    if (entry.whiteout) {
      const slash = relative.lastIndexOf("/");
      const name = `${relative.slice(0, slash + 1)}${WHITEOUT_PREFIX}${relative.slice(slash + 1)}`;
      // As docker writes them: 0600, root's.
      yield { name, type: "file", mode: 0o600, uid: 0, gid: 0, mtime: time(info), size: 0 };
    } else if (info.isDirectory) {
      yield { name: relative, type: "directory", ...owner, mtime: time(info) };
      if (entry.opaque) {
        const name = `${relative}/${OPAQUE_MARKER}`;
        // With its directory's permissions, as docker writes it.
        const mode = owner.mode & 0o777;
        yield { name, type: "file", mode, uid: 0, gid: 0, mtime: time(info), size: 0 };
      }
    } else if (info.isSymlink) {
      const linkname = await Deno.readLink(entry.path);
      yield { name: relative, type: "symlink", ...owner, mtime: time(info), linkname };
    } else if (info.isFile) {
      const key = `${info.dev}:${info.ino}`;
      const first = (info.nlink ?? 1) > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        yield { name: relative, type: "hardlink", ...owner, mtime: time(info), linkname: first };
        continue;
      }
      if ((info.nlink ?? 1) > 1) links.set(key, relative);
      const path = entry.path;
      const xattrs = readXattrs(path);
      yield {
        name: relative,
        type: "file",
        ...owner,
        mtime: time(info),
        size: info.size,
        open: async () => (await Deno.open(path)).readable,
        ...(Object.keys(xattrs).length > 0 ? { xattrs } : {}),
      };
    } else if (info.isCharDevice || info.isBlockDevice) {
      yield {
        name: relative,
        type: info.isCharDevice ? "char" : "block",
        ...owner,
        mtime: time(info),
        device: deviceNumbers(info.rdev ?? 0),
      };
    } else if (info.isFifo) {
      yield { name: relative, type: "fifo", ...owner, mtime: time(info) };
    }
  }
}
