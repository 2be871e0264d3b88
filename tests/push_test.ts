/** `push`: a stored image uploaded to a real registry, the same bytes, the same digests. */

import { join } from "node:path";
import { assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_cli.ts";
import {
  fakeImage,
  manifestsFor,
  registryHandler,
  startServer,
  tempDir,
} from "./_fake_registry.ts";
import { craftTar } from "./_tar.ts";
import { noise } from "./_faulty_registry.ts";
import { pushImage } from "../lib/operations/push.ts";
import { tagImage } from "../lib/operations/tag.ts";
import { integrationTest, OciLayout, run, startRegistry } from "./_real_registry.ts";
import { digestOf as digestOfContent } from "../lib/model/digest.ts";

integrationTest("push uploads a stored image byte for byte; a second push sends nothing", [
  "docker-registry",
  "skopeo",
  "umoci",
], async () => {
  await using registry = await startRegistry();
  await using layout = await OciLayout.create();
  await using root = await tempDir();
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
  // As docker prints it: the repository, then one line per layer (the config is not listed);
  // the layer came by a cross-repository mount from the repository it was pulled from.
  const lines = pushed.stderr.trimEnd().split("\n");
  assertEquals(lines[0], `The push refers to repository [${registry.host}/other/copy]`);
  assertEquals(lines.length, 2, pushed.stderr);
  assertMatch(lines[1], /^[0-9a-f]{12}: Mounted from team\/source$/);
  // And the image now has the registry's digest of the push, as docker records it.
  assertEquals(
    JSON.parse((await runCli(["inspect", "--root", root.path, target])).stdout)[0].RepoDigests,
    [
      `${registry.host}/team/source@${sourceDigest}`,
      `${registry.host}/other/copy@${sourceDigest}`,
    ],
  );
  const inspected = JSON.parse(
    await run("skopeo", ["inspect", "--tls-verify=false", `docker://${target}`]),
  );
  assertEquals(inspected.Digest, sourceDigest);

  const again = await runCli(["push", "--root", root.path, target]);
  assertEquals(again.code, 0, again.stderr);
  assertEquals(again.stderr.trim().split("\n").slice(1).map((line) => line.slice(12)), [
    ": Layer already exists",
  ]);

  // To another registry nothing can be mounted from: every blob is uploaded.
  {
    await using second = await startRegistry();
    const elsewhere = `${second.host}/team/moved:3`;
    assertEquals((await runCli(["tag", "--root", root.path, source, elsewhere])).code, 0);
    const uploaded = await runCli(["push", "--root", root.path, elsewhere]);
    assertEquals(uploaded.code, 0, uploaded.stderr);
    assertEquals(uploaded.stderr.trim().split("\n").slice(1).map((line) => line.slice(12)), [
      ": Pushed",
    ]);
    const moved = JSON.parse(
      await run("skopeo", ["inspect", "--tls-verify=false", `docker://${elsewhere}`]),
    );
    assertEquals(moved.Digest, sourceDigest);

    // Chunked: PATCHes of 1 KiB with Content-Range, as the real registry takes them.
    const chunked = `${second.host}/team/chunked:4`;
    await tagImage(source, chunked, { root: root.path });
    const result = await pushImage(chunked, { root: root.path, chunkSize: 1024 });
    assertEquals(result.digest, sourceDigest);
    await using fresh = await tempDir();
    const repulled = await runCli(["pull", "-q", "--root", fresh.path, chunked]);
    assertEquals([repulled.code, repulled.stdout], [0, pulled.stdout], repulled.stderr);
  }

  // A fresh root pulls what was pushed: the same image.
  await using fresh = await tempDir();
  const repulled = await runCli(["pull", "-q", "--root", fresh.path, target]);
  assertEquals([repulled.code, repulled.stdout], [0, pulled.stdout], repulled.stderr);
});

integrationTest("copy keeps the digest of an image and of a multi-platform index", [
  "docker-registry",
  "skopeo",
  "umoci",
], async () => {
  await using first = await startRegistry();
  await using second = await startRegistry();
  await using layout = await OciLayout.create();
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
});

function digestOfBytes(text: string): string {
  return digestOfContent(new TextEncoder().encode(text));
}

/**
 * A registry that takes blobs only in chunks: `PUT` with a body is refused
 * (405); `PATCH`es must follow each other (`Content-Range` from the bytes
 * received so far); the closing `PUT` checks the digest. `await using` closes it at the end of
 * the scope.
 */
function chunksOnlyRegistry() {
  const uploads = new Map<string, Uint8Array<ArrayBuffer>[]>();
  const blobs = new Map<string, Uint8Array>();
  const patches: { range: string | null; bytes: number }[] = [];
  const received = (id: string) => uploads.get(id)!.reduce((sum, part) => sum + part.byteLength, 0);
  const server = startServer(async (request, url) => {
    const blob = /^\/v2\/team\/app\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (blob) return new Response(null, { status: blobs.has(blob[1]) ? 200 : 404 });
    if (request.method === "POST" && url.pathname === "/v2/team/app/blobs/uploads/") {
      const id = crypto.randomUUID();
      uploads.set(id, []);
      return new Response(null, {
        status: 202,
        headers: { location: `/v2/team/app/blobs/uploads/${id}` },
      });
    }
    const upload = /^\/v2\/team\/app\/blobs\/uploads\/([0-9a-f-]+)$/.exec(url.pathname);
    if (upload && uploads.has(upload[1])) {
      const id = upload[1];
      const body = new Uint8Array(await request.arrayBuffer());
      if (request.method === "PATCH") {
        const range = request.headers.get("content-range");
        patches.push({ range, bytes: body.byteLength });
        if (range !== `${received(id)}-${received(id) + body.byteLength - 1}`) {
          return new Response(null, { status: 416 });
        }
        uploads.get(id)!.push(body);
        return new Response(null, {
          status: 202,
          headers: { location: `/v2/team/app/blobs/uploads/${id}` },
        });
      }
      if (request.method === "PUT") {
        if (body.byteLength > 0) return new Response(null, { status: 405 });
        const content = new Uint8Array(await new Blob(uploads.get(id)!).arrayBuffer());
        const digest = url.searchParams.get("digest")!;
        if (digestOfContent(content) !== digest) return new Response(null, { status: 400 });
        blobs.set(digest, content);
        return new Response(null, { status: 201 });
      }
    }
    if (request.method === "PUT" && url.pathname.startsWith("/v2/team/app/manifests/")) {
      const bytes = new Uint8Array(await request.arrayBuffer());
      return new Response(null, {
        status: 201,
        headers: { "docker-content-digest": digestOfContent(bytes) },
      });
    }
    return new Response(null, { status: 404 });
  });
  return { server, blobs, patches, [Symbol.asyncDispose]: () => server.close() };
}

Deno.test("push sends blobs in chunks when the registry refuses them whole", async (t) => {
  const layer = await craftTar([{ name: "data.bin", body: noise(300_000) }]);
  const image = fakeImage([layer]);
  await using source = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  await using root = await tempDir();
  assertEquals(
    (await runCli(["pull", "-q", "--root", root.path, `${source.host}/team/app`])).code,
    0,
  );
  for (const chunkSize of [undefined, 100_000]) {
    await t.step(
      chunkSize ? `chunks of ${chunkSize} bytes` : "after a refused upload",
      async () => {
        await using target = chunksOnlyRegistry();
        const name = `${target.server.host}/team/app:1`;
        await tagImage(`${source.host}/team/app`, name, { root: root.path });
        const result = await pushImage(name, { root: root.path, chunkSize });
        assertEquals(result.digest, image.manifestDigest);
        // Every blob arrived whole and intact.
        assertEquals([...target.blobs.keys()].sort(), [...image.blobs.keys()].sort());
        for (const [digest, bytes] of target.blobs) {
          assertEquals(bytes, image.blobs.get(digest));
        }
        const layerPatches = target.patches.filter((patch) => patch.bytes > 1000);
        const expected = chunkSize === undefined ? [layer.byteLength] : Array.from(
          { length: Math.ceil(layer.byteLength / chunkSize) },
          (_, i) => Math.min(chunkSize, layer.byteLength - i * chunkSize),
        );
        assertEquals(layerPatches.map((patch) => patch.bytes), expected);
      },
    );
  }
});
