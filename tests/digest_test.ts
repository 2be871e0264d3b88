import { assertEquals, assertMatch, assertRejects, assertThrows } from "./_assert.ts";
import { digestOf, verifyingStream } from "../lib/model/digest.ts";
import { parseDigest } from "../lib/model/digest_syntax.ts";
import { InvalidInputError, VerificationError } from "../lib/errors.ts";

const hello = new TextEncoder().encode("hello");
const HELLO_SHA256 = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  return ReadableStream.from(chunks.map((chunk) => new TextEncoder().encode(chunk)));
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let total = 0;
  for await (const chunk of stream) total += chunk.byteLength;
  return total;
}

Deno.test("digestOf and parseDigest", () => {
  assertEquals(digestOf(hello), HELLO_SHA256);
  assertMatch(digestOf(hello, "sha512"), /^sha512:[0-9a-f]{128}$/);
  assertEquals(parseDigest(HELLO_SHA256), { algorithm: "sha256", hex: HELLO_SHA256.slice(7) });
  for (const bad of ["sha256:abc", "md5:" + "a".repeat(32), "sha256:" + "A".repeat(64), "x", ""]) {
    assertThrows(() => parseDigest(bad), InvalidInputError);
  }
  // A digest can never name a path outside the store.
  assertThrows(() => parseDigest("sha256:../../etc/passwd"), InvalidInputError);
});

Deno.test("verifyingStream passes matching content and stops the rest", async (t) => {
  await t.step("matching digest and size", async () => {
    assertEquals(
      await drain(streamOf("he", "llo").pipeThrough(verifyingStream(HELLO_SHA256, 5, "x"))),
      5,
    );
  });
  await t.step("another digest", async () => {
    await assertRejects(
      () =>
        drain(streamOf("hellO").pipeThrough(verifyingStream(HELLO_SHA256, 5, "Cannot accept x"))),
      VerificationError,
      /^Cannot accept x/,
    );
  });
  await t.step("more bytes than announced fail before the end", async () => {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(4));
      },
    });
    await assertRejects(
      () => drain(endless.pipeThrough(verifyingStream(HELLO_SHA256, 5, "x"))),
      VerificationError,
    );
    assertEquals(pulled < 10, true);
  });
  await t.step("fewer bytes than announced", async () => {
    await assertRejects(
      () => drain(streamOf("hell").pipeThrough(verifyingStream(HELLO_SHA256, 5, "x"))),
      VerificationError,
    );
  });
});
