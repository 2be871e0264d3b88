/**
 * The content-addressed blob store: `<root>/blobs/<algorithm>/<hex>`.
 * Blobs are written to a temp file under `<root>/tmp`, hashed as they
 * arrive, synced, and renamed into place only when digest and size match.
 *
 * @module
 */

import { join } from "node:path";
import { digestOf, parseDigest, StreamVerifier } from "../model/digest.ts";
import { syncDirectory, tempName } from "../io/atomic_file.ts";
import { readDirIfExists, removeIfExists } from "../io/fs.ts";
import { acquireLock } from "../io/lock.ts";
import { rootLayout } from "./layout.ts";

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
   * waits, then finds the blob stored or continues the partial). The bytes
   * already there are handed back as `prefix`: feed them to the writer
   * again (they are hashed, not rewritten), then the rest of the blob from
   * `offset`. An abort keeps the partial for the next pull; a digest
   * mismatch at commit removes it.
   *
   * @param digest The digest the blob must have.
   * @param size Its size.
   * @param options What to call while another process holds the blob.
   * @returns The offset reached, the prefix, the writer.
   */
  async resume(
    digest: string,
    size: number,
    options: { onWait?: () => void } = {},
  ): Promise<
    { offset: number; prefix: ReadableStream<Uint8Array>; writer: BlobWriter } | undefined
  > {
    const path = this.partialPath(digest);
    await Deno.mkdir(join(path, ".."), { recursive: true, mode: 0o700 });
    const release = await acquireLock(`${path}.lock`, { exclusive: true, onWait: options.onWait });
    let file: Deno.FsFile;
    let offset: number;
    try {
      // Another process may have stored it while this one waited for the lock.
      if (await this.has(digest, size)) {
        release();
        return undefined;
      }
      file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o644 });
      offset = (await file.stat()).size;
      if (offset > size) {
        await file.truncate(0);
        offset = 0;
      }
      await file.seek(offset, Deno.SeekMode.Start);
    } catch (error) {
      release();
      throw error;
    }
    const prefix = offset === 0
      ? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() })
      : (await Deno.open(path, { read: true })).readable.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          // The file may have grown past the offset by now only through this writer; stop there.
          transform: (() => {
            let left = offset;
            return (chunk, controller) => {
              if (left <= 0) return;
              controller.enqueue(chunk.byteLength <= left ? chunk : chunk.subarray(0, left));
              left -= chunk.byteLength;
            };
          })(),
        }),
      );
    const verifier = new StreamVerifier(digest, size, `Cannot store blob ${digest}`);
    let position = 0;
    let closed = false;
    const close = () => {
      if (!closed) {
        closed = true;
        file.close();
      }
    };
    const target = this.path(digest);
    return {
      offset,
      prefix,
      writer: {
        async write(chunk) {
          verifier.update(chunk);
          const start = position;
          position += chunk.byteLength;
          if (position <= offset) return; // Already on disk: hashed again, not rewritten.
          let fresh = start < offset ? chunk.subarray(offset - start) : chunk;
          while (fresh.byteLength > 0) fresh = fresh.subarray(await file.write(fresh));
        },
        async commit() {
          try {
            verifier.finish();
          } catch (error) {
            // The bytes kept were wrong (or the blob is): the next pull starts from zero.
            close();
            await Deno.remove(path).catch(() => {});
            release();
            throw error;
          }
          try {
            await file.sync();
            close();
            const directory = join(target, "..");
            await Deno.mkdir(directory, { recursive: true });
            await Deno.rename(path, target);
            await syncDirectory(directory);
          } finally {
            // Only once the blob is in place: a waiting process then finds it stored.
            release();
          }
        },
        abort() {
          // Kept: the next pull continues from here.
          close();
          release();
          return Promise.resolve();
        },
      },
    };
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
