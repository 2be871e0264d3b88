/**
 * Content digests computed: of bytes in memory, and streaming verification
 * of digest and size (the grammar is `digest_syntax.ts`).
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { VerificationError } from "../errors.ts";
import { parseDigest } from "./digest_syntax.ts";

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
