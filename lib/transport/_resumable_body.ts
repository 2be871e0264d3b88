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
  let reader = (first.body ?? new Blob([]).stream()).getReader();
  let offset = start;
  /** Bytes of a restarted (200) body still to drop. */
  let skip = start > 0 && first.status !== 206 ? start : 0;
  let failures = 0;
  const read = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(networkError(
          new DOMException(`stalled: no byte for ${stallTimeout / 1000} s`, "TimeoutError"),
          action,
          host,
        ));
      }, stallTimeout);
    });
    try {
      return await Promise.race([reader.read(), stalled]);
    } catch (error) {
      if (error instanceof DenockerError || signal?.aborted) throw error;
      throw networkError(error, action, host);
    } finally {
      clearTimeout(timer);
    }
  };
  const resume = async (error: unknown) => {
    failures++;
    if (signal?.aborted || !(error instanceof NetworkError)) throw error;
    reader.cancel().catch(() => {});
    await options.pause(failures, error);
    const response = await options.open(offset);
    // A 200 is the whole blob again: drop what was already passed on.
    skip = response.status === 206 ? 0 : offset;
    reader = (response.body ?? new Blob([]).stream()).getReader();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        try {
          const { done, value } = await read();
          if (done) {
            if (offset < size) {
              throw networkError(
                new Error(`the body ended after ${offset} of ${size} bytes`),
                action,
                host,
              );
            }
            controller.close();
            return;
          }
          let chunk = value;
          if (skip > 0) {
            const dropped = Math.min(skip, chunk.byteLength);
            skip -= dropped;
            chunk = chunk.subarray(dropped);
            if (chunk.byteLength === 0) continue;
          }
          offset += chunk.byteLength;
          controller.enqueue(chunk);
          return;
        } catch (error) {
          await resume(error);
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
