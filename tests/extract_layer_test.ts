/** `extractLayer` on its own: a tar stream in, files out, the safety rules enforced. */

import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { listFiles, tempDir } from "./_fake_registry.ts";
import { type CraftedEntry, craftTar } from "./_tar.ts";
import { describeTree } from "./_tar_compare.ts";
import { gzipSync } from "node:zlib";
import { decompressLayer } from "../lib/archive/compression.ts";
import { OCI_LAYER_GZIP } from "../lib/model/media_types.ts";
import { extractLayer } from "../lib/layer/extract.ts";
import { InvalidInputError, MalformedLayerError } from "../lib/errors.ts";

async function extract(entries: CraftedEntry[], options = {}) {
  const dir = await tempDir();
  const fs = join(dir.path, "fs");
  await Deno.mkdir(fs);
  try {
    const result = await extractLayer(ReadableStream.from([await craftTar(entries)]), fs, options);
    return { result, files: await listFiles(fs), fs, dir };
  } catch (error) {
    await dir.remove();
    throw error;
  }
}

Deno.test("extractLayer writes files, directories, links and whiteouts as the tar says", async () => {
  const { result, files, fs, dir } = await extract([
    { name: "etc/", type: "directory" },
    { name: "etc/motd", body: "hello", mode: 0o640 },
    { name: "etc/link", type: "symlink", linkname: "motd" },
    { name: "etc/hard", type: "link", linkname: "etc/motd" },
    { name: "etc/.wh.gone", body: "" },
    { name: "bin/tool", body: "#!/bin/sh", mode: 0o4755 },
  ]);
  await using _dir = dir;
  assertEquals(result.entries, 6);
  assertEquals(files, ["bin/tool", "etc/.wh.gone", "etc/hard", "etc/link", "etc/motd"]);
  assertEquals(await Deno.readTextFile(join(fs, "etc/motd")), "hello");
  assertEquals((await Deno.stat(join(fs, "etc/motd"))).mode! & 0o7777, 0o640);
  assertEquals((await Deno.stat(join(fs, "bin/tool"))).mode! & 0o7777, 0o4755);
  assertEquals(await Deno.readLink(join(fs, "etc/link")), "motd");
  assertEquals(
    (await Deno.stat(join(fs, "etc/hard"))).ino,
    (await Deno.stat(join(fs, "etc/motd"))).ino,
  );
  assertEquals(result.lowerLinks, []);
});

Deno.test("extractLayer refuses what would leave its directory, naming the entry", async () => {
  const cases: [string, CraftedEntry[]][] = [
    ["..", [{ name: "../escape", body: "x" }]],
    ["through a symlink", [
      { name: "out", type: "symlink", linkname: "/tmp" },
      { name: "out/escape", body: "x" },
    ]],
    ["hardlink outside", [{ name: "h", type: "link", linkname: "../../etc/passwd" }]],
  ];
  for (const [name, entries] of cases) {
    const error = await assertRejects(() => extract(entries), MalformedLayerError);
    assert(error.message.startsWith("Cannot extract layer entry"), `${name}: ${error.message}`);
  }
});

Deno.test("extractLayer keeps hardlinks to lower layers for flattening, and honours caps", async () => {
  const { result, dir } = await extract([{ name: "usr/bin/", type: "directory" }, {
    name: "usr/bin/alias",
    type: "link",
    linkname: "usr/bin/original",
  }]);
  await dir.remove();
  assertEquals(result.lowerLinks, [{ path: "usr/bin/alias", target: "usr/bin/original" }]);
  await assertRejects(
    () => extract([{ name: "a", body: "1" }, { name: "b", body: "2" }], { maxEntries: 1 }),
    InvalidInputError,
  );
});

Deno.test("extractLayer frees each chunk it was given once written, and the tree matches GNU tar's", async () => {
  await using dir = await tempDir();
  // Real-world entries: many small files (straddling the chunks), a file larger than the
  // gathering buffer, a PAX long name, links, and a GNU sparse file (PAX 1.0, its map in data).
  const source = join(dir.path, "source");
  await Deno.mkdir(join(source, "d".repeat(90), "e".repeat(90)), { recursive: true });
  for (let i = 0; i < 300; i++) {
    await Deno.writeTextFile(join(source, `small-${i}`), `${i}:`.repeat(i * 7));
  }
  await Deno.writeFile(join(source, "large"), new Uint8Array(3 * 1024 * 1024 + 11).fill(7));
  await Deno.writeTextFile(join(source, "d".repeat(90), "e".repeat(90), "long"), "long name");
  await Deno.link(join(source, "small-5"), join(source, "hard"));
  await Deno.symlink("small-5", join(source, "soft"));
  await new Deno.Command("truncate", { args: ["-s", "5M", join(source, "sparse")] }).output();
  const archive = join(dir.path, "layer.tar");
  const made = await new Deno.Command("tar", {
    args: ["--format=pax", "--sparse", "--numeric-owner", "-C", source, "-cf", archive, "."],
  }).output();
  assert(made.success, "GNU tar could not make the archive");
  const bytes = await Deno.readFile(archive);
  // Odd sizes, so that headers, names and bodies break across chunks; each chunk its own buffer.
  const chunks: Uint8Array[] = [];
  for (let offset = 0, i = 0; offset < bytes.byteLength; i++) {
    const size = [509, 7919, 65537, 1031][i % 4];
    chunks.push(bytes.slice(offset, offset + size));
    offset += size;
  }
  const ours = join(dir.path, "ours");
  const gnu = join(dir.path, "gnu");
  await Deno.mkdir(ours);
  await Deno.mkdir(gnu);
  await extractLayer(ReadableStream.from(chunks), ours, {
    releaseChunks: true,
    preserveOwnership: Deno.uid() === 0,
  });
  const gnuRun = await new Deno.Command("tar", {
    args: ["-x", "-f", archive, "-C", gnu, "--numeric-owner", "--same-permissions"],
  }).output();
  assert(gnuRun.success, "GNU tar could not extract the archive");
  assertEquals(await describeTree(ours), await describeTree(gnu));
  assertEquals(
    chunks.filter((chunk) => !(chunk.buffer as ArrayBuffer).detached).length,
    0,
    "chunks left unfreed",
  );
});

Deno.test("decompressLayer frees each input chunk once zlib took it, when told to", async () => {
  const text = new TextEncoder().encode("layer bytes ".repeat(200_000));
  // Two gzip members back to back, as some tools write: the second must be read too.
  const blob = new Uint8Array([
    ...gzipSync(text.subarray(0, 1000)),
    ...gzipSync(text.subarray(1000)),
  ]);
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < blob.byteLength; offset += 4093) {
    chunks.push(blob.slice(offset, offset + 4093));
  }
  const out = await new Response(
    ReadableStream.from(chunks).pipeThrough(
      decompressLayer(OCI_LAYER_GZIP, { releaseInput: true }),
    ),
  ).bytes();
  assertEquals(out, text);
  assertEquals(chunks.filter((chunk) => !(chunk.buffer as ArrayBuffer).detached).length, 0);
  // Not told: the caller's chunks are left as they were.
  const kept = [blob.slice()];
  await new Response(ReadableStream.from(kept).pipeThrough(decompressLayer(OCI_LAYER_GZIP)))
    .bytes();
  assertEquals(kept[0].byteLength, blob.byteLength);
});
