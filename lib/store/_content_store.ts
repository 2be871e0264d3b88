/**
 * The content-addressed blob store: `<root>/blobs/<algorithm>/<hex>`.
 * Blobs are written to a temp file under `<root>/tmp`, hashed as they
 * arrive, synced, and renamed into place only when digest and size match.
 *
 * @module
 */

import { join } from "node:path";
import { digestOf, parseDigest, StreamVerifier } from "../model/digest.ts";
import { syncDirectory, tempName } from "./_atomic_file.ts";
import { readDirIfExists, removeIfExists } from "./_fs.ts";

/** An open, not yet committed blob. */
export interface BlobWriter {
  /** Appends a chunk; fails as soon as more bytes than announced arrive. */
  write(chunk: Uint8Array): Promise<void>;
  /** Verifies digest and size, syncs, and moves the blob into place. */
  commit(): Promise<void>;
  /** Drops the temp file. Safe to call after a failed commit. */
  abort(): Promise<void>;
}

/**
 * The blob store under a denocker root.
 *
 * @example
 * ```ts
 * import { ContentStore } from "./_content_store.ts";
 * const store = new ContentStore("/tmp/denocker-example");
 * const digest = await store.putBytes(new TextEncoder().encode("hello"));
 * console.log(await store.has(digest)); // true
 * ```
 */
export class ContentStore {
  /** The denocker root this store lives in. */
  readonly root: string;
  readonly #tempDirectory: string;

  /**
   * Opens the store; directories are made when first written.
   *
   * @param root The denocker root directory.
   * @param options Where temp files go: `<root>/tmp` by default; it must be
   *   on the same file system as the store.
   */
  constructor(root: string, options: { tempDirectory?: string } = {}) {
    this.root = root;
    this.#tempDirectory = options.tempDirectory ?? join(root, "tmp");
  }

  /** Directory for temp files (same file system as the blobs). */
  get tempDirectory(): string {
    return this.#tempDirectory;
  }

  /**
   * Where a blob is stored. The digest is validated first, so a hostile
   * digest can never name a path outside the store.
   *
   * @param digest The blob's digest.
   * @returns Its path.
   */
  path(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.root, "blobs", algorithm, hex);
  }

  /**
   * Whether a blob is present (with the right size, when given).
   *
   * @param digest The blob's digest.
   * @param size The expected size.
   * @returns True when present.
   */
  async has(digest: string, size?: number): Promise<boolean> {
    try {
      const info = await Deno.stat(this.path(digest));
      return info.isFile && (size === undefined || info.size === size);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /**
   * Starts writing a blob.
   *
   * @param digest The digest it must have.
   * @param size The size it must have.
   * @returns A writer to feed and commit.
   */
  async ingest(digest: string, size?: number): Promise<BlobWriter> {
    const target = this.path(digest);
    const verifier = new StreamVerifier(digest, size, `Cannot store blob ${digest}`);
    await Deno.mkdir(this.tempDirectory, { recursive: true, mode: 0o700 });
    const temp = join(this.tempDirectory, tempName("blob"));
    const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o644 });
    let closed = false;
    const close = () => {
      if (!closed) {
        closed = true;
        file.close();
      }
    };
    return {
      async write(chunk) {
        verifier.update(chunk);
        let written = 0;
        while (written < chunk.byteLength) written += await file.write(chunk.subarray(written));
      },
      async commit() {
        verifier.finish();
        await file.sync();
        close();
        const directory = join(target, "..");
        await Deno.mkdir(directory, { recursive: true });
        await Deno.rename(temp, target);
        await syncDirectory(directory);
      },
      async abort() {
        close();
        await Deno.remove(temp).catch(() => {});
      },
    };
  }

  /**
   * Stores a stream as a blob, verifying it.
   *
   * @param stream The content.
   * @param descriptor The digest and size it must have.
   */
  async put(
    stream: ReadableStream<Uint8Array>,
    descriptor: { digest: string; size?: number },
  ): Promise<void> {
    const writer = await this.ingest(descriptor.digest, descriptor.size);
    try {
      for await (const chunk of stream) await writer.write(chunk);
      await writer.commit();
    } catch (error) {
      await writer.abort();
      throw error;
    }
  }

  /**
   * Stores bytes held in memory (manifests, configs).
   *
   * @param bytes The content.
   * @param digest The digest it must have; computed (sha256) when absent.
   * @returns The digest.
   */
  async putBytes(bytes: Uint8Array, digest?: string): Promise<string> {
    const expected = digest ?? digestOf(bytes);
    if (await this.has(expected, bytes.byteLength)) return expected;
    await this.put(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(), {
      digest: expected,
      size: bytes.byteLength,
    });
    return expected;
  }

  /**
   * Reads a whole blob into memory; for small blobs only.
   *
   * @param digest The blob's digest.
   * @returns Its bytes.
   */
  readBytes(digest: string): Promise<Uint8Array> {
    return Deno.readFile(this.path(digest));
  }

  /**
   * Opens a blob for streaming.
   *
   * @param digest The blob's digest.
   * @returns Its content stream.
   */
  async open(digest: string): Promise<ReadableStream<Uint8Array>> {
    const file = await Deno.open(this.path(digest), { read: true });
    return file.readable;
  }

  /**
   * Deletes a blob; absent blobs are fine.
   *
   * @param digest The blob's digest.
   */
  async delete(digest: string): Promise<void> {
    await removeIfExists(this.path(digest));
  }

  /**
   * Lists every stored blob's digest.
   *
   * @returns Digests.
   */
  async list(): Promise<string[]> {
    const digests: string[] = [];
    for (const algorithm of ["sha256", "sha512"]) {
      for (const entry of await readDirIfExists(join(this.root, "blobs", algorithm))) {
        const digest = `${algorithm}:${entry.name}`;
        try {
          parseDigest(digest);
          digests.push(digest);
        } catch {
          // Not a blob (stray file); prune leaves it for a human to look at.
        }
      }
    }
    return digests;
  }
}
