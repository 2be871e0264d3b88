/**
 * `export`: an image's flattened root filesystem as one tar stream, what
 * `crane export` gives; `tar -x` of it gives the tree `unpack` writes.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { runningAsRoot } from "../store/root.ts";
import { storeOf, type StoreOptions } from "../store/store.ts";
import { flatten } from "../layer/flatten.ts";
import { tarTree } from "../archive/tar_writer.ts";

/** Options for {@link exportImage}. */
export interface ExportOptions extends StoreOptions {
  /** Stops the export. */
  signal?: AbortSignal;
  /** Receives `waiting-for-lock` while another denocker command holds the store. */
  onProgress?: (event: { type: "waiting-for-lock"; root: string }) => void;
}

/**
 * Writes an image's flattened root filesystem to `output` as a POSIX tar:
 * the layers applied in order into a staging directory of the store, then
 * streamed. Owners are the layers' when running as root (otherwise the
 * current user's, as `unpack` leaves them).
 *
 * Requires `--allow-read`, `--allow-write` (of the store) and `--allow-sys`.
 *
 * @example
 * ```ts
 * import { exportImage } from "@denocker/denocker";
 * const file = await Deno.open("/tmp/rootfs.tar", { write: true, create: true });
 * await exportImage("alpine:3.20", file.writable, { root: "/tmp/denocker" });
 * ```
 *
 * @param image A reference or image ID of a stored image.
 * @param output Where the tar goes; it is closed at the end.
 * @param options The store, abort, progress.
 * @returns The image ID exported.
 */
export async function exportImage(
  image: string,
  output: WritableStream<Uint8Array>,
  options: ExportOptions = {},
): Promise<string> {
  const store = await storeOf(options, { create: true });
  const onWait = () => options.onProgress?.({ type: "waiting-for-lock", root: store.root });
  return await store.openImage(image, "export", async ({ record, layers, staging }) => {
    const rootfs = join(staging!, "rootfs");
    await Deno.mkdir(rootfs, { mode: 0o700 });
    await flatten(layers, record, rootfs, {
      preserveOwnership: runningAsRoot(),
      signal: options.signal,
    });
    await tarTree(rootfs).pipeTo(output, { signal: options.signal });
    return record.id;
  }, { staging: true, onWait });
}
