/**
 * Removing images (`rmi`) and collecting what no image uses (`prune`).
 *
 * @module
 */

import { storeOf, type StoreOptions } from "../store/store.ts";

/** Progress a removal reports. */
export type RemoveEvent = { type: "waiting-for-lock"; root: string };

/** What a removal did. */
export interface RemoveResult {
  /** `repository:tag` and `repository@digest` references removed. */
  untagged: string[];
  /** Image IDs deleted. */
  deleted: string[];
  /** Layers (diff IDs) deleted because no image uses them any more. */
  deletedLayers: string[];
  /** Blobs deleted because no image uses them any more. */
  deletedBlobs: string[];
}

/** Options for {@link removeImages}. */
export interface RemoveOptions extends StoreOptions {
  /** Remove an image by ID even when tags of several repositories point to it. */
  force?: boolean;
  /** Receives `waiting-for-lock` when another denocker command holds the store. */
  onProgress?: (event: RemoveEvent) => void;
}

/** Options for {@link prune}. */
export interface PruneOptions extends StoreOptions {
  /** Receives `waiting-for-lock` when another denocker command holds the store. */
  onProgress?: (event: RemoveEvent) => void;
}

/** What a prune removed. */
export interface PruneResult {
  /** Layers (diff IDs) deleted. */
  deletedLayers: string[];
  /** Blobs deleted. */
  deletedBlobs: string[];
  /** Entries removed from `tmp/`. */
  deletedTemp: number;
}

/**
 * Removes images by reference or ID, as `docker rmi` does: a tag or
 * `name@digest` removes that reference (the repository's digests go with
 * its last tag); an image left with no name is deleted with its metadata;
 * an ID removes the image and its names (with `force` when tags of several
 * repositories point to it). Layers and blobs that no remaining image uses
 * are deleted. Every name is looked up before anything is removed, so a
 * typo removes nothing.
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @example
 * ```ts
 * import { removeImages } from "@denocker/denocker";
 * const { untagged, deleted } = await removeImages(["alpine:3.20"], { root: "/tmp/denocker" });
 * ```
 *
 * @param names References or IDs.
 * @param options The store, `force`, progress.
 * @returns What was removed.
 */
export async function removeImages(
  names: string[],
  options: RemoveOptions,
): Promise<RemoveResult> {
  const store = await storeOf(options, { create: true });
  const onWait = () => options.onProgress?.({ type: "waiting-for-lock", root: store.root });
  return store.whileRemoving(async (staging) => {
    const found = [];
    for (const name of names) found.push(await store.find(name));
    const untagged: string[] = [];
    const deleted: string[] = [];
    for (const image of found) {
      const removed = await store.untag(image, { force: options.force });
      untagged.push(...removed.untagged);
      if (removed.deleted) deleted.push(removed.deleted);
    }
    return { untagged, deleted, ...await store.collectGarbage(staging) };
  }, { onWait });
}

/**
 * Removes every layer and blob that no stored image uses, and everything in
 * `tmp/` (no pull can be running: they hold the store shared).
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @example
 * ```ts
 * import { prune } from "@denocker/denocker";
 * const { deletedLayers, deletedBlobs } = await prune({ root: "/tmp/denocker" });
 * ```
 *
 * @param options The store, progress.
 * @returns What was removed.
 */
export async function prune(options: PruneOptions): Promise<PruneResult> {
  const store = await storeOf(options, { create: true });
  const onWait = () => options.onProgress?.({ type: "waiting-for-lock", root: store.root });
  return store.whileRemoving(async (staging) => {
    const deletedTemp = await store.clearTemporary(staging);
    return { ...await store.collectGarbage(staging), deletedTemp };
  }, { onWait });
}
