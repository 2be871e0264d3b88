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
  /** The image's ID for its newest entry; none for the others (docker's `<missing>`). */
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
    let layer = 0;
    const entries: HistoryEntry[] = [];
    for (const item of history) {
      const emptyLayer = item.empty_layer === true;
      let size = 0;
      if (!emptyLayer && layer < diffIds.length) {
        size = (await store.layers.read(diffIds[layer])).size;
        layer++;
      }
      entries.push({
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
