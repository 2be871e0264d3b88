/**
 * What a user of `pull` notices: the platform asked for is the platform
 * got, progress reaches every layer's size, the digest shown is the one
 * recorded, and warnings are never lost.
 */

import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { DENOCKER_RUN, runCli } from "./_cli.ts";
import { integrationTest } from "./_real_registry.ts";
import { screen } from "./_terminal.ts";
import {
  fakeImage,
  fakeIndex,
  manifestsFor,
  manifestsForIndex,
  registryHandler,
  startServer,
  tempDir,
} from "./_fake_registry.ts";
import { craftTar } from "./_tar.ts";
import { inspectImage, listImages } from "../lib/operations/inspect.ts";
import { hostPlatform, parsePlatform } from "../lib/model/platform.ts";
import { pull, type PullEvent } from "../lib/operations/pull.ts";
import { removeImages } from "../lib/operations/remove.ts";
import { ImageNotFoundError } from "../lib/errors.ts";

const host = hostPlatform().architecture;
const other = host === "arm64" ? "amd64" : "arm64";

/**
 * A registry serving `single` (an image of the other architecture) and `multi` (an index);
 * `await using` closes it at the end of the scope.
 */
async function platformRegistry() {
  const hostImage = fakeImage([await craftTar([{ name: "host.txt", body: host }])], {
    architecture: host,
  });
  const otherImage = fakeImage([await craftTar([{ name: "other.txt", body: other }])], {
    architecture: other,
  });
  const index = fakeIndex([
    { image: hostImage, platform: { os: "linux", architecture: host } },
    { image: otherImage, platform: { os: "linux", architecture: other } },
  ]);
  const server = startServer(registryHandler({
    manifests: new Map([
      ...manifestsFor(otherImage, "single"),
      ...manifestsForIndex(index, [hostImage, otherImage], "multi"),
    ]),
    blobs: new Map([...hostImage.blobs, ...otherImage.blobs]),
  }));
  return { server, hostImage, otherImage, index, [Symbol.asyncDispose]: () => server.close() };
}

Deno.test("--platform always holds", async (t) => {
  await using registry = await platformRegistry();
  const { server, hostImage, otherImage } = registry;
  await using root = await tempDir();
  const app = `${server.host}/team/app`;
  await t.step("an explicit platform refuses a single-platform image of another", async () => {
    const error = await assertRejects(
      () => pull(`${app}:single`, { root: root.path, platform: hostPlatform() }),
      ImageNotFoundError,
    );
    assertEquals(
      error.message,
      `image with reference ${app}:single was found but does not match the specified platform: wanted linux/${host}, actual: linux/${other}`,
    );
    assertEquals(await listImages({ root: root.path }), []);
    const cli = await runCli(["pull", "--root", root.path, "--platform", host, `${app}:single`]);
    assertEquals(cli.code, 1);
    assertMatch(cli.stderr, /\ndenocker: image with reference .* was found but does not match/);
    assertEquals(await listImages({ root: root.path }), []);
  });

  await t.step("without --platform, another platform's image comes with a warning", async () => {
    const events: PullEvent[] = [];
    const result = await pull(`${app}:single`, {
      root: root.path,
      onProgress: (event) => events.push(event),
    });
    assertEquals(result.imageId, otherImage.configDigest);
    assert(
      events.some((event) =>
        event.type === "warning" && event.message.includes(`(linux/${other}) does not match`)
      ),
      "no platform warning",
    );
  });

  await t.step("pull --missing serves a stored image only for its platform", async () => {
    const stored = await pull(`${app}:multi`, { root: root.path });
    assertEquals(stored.imageId, hostImage.configDigest);
    const before = server.requests.length;
    const again = await pull(`${app}:multi`, { root: root.path, missing: true });
    assertEquals([again.imageId, again.cached], [hostImage.configDigest, true]);
    assertEquals(server.requests.length, before, "the stored image should need no request");
    const wanted = await pull(`${app}:multi`, {
      root: root.path,
      missing: true,
      platform: { os: "linux", architecture: other },
    });
    assertEquals(wanted.imageId, otherImage.configDigest);
    assert(server.requests.length > before, "the other platform must be asked for");
    assertEquals(wanted.platform.architecture, other);
  });

  await t.step("spellings are normalised before choosing from an index", async () => {
    const spelled = other === "arm64" ? "linux/aarch64" : "linux/x86_64";
    const result = await pull(`${app}:multi`, {
      root: root.path,
      platform: parsePlatform(spelled),
    });
    assertEquals(result.imageId, otherImage.configDigest);
  });
});

