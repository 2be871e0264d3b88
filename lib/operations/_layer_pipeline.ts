/**
 * One layer blob's way to files: decompress, check the diff_id, extract.
 * Shared by the extraction worker and by in-thread extraction.
 *
 * @module
 */

import { decompressLayer } from "./_compression.ts";
import { verifyingStream } from "../model/digest.ts";
import { extractLayer, type ExtractOptions, type ExtractResult } from "./extract.ts";

/** What an extraction needs to know besides the blob's bytes. */
export interface LayerExtractionPlan {
  /** The (empty) directory to extract into. */
  directory: string;
  /** The layer blob's media type (its compression). */
  mediaType: string;
  /** The uncompressed digest the config promises. */
  diffId: string;
  /** Start of the error message when the diff_id does not match. */
  what: string;
  /** Extraction limits and ownership. */
  extract?: ExtractOptions;
}

/**
 * Decompresses a layer blob, verifies its diff_id and extracts it.
 *
 * @param blob The layer blob's bytes.
 * @param plan Where and how.
 * @returns What was extracted.
 */
export function extractLayerBlob(
  blob: ReadableStream<Uint8Array>,
  plan: LayerExtractionPlan,
): Promise<ExtractResult> {
  const tar = blob
    .pipeThrough(decompressLayer(plan.mediaType))
    .pipeThrough(verifyingStream(plan.diffId, undefined, plan.what));
  return extractLayer(tar, plan.directory, plan.extract);
}
