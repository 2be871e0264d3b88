/**
 * Removing images (`rmi`) and collecting what no image uses (`prune`).
 *
 * @module
 */

import { join } from "node:path";
import { ContentStore } from "../store/_content_store.ts";
import { ImageIndex } from "../store/image_index.ts";
import { ImageStore } from "../store/_image_store.ts";
import { LayerStore } from "../store/_layer_store.ts";
import { withLock } from "../store/_lock.ts";
import { findImage } from "../store/_lookup.ts";
import { storeLockPath } from "../store/root.ts";
import { Staging } from "../store/_staging.ts";
import { ensureDirectory } from "../store/_paths.ts";

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
export interface RemoveOptions {
  /** Remove an image by ID even when tags of several repositories point to it. */
  force?: boolean;
  /** Called once when another denocker command holds the store for more than a second. */
  onLockWait?: () => void;
}

/** Options for {@link prune}. */
export interface PruneOptions {
  /** Called once when another denocker command holds the store for more than a second. */
  onLockWait?: () => void;
}

/** Deletes layers and blobs that no stored image references. Caller holds the store lock. */
async function collectGarbage(root: string, staging: Staging, result: RemoveResult): Promise<void> {
  const keepBlobs = new Set<string>();
  const keepLayers = new Set<string>();
  for (const image of await new ImageStore(root).list()) {
    keepBlobs.add(image.id);
    for (const digest of image.documentDigests) keepBlobs.add(digest);
    for (const layer of image.layers) {
      keepBlobs.add(layer.digest);
      keepLayers.add(layer.diffId);
    }
  }
  const layers = new LayerStore(root);
  for (const diffId of await layers.list()) {
    if (keepLayers.has(diffId)) continue;
    await layers.delete(diffId, staging.path);
    result.deletedLayers.push(diffId);
  }
  const blobs = new ContentStore(root);
  for (const digest of await blobs.list()) {
    if (keepBlobs.has(digest)) continue;
    await blobs.delete(digest);
    result.deletedBlobs.push(digest);
  }
}

async function withExclusiveStore<T>(
  root: string,
  onLockWait: (() => void) | undefined,
  fn: (staging: Staging) => Promise<T>,
): Promise<T> {
  await ensureDirectory(root, "store root", { create: true });
  return withLock(storeLockPath(root), { exclusive: true, onWait: onLockWait }, async () => {
    await Staging.cleanStale(root);
    const staging = await Staging.create(root);
    try {
      return await fn(staging);
    } finally {
      await staging.dispose();
    }
  });
}

/**
 * Removes images by reference or ID, as `docker rmi` does: a tag or
 * `name@digest` removes that reference; an image left with no tag is
 * deleted with its metadata; an ID removes the image and its tags (with
 * `force` when tags of several repositories point to it). Layers and blobs
 * that no remaining image uses are deleted. Every name is looked up before
 * anything is removed, so a typo removes nothing.
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @example
 * ```ts
 * import { removeImages } from "./remove.ts";
 * const { untagged, deleted } = await removeImages("/var/lib/denocker", ["alpine:3.20"]);
 * ```
 *
 * @param root The denocker root.
 * @param names References or IDs.
 * @param options `force`.
 * @returns What was removed.
 */
export function removeImages(
  root: string,
  names: string[],
  options: RemoveOptions = {},
): Promise<RemoveResult> {
  return withExclusiveStore(root, options.onLockWait, async (staging) => {
    const result: RemoveResult = { untagged: [], deleted: [], deletedLayers: [], deletedBlobs: [] };
    const found = [];
    for (const name of names) found.push(await findImage(root, name));
    const images = new ImageStore(root);
    const index = new ImageIndex(root);
    for (const { record: foundRecord, tag, repoDigest } of found) {
      await index.update(async (data) => {
        const record = await images.read(foundRecord.id);
        if (!record) return; // Removed by an earlier name of this same call.
        const tagsOf = () =>
          Object.entries(data).flatMap(([repository, tags]) =>
            Object.entries(tags).filter(([, id]) => id === record.id).map(([t]) => ({
              repository,
              tag: t,
            }))
          );
        if (tag) {
          delete data[tag.repository][tag.tag];
          result.untagged.push(`${tag.repository}:${tag.tag}`);
          // As docker does: the repository's digests go with its last tag of this image.
          if (!tagsOf().some((entry) => entry.repository === tag.repository)) {
            const prefix = `${tag.repository}@`;
            result.untagged.push(...record.repoDigests.filter((entry) => entry.startsWith(prefix)));
            record.repoDigests = record.repoDigests.filter((entry) => !entry.startsWith(prefix));
          }
        } else if (repoDigest) {
          record.repoDigests = record.repoDigests.filter((entry) => entry !== repoDigest);
          result.untagged.push(repoDigest);
        } else {
          const tags = tagsOf();
          const repositories = new Set(tags.map((entry) => entry.repository));
          if (repositories.size > 1 && !options.force) {
            throw new Error(
              `Cannot remove image ${
                record.id.slice(7, 19)
              }: it is referenced in ${repositories.size} repositories (${
                [...repositories].join(", ")
              }); remove the tags or use --force`,
            );
          }
          for (const entry of tags) {
            delete data[entry.repository][entry.tag];
            result.untagged.push(`${entry.repository}:${entry.tag}`);
          }
          result.untagged.push(...record.repoDigests);
          record.repoDigests = [];
        }
        const stillReferenced = tagsOf().length > 0 ||
          (repoDigest !== undefined && record.repoDigests.length > 0);
        if (stillReferenced) {
          await images.save(record);
          return;
        }
        result.untagged.push(
          ...record.repoDigests.filter((entry) => !result.untagged.includes(entry)),
        );
        await images.remove(record.id);
        result.deleted.push(record.id);
      });
    }
    await collectGarbage(root, staging, result);
    return result;
  });
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
 * Removes every layer and blob that no stored image uses, and everything in
 * `tmp/` (no pull can be running: they hold the store lock shared).
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @example
 * ```ts
 * import { prune } from "./remove.ts";
 * const { deletedLayers, deletedBlobs } = await prune("/var/lib/denocker");
 * ```
 *
 * @param root The denocker root.
 * @param options Lock wait notice.
 * @returns What was removed.
 */
export function prune(root: string, options: PruneOptions = {}): Promise<PruneResult> {
  return withExclusiveStore(root, options.onLockWait, async (staging) => {
    let deletedTemp = 0;
    const tmp = join(root, "tmp");
    for await (const entry of Deno.readDir(tmp)) {
      const path = join(tmp, entry.name);
      if (path === staging.path) continue;
      await Deno.remove(path, { recursive: true });
      deletedTemp++;
    }
    const result: RemoveResult = { untagged: [], deleted: [], deletedLayers: [], deletedBlobs: [] };
    await collectGarbage(root, staging, result);
    return { deletedLayers: result.deletedLayers, deletedBlobs: result.deletedBlobs, deletedTemp };
  });
}
