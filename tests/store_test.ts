import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { digestOf } from "../lib/model/digest.ts";
import { ImageInUseError, ImageNotFoundError, InvalidInputError } from "../lib/errors.ts";
import { type ImageToRecord, Store } from "../lib/store/store.ts";

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** An image's documents, as a pull would record them (no layers: none are needed here). */
function anImage(name: string, repository: string, tag?: string): ImageToRecord {
  const config = encode({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [] },
    name,
  });
  const manifest = encode({ schemaVersion: 2, config: { digest: digestOf(config) }, layers: [] });
  return {
    id: digestOf(config),
    repository,
    tag,
    digest: digestOf(manifest),
    manifestDigest: digestOf(manifest),
    platform: { os: "linux", architecture: "amd64" },
    layers: [],
    size: 0,
    manifest,
    config,
  };
}

Deno.test("Store.open checks the root and creates it only when asked", async () => {
  await using dir = await tempDir();
  const missing = join(dir.path, "missing");
  assertEquals(await (await Store.open(missing)).images(), []);
  await assertRejects(() => Deno.stat(missing), Deno.errors.NotFound);
  await Store.open(missing, { create: true });
  assert((await Deno.stat(missing)).isDirectory);
  const file = join(dir.path, "file");
  await Deno.writeTextFile(file, "x");
  await assertRejects(() => Store.open(file), InvalidInputError, /it is not a directory/);
});

Deno.test("the store records, finds, untags and collects", async (t) => {
  await using dir = await tempDir();
  const store = await Store.open(dir.path, { create: true });
  const one = anImage("one", "app", "1");
  await t.step("a recorded image is found by tag, repo digest and ID prefix", async () => {
    const record = await store.recordImage(one);
    assertEquals(record.repoDigests, [`app@${one.digest}`]);
    for (const name of ["app:1", `app@${one.digest}`, one.id.slice(7, 19), one.id]) {
      assertEquals((await store.find(name)).record.id, one.id, name);
    }
    const stored = await store.image(one.id);
    assertEquals(stored.config.os, "linux");
    assertEquals(await store.index.get("app", "1"), one.id);
    await assertRejects(() => store.find("app:2"), ImageNotFoundError);
  });
  await t.step("untagging one of two tags keeps the image", async () => {
    await store.recordImage({ ...one, tag: "latest" });
    const result = await store.untag(await store.find("app:1"));
    assertEquals(result, { untagged: ["app:1"] });
    assertEquals((await store.find("app:latest")).record.repoDigests, [`app@${one.digest}`]);
  });
  await t.step("an ID tagged in two repositories needs force", async () => {
    await store.recordImage({ ...one, repository: "copy", tag: "x" });
    const found = await store.find(one.id);
    await assertRejects(() => store.untag(found), ImageInUseError, /2 repositories/);
    const forced = await store.untag(found, { force: true });
    assertEquals(forced.deleted, one.id);
    assertEquals(await store.images(), []);
    assertEquals(await store.index.load(), {});
  });
  await t.step("garbage collection deletes blobs no image uses", async () => {
    const kept = await store.recordImage(anImage("kept", "kept", "1"));
    const { blobs } = store;
    const orphan = await blobs.putBytes(new TextEncoder().encode("orphan"));
    await blobs.putBytes(anImage("kept", "kept").config);
    const collected = await store.whileRemoving((staging) => store.collectGarbage(staging));
    assertEquals(collected, { deletedLayers: [], deletedBlobs: [orphan] });
    assert(await blobs.has(kept.id));
  });
});

