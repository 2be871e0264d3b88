/**
 * Layer media types and the decompressor each needs.
 *
 * @module
 */

import type { Transform } from "node:stream";
import { createGunzip, createZstdDecompress } from "node:zlib";
import {
  DOCKER_LAYER_GZIP,
  OCI_LAYER_GZIP,
  OCI_LAYER_TAR,
  OCI_LAYER_ZSTD,
} from "../model/media_types.ts";
import { InvalidInputError } from "../errors.ts";
import { releaseChunk } from "../io/streams.ts";

const DECOMPRESSED_CHUNK_BYTES = 128 * 1024;

/** Layer media types denocker can extract. */
export const SUPPORTED_LAYER_TYPES: readonly string[] = [
  OCI_LAYER_GZIP,
  DOCKER_LAYER_GZIP,
  OCI_LAYER_ZSTD,
  OCI_LAYER_TAR,
];

/**
 * Throws an `InvalidInputError` naming the media type when denocker cannot extract
 * such a layer (foreign layers, encrypted layers, unknown compressions).
 *
 * @param mediaType The layer's media type.
 */
export function assertSupportedLayer(mediaType: string): void {
  if (!SUPPORTED_LAYER_TYPES.includes(mediaType)) {
    throw new InvalidInputError(`Cannot extract layer: unsupported media type "${mediaType}"`);
  }
}

/** Options for {@link decompressLayer}. */
export interface DecompressOptions {
  /**
   * The input chunks are the decompressor's to free once it has taken them
   * (see `releaseChunk`): for a stream no one else reads. Off by default.
   */
  releaseInput?: boolean;
}

/**
 * A stream that turns a layer blob into its uncompressed tar. Node's zlib
 * is used for gzip because, unlike `DecompressionStream`, it reads
 * multi-member gzip files (and is faster in Deno); zstd has no Web API.
 *
 * @example
 * ```ts
 * import { decompressLayer } from "./compression.ts";
 * const tar = (await Deno.open("layer.tar.gz")).readable.pipeThrough(
 *   decompressLayer("application/vnd.oci.image.layer.v1.tar+gzip"),
 * );
 * ```
 *
 * @param mediaType The layer's media type.
 * @param options Whether the input chunks may be freed.
 * @returns A transform from blob bytes to tar bytes.
 */
export function decompressLayer(
  mediaType: string,
  options: DecompressOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  assertSupportedLayer(mediaType);
  if (mediaType === OCI_LAYER_TAR) return new TransformStream();
  // Larger output chunks than zlib's 16 KiB default: every chunk costs a trip through the
  // stream machinery, and layers are hundreds of megabytes.
  const zlib = { chunkSize: DECOMPRESSED_CHUNK_BYTES };
  const node = mediaType === OCI_LAYER_ZSTD ? createZstdDecompress(zlib) : createGunzip(zlib);
  return webTransform(node, options.releaseInput ?? false);
}

/**
 * A Node transform (zlib's) as a Web `TransformStream`. Deno's
 * `Duplex.toWeb` goes on handing zlib's output to a stream already
 * cancelled or errored (the extractor refused an entry while zlib still
 * had input in hand), which throws an uncaught `TypeError` in the thread
 * that runs it; here output after the end is dropped, and cancelling the
 * readable side or aborting the writable side destroys the decompressor.
 * Backpressure holds per input chunk: the next one is written only once
 * zlib has taken this one.
 */
function webTransform(node: Transform, release: boolean): TransformStream<Uint8Array, Uint8Array> {
  let done = false;
  let failed: (error: unknown) => void = () => {};
  const stop = () => {
    done = true;
    node.destroy();
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      node.on("data", (chunk: Uint8Array) => {
        // A plain view, not zlib's Buffer: a Buffer's `subarray` (the tar reader's every read)
        // builds a heavier object, and its `slice` does not copy.
        if (!done) {
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        }
      });
      node.on("error", (error) => {
        if (done) return;
        done = true;
        failed(error);
        controller.error(error);
      });
    },
    transform(chunk) {
      return new Promise<void>((resolve, reject) => {
        failed = reject;
        node.write(chunk, (error) => {
          if (error) return reject(error);
          if (release) releaseChunk(chunk);
          resolve();
        });
      });
    },
    flush() {
      return new Promise<void>((resolve, reject) => {
        failed = reject;
        node.once("end", () => {
          done = true;
          resolve();
        });
        node.end();
      });
    },
    cancel: stop,
  });
}
