/**
 * The OCI digest grammar: a digest string checked and split into its parts,
 * without hashing anything (hashing is `digest.ts`'s, which needs
 * node:crypto).
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";

/** A digest split into its parts. */
export interface ParsedDigest {
  /** `sha256` or `sha512`. */
  algorithm: "sha256" | "sha512";
  /** Lowercase hex encoding of the hash. */
  hex: string;
}

const HEX_LENGTH = { sha256: 64, sha512: 128 } as const;
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * Validates a digest string against the OCI grammar and the registered
 * algorithms. Call it before a digest is used to build a file path.
 *
 * @example
 * ```ts
 * import { parseDigest } from "./digest_syntax.ts";
 * parseDigest("sha256:" + "a".repeat(64)).algorithm; // "sha256"
 * ```
 *
 * @param digest A string such as `sha256:<64 hex>`.
 * @returns Algorithm and hex.
 */
export function parseDigest(digest: string): ParsedDigest {
  if (!DIGEST_GRAMMAR.test(digest)) throw new InvalidInputError(`invalid digest "${digest}"`);
  const [algorithm, hex] = digest.split(":", 2);
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    throw new InvalidInputError(`unsupported digest algorithm "${algorithm}"`);
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-f]+$/.test(hex)) {
    throw new InvalidInputError(
      `invalid digest "${digest}": ${algorithm} needs ${
        HEX_LENGTH[algorithm]
      } lowercase hex digits`,
    );
  }
  return { algorithm, hex };
}
