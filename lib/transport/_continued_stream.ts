/**
 * A byte stream that carries on across breaks: when a read fails (or the
 * stream ends too early), it asks for a new stream from the byte reached
 * and goes on reading that one, so the consumer sees one unbroken stream.
 * A registry's resumable blob body asks the same registry again with
 * `Range`; a mirrored registry asks the next mirror.
 *
 * @module
 */

/** How a continued stream reads, ends and carries on. */
export interface ContinuedStreamOptions {
  /** The byte the first stream starts at. */
  start: number;
  /** Reads a chunk (e.g. with a stall timeout); a throw is a break. By default, `reader.read()`. */
  read?(
    reader: ReadableStreamDefaultReader<Uint8Array>,
  ): Promise<ReadableStreamReadResult<Uint8Array>>;
  /** Called when a stream ends at `offset`; a throw (it ended too early) is a break. */
  end?(offset: number): void;
  /**
   * A stream of the bytes from `offset` on, after `error` broke the last one;
   * throws (`error`, typically) to end the continued stream with it.
   */
  reopen(offset: number, error: unknown): Promise<ReadableStream<Uint8Array>>;
}

/**
 * `first`, continued across breaks.
 *
 * @param first The stream of the bytes from `options.start`.
 * @param options How to read, when the end is early, and how to carry on.
 * @returns One unbroken stream.
 */
export function continuedStream(
  first: ReadableStream<Uint8Array>,
  options: ContinuedStreamOptions,
): ReadableStream<Uint8Array> {
  const read = options.read ?? ((reader) => reader.read());
  let reader = first.getReader();
  let offset = options.start;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        try {
          const { done, value } = await read(reader);
          if (done) {
            options.end?.(offset);
            return controller.close();
          }
          offset += value.byteLength;
          return controller.enqueue(value);
        } catch (error) {
          reader.cancel().catch(() => {});
          reader = (await options.reopen(offset, error)).getReader();
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * The bytes of `stream` past its first `count` (a server that answered a
 * `Range` request with the whole content).
 *
 * @param stream The whole content.
 * @param count Bytes to drop.
 * @returns The rest.
 */
export function dropBytes(
  stream: ReadableStream<Uint8Array>,
  count: number,
): ReadableStream<Uint8Array> {
  if (count === 0) return stream;
  let left = count;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (left >= chunk.byteLength) {
          left -= chunk.byteLength;
          return;
        }
        controller.enqueue(left > 0 ? chunk.subarray(left) : chunk);
        left = 0;
      },
    }),
  );
}
