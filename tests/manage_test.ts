import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import {
  fakeImage,
  listFiles,
  manifestsFor,
  registryHandler,
  startServer,
  tempDir,
} from "./_fake_registry.ts";
import { runCli } from "./_cli.ts";
import { craftTar } from "./_tar.ts";
import { ImageIndex } from "../lib/store/image_index.ts";
import { pull } from "../lib/operations/pull.ts";

/** Runs the CLI as a user would, with the task's permissions. */
function cli(args: string[], env: Record<string, string> = {}, cwd?: string) {
  return runCli(args, { env, cwd });
}

const base = await craftTar([{ name: "etc/", type: "directory" }, {
  name: "etc/base",
  body: "shared base",
}]);
const topOne = await craftTar([{ name: "one.txt", body: "one" }]);
const topTwo = await craftTar([{ name: "two.txt", body: "two" }]);

/** A registry with two images that share their base layer; `await using` closes it. */
function twoImages(options: { delayMs?: number } = {}) {
  const one = fakeImage([base, topOne]);
  const two = fakeImage([base, topTwo], { architecture: "amd64" });
  const handler = registryHandler({
    manifests: new Map([...manifestsFor(one, "one"), ...manifestsFor(two, "two")]),
    blobs: new Map([...one.blobs, ...two.blobs]),
  });
  const server = startServer(async (request, url) => {
    if (options.delayMs && url.pathname.includes("/blobs/")) {
      await new Promise((resolve) => setTimeout(resolve, options.delayMs));
    }
    return handler(request, url);
  });
  return { one, two, server, [Symbol.asyncDispose]: () => server.close() };
}

Deno.test("two processes pulling into one root both end up in images.json", async () => {
  await using registry = twoImages({ delayMs: 300 });
  const { one, two, server } = registry;
  await using root = await tempDir();
  const [a, b] = await Promise.all([
    cli(["pull", "-q", "--root", root.path, `${server.host}/team/app:one`]),
    cli(["pull", "-q", "--root", root.path, `${server.host}/team/other:two`]),
  ]);
  assertEquals([a.code, b.code], [0, 0], a.stderr + b.stderr);
  assertEquals(a.stdout, `${one.configDigest}\n`);
  assertEquals(b.stdout, `${two.configDigest}\n`);
  assertEquals(await new ImageIndex(root.path).load(), {
    [`${server.host}/team/app`]: { one: one.configDigest },
    [`${server.host}/team/other`]: { two: two.configDigest },
  });
  assertEquals(await listFiles(root.path, "tmp"), []);
  // Extracted trees may hold setuid files: only the owner may reach them.
  for (const directory of ["layers", "tmp"]) {
    assertEquals((await Deno.stat(join(root.path, directory))).mode! & 0o777, 0o700);
  }
});

Deno.test("images.json keeps every entry when writers race", async () => {
  await using root = await tempDir();
  const index = new ImageIndex(root.path);
  await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) => index.set(`repo${i % 3}`, `tag${i}`, `sha256:${String(i % 10).repeat(64)}`),
    ),
  );
  assertEquals((await index.list()).length, 20);
});

Deno.test("a corrupt images.json is reported, never replaced", async () => {
  await using registry = twoImages();
  const { server } = registry;
  await using root = await tempDir();
  await Deno.writeTextFile(join(root.path, "images.json"), "{not json");
  for (
    const args of [
      ["images", "--root", root.path],
      ["pull", "--root", root.path, `${server.host}/team/app:one`],
    ]
  ) {
    const result = await cli(args);
    assertEquals(result.code, 1);
    assertEquals(
      result.stderr.trim().split("\n").at(-1),
      `denocker: Cannot read ${root.path}/images.json: it is not valid JSON (fix or move it away)`,
    );
  }
  assertEquals(await Deno.readTextFile(join(root.path, "images.json")), "{not json");
});

