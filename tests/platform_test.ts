import { assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import { parsePlatform, selectManifest } from "../lib/platform.ts";
import { defaultRoot } from "../lib/root.ts";
import type { IndexManifest } from "../lib/manifest.ts";

const entry = (n: number, platform: Record<string, string>) => ({
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  digest: `sha256:${String(n).repeat(64)}`,
  size: 1,
  platform: platform as { os: string; architecture: string },
});

const index: IndexManifest = {
  schemaVersion: 2,
  manifests: [
    entry(1, { os: "linux", architecture: "amd64" }),
    entry(2, { os: "linux", architecture: "arm", variant: "v6" }),
    entry(3, { os: "linux", architecture: "arm", variant: "v7" }),
    entry(4, { os: "linux", architecture: "arm64", variant: "v8" }),
    entry(5, { os: "unknown", architecture: "unknown" }),
  ],
};

Deno.test("selectManifest chooses by os, architecture and variant", () => {
  assertEquals(
    selectManifest(index, parsePlatform("linux/amd64")).digest,
    index.manifests[0].digest,
  );
  assertEquals(
    selectManifest(index, parsePlatform("linux/arm/v6")).digest,
    index.manifests[1].digest,
  );
  assertEquals(selectManifest(index, parsePlatform("linux/arm")).digest, index.manifests[2].digest);
  assertEquals(
    selectManifest(index, parsePlatform("linux/arm64")).digest,
    index.manifests[3].digest,
  );
  const error = assertThrows(
    () => selectManifest(index, parsePlatform("linux/ppc64le")),
    RangeError,
  );
  assertEquals(
    error.message,
    "Cannot find a manifest for platform linux/ppc64le: the image offers linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8",
  );
});

Deno.test("parsePlatform refuses malformed platforms", () => {
  for (const text of ["linux", "linux/", "a/b/c/d", "Linux/AMD64"]) {
    assertMatch(assertThrows(() => parsePlatform(text), TypeError).message, /expected os\/arch/);
  }
});

Deno.test("defaultRoot follows DENOCKER_ROOT, root's /var/lib, then XDG", () => {
  const env = (values: Record<string, string>) => (name: string) => values[name];
  assertEquals(defaultRoot({ env: env({ DENOCKER_ROOT: "/srv/d" }), uid: 1000 }), "/srv/d");
  assertEquals(defaultRoot({ env: env({}), uid: 0 }), "/var/lib/denocker");
  assertEquals(defaultRoot({ env: env({ XDG_DATA_HOME: "/x" }), uid: 1000 }), "/x/denocker");
  assertEquals(
    defaultRoot({ env: env({ HOME: "/home/u" }), uid: 1000 }),
    "/home/u/.local/share/denocker",
  );
});
