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

/**
 * The OCI chain IDs of a layer stack: the first layer's diff_id, then
 * `sha256(parent + " " + diff_id)`.
 *
 * @param diffIds The layers' diff_ids, lowest first.
 * @returns One chain ID per layer.
 */
export async function chainIds(diffIds: string[]): Promise<string[]> {
  // Web Crypto rather than node:crypto: running a container needs no other hashing, and Node's
  // compatibility layer would cost every container start its load time.
  const chains: string[] = [];
  for (const diffId of diffIds) {
    const parent = chains.at(-1);
    if (parent === undefined) {
      chains.push(diffId);
      continue;
    }
    const bytes = new TextEncoder().encode(`${parent} ${diffId}`);
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    chains.push(
      `sha256:${Array.from(hash, (byte) => byte.toString(16).padStart(2, "0")).join("")}`,
    );
  }
  return chains;
}