Deno.test("managing stored images from the command line", async (t) => {
  await using registry = twoImages();
  const { one, two, server } = registry;
  await using root = await tempDir();
  const app = `${server.host}/team/app`;
  assertEquals((await cli(["pull", "-q", "--root", root.path, `${app}:one`])).code, 0);
  assertEquals((await cli(["pull", "-q", "--root", root.path, `${app}:two`])).code, 0);
  assertEquals(
    (await cli(["pull", "-q", "--root", root.path, `${app}@${one.manifestDigest}`])).code,
    0,
  );

  await t.step("a second pull of an unchanged tag transfers nothing", async () => {
    const before = server.requests.length;
    const result = await cli(["pull", "--root", root.path, `${app}:one`]);
    assertEquals(result.code, 0);
    assertMatch(result.stderr, new RegExp(`Status: Image is up to date for ${app}:one\n`));
    assertEquals(
      server.requests.slice(before).map((request) =>
        `${request.method} ${request.path.split("/").slice(-2, -1)}`
      ),
      ["HEAD manifests"],
    );
  });

  await t.step("pull --missing answers from the store without the registry", async () => {
    const before = server.requests.length;
    const result = await cli(["pull", "--missing", "-q", "--root", root.path, `${app}:two`]);
    assertEquals(result, { code: 0, stdout: `${two.configDigest}\n`, stderr: "" });
    assertEquals(server.requests.length, before);
  });

  await t.step("images lists tags, IDs shortened like docker's", async () => {
    const result = await cli(["images", "--root", root.path]);
    assertEquals(result.code, 0);
    const lines = result.stdout.trim().split("\n");
    assertMatch(lines[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assertEquals(lines.length, 3);
    assert(
      lines.some((line) =>
        line.startsWith(app) && line.includes(" one ") &&
        line.includes(one.configDigest.slice(7, 19))
      ),
    );
    const quiet = await cli(["images", "-q", "--root", root.path]);
    assertEquals(
      quiet.stdout.trim().split("\n").sort(),
      [one.configDigest.slice(7, 19), two.configDigest.slice(7, 19)].sort(),
    );
    const json = JSON.parse((await cli(["images", "--json", "--root", root.path])).stdout);
    assertEquals(json.length, 2);
    assertEquals(
      json.find((row: { Tag: string }) => row.Tag === "one").Digest,
      one.manifestDigest,
    );
    const digests = await cli(["images", "--digests", "--root", root.path]);
    assertMatch(digests.stdout, new RegExp(`one\\s+${one.manifestDigest}`));
  });

  await t.step(
    "every spelling of a reference, and short and full IDs, inspect the same image",
    async () => {
      const spellings = [
        `${app}:one`,
        `${app}@${one.manifestDigest}`,
        one.configDigest,
        one.configDigest.slice(7, 19),
      ];
      for (const spelling of spellings) {
        const result = await cli(["inspect", "--root", root.path, spelling]);
        assertEquals(result.code, 0, result.stderr);
        const [info] = JSON.parse(result.stdout);
        assertEquals(info.Id, one.configDigest);
        assertEquals(info.RepoTags, [`${app}:one`]);
        assertEquals(info.RepoDigests, [`${app}@${one.manifestDigest}`]);
        assertEquals(info.Architecture, "amd64");
        assertEquals(info.Os, "linux");
        assertEquals(info.RootFS.Layers.length, 2);
        assert(info.Size > 0);
      }
      const missing = await cli(["inspect", "--root", root.path, "nothere:1"]);
      assertEquals(missing.code, 1);
      assertEquals(
        missing.stderr,
        'denocker: Cannot find image "nothere:1": no such image in the store\n',
      );
    },
  );

  await t.step("rmi of one of two images sharing a layer keeps the shared layer", async () => {
    const layersBefore = await listFiles(root.path, "layers");
    const result = await cli(["rmi", "--root", root.path, `${app}:two`]);
    assertEquals(result.code, 0, result.stderr);
    assertEquals(
      result.stdout,
      `Untagged: ${app}:two\nUntagged: ${app}@${two.manifestDigest}\nDeleted: ${two.configDigest}\n`,
    );
    const layersAfter = await listFiles(root.path, "layers");
    const baseDiffId = [...one.blobs.keys()].find((digest) =>
      digest !== one.configDigest && one.blobs.get(digest) === base
    )!;
    assert(
      layersAfter.some((path) => path.startsWith(`layers/${baseDiffId.slice(7)}/`)),
      "shared layer deleted",
    );
    assertEquals(layersBefore.length - layersAfter.length, 2); // two.txt layer: fs/two.txt and layer.json
    const blobs = (await listFiles(root.path, "blobs/sha256")).map((path) =>
      `sha256:${path.split("/").pop()}`
    );
    assert(!blobs.includes(two.configDigest) && !blobs.includes(two.manifestDigest));
    assert(blobs.includes(one.configDigest) && blobs.includes(baseDiffId));
    assertEquals(Object.keys((await new ImageIndex(root.path).load())[app]), ["one"]);
  });

  await t.step(
    "rmi of a tag while another tag points to the image removes only the tag",
    async () => {
      await pull(`${app}:one`, { root: root.path }); // tag "one" again
      const index = new ImageIndex(root.path);
      await index.set(app, "alias", one.configDigest);
      const result = await cli(["rmi", "--root", root.path, `${app}:alias`]);
      assertEquals(result.stdout, `Untagged: ${app}:alias\n`);
      assertEquals(await index.get(app, "one"), one.configDigest);
      assertEquals((await cli(["inspect", "--root", root.path, `${app}:one`])).code, 0);
    },
  );

  await t.step("rmi of something unknown removes nothing", async () => {
    const before = await listFiles(root.path);
    const result = await cli(["rmi", "--root", root.path, `${app}:one`, "nothere"]);
    assertEquals(result.code, 1);
    assertEquals(await listFiles(root.path), before);
  });

  await t.step("prune removes what no image uses", async () => {
    await Deno.mkdir(join(root.path, "layers", "f".repeat(64), "fs"), { recursive: true });
    await Deno.writeTextFile(join(root.path, "blobs", "sha256", "e".repeat(64)), "orphan");
    await Deno.writeTextFile(join(root.path, "tmp", "leftover"), "x");
    const result = await cli(["prune", "--root", root.path]);
    assertEquals(result.code, 0, result.stderr);
    assertMatch(result.stdout, /Removed 1 layers, 1 blobs, 1 temp entries/);
    assertEquals(await listFiles(root.path, "tmp"), []);
    assertEquals((await cli(["inspect", "--root", root.path, `${app}:one`])).code, 0);
  });

  await t.step("unpack writes the flattened tree to a new directory", async () => {
    const out = join(root.path, "..", `rootfs-${crypto.randomUUID()}`);
    const result = await cli(["unpack", "--root", root.path, `${app}:one`, out]);
    assertEquals(result.code, 0, result.stderr);
    assertEquals(await Deno.readTextFile(join(out, "etc/base")), "shared base");
    assertEquals(await Deno.readTextFile(join(out, "one.txt")), "one");
    const again = await cli(["unpack", "--root", root.path, `${app}:one`, out]);
    assertEquals(again.code, 1);
    assertEquals(again.stderr, `denocker: Cannot unpack into ${out}: it is not empty\n`);
    await Deno.remove(out, { recursive: true });
  });
});

Deno.test("bad input gets one line and exit code 2, before any network or disk access", async () => {
  await using root = await tempDir();
  const cases: [string[], RegExp][] = [
    [
      ["pull", "--root", root.path, "Alpine"],
      /^denocker: Cannot parse reference "Alpine": repository name must be lowercase\nSee .denocker pull --help.\.\n$/,
    ],
    [
      ["pull", "--root", root.path, "--platform", "linux/", "alpine"],
      /^denocker: Cannot parse platform "linux\/"/,
    ],
    [["pull", "--root", root.path, "--max-concurrent-downloads", "0", "alpine"], /at least 1/],
    [["pull", "--root", root.path], /^denocker: "pull" requires exactly 1 argument \(IMAGE\)\n/],
    [
      ["pull", "--bogus", "alpine"],
      /^denocker: unknown flag: --bogus\nSee 'denocker pull --help'.\n$/,
    ],
    [["pull", "--root"], /^denocker: flag needs an argument: --root\n/],
    [
      ["frobnicate"],
      /^denocker: 'frobnicate' is not a denocker command.\nSee 'denocker --help'.\n$/,
    ],
    [["images", "--root", ""], /^denocker: --root needs a directory, got an empty string\n/],
    [["--root", "", "images"], /^denocker: --root needs a directory, got an empty string\n/],
    [["unpack", "--root", root.path, "alpine", ""], /^denocker: "unpack" needs a DIR/],
    [
      ["pull", "--root", root.path, "--insecure-registry", "ftp://registry.lan", "alpine"],
      /^denocker: Cannot use insecure registry "ftp:\/\/registry.lan": the scheme ftp:\/\/ is not HTTP/,
    ],
    [
      ["pull", "--root", root.path, "--insecure-registry", "registry.lan/v2", "alpine"],
      /it names a path, not just a host/,
    ],
  ];
  for (const [args, pattern] of cases) {
    // Run inside the root: an empty --root once wrote the store into the current directory.
    const result = await cli(args, {}, root.path);
    assertEquals(result.code, 2, args.join(" "));
    assertMatch(result.stderr, pattern);
    assert(!result.stderr.includes("    at "), "stack trace printed");
  }
  assertEquals(await listFiles(root.path), []);
  await assertRejects(() => Deno.stat(join(root.path, "images.json")), Deno.errors.NotFound);
});

Deno.test("start-up cleaning removes crashed commands' leftovers, never a running one's", async () => {
  await using registry = twoImages();
  const { server } = registry;
  await using root = await tempDir();
  await using sleeper = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const tmp = join(root.path, "tmp");
  const running = join(tmp, `${sleeper.pid}-running`);
  const crashed = join(tmp, `${sleeper.pid + 1_000_000}-crashed`);
  const strayOld = join(tmp, "stray-old");
  for (const path of [running, crashed]) await Deno.mkdir(path, { recursive: true });
  await Deno.writeTextFile(strayOld, "x");
  const hourAgo = new Date(Date.now() - 3_600_000);
  for (const path of [crashed, strayOld]) await Deno.utime(path, hourAgo, hourAgo);
  // The CLI runs without --allow-all, so /proc is closed to it: heartbeats tell.
  const result = await cli(["pull", "-q", "--root", root.path, `${server.host}/team/app:one`]);
  assertEquals(result.code, 0, result.stderr);
  assertEquals((await Array.fromAsync(Deno.readDir(tmp))).map((entry) => entry.name), [
    `${sleeper.pid}-running`,
  ]);
});
