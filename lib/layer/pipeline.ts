/**
 * One layer blob's way to files: decompress, check the diff_id, extract.
 * Shared by the extraction worker and by in-thread extraction.
 *
 * @module
 */

import { decompressLayer } from "../archive/compression.ts";
import { verifyingStream } from "../model/digest.ts";
import { extractLayer, type ExtractOptions, type ExtractResult } from "./extract.ts";
import { type ExtractedFiles, summarizeExtractedFiles } from "../store/layer_summary.ts";

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

/** What extracting a layer blob did, and what it left on disk. */
export interface LayerExtractionResult extends ExtractResult {
  /**
   * The extracted tree, summarized for `check` to compare with later; none
   * when this user cannot list the tree (a directory without read or search
   * permission, for a user that is not root), which `unpack` cannot read either.
   */
  extractedFiles?: ExtractedFiles;
}

/**
 * Decompresses a layer blob, verifies its diff_id, extracts it and
 * summarizes the tree it made.
 *
 * @param blob The layer blob's bytes.
 * @param plan Where and how.
 * @returns What was extracted.
 */
export async function extractLayerBlob(
  blob: ReadableStream<Uint8Array>,
  plan: LayerExtractionPlan,
): Promise<LayerExtractionResult> {
  const tar = blob
    .pipeThrough(decompressLayer(plan.mediaType, { releaseInput: true }))
    .pipeThrough(verifyingStream(plan.diffId, undefined, plan.what));
  // The chunks are this pipeline's own: freed as soon as they are written out.
  const result = await extractLayer(tar, plan.directory, { ...plan.extract, releaseChunks: true });
  try {
    // The tree as it is, not as the tar describes it: what `check` will walk again.
    return { ...result, extractedFiles: summarizeExtractedFiles(plan.directory) };
  } catch (error) {
    if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
    return result;
  }
}
