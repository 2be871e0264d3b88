/**
 * Flattening: applying an image's extracted layers, in order, onto one
 * directory, with whiteouts and opaque directories applied and hardlinks,
 * modes, times and (optionally) owners kept.
 *
 * @module
 */

import { lchown, lutimes } from "node:fs/promises";
import { join } from "../io/path.ts";
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from "../model/layer.ts";
import type { LayerStore } from "../store/layer_store.ts";
import { firstNonDirectoryParent, lstatIfExists, removeIfExists } from "../io/fs.ts";
import { DenockerError, MalformedLayerError } from "../errors.ts";
import { symlinkRefusal } from "../permissions.ts";
import type { ImageRecord } from "../store/store.ts";

/** Progress while flattening: one event as each layer starts. */
export type FlattenEvent = { type: "layer"; index: number; count: number; diffId: string };

/** Options for {@link flatten}. */
export interface FlattenOptions {
  /** Apply file owners from the layers. */
  preserveOwnership: boolean;
  /** Stops between entries. */
  signal?: AbortSignal;
  /** Receives an event as each layer starts. */
  onProgress?: (event: FlattenEvent) => void;
}

function removeAny(path: string): Promise<void> {
  return removeIfExists(path, { recursive: true });
}

/**
 * Checks that every parent of `relative` inside `root` is a real directory,
 * so that a link or write there cannot pass through a symlink and leave the tree.
 */
async function assertRealParents(root: string, relative: string): Promise<void> {
  if (await firstNonDirectoryParent(root, relative)) {
    throw new MalformedLayerError(
      `Cannot unpack: "${relative}" does not lie under real directories`,
    );
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
    const existing = await lstatIfExists(target);
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
      await Deno.symlink(await Deno.readLink(source), target).catch((error) => {
        throw symlinkRefusal(error, `"${relative}"`) ?? error;
      });
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
      const target = await lstatIfExists(join(this.#target, link.target));
      if (!target || target.isDirectory) {
        throw new DenockerError(
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
 * Applies an image's layers, lowest first, onto `directory` (which exists).
 * Every layer must be stored; the caller holds the store.
 *
 * @param layers The layer store.
 * @param record The image's record.
 * @param directory The target directory.
 * @param options Ownership, abort, progress.
 */
export async function flatten(
  layers: LayerStore,
  record: ImageRecord,
  directory: string,
  options: FlattenOptions,
): Promise<void> {
  for (const [index, layer] of record.layers.entries()) {
    options.onProgress?.({
      type: "layer",
      index,
      count: record.layers.length,
      diffId: layer.diffId,
    });
    const applier = new LayerApplier(layers.fsPath(layer.diffId), directory, options);
    await applier.directory("");
    const layerRecord = await layers.read(layer.diffId);
    await applier.lowerLinks(layerRecord.lowerLinks);
    if (layerRecord.rootEntry) await applier.root();
  }
}
