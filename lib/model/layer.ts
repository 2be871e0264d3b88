/**
 * The layer model: how a layer tar says "delete" (whiteouts, opaque
 * directories) and how a layer's hardlink to a lower layer's file is
 * recorded. Shared by extraction, the layer store and the overlay.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The marker of an opaque directory (its lower-layer content is hidden). */
export const OPAQUE_MARKER = ".wh..wh..opq";
/** The prefix of a whiteout marker. */
export const WHITEOUT_PREFIX = ".wh.";

/** A hardlink whose target is not in this layer (it lives in a lower one). */
export interface LowerLink {
  /** The link's path, relative to the layer root. */
  path: string;
  /** The target's path, relative to the image root. */
  target: string;
}

/**
 * The OCI chain IDs of a layer stack: the first layer's diff_id, then
 * `sha256(parent + " " + diff_id)`.
 *
 * @param diffIds The layers' diff_ids, lowest first.
 * @returns One chain ID per layer.
 */
export function chainIds(diffIds: string[]): string[] {
  const chains: string[] = [];
  for (const diffId of diffIds) {
    const parent = chains.at(-1);
    chains.push(
      parent === undefined
        ? diffId
        : `sha256:${createHash("sha256").update(`${parent} ${diffId}`).digest("hex")}`,
    );
  }
  return chains;
}
