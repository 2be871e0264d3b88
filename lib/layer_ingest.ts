/**
 * One layer's way from blob to extracted directory, streamed in one pass:
 * blob bytes -> (content store) -> decompress -> diff_id check -> untar ->
 * files in staging, renamed into `layers/` only when everything verified.
 *
 * @module
 */

import { join } from "node:path";
import type { BlobWriter } from "./content_store.ts";
import { decompressLayer } from "./compression.ts";
import { verifyingStream } from "./digest.ts";
import { VerificationError } from "./errors.ts";
import { extractLayer, type ExtractOptions } from "./extract.ts";
import type { LayerRecord, LayerStore } from "./layer_store.ts";
import type { Descriptor } from "./manifest.ts";

/** Options for {@link ingestLayer}. */
export interface IngestOptions {
  /** The layer blob's descriptor (media type, digest). */
  descriptor: Descriptor;
  /** The uncompressed digest the config promises. */
  diffId: string;
  /** Where the layer goes. */
  layers: LayerStore;
  /** A staging directory on the same file system as the store. */
  staging: string;
  /** Receives the blob bytes too, when the blob is being downloaded; it verifies them. */
  blobWriter?: BlobWriter;
  /** Extraction limits and ownership. */
  extract?: ExtractOptions;
  /** Called with the count of blob bytes read so far. */
  onBytes?: (bytes: number) => void;
}

/** Chunks buffered between download and extraction; bounds memory, not speed. */
const PIPE_CHUNKS = 16;

/**
 * Streams a layer blob into the blob store (when a writer is given) and,
 * at the same time, through decompression and diff_id verification into a
 * staged extraction. The layer is committed to `layers/` only when the blob
 * digest, the diff_id and the extraction all succeeded; on any failure
 * nothing is left behind.
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @param source The layer blob's bytes.
 * @param options Descriptor, diff_id, stores and staging.
 * @returns The stored layer's record.
 */
export async function ingestLayer(
  source: ReadableStream<Uint8Array>,
  options: IngestOptions,
): Promise<LayerRecord> {
  const { descriptor, diffId, blobWriter } = options;
  const decompress = decompressLayer(descriptor.mediaType);
  const staged = join(options.staging, `layer-${crypto.randomUUID()}`);
  const fsDirectory = join(staged, "fs");
  await Deno.mkdir(fsDirectory, { recursive: true, mode: 0o700 });

  const pipe = new TransformStream<Uint8Array, Uint8Array>(
    undefined,
    new CountQueuingStrategy({ highWaterMark: PIPE_CHUNKS }),
  );
  const writer = pipe.writable.getWriter();
  let failure: unknown;
  const fail = async (error: unknown) => {
    failure ??= error;
    await writer.abort(error).catch(() => {});
  };
  const tar = pipe.readable
    .pipeThrough(decompress)
    .pipeThrough(
      verifyingStream(
        diffId,
        undefined,
        `Cannot accept layer ${descriptor.digest}: uncompressed content`,
      ),
    );
  const extraction = extractLayer(tar, fsDirectory, options.extract).catch(async (error) => {
    await fail(error);
    throw error;
  });
  const feeding = (async () => {
    try {
      let bytes = 0;
      for await (const chunk of source) {
        // After an extraction failure a download is still hashed to its (announced, capped)
        // end: a corrupt blob is better reported as a digest mismatch than as a broken tar.
        if (failure !== undefined && !blobWriter) throw failure;
        await blobWriter?.write(chunk);
        if (failure === undefined) {
          await writer.ready;
          writer.write(chunk).catch(() => {});
        }
        bytes += chunk.byteLength;
        options.onBytes?.(bytes);
      }
      await blobWriter?.commit();
      if (failure !== undefined) throw failure;
      await writer.close();
    } catch (error) {
      if (error instanceof VerificationError) failure = error;
      await fail(error);
      throw error;
    }
  })();
  const [fed, extracted] = await Promise.allSettled([feeding, extraction]);
  if (fed.status === "rejected" || extracted.status === "rejected") {
    await blobWriter?.abort();
    await Deno.remove(staged, { recursive: true }).catch(() => {});
    throw failure ??
      (fed.status === "rejected" ? fed.reason : (extracted as PromiseRejectedResult).reason);
  }
  const result = extracted.value;
  const record: LayerRecord = {
    diffId,
    size: result.bytes,
    entries: result.entries,
    lowerLinks: result.lowerLinks,
    skipped: result.skipped,
    rootEntry: result.rootEntry,
  };
  try {
    await options.layers.commit(staged, record);
  } catch (error) {
    await Deno.remove(staged, { recursive: true }).catch(() => {});
    throw error;
  }
  return record;
}
