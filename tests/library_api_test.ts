/**
 * The library as another Deno program uses it: one naming of verbs (with
 * the former names kept as aliases), options that may be left out (the
 * default root, the config file's registries), and every failure a
 * `DenockerError`.
 */

import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import {
  fakeImage,
  manifestsFor,
  registryHandler,
  startServer,
  tempDir,
} from "./_fake_registry.ts";
import { craftTar } from "./_tar.ts";
import * as denocker from "../mod.ts";

function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Runs `fn` with environment variables set, then puts them back. */
async function withEnv<T>(values: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.keys(values).map((name) => [name, Deno.env.get(name)]));
  for (const [name, value] of Object.entries(values)) Deno.env.set(name, value);
  try {
    return await fn();
  } finally {
    for (const [name, value] of Object.entries(before)) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  }
}

Deno.test("verbs are named …Image(s); the former names stay as aliases for one release", () => {
  assertEquals(denocker.pull, denocker.pullImage);
  assertEquals(denocker.unpack, denocker.unpackImage);
  assertEquals(denocker.prune, denocker.pruneImages);
  for (
    const name of [
      "pullImage",
      "pushImage",
      "copyImage",
      "tagImage",
      "inspectImage",
      "listImages",
      "removeImages",
      "pruneImages",
      "saveImages",
      "loadImages",
      "exportImage",
      "unpackImage",
    ] as const
  ) {
    assertEquals(typeof denocker[name], "function", name);
  }
});

Deno.test("pullImage with no options: the default root and the config file's mirrors", async () => {
  const image = fakeImage([await craftTar([{ name: "hello.txt", body: "from the mirror" }])]);
  await using mirror = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  await using dir = await tempDir();
  // The registry itself is down: only the config file's mirror can serve the pull.
  const registry = `127.0.0.1:${closedPort()}`;
  const config = join(dir.path, "config.json");
  await Deno.writeTextFile(
    config,
    JSON.stringify({ registries: { [registry]: { mirrors: [mirror.origin] } } }),
  );
  const root = join(dir.path, "root");
  await withEnv({ DENOCKER_ROOT: root, DENOCKER_CONFIG: config }, async () => {
    const pulled = await denocker.pullImage(`${registry}/team/app`);
    assertEquals(pulled.imageId, image.configDigest);
    // listImages() without arguments reads the default root too, in docker's JSON names.
    const rows = await denocker.listImages();
    assertEquals(rows.map(({ Repository, Tag, ID }) => [Repository, Tag, ID]), [
      [`${registry}/team/app`, "latest", image.configDigest],
    ]);
    assertEquals((await denocker.inspectImage(`${registry}/team/app`)).Id, image.configDigest);
    // Told not to read the config (registries given, none), the pull goes to the registry.
    const error = await assertRejects(
      () => denocker.pullImage(`${registry}/team/other`, { registries: {} }),
      denocker.NetworkError,
    );
    assertEquals(
      error.message,
      `Cannot fetch manifest ${registry}/team/other:latest: cannot reach ${registry}: connection refused`,
    );
  });
});

Deno.test("every failure is a DenockerError, with a message in words", async () => {
  await using dir = await tempDir();
  const file = join(dir.path, "a-file");
  await Deno.writeTextFile(file, "not a store");
  const root = join(dir.path, "root");
  const cases: [string, () => Promise<unknown>][] = [
    ["a store root that is a file", () => denocker.listImages({ root: file })],
    ["an image not stored", () => denocker.inspectImage("nope:1", { root })],
    ["a bad reference", () => denocker.pullImage("a b", { root })],
    ["a tag of nothing", () => denocker.tagImage("nope:1", "other:1", { root })],
    ["unpack of nothing", () => denocker.unpackImage("nope:1", join(dir.path, "out"), { root })],
    ["save of nothing", () => denocker.saveImages(["nope:1"], new WritableStream(), { root })],
    ["export of nothing", () => denocker.exportImage("nope:1", new WritableStream(), { root })],
    ["load of garbage", () => denocker.loadImages(new Blob(["garbage"]).stream(), { root })],
    ["rmi of nothing", () => denocker.removeImages(["nope:1"], { root })],
    ["push of nothing", () => denocker.pushImage("127.0.0.1:5/nope:1", { root })],
    ["prune of a file", () => denocker.pruneImages({ root: file })],
    ["check of a file", () => denocker.checkStore({ root: file })],
    ["stop of no container", () => denocker.stopContainer("nope", { root })],
    [
      "a registry that is down",
      () => denocker.listTags(`127.0.0.1:${closedPort()}/team/app`),
    ],
    [
      "a layer that is not a tar",
      () =>
        denocker.extractLayer(new Blob(["x".repeat(1024)]).stream(), join(dir.path, "layer"), {}),
    ],
  ];
  for (const [what, call] of cases) {
    const error = await call().then(() => undefined, (error) => error);
    assert(error instanceof denocker.DenockerError, `${what}: ${error}`);
    assertEquals(error.message.includes("\n"), false, what);
    assert(error.message.startsWith("Cannot "), `${what}: ${error.message}`);
  }
});
