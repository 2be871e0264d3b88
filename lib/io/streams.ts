/**
 * Small stream plumbing shared by the tar reader, the tar writer and pull.
 *
 * @module
 */

/**
 * A byte stream pulled from an async generator, one chunk per pull;
 * cancelling it returns the generator (running its `finally`).
 *
 * @param chunks The generator.
 * @returns The stream.
 */
export function streamFrom(chunks: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await chunks.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await chunks.return(undefined);
    },
  }, { highWaterMark: 0 });
}

/**
 * The stream, ending with `signal`'s reason the moment it aborts, even while
 * a read is pending (a pipe or terminal that sends nothing would otherwise
 * hold the reader until it does).
 *
 * @param stream The source.
 * @param signal Ends it.
 * @returns The same bytes.
 */
export function untilAborted(
  stream: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  if (!signal) return stream;
  const reader = stream.getReader();
  let abort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    abort = () => reject(signal.reason);
    if (signal.aborted) abort();
    else signal.addEventListener("abort", abort, { once: true });
  });
  aborted.catch(() => {});
  const done = () => signal.removeEventListener("abort", abort!);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: ended, value } = await Promise.race([reader.read(), aborted]);
        if (ended) {
          done();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        done();
        // The pending read is left to the source; it is not awaited.
        reader.cancel(error).catch(() => {});
        controller.error(error);
      }
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** What a stream's first bytes say it is. */
export type Sniffed = "empty" | "gzip" | "zstd" | "other";

/**
 * Reads the first bytes of a stream to tell gzip and zstd from the rest,
 * and gives back a stream of every byte, the ones read included.
 *
 * @param stream The source.
 * @returns What it starts with, and the whole stream.
 */
export async function sniff(
  stream: ReadableStream<Uint8Array>,
): Promise<{ kind: Sniffed; stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const head: Uint8Array[] = [];
  let length = 0;
  while (length < 4) {
    const { done, value } = await reader.read();
    if (done) break;
    head.push(value);
    length += value.byteLength;
  }
  const first = new Uint8Array(Math.min(length, 4));
  let filled = 0;
  for (const chunk of head) {
    if (filled === first.byteLength) break;
    const take = chunk.subarray(0, first.byteLength - filled);
    first.set(take, filled);
    filled += take.byteLength;
  }
  const kind: Sniffed = length === 0
    ? "empty"
    : first[0] === 0x1f && first[1] === 0x8b
    ? "gzip"
    : first[0] === 0x28 && first[1] === 0xb5 && first[2] === 0x2f && first[3] === 0xfd
    ? "zstd"
    : "other";
  async function* all(): AsyncGenerator<Uint8Array> {
    let ended = false;
    try {
      yield* head;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        yield value;
      }
      ended = true;
    } finally {
      // Stopped early: the source is stopped too.
      if (!ended) await reader.cancel().catch(() => {});
    }
  }
  return { kind, stream: streamFrom(all()) };
}

/**
 * Frees a chunk's memory now, rather than at V8's next collection, when
 * the chunk is the last part of its buffer: its buffer is detached, and
 * every view of it becomes empty. Only for chunks no one reads again (each
 * chunk before it in the same buffer already consumed).
 *
 * @param chunk A chunk just consumed.
 */
export function releaseChunk(chunk: Uint8Array): void {
  const buffer = chunk.buffer;
  if (!(buffer instanceof ArrayBuffer) || buffer.resizable || buffer.detached) return;
  // An empty view frees nothing, and one at the buffer's end must not take its neighbours.
  if (chunk.byteLength === 0 || chunk.byteOffset + chunk.byteLength !== buffer.byteLength) return;
  try {
    buffer.transfer(0);
  } catch {
    // A buffer that cannot be detached (Wasm memory) is left to the collector.
  }
}
