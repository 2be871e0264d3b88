/**
 * The content-addressed blob store: `<root>/blobs/<algorithm>/<hex>`.
 * Blobs are written to a temp file under `<root>/tmp`, hashed as they
 * arrive, synced, and renamed into place only when digest and size match.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { parseDigest } from "../model/digest_syntax.ts";
import { syncDirectory, tempName } from "../io/atomic_file.ts";
import { readDirIfExists, removeIfExists } from "../io/fs.ts";
import { acquireLock } from "../io/lock.ts";
import { rootLayout } from "./layout.ts";
import type { BlobWriter, BlobWriterOptions } from "./_blob_writer.ts";

export type { BlobWriter };

/**
 * The blob store under a denocker root.
 *
 * @example
 * ```ts
 * import { ContentStore } from "./content_store.ts";
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
    this.#tempDirectory = options.tempDirectory ?? rootLayout(root).tmp;
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
    return join(rootLayout(this.root).blobs, algorithm, hex);
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
    await Deno.mkdir(this.tempDirectory, { recursive: true, mode: 0o700 });
    const path = join(this.tempDirectory, tempName("blob"));
    return await openWriter({ digest, size, path, target, keepOnAbort: false });
  }

  /**
   * Where a blob being downloaded keeps the bytes it has so far, across
   * runs: `<root>/partial/<algorithm>/<hex>`.
   *
   * @param digest The blob's digest.
   * @returns The partial file's path.
   */
  partialPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(rootLayout(this.root).partial, algorithm, hex);
  }

  /**
   * Starts or continues downloading a blob into its partial file. The blob
   * is locked for this process until commit or abort (a second process
   * waits, then finds the blob stored or continues the partial). The
   * writer starts with the bytes already there, hashed again from disk:
   * write the blob from its `offset` on. An abort keeps the partial for the
   * next pull; a digest mismatch at commit removes it.
   *
   * @param digest The digest the blob must have.
   * @param size Its size.
   * @param options What to call while another process holds the blob.
   * @returns The writer, or undefined when another process stored the blob meanwhile.
   */
  async resume(
    digest: string,
    size: number,
    options: { onWait?: () => void } = {},
  ): Promise<BlobWriter | undefined> {
    const path = this.partialPath(digest);
    await Deno.mkdir(join(path, ".."), { recursive: true, mode: 0o700 });
    const release = await acquireLock(`${path}.lock`, { exclusive: true, onWait: options.onWait });
    try {
      // Another process may have stored it while this one waited for the lock.
      if (await this.has(digest, size)) {
        release();
        return undefined;
      }
      const target = this.path(digest);
      return await openWriter({ digest, size, path, target, keepOnAbort: true, release });
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * Reads back the first bytes of a download's partial file (while its
   * writer is open: the bytes a continued download passes on again).
   *
   * @param digest The blob's digest.
   * @param length How many bytes, at most the writer's offset.
   * @returns Those bytes.
   */
  async readPartial(digest: string, length: number): Promise<ReadableStream<Uint8Array>> {
    if (length === 0) return ReadableStream.from<Uint8Array>([]);
    const file = await Deno.open(this.partialPath(digest), { read: true });
    let left = length;
    // The writer appends past `length`: the stream stops there.
    return file.readable.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          if (left <= 0) return;
          controller.enqueue(chunk.byteLength <= left ? chunk : chunk.subarray(0, left));
          left -= chunk.byteLength;
        },
      }),
    );
  }

  /**
   * Moves a file whose digest and size were checked by the caller into the
   * store (same file system), synced; a blob already stored is kept.
   *
   * @param path The file (it is moved).
   * @param digest Its digest.
   */
  async adopt(path: string, digest: string): Promise<void> {
    const target = this.path(digest);
    if (await this.has(digest)) return;
    const file = await Deno.open(path, { read: true, write: true });
    try {
      await file.sync();
    } finally {
      file.close();
    }
    const directory = join(target, "..");
    await Deno.mkdir(directory, { recursive: true });
    await Deno.rename(path, target);
    await syncDirectory(directory);
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
    const expected = digest ?? (await import("../model/digest.ts")).digestOf(bytes);
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
      for (const entry of await readDirIfExists(join(rootLayout(this.root).blobs, algorithm))) {
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

/**
 * Opens a blob writer, its code (and node:crypto's) loaded on the first
 * write: reading the store, as a container's start does, needs neither.
 */
async function openWriter(options: BlobWriterOptions): Promise<BlobWriter> {
  const { openBlobWriter } = await import("./_blob_writer.ts");
  return await openBlobWriter(options);
}
