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
