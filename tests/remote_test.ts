/**
 * `tag`, `tags`, `manifest` and `export`: naming a stored image, asking a
 * registry without a store, and a stored image's root filesystem as a tar.
 */

import { assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_cli.ts";
import {
  defer,
  fakeImage,
  manifestsFor,
  registryHandler,
  startServer,
  tempDir,
} from "./_fake_registry.ts";
import { integrationTest, OciLayout, startRegistry } from "./_real_registry.ts";
import { craftTar } from "./_tar.ts";
import { listTags } from "../lib/operations/remote.ts";
import { describeTree } from "./_tar_compare.ts";

const image = fakeImage([await craftTar([{ name: "hello", body: "hello" }])]);

Deno.test("tags follows the registry's pagination; manifest prints the registry's bytes", async () => {
  // 250 tags served 100 a page, as Docker Hub and GHCR page them, with `Link` to the next page.
  const all = Array.from({ length: 250 }, (_, i) => `v${String(i).padStart(3, "0")}`);
  const serve = registryHandler({ manifests: manifestsFor(image), blobs: image.blobs });
  const pages: string[] = [];
  await using server = startServer((request, url) => {
    if (!url.pathname.endsWith("/tags/list")) return serve(request, url);
    pages.push(url.search);
    const last = url.searchParams.get("last");
    const size = Number(url.searchParams.get("n") ?? 100);
    const start = last === null ? 0 : all.indexOf(last) + 1;
    const page = all.slice(start, start + size);
    const headers: Record<string, string> = {};
    if (start + size < all.length) {
      headers.link = `</v2/team/app/tags/list?n=${size}&last=${page.at(-1)}>; rel="next"`;
    }
    return Response.json({ name: "team/app", tags: page }, { headers });
  });
  const tags = await runCli(["tags", `${server.host}/team/app`]);
  assertEquals([tags.code, tags.stdout], [0, all.join("\n") + "\n"], tags.stderr);
  assertEquals(pages, ["", "?n=100&last=v099", "?n=100&last=v199"]);
  const manifest = await runCli(["manifest", `${server.host}/team/app:latest`]);
  assertEquals(manifest.code, 0, manifest.stderr);
  assertEquals(manifest.stdout, new TextDecoder().decode(image.manifestBytes));
  const bad = await runCli(["tags", `${server.host}/team/app:latest`]);
  assertEquals(bad.code, 1);
  assertMatch(bad.stderr, /name a repository, without a tag or digest/);
});

Deno.test("tag gives a stored image another name, as docker tag does", async () => {
  await using server = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  await using root = await tempDir();
  const app = `${server.host}/team/app`;
  assertEquals((await runCli(["pull", "-q", "--root", root.path, app])).code, 0);
  const tagged = await runCli(["tag", "--root", root.path, app, "other/name:v2"]);
  assertEquals([tagged.code, tagged.stdout, tagged.stderr], [0, "", ""]);
  const byId = await runCli([
    "tag",
    "--root",
    root.path,
    image.configDigest.slice(7, 19),
    "bare",
  ]);
  assertEquals(byId.code, 0, byId.stderr);
  const inspect = JSON.parse(
    (await runCli(["inspect", "--root", root.path, "other/name:v2"])).stdout,
  );
  assertEquals(inspect[0].RepoTags.sort(), [`${app}:latest`, "bare:latest", "other/name:v2"]);
  const missing = await runCli(["tag", "--root", root.path, "nothing:here", "x"]);
  assertEquals(missing.code, 1);
  assertMatch(missing.stderr, /^denocker: Cannot find image "nothing:here"/);
  const digest = await runCli([
    "tag",
    "--root",
    root.path,
    app,
    `x@sha256:${"a".repeat(64)}`,
  ]);
  assertEquals(digest.code, 2);
  assertMatch(digest.stderr, /a tag cannot name a digest/);
  // A malformed TARGET is a usage error too (told apart by the error's class, not its words).
  const malformed = await runCli(["tag", "--root", root.path, app, "Bad Name"]);
  assertEquals(malformed.code, 2);
  assertMatch(
    malformed.stderr,
    /^denocker: Cannot parse reference "Bad Name".*\nSee 'denocker tag --help'\.\n$/,
  );
});

integrationTest("tags lists every tag of a real registry's repository", [
  "docker-registry",
  "skopeo",
  "umoci",
], async () => {
  await using registry = await startRegistry();
  await using layout = await OciLayout.create();
  await layout.image("one", []);
  const names = ["v1", "v2", "v3", "v4", "v5"];
  for (const tag of names) await layout.push("one", `${registry.host}/team/paged:${tag}`);
  // Every tag exactly once, whatever order the registry keeps them in.
  let requests = 0;
  const counting: typeof fetch = (input, init) => {
    if (String(input instanceof Request ? input.url : input).includes("/tags/list")) requests++;
    return fetch(input, init);
  };
  const paged = await listTags(`${registry.host}/team/paged`, { pageSize: 2, fetch: counting });
  assertEquals(paged.sort(), names);
  // Debian's registry (2.8) answers every tag at once, whatever `n` asks: one request. The
  // pagination itself is followed in the test above, against a registry that paginates.
  assertEquals(requests, 1);
  assertEquals((await listTags(`${registry.host}/team/paged`)).sort(), names);
});

integrationTest("export | tar -x gives the tree unpack writes", ["tar"], async () => {
  const long = `deep/${"n".repeat(90)}/${"m".repeat(40)}.txt`;
  const layered = fakeImage([
    await craftTar([
      { name: "etc/", type: "directory" },
      { name: "etc/gone", body: "deleted by the next layer" },
      { name: "etc/kept", body: "kept", mode: 0o640 },
      { name: "bin/", type: "directory" },
      { name: "bin/tool", body: "#!/bin/sh\n", mode: 0o4755 },
      { name: "bin/alias", type: "link", linkname: "bin/tool" },
    ]),
    await craftTar([
      { name: "etc/", type: "directory" },
      { name: "etc/.wh.gone", body: "" },
      { name: "etc/link", type: "symlink", linkname: "kept" },
      { name: "deep/", type: "directory" },
      { name: `deep/${"n".repeat(90)}/`, type: "directory" },
      { name: long, body: "a long name" },
      { name: "ünïcødé.txt", body: "utf-8" },
    ]),
  ]);
  await using server = startServer(
    registryHandler({ manifests: manifestsFor(layered), blobs: layered.blobs }),
  );
  await using root = await tempDir();
  const app = `${server.host}/team/layered`;
  assertEquals((await runCli(["pull", "-q", "--root", root.path, app])).code, 0);
  const tarFile = `${root.path}/../export-${crypto.randomUUID()}.tar`;
  const exported = await runCli(["export", "--root", root.path, "-o", tarFile, app]);
  assertEquals([exported.code, exported.stderr], [0, ""]);
  const fromTar = await Deno.makeTempDir();
  const fromUnpack = `${fromTar}-unpack`;
  await using _removeTrees = defer(async () => {
    await Deno.remove(fromTar, { recursive: true });
    await Deno.remove(fromUnpack, { recursive: true }).catch(() => {});
    await Deno.remove(tarFile).catch(() => {});
  });
  const untar = await new Deno.Command("tar", {
    args: ["-x", "-p", "--numeric-owner", "-f", tarFile, "-C", fromTar],
    stderr: "piped",
  }).output();
  assertEquals(untar.code, 0, new TextDecoder().decode(untar.stderr));
  assertEquals((await runCli(["unpack", "--root", root.path, app, fromUnpack])).code, 0);
  const [a, b] = [await describeTree(fromTar), await describeTree(fromUnpack)];
  assertEquals(a, b);
  assertEquals(a.some((line) => line.startsWith(`${long} file`)), true);
  assertEquals(a.some((line) => line.startsWith("etc/gone")), false);
  assertEquals(
    a.some((line) => line.startsWith("bin/tool file") && line.endsWith("linked-to bin/alias")),
    true,
  );
});
