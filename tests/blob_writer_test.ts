/**
 * The content store's writer: it knows how many bytes it holds, and a
 * continued download's writer hashes what is on disk itself, so a caller
 * writes only the rest (as containerd's writer keeps an offset).
 */

import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { ContentStore } from "../lib/store/content_store.ts";
import { digestOf } from "../lib/model/digest.ts";
import { VerificationError } from "../lib/errors.ts";

const blob = new TextEncoder().encode("a blob downloaded in two parts, across two runs");
const digest = digestOf(blob);

Deno.test("a continued download's writer holds the partial's bytes and takes only the rest", async (t) => {
  await using root = await tempDir();
  const store = new ContentStore(root.path);

  await t.step("a fresh writer holds nothing; an abort keeps what it wrote", async () => {
    const writer = (await store.resume(digest, blob.byteLength))!;
    assertEquals(writer.offset, 0);
    await writer.write(blob.subarray(0, 20));
    assertEquals(writer.offset, 20);
    await writer.abort();
    assertEquals((await Deno.stat(store.partialPath(digest))).size, 20);
  });

  await t.step("the next writer starts at the kept bytes; the rest alone commits", async () => {
    const writer = (await store.resume(digest, blob.byteLength))!;
    assertEquals(writer.offset, 20);
    const held = await new Response(await store.readPartial(digest, writer.offset)).bytes();
    assertEquals(held, blob.subarray(0, 20));
    await writer.write(blob.subarray(20));
    await writer.commit();
    assertEquals(await store.readBytes(digest), blob);
    assertEquals(await Deno.stat(store.partialPath(digest)).catch(() => undefined), undefined);
  });

  await t.step("a stored blob needs no writer", async () => {
    assertEquals(await store.resume(digest, blob.byteLength), undefined);
  });
});

Deno.test("a partial whose kept bytes are wrong fails its commit and is started over", async () => {
  await using root = await tempDir();
  const store = new ContentStore(root.path);
  const partial = store.partialPath(digest);
  await Deno.mkdir(join(partial, ".."), { recursive: true });
  await Deno.writeFile(partial, new TextEncoder().encode("not the blob's first bytes"));

  const writer = (await store.resume(digest, blob.byteLength))!;
  assertEquals(writer.offset, 26);
  await writer.write(blob.subarray(26));
  await assertRejects(() => writer.commit(), VerificationError);
  assert(!(await store.has(digest)), "a wrong blob was stored");
  assertEquals(await Deno.stat(partial).catch(() => undefined), undefined);

  const again = (await store.resume(digest, blob.byteLength))!;
  assertEquals(again.offset, 0);
  await again.write(blob);
  await again.commit();
  assertEquals(await store.readBytes(digest), blob);
});

Deno.test("a partial longer than the blob is emptied", async () => {
  await using root = await tempDir();
  const store = new ContentStore(root.path);
  const partial = store.partialPath(digest);
  await Deno.mkdir(join(partial, ".."), { recursive: true });
  await Deno.writeFile(partial, new Uint8Array(blob.byteLength + 1));
  const writer = (await store.resume(digest, blob.byteLength))!;
  assertEquals(writer.offset, 0);
  await writer.write(blob);
  await writer.commit();
  assertEquals(await store.readBytes(digest), blob);
});
