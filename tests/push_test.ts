/** `push`: a stored image uploaded to a real registry, the same bytes, the same digests. */

import { join } from "node:path";
import { assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_cli.ts";
import { tempDir } from "./_fake_registry.ts";
import { integrationTest, OciLayout, run, startRegistry } from "./_real_registry.ts";

integrationTest("push uploads a stored image byte for byte; a second push sends nothing", [
  "docker-registry",
  "skopeo",
  "umoci",
], async () => {
  const registry = await startRegistry();
  const layout = await OciLayout.create();
  const root = await tempDir();
  try {
    const content = join(layout.dir, "content");
    await Deno.mkdir(content);
    await Deno.writeTextFile(join(content, "file.txt"), "pushed");
    await layout.image("app", [await layout.tarOf(content, "layer")]);
    await layout.push("app", `${registry.host}/team/source:1`);
    const source = `${registry.host}/team/source:1`;
    const pulled = await runCli(["pull", "-q", "--root", root.path, source]);
    assertEquals(pulled.code, 0, pulled.stderr);
    const sourceDigest =
      JSON.parse((await runCli(["inspect", "--root", root.path, source])).stdout)[0]
        .Metadata.ManifestDigest;

    const target = `${registry.host}/other/copy:2`;
    assertEquals((await runCli(["tag", "--root", root.path, source, target])).code, 0);
    const pushed = await runCli(["push", "--root", root.path, target]);
    assertEquals(pushed.code, 0, pushed.stderr);
    assertMatch(pushed.stdout, new RegExp(`^2: digest: ${sourceDigest} size: [0-9]+\\n$`));
    // The layer came by a cross-repository mount from the repository it was pulled from.
    assertMatch(pushed.stderr, /Mounted/);
    const inspected = JSON.parse(
      await run("skopeo", ["inspect", "--tls-verify=false", `docker://${target}`]),
    );
    assertEquals(inspected.Digest, sourceDigest);

    const again = await runCli(["push", "--root", root.path, target]);
    assertEquals(again.code, 0, again.stderr);
    assertEquals(
      again.stderr.trim().split("\n").every((line) => line.endsWith("Layer already exists")),
      true,
    );

    // To another registry nothing can be mounted from: every blob is uploaded.
    const second = await startRegistry();
    try {
      const elsewhere = `${second.host}/team/moved:3`;
      assertEquals((await runCli(["tag", "--root", root.path, source, elsewhere])).code, 0);
      const uploaded = await runCli(["push", "--root", root.path, elsewhere]);
      assertEquals(uploaded.code, 0, uploaded.stderr);
      assertEquals(
        uploaded.stderr.trim().split("\n").every((line) => line.endsWith("Pushed")),
        true,
      );
      const moved = JSON.parse(
        await run("skopeo", ["inspect", "--tls-verify=false", `docker://${elsewhere}`]),
      );
      assertEquals(moved.Digest, sourceDigest);
    } finally {
      await second.close();
    }

    // A fresh root pulls what was pushed: the same image.
    const fresh = await tempDir();
    try {
      const repulled = await runCli(["pull", "-q", "--root", fresh.path, target]);
      assertEquals([repulled.code, repulled.stdout], [0, pulled.stdout], repulled.stderr);
    } finally {
      await fresh.remove();
    }
  } finally {
    await root.remove();
    await layout.remove();
    await registry.close();
  }
});
