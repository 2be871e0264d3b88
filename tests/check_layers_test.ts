/**
 * `check` looks inside extracted layers: a file deleted, re-moded or
 * re-linked in `layers/<id>/fs` is found, `check --repair` removes the
 * layer's extraction, and the next pull extracts it again so that `unpack`
 * gives the whole image back.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_cli.ts";
import {
  fakeImage,
  listFiles,
  manifestsFor,
  registryHandler,
  startServer,
  tempDir,
} from "./_fake_registry.ts";
import { busyboxLikeLayers } from "./_tar.ts";
import { summarizeExtractedFiles } from "../lib/store/layer_summary.ts";

/** Busybox's layout (applet symlinks, a hardlink) under a layer with a whiteout. */
const image = fakeImage(
  await busyboxLikeLayers([{ name: "bin/su", body: "setuid", mode: 0o4755 }]),
);
const [lower, upper] = [...image.blobs.keys()].map((digest) => digest.slice("sha256:".length));
const UNPACKED = ["app", "bin/ash", "bin/busybox", "bin/ls", "bin/sh", "bin/su", "etc/motd"];
const CHANGED =
  /^layer sha256:[0-9a-f]{12}…: its extracted files differ from what extraction recorded \((.*)\)$/m;

Deno.test("check finds a layer whose extracted files were changed, and --repair restores it", async (t) => {
  await using server = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  const app = `${server.host}/team/app`;
  await using scratch = await tempDir();
  const root = join(scratch.path, "root");
  const fs = (layer: string) => join(root, "layers", layer, "fs");
  const pull = async () => {
    const pulled = await runCli(["pull", "-q", "--root", root, app]);
    assertEquals(pulled.code, 0, pulled.stderr);
  };
  const check = (...flags: string[]) => runCli(["check", ...flags, "--root", root]);
  const assertClean = async () => {
    const clean = await check();
    assertEquals([clean.code, clean.stdout], [0, `${root}: no problem found\n`], clean.stderr);
  };
  /** The change is found, `--repair` clears it, a pull and an unpack give the image whole. */
  const assertFoundAndRepaired = async (what: string, counts: RegExp) => {
    const broken = await check();
    assertEquals(broken.code, 1, `${what}: ${broken.stdout}${broken.stderr}`);
    const lines = broken.stdout.trim().split("\n");
    // The layer, the image that lost it, and that image's tag.
    assertEquals(lines.length, 3, broken.stdout);
    assertMatch(broken.stdout, CHANGED);
    assertMatch(CHANGED.exec(broken.stdout)![1], counts);
    assertMatch(broken.stdout, /^image [0-9a-f]{12}: missing layer sha256:[0-9a-f]{64} /m);
    assertMatch(broken.stdout, /^images.json: .*\/team\/app:latest names image [0-9a-f]{12}, /m);
    const repaired = await check("--repair");
    assertEquals(repaired.code, 0, repaired.stdout + repaired.stderr);
    assert(repaired.stdout.trim().split("\n").every((line) => line.startsWith("repaired: ")));
    await assertClean();
    await pull();
    await assertClean();
    const out = join(scratch.path, `out-${crypto.randomUUID()}`);
    const unpacked = await runCli(["unpack", "--root", root, app, out]);
    assertEquals(unpacked.code, 0, unpacked.stderr);
    assertEquals(await listFiles(out), UNPACKED);
    assertEquals(await Deno.readTextFile(join(out, "etc/motd")), "hi");
    assertEquals((await Deno.lstat(join(out, "bin/su"))).mode! & 0o7777, 0o4755);
    assertEquals(await Deno.readLink(join(out, "bin/sh")), "busybox");
    const [busybox, ash] = await Promise.all(
      ["bin/busybox", "bin/ash"].map((name) => Deno.lstat(join(out, name))),
    );
    assertEquals(busybox.ino, ash.ino);
  };
  await pull();
  await t.step("a fresh pull records each layer's files and checks clean", async () => {
    for (const layer of [lower, upper]) {
      const record = JSON.parse(
        await Deno.readTextFile(join(root, "layers", layer, "layer.json")),
      );
      assertEquals(record.extractedFiles, summarizeExtractedFiles(fs(layer)));
    }
    // 2 directories, 6 names under bin/ and etc/ (a whiteout among them): all counted.
    assertEquals(summarizeExtractedFiles(fs(lower)).entries, 9);
    await assertClean();
  });

  await t.step("reading files and changing their times is no problem", async () => {
    await Deno.readTextFile(join(fs(lower), "etc/motd"));
    await Deno.utime(join(fs(lower), "bin/busybox"), new Date(), new Date());
    await assertClean();
  });

  await t.step("a deleted file", async () => {
    await Deno.remove(join(fs(lower), "etc/motd"));
    await assertFoundAndRepaired("deleted", /^8 entries, expected 9$/);
  });

  await t.step("a file's mode (its setuid bit dropped)", async () => {
    await Deno.chmod(join(fs(lower), "bin/su"), 0o755);
    await assertFoundAndRepaired("chmod", /^the same 9 entries, but /);
  });

  await t.step("a symlink's target", async () => {
    await Deno.remove(join(fs(lower), "bin/sh"));
    await Deno.symlink("ls", join(fs(lower), "bin/sh"));
    await assertFoundAndRepaired("symlink", /^the same 9 entries, but /);
  });

  await t.step("a hardlink made a copy", async () => {
    await Deno.remove(join(fs(lower), "bin/ash"));
    await Deno.copyFile(join(fs(lower), "bin/busybox"), join(fs(lower), "bin/ash"));
    await assertFoundAndRepaired("hardlink", /^the same 9 entries, but /);
  });

  await t.step("a file's size", async () => {
    await Deno.writeTextFile(join(fs(lower), "etc/motd"), "hello");
    await assertFoundAndRepaired("size", /^the same 9 entries, but /);
  });

  await t.step("a whiteout marker deleted", async () => {
    await Deno.remove(join(fs(upper), "etc/.wh.gone"));
    await assertFoundAndRepaired("whiteout", /^2 entries, expected 3$/);
  });

  await t.step("a file added", async () => {
    await Deno.writeTextFile(join(fs(upper), "intruder"), "x");
    await assertFoundAndRepaired("added", /^4 entries, expected 3$/);
  });

  if (Deno.uid() === 0) {
    await t.step("a file's owner", async () => {
      await Deno.chown(join(fs(lower), "etc/motd"), 1234, 1234);
      await assertFoundAndRepaired("chown", /^the same 9 entries, but /);
    });
  }

  await t.step("a layer extracted by an older version (no record) passes", async () => {
    const path = join(root, "layers", lower, "layer.json");
    const { extractedFiles: _, ...older } = JSON.parse(await Deno.readTextFile(path));
    await Deno.writeTextFile(path, JSON.stringify(older));
    await Deno.remove(join(fs(lower), "etc/motd"));
    await assertClean();
  });
});

Deno.test("a tree's summary is the same wherever it lies, and only its listing counts", async () => {
  await using scratch = await tempDir();
  const original = join(scratch.path, "original");
  await Deno.mkdir(join(original, "a/b"), { recursive: true });
  await Deno.writeTextFile(join(original, "a/b/file"), "content");
  await Deno.link(join(original, "a/b/file"), join(original, "a/link"));
  await Deno.symlink("b/file", join(original, "a/symlink"));
  // Inode numbers differ in the copy; hardlinks are kept (cp -a), so the listing is the same.
  const copy = join(scratch.path, "copy");
  const copied = await new Deno.Command("cp", { args: ["-a", original, copy] }).output();
  assert(copied.success);
  assertEquals(summarizeExtractedFiles(copy), summarizeExtractedFiles(original));
  // Content is not listed: same size, other bytes.
  await Deno.writeTextFile(join(copy, "a/b/file"), "CONTENT");
  assertEquals(summarizeExtractedFiles(copy), summarizeExtractedFiles(original));
  // A name that holds a newline cannot pass for two entries.
  await Deno.writeTextFile(join(copy, "a/b/x\nother"), "");
  assertEquals(summarizeExtractedFiles(copy).entries, 6);
});
