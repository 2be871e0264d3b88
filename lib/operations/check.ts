/**
 * `check`: the store's fsck, as an operation.
 *
 * @module
 */

import { type Problem, storeOf, type StoreOptions } from "../store/store.ts";

/** Options for {@link checkStore}. */
export interface CheckOptions extends StoreOptions {
  /** Remove what is broken (and un-record images that lost a part), so that a pull restores it. */
  repair?: boolean;
  /** Receives `waiting-for-lock` when another denocker command holds the store. */
  onProgress?: (event: { type: "waiting-for-lock"; root: string }) => void;
}

/**
 * Checks a store: blobs re-hash to their names, each layer's extracted
 * files are still what extraction recorded (paths, types, modes, owners,
 * sizes, symlink targets, hardlinks; not times or content), recorded images
 * are complete, `images.json` parses and names only recorded images, nothing
 * half-written lies outside `tmp/`. With `repair`, removes what is broken
 * (a changed layer's extraction too: the next pull extracts it again from its blob).
 *
 * Requires `--allow-read` (and `--allow-write` to repair).
 *
 * @example
 * ```ts
 * import { checkStore } from "@denocker/denocker";
 * const problems = await checkStore({ root: "/tmp/denocker" });
 * for (const problem of problems) console.log(problem.message);
 * ```
 *
 * @param options The store, `repair`, progress.
 * @returns Every problem found, and whether it was repaired.
 */
export async function checkStore(options: CheckOptions = {}): Promise<Problem[]> {
  const store = await storeOf(options, { create: options.repair ?? false });
  const onWait = () => options.onProgress?.({ type: "waiting-for-lock", root: store.root });
  // Repairing removes: exclusively. A check only reads: shared, so it works on a read-only store.
  return options.repair
    ? store.whileRemoving((staging) => store.check({ repair: true, staging }), { onWait })
    : store.whileReading(() => store.check(), { onWait });
}