/** Random bytes (so that nothing compresses them away) as a tar file's body. */
function randomText(bytes: number): string {
  const random = crypto.getRandomValues(new Uint8Array(Math.min(bytes, 65536)));
  let text = "";
  while (text.length < bytes) text += btoa(String.fromCharCode(...random));
  return text.slice(0, bytes);
}

Deno.test("progress reaches exactly each layer's size", async () => {
  const layers = await Promise.all(
    [3_000_000, 400_000, 2_000].map((size, i) =>
      craftTar([{ name: `file${i}`, body: randomText(size) }])
    ),
  );
  const image = fakeImage(layers);
  await using server = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  await using root = await tempDir();
  const events: PullEvent[] = [];
  await pull(`${server.host}/team/app`, {
    root: root.path,
    onProgress: (event) => events.push(event),
  });
  for (const layer of layers) {
    const size = layer.byteLength;
    const [{ digest }] = [...image.blobs].filter(([, bytes]) => bytes === layer).map((
      [digest],
    ) => ({ digest }));
    const mine = events.filter((event) => "digest" in event && event.digest === digest);
    const progress = mine.filter((event) => event.type === "layer-progress");
    assert(progress.length > 0, `no progress for ${digest}`);
    assertEquals((progress.at(-1) as { bytes: number }).bytes, size);
    assertEquals(mine.map((event) => event.type).slice(-2), ["layer-extracting", "layer-done"]);
  }
});

Deno.test("the digest pull shows is the one recorded, and rmi takes its repository's", async () => {
  await using registry = await platformRegistry();
  const { server, index } = registry;
  await using root = await tempDir();
  const app = `${server.host}/team/app`;
  const copy = `${server.host}/team/copy`;
  const cli = await runCli(["pull", "--root", root.path, `${app}:multi`]);
  assertEquals(cli.code, 0, cli.stderr);
  assertMatch(cli.stderr, new RegExp(`\nDigest: ${index.digest}\n`));
  assertEquals((await listImages({ root: root.path })).map((row) => row.Digest), [index.digest]);
  const digests = await runCli(["images", "--digests", "--root", root.path]);
  assertMatch(
    digests.stdout,
    new RegExp(`${app.replaceAll(".", "\\.")}\\s+multi\\s+${index.digest}`),
  );
  assertEquals((await inspectImage(`${app}:multi`, { root: root.path })).RepoDigests, [
    `${app}@${index.digest}`,
  ]);

  await pull(`${copy}:multi`, { root: root.path });
  assertEquals((await inspectImage(`${app}:multi`, { root: root.path })).RepoDigests, [
    `${app}@${index.digest}`,
    `${copy}@${index.digest}`,
  ]);
  const removed = await removeImages([`${app}:multi`], { root: root.path });
  assertEquals(removed.untagged, [`${app}:multi`, `${app}@${index.digest}`]);
  const left = await inspectImage(`${copy}:multi`, { root: root.path });
  assertEquals([left.RepoTags, left.RepoDigests], [[`${copy}:multi`], [
    `${copy}@${index.digest}`,
  ]]);
});