Deno.test("removing waits for adding: whileRemoving is exclusive, whileAdding shared", async () => {
  await using dir = await tempDir();
  const store = await Store.open(dir.path, { create: true });
  const events: string[] = [];
  let release!: () => void;
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => (entered = resolve));
  const adding = store.whileAdding(async () => {
    events.push("adding");
    const held = new Promise<void>((resolve) => (release = resolve));
    entered();
    await held;
    events.push("added");
  });
  // The others are asked for once the first holds the store.
  await inside;
  const otherAdding = store.whileAdding(() => Promise.resolve(events.push("other adding")));
  const removing = store.whileRemoving(() => Promise.resolve(events.push("removing")));
  await otherAdding;
  // Time for a wrongly shared removal to run before the first lets go (it must not).
  await new Promise((resolve) => setTimeout(resolve, 50));
  release();
  await Promise.all([adding, removing]);
  assertEquals(events, ["adding", "other adding", "added", "removing"]);
});

Deno.test("a tag left naming an image a crash removed can still be removed", async () => {
  await using dir = await tempDir();
  const store = await Store.open(dir.path, { create: true });
  const image = anImage("crashed", "app", "1");
  await store.recordImage(image);
  // What an rmi killed between its two writes used to leave: the tag, no metadata.
  await Deno.remove(join(dir.path, "images", image.id.slice(7)), { recursive: true });
  const found = await store.find("app:1");
  assertEquals(found.missing, true);
  assertEquals(await store.untag(found), { untagged: ["app:1"] });
  assertEquals(await store.index.load(), {});
});

Deno.test("untag un-records an image before deleting its metadata", async () => {
  await using dir = await tempDir();
  const store = await Store.open(dir.path, { create: true });
  const image = anImage("ordered", "app", "1");
  await store.recordImage(image);
  const metadata = join(dir.path, "images", image.id.slice(7), "image.json");
  // At the moment images.json is renamed into place, the image's metadata must still exist.
  const seen: boolean[] = [];
  const rename = Deno.rename;
  Deno.rename = (from: string | URL, to: string | URL) => {
    if (String(to).endsWith("/images.json")) {
      seen.push(Deno.statSync(metadata).isFile);
    }
    return rename(from, to);
  };
  try {
    await store.untag(await store.find("app:1"));
  } finally {
    Deno.rename = rename;
  }
  assertEquals(seen, [true]);
  await assertRejects(() => Deno.stat(metadata), Deno.errors.NotFound);
});

Deno.test("writes keep their work in tmp/: a kill leaves nothing check finds, and it goes", async () => {
  await using root = await tempDir();
  const store = await Store.open(root.path, { create: true });
  const image = anImage("one", "team/app", "1");
  await store.blobs.putBytes(image.config, image.id);
  await store.recordImage(image);
  await store.recordImage({ ...image, tag: "2" });
  const id = image.id;
  // Only whole files in images/ and at the root; this process left nothing in tmp/.
  assertEquals(
    (await Array.fromAsync(Deno.readDir(join(root.path, "images", id.slice(7))))).map((e) => e.name)
      .sort(),
    ["config.json", "image.json", "manifest.json"],
  );
  assertEquals(await Array.fromAsync(Deno.readDir(join(root.path, "tmp"))), []);
  // What a kill in the middle of recording a new image leaves: its work in tmp/, named after
  // the killed process. check finds nothing to report; the next command removes it.
  const dead = 2 ** 22 + 12345;
  await Deno.mkdir(join(root.path, "tmp", `${dead}-a-image`));
  await Deno.writeTextFile(join(root.path, "tmp", `${dead}-a-image`, "manifest.json"), "{");
  await Deno.writeTextFile(join(root.path, "tmp", `${dead}-b.write.tmp`), "{");
  // Whether that process is gone takes /proc, which narrow permissions do not open; an old
  // leftover goes either way.
  const old = new Date(Date.now() - 3600_000);
  for (const name of [`${dead}-a-image`, `${dead}-b.write.tmp`]) {
    await Deno.utime(join(root.path, "tmp", name), old, old);
  }
  const problems = await store.whileRemoving(() => store.check());
  assertEquals(problems, []);
  assertEquals(await Array.fromAsync(Deno.readDir(join(root.path, "tmp"))), []);
});
