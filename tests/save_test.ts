/** `save`: archives that skopeo and umoci read as the same image. */

import { join } from "node:path";
import { packTar } from "npm:modern-tar@0.8.6";
import { assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { runCli } from "./_cli.ts";
import { listFiles, tempDir } from "./_fake_registry.ts";
import { craftTar } from "./_tar.ts";
import { integrationTest, OciLayout, run, startRegistry } from "./_real_registry.ts";
import { describeTree } from "./_tar_compare.ts";
import { digestOf } from "../lib/model/digest.ts";

/**
 * skopeo unpacks an archive with its owners (ours are root's, as docker's are), which only root
 * may apply: run as another user, it is root of a user namespace of its own.
 */
function skopeo(args: string[]): Promise<string> {
  return Deno.uid() === 0 ? run("skopeo", args) : run("unshare", ["-r", "skopeo", ...args]);
}

integrationTest("save writes docker-archive and OCI archives that skopeo and umoci read", [
  "docker-registry",
  "skopeo",
  "umoci",
  "unshare",
], async (t) => {
  await using registry = await startRegistry();
  await using layout = await OciLayout.create();
  await using root = await tempDir();
  // Two gzip layers (umoci compresses them), one deleting a file of the other.
  const lower = join(layout.dir, "lower");
  const upper = join(layout.dir, "upper");
  await Deno.mkdir(join(lower, "etc"), { recursive: true });
  await Deno.writeTextFile(join(lower, "etc", "gone"), "gone");
  await Deno.writeTextFile(join(lower, "etc", "kept"), "kept");
  await Deno.mkdir(join(upper, "etc"), { recursive: true });
  await Deno.writeTextFile(join(upper, "etc", ".wh.gone"), "");
  await Deno.writeTextFile(join(upper, "app"), "app");
  await layout.image("saved", [
    await layout.tarOf(lower, "lower"),
    await layout.tarOf(upper, "upper"),
  ]);
  const name = `${registry.host}/team/saved:1`;
  await layout.push("saved", name);
  const pulled = await runCli(["pull", "-q", "--root", root.path, name]);
  assertEquals(pulled.code, 0, pulled.stderr);
  const imageId = pulled.stdout.trim();
  const ours = join(root.path, "..", `ours-${crypto.randomUUID()}`);
  assertEquals((await runCli(["unpack", "--root", root.path, name, ours])).code, 0);
  const expected = await describeTree(ours);

  for (const format of ["docker", "oci"] as const) {
    await t.step(format, async () => {
      const archive = join(layout.dir, `saved-${format}.tar`);
      const saved = await runCli([
        "save",
        "--root",
        root.path,
        "--format",
        format,
        "-o",
        archive,
        name,
      ]);
      assertEquals([saved.code, saved.stderr], [0, ""]);
      const copy = join(layout.dir, `copy-${format}`);
      const source = format === "docker" ? `docker-archive:${archive}` : `oci-archive:${archive}:1`;
      await skopeo(["copy", "--quiet", source, `oci:${copy}:copied`]);
      // The same image: the config skopeo reads from the archive has our image ID as digest
      // (for docker-archive, skopeo's OCI copy converts the config, so it is read raw).
      const config = await skopeo(["inspect", "--raw", "--config", source]);
      assertEquals(digestOf(new TextEncoder().encode(config)), imageId);
      const rootfs = join(layout.dir, `rootfs-${format}`);
      const rootless = Deno.uid() === 0 ? [] : ["--rootless"];
      await run("umoci", ["raw", "unpack", ...rootless, "--image", `${copy}:copied`, rootfs]);
      assertEquals(await describeTree(rootfs), expected);
      // And back: our load of our save gives the same image, under its name.
      const again = join(layout.dir, `root-${format}`);
      const loaded = await runCli(["load", "--root", again, "-i", archive]);
      assertEquals([loaded.code, loaded.stdout], [0, `Loaded image: ${name}\n`], loaded.stderr);
      const inspect = JSON.parse((await runCli(["inspect", "--root", again, name])).stdout);
      assertEquals(inspect[0].Id, imageId);
      const reloaded = join(layout.dir, `reloaded-${format}`);
      assertEquals((await runCli(["unpack", "--root", again, name, reloaded])).code, 0);
      assertEquals(await describeTree(reloaded), expected);
      if (format === "docker") {
        // An archive skopeo writes loads too.
        const skopeoArchive = join(layout.dir, "skopeo-docker.tar");
        await skopeo([
          "copy",
          "--quiet",
          `oci:${copy}:copied`,
          `docker-archive:${skopeoArchive}:other/name:2`,
        ]);
        const fromSkopeo = await runCli(["load", "--root", again, "-i", skopeoArchive]);
        assertEquals(
          [fromSkopeo.code, fromSkopeo.stdout],
          [0, "Loaded image: other/name:2\n"],
          fromSkopeo.stderr,
        );
        const out = join(layout.dir, "from-skopeo");
        assertEquals((await runCli(["unpack", "--root", again, "other/name:2", out])).code, 0);
        assertEquals(await describeTree(out), expected);
      }
    });
  }
  await Deno.remove(ours, { recursive: true });
});

/** A docker-archive made by hand: layer tars, a config naming their diff_ids, manifest.json. */
async function handMadeArchive(layerTars: Uint8Array[], diffIds?: string[]): Promise<Uint8Array> {
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: diffIds ?? layerTars.map((tar) => digestOf(tar)) },
  }));
  const configName = `${digestOf(config).slice(7)}.json`;
  const entries = [
    ...layerTars.map((tar, i) => ({ name: `l${i}/layer.tar`, body: tar })),
    { name: configName, body: config },
    {
      name: "manifest.json",
      body: new TextEncoder().encode(JSON.stringify([{
        Config: configName,
        RepoTags: ["hand/made:1"],
        Layers: layerTars.map((_, i) => `l${i}/layer.tar`),
      }])),
    },
  ];
  return await packTar(entries.map(({ name, body }) => ({
    header: { name, type: "file" as const, size: body.byteLength, mode: 0o644 },
    body,
  })));
}

