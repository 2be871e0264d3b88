import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "./_assert.ts";
import { listFiles, tempDir } from "./_fake_registry.ts";
import { ContentStore } from "../lib/store/content_store.ts";
import { digestOf } from "../lib/model/digest.ts";
import { InvalidInputError, VerificationError } from "../lib/errors.ts";

const bytes = new TextEncoder().encode("some blob content");
const digest = digestOf(bytes);

Deno.test("the content store keeps only verified blobs", async (t) => {
  await using root = await tempDir();
  const store = new ContentStore(root.path);
  await t.step("a blob is stored under its digest, readable and listed", async () => {
    assertEquals(await store.putBytes(bytes), digest);
    assert(await store.has(digest, bytes.byteLength));
    assert(!(await store.has(digest, bytes.byteLength + 1)), "a wrong size counts as absent");
    assertEquals(await store.readBytes(digest), bytes);
    assertEquals(await store.list(), [digest]);
  });
  await t.step("content with another digest is refused and leaves nothing", async () => {
    const other = digestOf(new TextEncoder().encode("other"));
    await assertRejects(
      () => store.put(ReadableStream.from([bytes]), { digest: other, size: bytes.byteLength }),
      VerificationError,
    );
    assert(!(await store.has(other)));
    assertEquals(await listFiles(root.path, "tmp"), []);
  });
  await t.step("an aborted ingest leaves no temp file", async () => {
    const writer = await store.ingest(digest, bytes.byteLength);
    await writer.write(bytes.subarray(0, 4));
    await writer.abort();
    assertEquals(await listFiles(root.path, "tmp"), []);
  });
  await t.step("a hostile digest never names a path", () => {
    assertThrows(() => store.path("sha256:../../../etc/passwd"), InvalidInputError);
  });
  await t.step("delete removes a blob; deleting twice is fine", async () => {
    await store.delete(digest);
    await store.delete(digest);
    assertEquals(await store.list(), []);
    assertEquals(await listFiles(join(root.path, "blobs")), []);
  });
});
