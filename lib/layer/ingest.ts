/**
 * One layer's way from blob to extracted directory, streamed in one pass:
 * blob bytes -> (content store) and, on a worker thread where the worker's
 * module may be loaded, decompress -> diff_id check -> untar -> files in
 * staging, renamed into `layers/` only when everything verified.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { fileURLToPath } from "node:url";
import type { BlobWriter } from "../store/content_store.ts";
import { assertSupportedLayer } from "../archive/compression.ts";
import { DenockerError, ERROR_CLASSES } from "../errors.ts";
import type { ExtractOptions } from "./extract.ts";
import type { FromWorker, ToWorker } from "./_extract_worker.ts";
import type { LayerRecord, LayerStore } from "../store/layer_store.ts";
import type { Descriptor } from "../model/manifest.ts";
import {
  extractLayerBlob,
  type LayerExtractionPlan,
  type LayerExtractionResult,
} from "./pipeline.ts";

/** Options for {@link ingestLayer}. */
export interface IngestOptions {
  /** The layer blob's descriptor (media type, digest). */
  descriptor: Descriptor;
  /** The uncompressed digest the config promises. */
  diffId: string;
  /** Where the layer goes. */
  layers: LayerStore;
  /** A staging directory on the same file system as the store. */
  staging: string;
  /**
   * Receives the blob bytes too, when the blob is being downloaded, and verifies them: those
   * past its `offset` (a continued download's writer holds the first ones already).
   */
  blobWriter?: BlobWriter;
  /** Extraction limits and ownership. */
  extract?: ExtractOptions;
  /** Called with the count of blob bytes read so far. */
  onBytes?: (bytes: number) => void;
  /** Called once every blob byte was read, while extraction may still be finishing. */
  onBlobRead?: () => void;
  /** Stops the ingestion (the layer is then left behind nowhere). */
  signal?: AbortSignal;
}

/** Chunks in flight to the extraction; bounds memory, not speed. */
const CHUNKS_IN_FLIGHT = 16;

/** An extraction fed chunk by chunk, wherever it runs. */
interface LayerExtraction {
  /** Settles with the extraction's outcome. */
  readonly result: Promise<LayerExtractionResult>;
  /** Whether the extraction has finished (successfully or not). */
  readonly settled: boolean;
  /** Sends a chunk, waiting while too many are in flight. The chunk may be consumed. */
  write(chunk: Uint8Array): Promise<void>;
  /** Tells that the blob ended. */
  end(): void;
  /** Stops the extraction. */
  abort(): void;
}

const WORKER_URL = new URL("./_extract_worker.ts", import.meta.url);

/**
 * Blobs smaller than this are extracted on this thread: starting a worker
 * (an isolate, its modules) takes about 40 ms and 16 MiB, more than such a
 * layer's whole extraction (100 one-file layers: 1.1 s inline, 5 s on
 * workers).
 */
const INLINE_BELOW_BYTES = 1024 * 1024;

/**
 * Whether the extraction worker's module may be loaded without a permission
 * prompt. A worker needs read access to its own source (or import access
 * to its host), which a pull under narrow permissions (`--allow-read=ROOT`)
 * does not have; such pulls extract on the pulling thread instead.
 */
function workerAllowed(): boolean {
  try {
    const descriptor: Deno.PermissionDescriptor = WORKER_URL.protocol === "file:"
      ? { name: "read", path: fileURLToPath(WORKER_URL) }
      : { name: "import", host: WORKER_URL.host };
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/** An extraction running on a worker thread, fed with bounded credit. */
class WorkerExtraction implements LayerExtraction {
  readonly #worker: Worker;
  readonly result: Promise<LayerExtractionResult>;
  #inFlight = 0;
  #wake: (() => void) | undefined;
  #settled = false;

  constructor(plan: LayerExtractionPlan) {
    this.#worker = new Worker(WORKER_URL, { type: "module" });
    this.result = new Promise((resolve, reject) => {
      this.#worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const message = event.data;
        if (message.type === "consumed") {
          this.#inFlight -= message.chunks;
          this.#wake?.();
          return;
        }
        this.#settled = true;
        this.#wake?.();
        this.#worker.terminate();
        if (message.type === "done") resolve(message.result);
        // Only the name and message cross the boundary; the class is found again by its name.
        else reject(new (ERROR_CLASSES[message.name] ?? DenockerError)(message.message));
      };
      this.#worker.onerror = (event) => {
        event.preventDefault();
        this.#settled = true;
        this.#wake?.();
        this.#worker.terminate();
        reject(new DenockerError(`Cannot extract layer: ${event.message}`, { cause: event.error }));
      };
    });
    this.result.catch(() => {}); // Observed by the caller; avoid an unhandled rejection meanwhile.
    this.#worker.postMessage({ type: "start", ...plan } satisfies ToWorker);
  }

  get settled(): boolean {
    return this.#settled;
  }

  async write(chunk: Uint8Array): Promise<void> {
    while (this.#inFlight >= CHUNKS_IN_FLIGHT && !this.#settled) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    if (this.#settled) return;
    this.#inFlight++;
    // Handing the buffer over saves a copy (and empties `chunk`); a chunk that shares its
    // buffer is copied first.
    const own = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength
      ? chunk
      : chunk.slice();
    this.#worker.postMessage({ type: "chunk", chunk: own } satisfies ToWorker, [
      own.buffer as ArrayBuffer,
    ]);
  }

  end(): void {
    if (!this.#settled) this.#worker.postMessage({ type: "end" } satisfies ToWorker);
  }

  abort(): void {
    this.#settled = true;
    this.#wake?.();
    this.#worker.terminate();
  }
}

