/** `extractLayer` on its own: a tar stream in, files out, the safety rules enforced. */

import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { listFiles, tempDir } from "./_fake_registry.ts";
import { type CraftedEntry, craftTar } from "./_tar.ts";
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
