/**
 * Content digests: validation against the OCI grammar and streaming
 * verification of digest and size.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { InvalidInputError, VerificationError } from "../errors.ts";

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
 * import { parseDigest } from "./digest.ts";
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

/**
 * Digest of bytes held in memory (manifests, configs).
 *
 * @param bytes The content.
 * @param algorithm Hash algorithm, sha256 by default.
 * @returns `algorithm:hex`.
 */
export function digestOf(bytes: Uint8Array, algorithm: "sha256" | "sha512" = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}

/** Hashes and counts a stream piece by piece and checks it at the end. */
export class StreamVerifier {
  readonly #expectedDigest: string;
  readonly #expectedSize: number | undefined;
  readonly #what: string;
  readonly #hash: Hash;
  #size = 0;

  /**
   * Starts verifying a new stream.
   *
   * @param expectedDigest The digest the content must have.
   * @param expectedSize The size in bytes, if known; exceeding it fails at once.
   * @param what Names the content in error messages.
   */
  constructor(expectedDigest: string, expectedSize: number | undefined, what: string) {
    const { algorithm } = parseDigest(expectedDigest);
    this.#expectedDigest = expectedDigest;
    this.#expectedSize = expectedSize;
    this.#what = what;
    this.#hash = createHash(algorithm);
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds a chunk; throws once more bytes arrive than announced.
   *
   * @param chunk The next piece of content.
   */
  update(chunk: Uint8Array): void {
    this.#size += chunk.byteLength;
    if (this.#expectedSize !== undefined && this.#size > this.#expectedSize) {
      throw new VerificationError(
        `${this.#what}: more than the announced ${this.#expectedSize} bytes`,
      );
    }
    this.#hash.update(chunk);
  }

  /** Checks size and digest once the content has ended; throws on mismatch. */
  finish(): void {
    if (this.#expectedSize !== undefined && this.#size !== this.#expectedSize) {
      throw new VerificationError(
        `${this.#what}: size is ${this.#size} bytes, expected ${this.#expectedSize}`,
      );
    }
    const actual = `${this.#expectedDigest.split(":")[0]}:${this.#hash.digest("hex")}`;
    if (actual !== this.#expectedDigest) {
      throw new VerificationError(
        `${this.#what}: digest is ${actual}, expected ${this.#expectedDigest}`,
      );
    }
  }
}

/**
 * A pass-through stream that fails when its content does not match the
 * digest or size.
 *
 * @param expectedDigest The digest the content must have.
 * @param expectedSize The size in bytes, if known.
 * @param what Names the content in error messages.
 * @returns A transform stream to pipe the content through.
 */
export function verifyingStream(
  expectedDigest: string,
  expectedSize: number | undefined,
  what: string,
): TransformStream<Uint8Array, Uint8Array> {
  const verifier = new StreamVerifier(expectedDigest, expectedSize, what);
  return new TransformStream({
    transform(chunk, controller) {
      verifier.update(chunk);
      controller.enqueue(chunk);
    },
    flush() {
      verifier.finish();
    },
  });
}
