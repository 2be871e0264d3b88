/**
 * A blob body that survives the transfer breaking: on a reset, a body that
 * ends early or no byte for the stall timeout, it asks again for the rest
 * (`Range: bytes=N-`) and carries on from the byte it reached, so the
 * consumer sees one unbroken stream. A `206` must start at that byte; a
 * `200` (no range support) is read again from the start, with the bytes
 * already passed on dropped.
 *
 * @module
 */

import { DenockerError, NetworkError } from "../errors.ts";
import { networkError } from "./_network_error.ts";
import { continuedStream, dropBytes } from "./_continued_stream.ts";

/** What a resumable body needs besides its first response. */
export interface ResumableBodyOptions {
  /** The blob's size: a body that ends before it broke off. */
  size: number;
  /** The byte the first response starts at (a continued download). */
  start: number;
  /** What is done, for messages, e.g. "fetch blob sha256:… of registry/repo". */
  action: string;
  /** The host (and port) asked, for messages. */
  host: string;
  /** Milliseconds without a byte before the transfer counts as broken. */
  stallTimeout: number;
  /** Asks again from `offset`; its answer must start there (206) or be the whole blob (200). */
  open(offset: number): Promise<Response>;
  /** Waits before another attempt, or throws when none is left (the retry policy). */
  pause(failures: number, error: unknown): Promise<void>;
  /** Ends it. */
  signal?: AbortSignal;
}

/**
 * The body of `first`, continued across breaks.
 *
 * @param first The first response.
 * @param options Size, start, how to ask again and when to give up.
 * @returns One unbroken stream of the blob's bytes from `start`.
 */
export function resumableBody(
  first: Response,
  options: ResumableBodyOptions,
): ReadableStream<Uint8Array> {
  const { signal, start, size, action, host, stallTimeout } = options;
  /** A response's body from `offset`: a 200 is the whole blob again, its repeat dropped. */
  const from = (response: Response, offset: number) =>
    dropBytes(bodyOf(response), offset > 0 && response.status !== 206 ? offset : 0);
  let failures = 0;
  return continuedStream(from(first, start), {
    start,
    read: (reader) =>
      readWithin(reader, stallTimeout, (error) => {
        if (error instanceof DenockerError || signal?.aborted) return error;
        return networkError(error, action, host);
      }),
    end(offset) {
      if (offset < size) {
        throw networkError(
          new Error(`the body ended after ${offset} of ${size} bytes`),
          action,
          host,
        );
      }
    },
    async reopen(offset, error) {
      failures++;
      if (signal?.aborted || !(error instanceof NetworkError)) throw error;
      await options.pause(failures, error);
      return from(await options.open(offset), offset);
    },
  });
}

/** A response's body; an empty stream for none. */
function bodyOf(response: Response): ReadableStream<Uint8Array> {
  return response.body ?? ReadableStream.from<Uint8Array>([]);
}

/**
 * Reads a chunk, or fails once no byte came for `stallTimeout` ms; a failure
 * is passed through `failure` first.
 */
async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  stallTimeout: number,
  failure: (error: unknown) => unknown,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new DOMException(`stalled: no byte for ${stallTimeout / 1000} s`, "TimeoutError"));
    }, stallTimeout);
  });
  try {
    return await Promise.race([reader.read(), stalled]);
  } catch (error) {
    throw failure(error);
  } finally {
    clearTimeout(timer);
  }
}
