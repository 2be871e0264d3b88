/**
 * `check` finds what crashes leave, `check --repair` clears it so that a
 * pull restores the image, and a pull killed at any moment leaves a store
 * that `check` finds clean (or repairs) and the next pull completes.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { runCli, spawnCli } from "./_cli.ts";
import { fakeImage, tempDir } from "./_fake_registry.ts";
import { faultyRegistry, noise } from "./_faulty_registry.ts";
import { craftTar } from "./_tar.ts";

const image = fakeImage([
  await craftTar([{ name: "etc/", type: "directory" }, { name: "etc/a", body: "a" }]),
  await craftTar([{ name: "big.bin", body: noise(1_500_000) }]),
]);

Deno.test("check finds what is broken and --repair clears it for the next pull", async () => {
  await using root = await tempDir();
  await using registry = faultyRegistry(image, () => undefined);
  const app = `${registry.server.host}/team/app`;
  assertEquals((await runCli(["pull", "-q", "--root", root.path, app])).code, 0);
  const clean = await runCli(["check", "--root", root.path]);
  assertEquals([clean.code, clean.stdout], [0, `${root.path}: no problem found\n`]);

  const [firstLayer] = [...image.blobs.keys()];
  const blobPath = join(root.path, "blobs", "sha256", firstLayer.slice(7));
  const bytes = await Deno.readFile(blobPath);
  bytes[10] ^= 0xff;
  await Deno.writeFile(blobPath, bytes);
  await Deno.writeTextFile(join(root.path, ".write.stray.tmp"), "half");
  const index = JSON.parse(await Deno.readTextFile(join(root.path, "images.json")));
  index.ghost = { latest: `sha256:${"e".repeat(64)}` };
  await Deno.writeTextFile(join(root.path, "images.json"), JSON.stringify(index));

  const broken = await runCli(["check", "--root", root.path]);
  assertEquals(broken.code, 1);
  const lines = broken.stdout.trim().split("\n");
  // The broken blob, the image that lost it, that image's tag, the ghost tag, the stray file.
  assertEquals(lines.length, 5, broken.stdout);
  assertMatch(
    broken.stdout,
    /images.json: .*\/team\/app:latest names image [0-9a-f]{12}, which is not stored/,
  );
  assertMatch(broken.stdout, /blob sha256:[0-9a-f]{64}: its content has another digest/);
  assertMatch(broken.stdout, /missing blob sha256:[0-9a-f]{64} \(pull it again\)/);
  assertMatch(
    broken.stdout,
    /images.json: ghost:latest names image eeeeeeeeeeee, which is not stored/,
  );
  assertMatch(broken.stdout, /\.write\.stray\.tmp: a half-written file/);

  const repaired = await runCli(["check", "--repair", "--root", root.path]);
  assertEquals(repaired.code, 0, repaired.stdout + repaired.stderr);
  assert(repaired.stdout.trim().split("\n").every((line) => line.startsWith("repaired: ")));
  assertEquals((await runCli(["check", "--root", root.path])).code, 0);
  // The un-recorded image comes back with a pull.
  const again = await runCli(["pull", "-q", "--root", root.path, app]);
  assertEquals([again.code, again.stdout], [0, `${image.configDigest}\n`], again.stderr);
  assertEquals((await runCli(["check", "--root", root.path])).code, 0);
});

Deno.test("a pull killed at random moments leaves a store the next pull completes", async () => {
  const seed = Number(Deno.env.get("KILL_SEED") ?? 7);
  // deno-lint-ignore no-console
  console.log(`kill seed ${seed} (set KILL_SEED to replay)`);
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
  await using registry = faultyRegistry(image, () => undefined, { chunkDelayMs: 5 });
  const app = `${registry.server.host}/team/app`;
  for (let round = 0; round < 6; round++) {
    await using root = await tempDir();
    const asked = registry.log.length;
    const child = spawnCli(["pull", "-q", "--root", root.path, app]);
    // The kill falls at a random point of the pull itself, however long Deno takes to start.
    while (registry.log.length === asked) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, random() * 700));
    try {
      child.kill("SIGKILL");
    } catch {
      // It finished first: a complete pull is one of the states a kill can leave too.
    }
    await child.status;
    const check = await runCli(["check", "--root", root.path]);
    assertEquals(check.code, 0, `round ${round}: ${check.stdout}`);
    const before = registry.log.length;
    const again = await runCli(["pull", "-q", "--root", root.path, app]);
    assertEquals([again.code, again.stdout], [0, `${image.configDigest}\n`], again.stderr);
    assertEquals((await runCli(["check", "--root", root.path])).code, 0);
    const fetched = registry.log.slice(before).reduce((sum, entry) => sum + entry.bytes, 0);
    // deno-lint-ignore no-console
    console.log(`round ${round}: the re-pull fetched ${fetched} bytes`);
  }
});

Deno.test("a killed command's staging is cleaned by the next command at once", async () => {
  await using root = await tempDir();
  await using slow = faultyRegistry(image, () => undefined, { chunkDelayMs: 20 });
  const small = fakeImage([await craftTar([{ name: "small", body: "small" }])]);
  await using quick = faultyRegistry(small, () => undefined);
  const child = spawnCli(["pull", "-q", "--root", root.path, `${slow.server.host}/team/app`]);
  const tmp = join(root.path, "tmp");
  // Staging directories (a pull also writes temp files there, which go by age).
  const staged = async () =>
    (await Array.fromAsync(Deno.readDir(tmp)).catch(() => [])).filter((entry) =>
      entry.isDirectory && !entry.name.startsWith(".")
    );
  while ((await staged()).length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  const [killed] = await staged();
  child.kill("SIGKILL");
  await child.status;
  // The next command (with the task's scoped permissions: no /proc) removes it at once,
  // not a minute later when its heartbeat would count as stopped.
  const next = await runCli([
    "pull",
    "-q",
    "--root",
    root.path,
    `${quick.server.host}/team/small`,
  ]);
  assertEquals(next.code, 0, next.stderr);
  const left = (await staged()).map((entry) => entry.name);
  assert(!left.includes(killed.name), `${killed.name} is still there`);
});