Deno.test("load records what a docker-archive holds, and a bad archive changes nothing", async (t) => {
  const good = await craftTar([{ name: "etc/", type: "directory" }, {
    name: "etc/ok",
    body: "ok",
  }]);
  const hostile = await craftTar([{ name: "../escape", body: "x" }]);
  await using root = await tempDir();
  await t.step("a good archive: tag printed, image recorded, layers extracted", async () => {
    const archive = join(root.path, "..", `good-${crypto.randomUUID()}.tar`);
    await Deno.writeFile(archive, await handMadeArchive([good]));
    const loaded = await runCli(["load", "--root", root.path, "-i", archive]);
    await Deno.remove(archive);
    assertEquals([loaded.code, loaded.stdout], [0, "Loaded image: hand/made:1\n"], loaded.stderr);
    const check = await runCli(["check", "--root", root.path]);
    assertEquals(check.code, 0, check.stdout);
    const out = join(root.path, "..", `out-${crypto.randomUUID()}`);
    assertEquals((await runCli(["unpack", "--root", root.path, "hand/made:1", out])).code, 0);
    assertEquals(await Deno.readTextFile(join(out, "etc", "ok")), "ok");
    await Deno.remove(out, { recursive: true });
  });
  await using empty = await tempDir();
  for (
    const [name, archive, pattern] of [
      ["a hostile layer after a good one", await handMadeArchive([good, hostile]), /\.\./],
      [
        "a diff_id the layer does not have",
        await handMadeArchive([good], [`sha256:${"0".repeat(64)}`]),
        /digest/,
      ],
      ["not an archive of images", await craftTar([{ name: "readme", body: "hi" }]), /neither/],
    ] as const
  ) {
    await t.step(name, async () => {
      const path = join(empty.path, "..", `bad-${crypto.randomUUID()}.tar`);
      await Deno.writeFile(path, archive);
      const result = await runCli(["load", "--root", empty.path, "-i", path]);
      await Deno.remove(path);
      assertEquals(result.code, 1);
      assertMatch(result.stderr, pattern);
      for (const directory of ["layers", "blobs", "images", "tmp"]) {
        assertEquals(await listFiles(empty.path, directory), [], directory);
      }
      await assertRejects(
        () => Deno.stat(join(empty.path, "images.json")),
        Deno.errors.NotFound,
      );
    });
  }
});
