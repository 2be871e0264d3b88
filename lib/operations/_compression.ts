/**
 * Layer media types and the decompressor each needs.
 *
 * @module
 */

import { Duplex } from "node:stream";
import { createGunzip, createZstdDecompress } from "node:zlib";
import {
  DOCKER_LAYER_GZIP,
  OCI_LAYER_GZIP,
  OCI_LAYER_TAR,
  OCI_LAYER_ZSTD,
} from "../model/media_types.ts";
import { InvalidInputError } from "../errors.ts";

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

/**
 * A stream that turns a layer blob into its uncompressed tar. Node's zlib
 * is used for gzip because, unlike `DecompressionStream`, it reads
 * multi-member gzip files (and is faster in Deno); zstd has no Web API.
 *
 * @example
 * ```ts
 * import { decompressLayer } from "./_compression.ts";
 * const tar = (await Deno.open("layer.tar.gz")).readable.pipeThrough(
 *   decompressLayer("application/vnd.oci.image.layer.v1.tar+gzip"),
 * );
 * ```
 *
 * @param mediaType The layer's media type.
 * @returns A transform from blob bytes to tar bytes.
 */
export function decompressLayer(mediaType: string): TransformStream<Uint8Array, Uint8Array> {
  assertSupportedLayer(mediaType);
  if (mediaType === OCI_LAYER_TAR) return new TransformStream();
  // Larger output chunks than zlib's 16 KiB default: every chunk costs a trip through the
  // stream machinery, and layers are hundreds of megabytes.
  const options = { chunkSize: DECOMPRESSED_CHUNK_BYTES };
  const node = mediaType === OCI_LAYER_ZSTD ? createZstdDecompress(options) : createGunzip(options);
  return Duplex.toWeb(node) as unknown as TransformStream<Uint8Array, Uint8Array>;
}
