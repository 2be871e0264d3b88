/**
 * Across runs: a pull that failed or was killed keeps what it downloaded of
 * each blob, and the next pull fetches only the rest. Two pulls of one blob
 * never download it twice at once. `prune` removes what is left.
 */

import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { runCli, spawnCli } from "./_cli.ts";
import { defer, fakeImage, listFiles, tempDir } from "./_fake_registry.ts";
import { faultyRegistry, type Logged, noise } from "./_faulty_registry.ts";
import { craftTar } from "./_tar.ts";
import { NetworkError } from "../lib/errors.ts";
import { pull } from "../lib/operations/pull.ts";

const layer = await craftTar([{ name: "data.bin", body: noise(2_000_000) }]);
const image = fakeImage([layer]);
const layerHex = [...image.blobs.keys()][0].slice("sha256:".length);

/** Bytes of the layer blob the registry sent, per request. */
function layerSends(log: Logged[]): { range: string | null; bytes: number }[] {
  return log.filter((entry) => entry.kind === "blob" && entry.bytes > 100_000)
    .map(({ range, bytes }) => ({ range, bytes }));
}

async function partialSize(root: string): Promise<number> {
  return await Deno.stat(join(root, "partial", "sha256", layerHex)).then(
    (info) => info.size,
    () => 0,
  );
}

Deno.test("a failed pull's bytes are kept, and the next pull fetches only the rest", async () => {
  await using root = await tempDir();
  await using broken = faultyRegistry(
    image,
    (kind, nth) => kind === "blob" && nth === 2 ? { cutAfter: 800_000, how: "reset" } : undefined,
  );
  await assertRejects(
    () => pull(`${broken.server.host}/team/app`, { root: root.path, retry: { attempts: 1 } }),
    NetworkError,
  );
  const kept = await partialSize(root.path);
  assert(kept > 0 && kept <= 800_000, `kept ${kept} bytes`);
  await broken.server.close();

  await using healthy = faultyRegistry(image, () => undefined);
  const result = await pull(`${healthy.server.host}/team/app`, { root: root.path });
  assertEquals(result.imageId, image.configDigest);
  assertEquals(layerSends(healthy.log), [{
    range: `bytes=${kept}-`,
    bytes: layer.byteLength - kept,
  }]);
  assertEquals(await partialSize(root.path), 0);
  const extracted = await listFiles(root.path, "layers");
  assert(extracted.some((path) => path.endsWith("/fs/data.bin")), extracted.join(", "));
});

Deno.test("a pull killed half-way is resumed: about half is transferred again", async () => {
  await using root = await tempDir();
  // Slow enough to be killed midway: 16 KiB every 5 ms.
  await using slow = faultyRegistry(image, () => undefined, { chunkDelayMs: 5 });
  const child = spawnCli(["pull", "-q", "--root", root.path, `${slow.server.host}/team/app`]);
  while (await partialSize(root.path) < layer.byteLength / 2) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  child.kill("SIGKILL");
  await child.status;
  const kept = await partialSize(root.path);
  const resumed = await runCli([
    "pull",
    "-q",
    "--root",
    root.path,
    `${slow.server.host}/team/app`,
  ]);
  assertEquals([resumed.code, resumed.stdout], [0, `${image.configDigest}\n`], resumed.stderr);
  const second = layerSends(slow.log).at(-1)!;
  assertEquals(second, { range: `bytes=${kept}-`, bytes: layer.byteLength - kept });
  // deno-lint-ignore no-console
  console.log(
    `killed at ${kept} of ${layer.byteLength} bytes; the re-pull transferred ${second.bytes}`,
  );
  assert(second.bytes < layer.byteLength * 0.6, "more than the missing part was sent again");
});

Deno.test("two pulls of one blob download it once; prune removes partials", async () => {
  await using root = await tempDir();
  await using slow = faultyRegistry(image, () => undefined, { chunkDelayMs: 2 });
  const pulls = [1, 2].map(() =>
    runCli(["pull", "-q", "--root", root.path, `${slow.server.host}/team/app`])
  );
  const results = await Promise.all(pulls);
  for (const result of results) {
    assertEquals([result.code, result.stdout], [0, `${image.configDigest}\n`], result.stderr);
  }
  assertEquals(layerSends(slow.log).length, 1);

  await Deno.mkdir(join(root.path, "partial", "sha256"), { recursive: true });
  await Deno.writeTextFile(join(root.path, "partial", "sha256", "a".repeat(64)), "left over");
  const pruned = await runCli(["prune", "--root", root.path]);
  assertEquals(pruned.code, 0, pruned.stderr);
  assertEquals(await listFiles(root.path, "partial"), []);
});

Deno.test("two pulls of one layer into one root extract it once: the second finds it made", async () => {
  await using root = await tempDir();
  await using slow = faultyRegistry(image, () => undefined, { chunkDelayMs: 2 });
  const results = await Promise.all(
    [1, 2].map(() => runCli(["pull", "--root", root.path, `${slow.server.host}/team/app`])),
  );
  const short = layerHex.slice(0, 12);
  const outcomes = results.map((result) => {
    assertEquals(result.code, 0, result.stderr);
    // Progress goes to stderr when stdout is not a terminal, as docker's does.
    return result.stderr.split("\n").filter((line) => line.startsWith(`${short}:`)).at(-1);
  }).sort();
  assertEquals(outcomes, [`${short}: Already exists`, `${short}: Pull complete`]);
  assertEquals(layerSends(slow.log).length, 1);
});

// A full disk needs a small file system of its own: a tmpfs, mounted as root (CI runs as root).
const canMount = Deno.build.os === "linux" && Deno.uid() === 0;
Deno.test({
  name: "a full disk is one clear line, and what was stored stays usable",
  ignore: !canMount && Deno.env.get("CI") !== "true",
  fn: async () => {
    await using scratch = await tempDir();
    const root = join(scratch.path, "small");
    await Deno.mkdir(root);
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", root],
    }).output();
    assertEquals(mount.code, 0, new TextDecoder().decode(mount.stderr));
    await using _unmount = defer(() => new Deno.Command("umount", { args: [root] }).output());
    const small = fakeImage([await craftTar([{ name: "small.txt", body: "fits" }])]);
    await using smallRegistry = faultyRegistry(small, () => undefined);
    await using big = faultyRegistry(image, () => undefined); // A 2 MB layer, stored and extracted: 4 MB.
    const first = await runCli([
      "pull",
      "-q",
      "--root",
      root,
      `${smallRegistry.server.host}/team/small`,
    ]);
    assertEquals(first.code, 0, first.stderr);
    const full = await runCli(["pull", "-q", "--root", root, `${big.server.host}/team/app`]);
    assertEquals(full.code, 1);
    assertEquals(
      full.stderr,
      `denocker: Cannot pull ${big.server.host}/team/app:latest: the disk holding ${root} is full\n`,
    );
    assertEquals(await listFiles(root, "tmp"), []);
    const images = await runCli(["images", "-q", "--root", root]);
    assertEquals(images.stdout, `${small.configDigest.slice(7, 19)}\n`);
    const out = join(scratch.path, "out");
    const unpacked = await runCli([
      "unpack",
      "--root",
      root,
      `${smallRegistry.server.host}/team/small`,
      out,
    ]);
    assertEquals(unpacked.code, 0, unpacked.stderr);
  },
});
