/**
 * `history IMAGE`: an image's history entries, newest first, each with
 * the size of the layer it made (none for `empty_layer` entries), as
 * docker lists them.
 *
 * @module
 */

import { storeOf, type StoreOptions } from "../store/store.ts";

/** One entry of an image's history. */
export interface HistoryEntry {
  /** The stored image this entry ends (the image itself, its base, a build's step), if any. */
  id?: string;
  /** When (RFC 3339), if recorded. */
  created?: string;
  /** What made it. */
  createdBy: string;
  /** The uncompressed size of its layer (0 for an entry without one). */
  size: number;
  /** Its comment. */
  comment: string;
  /** Whether it made no layer. */
  emptyLayer: boolean;
}

/**
 * An image's history, newest first.
 *
 * @param image The image's name or ID.
 * @param options The store.
 * @returns Its entries.
 */
export async function imageHistory(
  image: string,
  options: StoreOptions = {},
): Promise<HistoryEntry[]> {
  const store = await storeOf(options);
  return await store.whileReading(async () => {
    const found = await store.find(image);
    const { config } = await store.image(found.record.id);
    const diffIds = config.rootfs.diff_ids;
    const history = config.history ?? [];
    // The stored images this one's history passes through (its base, a build's steps), by
    // the history and layers they end with: docker shows their IDs.
    const byPrefix = new Map<string, string>();
    for (const record of await store.images()) {
      const other = await store.image(record.id).catch(() => undefined);
      if (!other) continue;
      const key = JSON.stringify([other.config.history ?? [], other.config.rootfs.diff_ids]);
      byPrefix.set(key, record.id);
    }
    let layer = 0;
    const entries: HistoryEntry[] = [];
    for (const item of history) {
      const emptyLayer = item.empty_layer === true;
      let size = 0;
      if (!emptyLayer && layer < diffIds.length) {
        size = (await store.layers.read(diffIds[layer])).size;
        layer++;
      }
      const id = byPrefix.get(
        JSON.stringify([history.slice(0, entries.length + 1), diffIds.slice(0, layer)]),
      );
      entries.push({
        ...(id ? { id } : {}),
        created: typeof item.created === "string" ? item.created : undefined,
        createdBy: typeof item.created_by === "string" ? item.created_by : "",
        size,
        comment: typeof item.comment === "string" ? item.comment : "",
        emptyLayer,
      });
    }
    // Layers without history entries (an image made by a tool that writes none).
    for (; layer < diffIds.length; layer++) {
      entries.push({
        createdBy: "",
        size: (await store.layers.read(diffIds[layer])).size,
        comment: "",
        emptyLayer: false,
      });
    }
    entries.reverse();
    if (entries.length > 0) entries[0].id = found.record.id;
    return entries;
  });
}
