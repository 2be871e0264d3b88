/**
 * Interop with a real Docker daemon: docker loads what we save and pulls
 * what we push as the same image; we load what docker saves and unpack it
 * as umoci does.
 */

import { join } from "node:path";
import { assert, assertEquals } from "./_assert.ts";
import { runCli } from "./_cli.ts";
import { tempDir } from "./_fake_registry.ts";
import { integrationTest, OciLayout, startRegistry } from "./_real_registry.ts";
import { describeTree } from "./_tar_compare.ts";
import { DOCKER_CLIENT, startDocker } from "./_docker.ts";

/** An image of two gzip layers, the upper one deleting a file of the lower one. */
async function twoLayerImage(layout: OciLayout, tag: string, marker: string) {
  const lower = join(layout.dir, `${tag}-lower`);
  const upper = join(layout.dir, `${tag}-upper`);
  await Deno.mkdir(join(lower, "etc"), { recursive: true });
  await Deno.writeTextFile(join(lower, "etc", "gone"), "gone");
  await Deno.writeTextFile(join(lower, "etc", "kept"), marker);
  await Deno.symlink("kept", join(lower, "etc", "link"));
  await Deno.mkdir(join(upper, "etc"), { recursive: true });
  await Deno.writeTextFile(join(upper, "etc", ".wh.gone"), "");
  await Deno.writeTextFile(join(upper, "app"), marker);
  await Deno.chmod(join(upper, "app"), 0o4755);
  await layout.image(tag, [
    await layout.tarOf(lower, `${tag}-lower`),
    await layout.tarOf(upper, `${tag}-upper`),
  ]);
}

integrationTest("docker loads our save, pulls our push; we load docker's save", [
  "dockerd",
  DOCKER_CLIENT,
  "docker-registry",
  "skopeo",
  "umoci",
], async (t) => {
  await using registry = await startRegistry();
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  await using daemon = await startDocker();
  const { docker } = daemon;
  const inspect = async (name: string) => ({
    id: (await docker("image", "inspect", "--format", "{{.Id}}", name)).trim(),
    diffIds: JSON.parse(
      await docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", name),
    ),
    repoDigests: JSON.parse(
      await docker("image", "inspect", "--format", "{{json .RepoDigests}}", name),
    ) as string[],
  });
  await twoLayerImage(layout, "ours", "ours");
  await twoLayerImage(layout, "theirs", "theirs");
  const ours = `${registry.host}/team/ours:1`;
  const theirs = `${registry.host}/team/theirs:1`;
  await layout.push("ours", ours);
  await layout.push("theirs", theirs);
  const root = join(dir.path, "store");
  const pulled = await runCli(["--root", root, "pull", "-q", ours]);
  assertEquals(pulled.code, 0, pulled.stderr);
  const imageId = pulled.stdout.trim();
  const diffIds = JSON.parse((await runCli(["--root", root, "inspect", ours])).stdout)[0].RootFS
    .Layers;

  await t.step("our save -> docker load: the same image ID and layers", async () => {
    const archive = join(dir.path, "ours.tar");
    const saved = await runCli(["--root", root, "save", "-o", archive, ours]);
    assertEquals([saved.code, saved.stderr], [0, ""]);
    const loaded = await docker("load", "-i", archive);
    assert(loaded.includes(`Loaded image: ${ours}`), loaded);
    const image = await inspect(ours);
    assertEquals(image.id, imageId);
    assertEquals(image.diffIds, diffIds);
    await docker("rmi", ours);
  });

  await t.step("our push -> docker pull: the same image ID, layers and digest", async () => {
    const target = `${registry.host}/team/pushed:1`;
    assertEquals((await runCli(["--root", root, "tag", ours, target])).code, 0);
    const pushed = await runCli(["--root", root, "push", target]);
    assertEquals(pushed.code, 0, pushed.stderr);
    const digest = /^1: digest: (sha256:[0-9a-f]{64}) size: [0-9]+$/m.exec(pushed.stdout)?.[1];
    assert(digest, pushed.stdout);
    const output = await docker("pull", target);
    assert(output.includes(`Digest: ${digest}`), output);
    const image = await inspect(target);
    assertEquals(image.id, imageId);
    assertEquals(image.diffIds, diffIds);
    assertEquals(image.repoDigests, [`${registry.host}/team/pushed@${digest}`]);
  });

  await t.step("docker save -> our load -> unpack equals umoci raw unpack", async () => {
    await docker("pull", theirs);
    const archive = join(dir.path, "theirs.tar");
    await docker("save", "-o", archive, theirs);
    const other = join(dir.path, "loaded");
    const loaded = await runCli(["--root", other, "load", "-i", archive]);
    assertEquals([loaded.code, loaded.stdout], [0, `Loaded image: ${theirs}\n`], loaded.stderr);
    const id = JSON.parse((await runCli(["--root", other, "inspect", theirs])).stdout)[0].Id;
    assertEquals(id, (await inspect(theirs)).id);
    const unpacked = join(dir.path, "theirs-ours");
    const umoci = join(dir.path, "theirs-umoci");
    assertEquals((await runCli(["--root", other, "unpack", theirs, unpacked])).code, 0);
    await layout.umociUnpack("theirs", umoci);
    assertEquals(await describeTree(unpacked), await describeTree(umoci));
  });
}, { root: true }); // dockerd runs only as root.
