/** `save`: archives that skopeo and umoci read as the same image. */

import { join } from "node:path";
import { assertEquals } from "./_assert.ts";
import { runCli } from "./_cli.ts";
import { tempDir } from "./_fake_registry.ts";
import { integrationTest, OciLayout, run, startRegistry } from "./_real_registry.ts";
import { describeTree } from "./_tar_compare.ts";
import { digestOf } from "../lib/model/digest.ts";

integrationTest("save writes docker-archive and OCI archives that skopeo and umoci read", [
  "docker-registry",
  "skopeo",
  "umoci",
], async (t) => {
  const registry = await startRegistry();
  const layout = await OciLayout.create();
  const root = await tempDir();
  try {
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
        const source = format === "docker"
          ? `docker-archive:${archive}`
          : `oci-archive:${archive}:1`;
        await run("skopeo", ["copy", "--quiet", source, `oci:${copy}:copied`]);
        // The same image: the config skopeo reads from the archive has our image ID as digest
        // (for docker-archive, skopeo's OCI copy converts the config, so it is read raw).
        const config = await run("skopeo", ["inspect", "--raw", "--config", source]);
        assertEquals(digestOf(new TextEncoder().encode(config)), imageId);
        const rootfs = join(layout.dir, `rootfs-${format}`);
        await run("umoci", ["raw", "unpack", "--image", `${copy}:copied`, rootfs]);
        assertEquals(await describeTree(rootfs), expected);
      });
    }
    await Deno.remove(ours, { recursive: true });
  } finally {
    await root.remove();
    await layout.remove();
    await registry.close();
  }
});
