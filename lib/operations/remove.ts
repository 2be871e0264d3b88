/**
 * Removing images (`rmi`) and collecting what no image uses (`prune`).
 *
 * @module
 */

import { type Collected, type Store, storeOf, type StoreOptions } from "../store/store.ts";
import { ImageInUseError } from "../errors.ts";
import { allPermissionsGranted } from "../permissions.ts";
import { type ContainerRecord, ContainerStore } from "../runtime/containers.ts";

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

/** The store's containers, after cleaning those whose `denocker run` died. */
async function containersOf(store: Store): Promise<ContainerRecord[]> {
  const containers = new ContainerStore(store.root);
  // Telling live containers from dead ones takes /proc, which Deno opens only with -A.
  if (allPermissionsGranted()) await containers.reap();
  return await containers.list();
}

/** Collects garbage, keeping the layer stacks containers run on (and their overlays). */
function collect(
  store: Store,
  staging: string,
  containers: ContainerRecord[],
): Promise<Collected> {
  return store.collectGarbage(staging, {
    keepStacks: containers.map((container) => container.diffIds),
  });
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
  options: RemoveOptions = {},
): Promise<RemoveResult> {
  const store = await storeOf(options, { create: true });
  const onWait = () => options.onProgress?.({ type: "waiting-for-lock", root: store.root });
  return store.whileRemoving(async (staging) => {
    const found = [];
    for (const name of names) found.push(await store.find(name));
    const containers = await containersOf(store);
    // A name whose removal leaves the image other names only untags: a container using the
    // image stops only the removal of its last name, as in docker (and with force it stays).
    const deletes = await store.untagDeletes(found);
    const users = found.map((image) =>
      containers.find((container) => container.imageId === image.record.id)
    );
    for (const [i, user] of users.entries()) {
      if (user && deletes[i] && !options.force) {
        throw new ImageInUseError(
          `Cannot remove image ${names[i]}: container ${
            user.id.slice(0, 12)
          } (${user.name}) uses it; remove the container or use --force`,
        );
      }
    }
    const untagged: string[] = [];
    const deleted: string[] = [];
    for (const [i, image] of found.entries()) {
      const removed = await store.untag(image, {
        force: options.force,
        keep: users[i] !== undefined,
      });
      untagged.push(...removed.untagged);
      if (removed.deleted) deleted.push(removed.deleted);
    }
    return { untagged, deleted, ...await collect(store, staging, containers) };
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
 * import { pruneImages } from "@denocker/denocker";
 * const { deletedLayers, deletedBlobs } = await pruneImages({ root: "/tmp/denocker" });
 * ```
 *
 * @param options The store, progress.
 * @returns What was removed.
 */
export async function pruneImages(options: PruneOptions = {}): Promise<PruneResult> {
  const store = await storeOf(options, { create: true });
  const onWait = () => options.onProgress?.({ type: "waiting-for-lock", root: store.root });
  return store.whileRemoving(async (staging) => {
    const deletedTemp = await store.clearTemporary(staging);
    return { ...await collect(store, staging, await containersOf(store)), deletedTemp };
  }, { onWait });
}

/**
 * The former name of {@link pruneImages}, kept for one release.
 *
 * @deprecated Use {@link pruneImages}.
 */
export const prune: typeof pruneImages = pruneImages;