Deno.test("pull NAME:TAG@DIGEST pulls by digest and leaves the tag where it was", async () => {
  const current = fakeImage([await craftTar([{ name: "v.txt", body: "current" }])], {
    architecture: host,
  });
  const older = fakeImage([await craftTar([{ name: "v.txt", body: "older" }])], {
    architecture: host,
  });
  await using server = startServer(registryHandler({
    manifests: new Map([...manifestsFor(current, "v1"), ...manifestsFor(older, "old")]),
    blobs: new Map([...current.blobs, ...older.blobs]),
  }));
  await using root = await tempDir();
  const app = `${server.host}/team/app`;
  const tagged = await runCli(["pull", "-q", "--root", root.path, `${app}:v1`]);
  assertEquals(tagged.code, 0, tagged.stderr);
  // The registry's v1 is `current`; the digest names `older`: docker pulls `older` by digest.
  const pinned = await runCli(["pull", "--root", root.path, `${app}:v1@${older.manifestDigest}`]);
  assertEquals(pinned.code, 0, pinned.stderr);
  assertMatch(pinned.stderr, new RegExp(`\nDigest: ${older.manifestDigest}\n`));
  const v1 = await inspectImage(`${app}:v1`, { root: root.path });
  assertEquals(v1.Id, current.configDigest);
  const byDigest = await inspectImage(`${app}@${older.manifestDigest}`, { root: root.path });
  assertEquals([byDigest.Id, byDigest.RepoTags, byDigest.RepoDigests], [
    older.configDigest,
    [],
    [`${app}@${older.manifestDigest}`],
  ]);
  // Into an empty root: no tag at all, as docker records it.
  await using fresh = await tempDir();
  await pull(`${app}:v1@${older.manifestDigest}`, { root: fresh.path });
  assertEquals((await listImages({ root: fresh.path })).map((row) => [row.Tag, row.Digest]), [[
    "<none>",
    older.manifestDigest,
  ]]);
});

Deno.test("pull says what docker says: default tag, a name new to the root, an unchanged re-pull", async () => {
  const image = fakeImage([
    await craftTar([{ name: "a.txt", body: "a" }]),
    await craftTar([{ name: "b.txt", body: "b" }]),
  ], { architecture: host });
  await using server = startServer(registryHandler({
    manifests: new Map([...manifestsFor(image, "latest"), ...manifestsFor(image, "v2")]),
    blobs: image.blobs,
  }));
  await using root = await tempDir();
  const app = `${server.host}/team/app`;
  const layerLines = (stderr: string) =>
    stderr.split("\n").filter((line) => /^[0-9a-f]{12}: /.test(line));
  const first = await runCli(["pull", "--root", root.path, app]);
  assertEquals(first.code, 0, first.stderr);
  assertEquals(first.stderr.split("\n").slice(0, 2), [
    "Using default tag: latest",
    "latest: Pulling from team/app",
  ]);
  assertMatch(first.stderr, /\nStatus: Downloaded newer image for .*team\/app:latest\n$/);
  // Unchanged: no line per layer (no "Waiting", no "Already exists"), as docker prints it.
  const again = await runCli(["pull", "--root", root.path, `${app}:latest`]);
  assertEquals(again.code, 0, again.stderr);
  assertEquals(layerLines(again.stderr), []);
  assertEquals(again.stderr.includes("Using default tag"), false);
  assertMatch(again.stderr, /\nStatus: Image is up to date for .*team\/app:latest\n$/);
  // The image is stored, but the tag v2 is new to this root: docker says "Downloaded newer".
  const tag = await runCli(["pull", "--root", root.path, `${app}:v2`]);
  assertEquals(tag.code, 0, tag.stderr);
  assertEquals(layerLines(tag.stderr), []);
  assertMatch(tag.stderr, /\nStatus: Downloaded newer image for .*team\/app:v2\n$/);
});

