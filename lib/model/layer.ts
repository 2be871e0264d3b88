/**
 * The layer model: how a layer tar says "delete" (whiteouts, opaque
 * directories) and how a layer's hardlink to a lower layer's file is
 * recorded. Shared by extraction, the layer store and the overlay.
 *
 * @module
 */

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
