/**
 * The one writer of blobs into the content store. It appends to an open
 * file while hashing, knows how many bytes it holds (`offset`), and on
 * commit verifies size and digest, syncs, and renames the file into place.
 * A continued download's writer starts with the bytes already on disk,
 * hashed by the store itself when it was opened: callers only ever write
 * what comes after `offset`.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { StreamVerifier } from "../model/digest.ts";
import { syncDirectory } from "../io/atomic_file.ts";

/** An open, not yet committed blob. */
export interface BlobWriter {
  /** Bytes held so far: those on disk when it was opened, then those written. */
  readonly offset: number;
  /** Appends a chunk at `offset`; fails as soon as more bytes than announced arrive. */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Verifies digest and size, syncs, and moves the blob into place. On a
   * mismatch the file is removed (a continued download starts again from
   * zero) and the error thrown.
   */
  commit(): Promise<void>;
  /** Closes it: a temp file is removed, a partial kept. Safe after a failed commit. */
  abort(): Promise<void>;
}

/** Where a writer writes and what it must produce. */
export interface BlobWriterOptions {
  /** The blob's digest. */
  digest: string;
  /** Its size, when known. */
  size?: number;
  /** The file written: a temp file, or a download's partial file. */
  path: string;
  /** Where the blob goes on commit. */
  target: string;
  /** Whether an abort keeps the file (a partial, continued next time). */
  keepOnAbort: boolean;
  /** Called once the writer is done with the file (a lock's release). */
  release?: () => void;
}

/** Bytes hashed at a time when a partial file is read back. */
const REHASH_CHUNK_BYTES = 1024 * 1024;

/**
 * Opens a writer on `options.path`, which it creates if absent. Bytes
 * already in the file are hashed first (they count towards `offset`); a
 * file longer than the blob's size is emptied.
 *
 * @param options The file, the target and what the blob must be.
 * @returns The writer, holding the file's bytes.
 */
export async function openBlobWriter(options: BlobWriterOptions): Promise<BlobWriter> {
  const { digest, size, path, target } = options;
  const verifier = new StreamVerifier(digest, size, `Cannot store blob ${digest}`);
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o644 });
  let offset: number;
  try {
    offset = (await file.stat()).size;
    if (size !== undefined && offset > size) {
      await file.truncate(0);
      offset = 0;
    }
    await rehash(file, offset, verifier);
    await file.seek(offset, Deno.SeekMode.Start);
  } catch (error) {
    file.close();
    throw error;
  }
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    file.close();
    options.release?.();
  };
  return {
    get offset() {
      return verifier.size;
    },
    write(chunk) {
      verifier.update(chunk);
      // Synchronous: a write into the page cache is shorter than an async call's round trip.
      let rest = chunk;
      while (rest.byteLength > 0) rest = rest.subarray(file.writeSync(rest));
      return Promise.resolve();
    },
    async commit() {
      try {
        verifier.finish();
      } catch (error) {
        close();
        await Deno.remove(path).catch(() => {});
        throw error;
      }
      try {
        await file.sync();
        const directory = join(target, "..");
        await Deno.mkdir(directory, { recursive: true });
        await Deno.rename(path, target);
        await syncDirectory(directory);
      } finally {
        // Only once the blob is in place: a process waiting on the lock then finds it stored.
        close();
      }
    },
    async abort() {
      close();
      if (!options.keepOnAbort) await Deno.remove(path).catch(() => {});
    },
  };
}

/** Hashes the first `length` bytes of `file` (read from its start). */
async function rehash(file: Deno.FsFile, length: number, verifier: StreamVerifier): Promise<void> {
  if (length === 0) return;
  await file.seek(0, Deno.SeekMode.Start);
  const buffer = new Uint8Array(Math.min(REHASH_CHUNK_BYTES, length));
  let left = length;
  while (left > 0) {
    const read = await file.read(buffer.subarray(0, Math.min(buffer.byteLength, left)));
    if (read === null) throw new Error(`the partial file ended ${left} bytes early`);
    verifier.update(buffer.subarray(0, read));
    left -= read;
  }
}
