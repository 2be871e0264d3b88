import { assertEquals } from "./_assert.ts";
import { releaseChunk } from "../lib/io/streams.ts";

Deno.test("releaseChunk frees a buffer through its last chunk, never through an empty view", () => {
  const buffer = new ArrayBuffer(16);
  const first = new Uint8Array(buffer, 0, 8);
  const last = new Uint8Array(buffer, 8, 8);
  first.fill(1);
  // An empty view at the buffer's end: the first chunk is still being read.
  releaseChunk(new Uint8Array(buffer, 16, 0));
  assertEquals(first.byteLength, 8);
  assertEquals(first[0], 1);
  // A chunk that does not end the buffer leaves it alone.
  releaseChunk(first);
  assertEquals(last.byteLength, 8);
  // The last chunk frees the whole buffer: every view of it is empty.
  releaseChunk(last);
  assertEquals(buffer.byteLength, 0);
  assertEquals(first.byteLength, 0);
});
