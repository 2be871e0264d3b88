/**
 * Flattening an image's layers into one root filesystem (`unpack`).
 *
 * @module
 */

import { lchown, lutimes } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from "./extract.ts";
import { LayerStore } from "../store/_layer_store.ts";
import { withLock } from "../store/_lock.ts";
import { findImage } from "../store/_lookup.ts";
import { runningAsRoot, storeLockPath } from "../store/root.ts";
import { readDirIfExists, removeIfExists } from "../store/_fs.ts";
import { directoryProblem } from "../store/_paths.ts";

/** Options for {@link unpack}. */
export interface UnpackOptions {
  /** Apply file owners from the layers; by default when running as root. */
  preserveOwnership?: boolean;
  /** Stops the unpack; what it wrote is removed again. */
  signal?: AbortSignal;
  /** Called once when another denocker command holds the store for more than a second. */
  onLockWait?: () => void;
}

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

function removeAny(path: string): Promise<void> {
  return removeIfExists(path, { recursive: true });
}

/**
 * Checks that every parent of `relative` inside `root` is a real directory,
 * so that a link or write there cannot pass through a symlink and leave the tree.
 */
async function assertRealParents(root: string, relative: string): Promise<void> {
  const parts = relative.split("/");
  let current = root;
  for (const part of parts.slice(0, -1)) {
    current = join(current, part);
    const info = await lstatOrUndefined(current);
    if (!info?.isDirectory) {
      throw new Error(`Cannot unpack: "${relative}" does not lie under real directories`);
    }
  }
}

/** Applies one extracted layer on top of the tree built so far. */
class LayerApplier {
  readonly #source: string;
  readonly #target: string;
  readonly #preserveOwnership: boolean;
  readonly #signal: AbortSignal | undefined;
  /** Inode in the layer -> first path made for it in the target, to keep hardlinks. */
  readonly #inodes = new Map<number, string>();

  constructor(
    source: string,
    target: string,
    options: { preserveOwnership: boolean; signal?: AbortSignal },
  ) {
    this.#source = source;
    this.#target = target;
    this.#preserveOwnership = options.preserveOwnership;
    this.#signal = options.signal;
  }