Deno.test("a device-node warning reaches piped output", async () => {
  const layer = await craftTar([
    { name: "dev/", type: "directory" },
    { name: "dev/null", type: "character-device" },
    { name: "hello.txt", body: "hello" },
  ]);
  const image = fakeImage([layer]);
  await using server = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  await using root = await tempDir();
  const result = await runCli(["pull", "--root", root.path, `${server.host}/team/app`]);
  assertEquals(result.code, 0, result.stderr);
  const short = [...image.blobs.keys()].find((digest) => image.blobs.get(digest) === layer)!;
  assertMatch(
    result.stderr,
    new RegExp(
      `\nwarning: layer ${short}: skipped 1 device node\\(s\\) or FIFO\\(s\\), e.g. /dev/null`,
    ),
  );
  assertMatch(result.stderr, new RegExp(`\n${short.slice(7, 19)}: Pull complete\n`));
  // -q keeps stdout to the ID, and the warning still reaches stderr.
  const quiet = await runCli([
    "pull",
    "-q",
    "--root",
    `${root.path}/quiet`,
    `${server.host}/team/app`,
  ]);
  assertEquals(quiet.stdout, `${image.configDigest}\n`);
  assertMatch(quiet.stderr, /^warning: layer sha256:[0-9a-f]{64}: skipped 1 device node/);
});

/** Runs `deno ARGS` on a pseudo-terminal (as a user's shell would) and returns what it showed. */
async function runInTerminal(args: string[]): Promise<{ code: number; screen: string[] }> {
  const command = [Deno.execPath(), ...args].map((word) => `'${word}'`).join(" ");
  const output = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    env: { NO_COLOR: "1" },
    // A permission prompt (Deno prompts on a terminal) would otherwise wait forever.
    signal: AbortSignal.timeout(60_000),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, screen: screen(new TextDecoder().decode(output.stdout)) };
}

integrationTest("on a terminal, pull redraws its layer lines and ends like docker", [
  "script",
], async () => {
  const layers = await Promise.all([
    craftTar([{ name: "big", body: randomText(2_000_000) }]),
    craftTar([{ name: "dev/", type: "directory" }, { name: "dev/zero", type: "character-device" }]),
    craftTar([{ name: "small", body: "small" }]),
  ]);
  const image = fakeImage(layers);
  await using server = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  await using root = await tempDir();
  const shown = await runInTerminal([
    ...DENOCKER_RUN,
    "pull",
    "--root",
    root.path,
    `${server.host}/team/app`,
  ]);
  assertEquals(shown.code, 0, shown.screen.join("\n"));
  const short = (bytes: Uint8Array) =>
    [...image.blobs].find(([, blob]) => blob === bytes)![0].slice(7, 19);
  const device = [...image.blobs].find(([, blob]) => blob === layers[1])![0];
  assertEquals(shown.screen, [
    "Using default tag: latest",
    "latest: Pulling from team/app",
    `warning: layer ${device}: skipped 1 device node(s) or FIFO(s), e.g. /dev/zero (Deno cannot create them)`,
    `${short(layers[0])}: Pull complete`,
    `${short(layers[1])}: Pull complete`,
    `${short(layers[2])}: Pull complete`,
    `Digest: ${image.manifestDigest}`,
    `Status: Downloaded newer image for ${server.host}/team/app:latest`,
    image.configDigest,
  ]);
});

integrationTest("on a terminal, scoped permissions never stop a pull at a prompt", [
  "script",
], async () => {
  const image = fakeImage([await craftTar([{ name: "hello.txt", body: "hello" }])]);
  await using server = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  await using root = await tempDir();
  // A crashed command's staging: cleaning it asks about /proc, outside the granted reads.
  await Deno.mkdir(`${root.path}/tmp/1-crashed`, { recursive: true });
  const shown = await runInTerminal([
    "run",
    `--allow-net=${server.host}`,
    `--allow-read=${root.path}`,
    `--allow-write=${root.path}`,
    "--allow-env",
    // Narrower than the README's minimum: the umask may not be read either.
    "--allow-sys=uid,gid",
    new URL("../cli.ts", import.meta.url).pathname,
    "pull",
    "-q",
    "--root",
    root.path,
    `${server.host}/team/app`,
  ]);
  assertEquals([shown.code, shown.screen], [0, [image.configDigest]]);
});