/** An extraction on this thread, for when no worker may be started. */
class InlineExtraction implements LayerExtraction {
  readonly result: Promise<LayerExtractionResult>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #settled = false;

  constructor(plan: LayerExtractionPlan) {
    const channel = new TransformStream<Uint8Array, Uint8Array>(
      undefined,
      { highWaterMark: CHUNKS_IN_FLIGHT },
      { highWaterMark: CHUNKS_IN_FLIGHT },
    );
    this.#writer = channel.writable.getWriter();
    this.result = extractLayerBlob(channel.readable, plan).finally(() => {
      this.#settled = true;
    });
    this.result.catch(() => {});
  }

  get settled(): boolean {
    return this.#settled;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#settled) return;
    await this.#writer.ready;
    this.#writer.write(chunk).catch(() => {});
  }

  end(): void {
    this.#writer.close().catch(() => {});
  }

  abort(): void {
    this.#settled = true;
    this.#writer.abort(new DenockerError("Cannot extract layer: aborted")).catch(() => {});
  }
}

/**
 * Streams a layer blob into the blob store (when a writer is given) and, at
 * the same time, to an extraction that decompresses it, checks its diff_id
 * and extracts it into staging (on a worker thread when the worker's module
 * may be loaded). The layer is committed to `layers/` only when the blob
 * digest, the diff_id and the extraction all succeeded; on any failure
 * nothing is left behind.
 *
 * Requires `--allow-read` and `--allow-write` (of the store).
 *
 * @param source The layer blob's bytes, from its first.
 * @param options Descriptor, diff_id, stores and staging.
 * @returns The stored layer's record.
 */
export async function ingestLayer(
  source: ReadableStream<Uint8Array>,
  options: IngestOptions,
): Promise<LayerRecord> {
  const { descriptor, diffId, blobWriter } = options;
  assertSupportedLayer(descriptor.mediaType);
  const staged = join(options.staging, `layer-${crypto.randomUUID()}`);
  const fsDirectory = join(staged, "fs");
  await Deno.mkdir(fsDirectory, { recursive: true, mode: 0o700 });
  const plan: LayerExtractionPlan = {
    directory: fsDirectory,
    mediaType: descriptor.mediaType,
    diffId,
    what: `Cannot accept layer ${descriptor.digest}: uncompressed content`,
    extract: options.extract,
  };
  const extraction: LayerExtraction = descriptor.size >= INLINE_BELOW_BYTES && workerAllowed()
    ? new WorkerExtraction(plan)
    : new InlineExtraction(plan);
  let result: LayerExtractionResult;
  try {
    let bytes = 0;
    // A continued download's writer already holds (and has hashed) the blob's first bytes.
    const held = blobWriter?.offset ?? 0;
    for await (const chunk of source) {
      options.signal?.throwIfAborted();
      // After an extraction failure a download is still hashed to its (announced, capped)
      // end: a corrupt blob is better reported as a digest mismatch than as a broken tar.
      if (extraction.settled && !blobWriter) break;
      const start = bytes;
      // Counted before the chunk is handed over: a worker takes its buffer.
      bytes += chunk.byteLength;
      if (bytes > held) {
        await blobWriter?.write(start >= held ? chunk : chunk.subarray(held - start));
      }
      await extraction.write(chunk);
      options.onBytes?.(bytes);
    }
    await blobWriter?.commit();
    options.onBlobRead?.();
    extraction.end();
    result = await extraction.result;
  } catch (error) {
    extraction.abort();
    await blobWriter?.abort();
    await Deno.remove(staged, { recursive: true }).catch(() => {});
    throw error;
  }
  const record: LayerRecord = {
    diffId,
    size: result.bytes,
    entries: result.entries,
    lowerLinks: result.lowerLinks,
    skipped: result.skipped,
    rootEntry: result.rootEntry,
    extractedFiles: result.extractedFiles,
  };
  try {
    await options.layers.commit(staged, record);
  } catch (error) {
    await Deno.remove(staged, { recursive: true }).catch(() => {});
    throw error;
  }
  return record;
}