  async #stamp(path: string, info: Deno.FileInfo): Promise<void> {
    const mtime = info.mtime ?? new Date(0);
    if (info.isSymlink) {
      if (this.#preserveOwnership) await lchown(path, info.uid ?? 0, info.gid ?? 0);
      await lutimes(path, mtime, mtime);
      return;
    }
    if (this.#preserveOwnership) await Deno.chown(path, info.uid, info.gid);
    await Deno.chmod(path, (info.mode ?? 0o644) & 0o7777);
    await Deno.utime(path, info.atime ?? mtime, mtime);
  }

  /** Applies the directory `relative` ("" for the root) of the layer. */
  async directory(relative: string): Promise<void> {
    const source = join(this.#source, relative);
    const target = join(this.#target, relative);
    const names: string[] = [];
    for await (const entry of Deno.readDir(source)) names.push(entry.name);
    names.sort();
    // Whiteouts hide lower layers only, so they go before this layer's own entries.
    if (names.includes(OPAQUE_MARKER)) {
      for await (const entry of Deno.readDir(target)) await removeAny(join(target, entry.name));
    }
    for (const name of names) {
      if (name.startsWith(WHITEOUT_PREFIX) && name !== OPAQUE_MARKER) {
        await removeAny(join(target, name.slice(WHITEOUT_PREFIX.length)));
      }
    }
    for (const name of names) {
      if (name.startsWith(WHITEOUT_PREFIX)) continue;
      await this.#entry(relative === "" ? name : `${relative}/${name}`);
    }
  }

  async #entry(relative: string): Promise<void> {
    this.#signal?.throwIfAborted();
    const source = join(this.#source, relative);
    const target = join(this.#target, relative);
    const info = await Deno.lstat(source);
    const existing = await lstatOrUndefined(target);
    if (info.isDirectory) {
      if (!existing?.isDirectory) {
        if (existing) await removeAny(target);
        await Deno.mkdir(target, { mode: 0o700 });
      }
      await this.directory(relative);
      await this.#stamp(target, info);
      return;
    }
    if (existing) await removeAny(target);
    if (info.isSymlink) {
      await Deno.symlink(await Deno.readLink(source), target);
      await this.#stamp(target, info);
      return;
    }
    const linked = info.nlink !== null && info.nlink > 1 && info.ino !== null
      ? this.#inodes.get(info.ino)
      : undefined;
    if (linked) {
      await Deno.link(linked, target);
      return;
    }
    await Deno.copyFile(source, target);
    await this.#stamp(target, info);
    if (info.ino !== null && info.nlink !== null && info.nlink > 1) {
      this.#inodes.set(info.ino, target);
    }
  }

  /** Makes the hardlinks whose targets came from lower layers. */
  async lowerLinks(links: { path: string; target: string }[]): Promise<void> {
    for (const link of links) {
      await assertRealParents(this.#target, link.target);
      await assertRealParents(this.#target, link.path);
      const target = await lstatOrUndefined(join(this.#target, link.target));
      if (!target || target.isDirectory) {
        throw new Error(
          `Cannot unpack: hardlink "${link.path}" points to "${link.target}", which no lower layer has`,
        );
      }
      await removeAny(join(this.#target, link.path));
      await Deno.link(join(this.#target, link.target), join(this.#target, link.path));
    }
  }

  /** Applies the layer root's own metadata (the tar's `./` entry) to the tree's root. */
  async root(): Promise<void> {
    await this.#stamp(this.#target, await Deno.lstat(this.#source));
  }
}

/**
 * Prepares the directory to unpack into: a new directory whose parent
 * exists, or an existing empty one.
 *
 * @returns Whether it was created (and so is removed again on failure).
 */
async function prepareTarget(directory: string): Promise<boolean> {
  const fail = (reason: string) => new Error(`Cannot unpack into ${directory}: ${reason}`);
  if (directory === "") throw new TypeError("Cannot unpack: the target directory is empty");
  const existing = await lstatOrUndefined(directory).catch(async (error) => {
    throw fail(await directoryProblem(directory, error));
  });
  if (existing) {
    if (!existing.isDirectory) throw fail("it exists and is not a directory");
    for await (const _ of Deno.readDir(directory)) throw fail("it is not empty");
    return false;
  }
  try {
    await Deno.mkdir(directory, { mode: 0o700 });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      const parent = dirname(resolve(directory));
      const problem = await directoryProblem(directory, error);
      throw fail(
        problem.endsWith("is not a directory") ? problem : `its parent ${parent} does not exist`,
      );
    }
    throw fail(await directoryProblem(directory, error));
  }
  return true;
}

/** Takes back what an unpack wrote: the directory it made, or the content it put in one. */
async function undoUnpack(directory: string, created: boolean): Promise<void> {
  if (created) {
    await removeAny(directory);
    return;
  }
  for (const entry of await readDirIfExists(directory)) {
    await removeAny(join(directory, entry.name));
  }
}

/**
 * Writes an image's flattened root filesystem to a directory, new (its
 * parent must exist) or empty: layers in order, whiteouts and opaque
 * directories applied, hardlinks kept (also those to files of lower
 * layers), modes, times and (as root) owners as in the layers. On failure
 * or abort, what it wrote is removed again.
 *
 * Requires `--allow-read`, `--allow-write` and `--allow-sys=uid`.
 *
 * @example
 * ```ts
 * import { unpack } from "./unpack.ts";
 * await unpack("/var/lib/denocker", "alpine:3.20", "/tmp/alpine-rootfs");
 * ```
 *
 * @param root The denocker root.
 * @param image A reference or image ID of a stored image.
 * @param directory The directory to fill: new, or existing and empty.
 * @param options Ownership, abort signal.
 * @returns The image ID unpacked.
 */
export async function unpack(
  root: string,
  image: string,
  directory: string,
  options: UnpackOptions = {},
): Promise<string> {
  const { record } = await findImage(root, image);
  const layers = new LayerStore(root);
  const preserveOwnership = options.preserveOwnership ?? runningAsRoot();
  const lock = { exclusive: false, onWait: options.onLockWait };
  return withLock(storeLockPath(root), lock, async () => {
    for (const layer of record.layers) {
      if (!(await layers.has(layer.diffId))) {
        throw new Error(
          `Cannot unpack ${image}: layer ${layer.diffId} is missing; pull the image again`,
        );
      }
    }
    const created = await prepareTarget(directory);
    try {
      for (const layer of record.layers) {
        const applier = new LayerApplier(layers.fsPath(layer.diffId), directory, {
          preserveOwnership,
          signal: options.signal,
        });
        await applier.directory("");
        const layerRecord = await layers.read(layer.diffId);
        await applier.lowerLinks(layerRecord.lowerLinks);
        if (layerRecord.rootEntry) await applier.root();
      }
    } catch (error) {
      await undoUnpack(directory, created);
      throw error;
    }
    return record.id;
  });
}
