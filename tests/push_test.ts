/** `push`: a stored image uploaded to a real registry, the same bytes, the same digests. */

import { join } from "node:path";
import { assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_cli.ts";
import { tempDir } from "./_fake_registry.ts";
import { integrationTest, OciLayout, run, startRegistry } from "./_real_registry.ts";
import { digestOf as digestOfContent } from "../lib/model/digest.ts";

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

integrationTest("copy keeps the digest of an image and of a multi-platform index", [
  "docker-registry",
  "skopeo",
  "umoci",
], async () => {
  const first = await startRegistry();
  const second = await startRegistry();
  const layout = await OciLayout.create();
  try {
    for (const architecture of ["amd64", "arm64"]) {
      const content = join(layout.dir, architecture);
      await Deno.mkdir(content);
      await Deno.writeTextFile(join(content, "arch"), architecture);
      await layout.image(architecture, [await layout.tarOf(content, architecture)], {
        architecture,
      });
    }
    await layout.index("multi", [{ tag: "amd64", architecture: "amd64" }, {
      tag: "arm64",
      architecture: "arm64",
    }]);
    await layout.push("multi", `${first.host}/team/multi:1`, ["--all"]);
    await layout.push("amd64", `${first.host}/team/single:1`);
    for (
      const [source, destination] of [
        [`${first.host}/team/single:1`, `${second.host}/copied/single:1`],
        [`${first.host}/team/multi:1`, `${second.host}/copied/multi:1`],
        [`${first.host}/team/multi:1`, `${first.host}/mounted/multi:1`],
      ]
    ) {
      const copied = await runCli(["copy", source, destination]);
      assertEquals(copied.code, 0, copied.stderr);
      const raw = (image: string) =>
        run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${image}`]);
      assertEquals(await raw(destination), await raw(source));
      assertEquals(copied.stdout.trim(), digestOfBytes(await raw(source)));
      if (destination.startsWith(first.host)) assertMatch(copied.stderr, /[1-9][0-9]* mounted/);
    }
  } finally {
    await layout.remove();
    await first.close();
    await second.close();
  }
});

function digestOfBytes(text: string): string {
  return digestOfContent(new TextEncoder().encode(text));
}
