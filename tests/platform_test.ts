import { assert, assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import {
  hostPlatform,
  parsePlatform,
  platformMatches,
  selectManifest,
} from "../lib/model/platform.ts";
import { defaultRoot } from "../lib/store/root.ts";
import type { IndexManifest, Platform } from "../lib/model/manifest.ts";
import { ImageNotFoundError, InvalidInputError } from "../lib/errors.ts";

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
    ImageNotFoundError,
  );
  assertEquals(
    error.message,
    "Cannot find a manifest for platform linux/ppc64le: the image offers linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64",
  );
});

Deno.test("parsePlatform refuses malformed platforms", () => {
  for (const text of ["linux/", "a/b/c/d", "linux/amd 64", "frobnicate", ""]) {
    assertMatch(
      assertThrows(() => parsePlatform(text), InvalidInputError).message,
      /expected os\/arch/,
    );
  }
});

Deno.test("parsePlatform reads the spellings containerd reads", () => {
  const host = hostPlatform();
  const cases: [string, Platform][] = [
    ["linux/x86_64", { os: "linux", architecture: "amd64" }],
    ["linux/x86-64", { os: "linux", architecture: "amd64" }],
    ["Linux/AMD64", { os: "linux", architecture: "amd64" }],
    ["linux/aarch64", { os: "linux", architecture: "arm64" }],
    ["linux/arm64/v8", { os: "linux", architecture: "arm64" }],
    ["linux/armhf", { os: "linux", architecture: "arm", variant: "v7" }],
    ["linux/armel", { os: "linux", architecture: "arm", variant: "v6" }],
    ["linux/arm", { os: "linux", architecture: "arm", variant: "v7" }],
    ["linux/arm/6", { os: "linux", architecture: "arm", variant: "v6" }],
    ["linux/i386", { os: "linux", architecture: "386" }],
    ["aarch64", { os: host.os, architecture: "arm64" }],
    ["AMD64", { os: host.os, architecture: "amd64" }],
    ["linux", { os: "linux", architecture: host.architecture }],
  ];
  for (const [text, expected] of cases) assertEquals(parsePlatform(text), expected, text);
});

Deno.test("platformMatches compares normalised platforms; a missing variant serves any", () => {
  const linux = (architecture: string, variant?: string): Platform =>
    variant ? { os: "linux", architecture, variant } : { os: "linux", architecture };
  assert(platformMatches(linux("amd64"), linux("x86_64")));
  assert(platformMatches(linux("arm64"), linux("aarch64", "v8")));
  assert(platformMatches(linux("arm", "v7"), linux("armhf")));
  assert(!platformMatches(linux("arm", "v6"), linux("arm", "v7")));
  assert(!platformMatches(linux("arm64"), linux("amd64")));
  assert(!platformMatches({ os: "windows", architecture: "amd64" }, linux("amd64")));
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
