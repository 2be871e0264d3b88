import { assertEquals, assertThrows } from "./_assert.ts";
import { familiarName, parseReference } from "../lib/model/reference.ts";
import { InvalidInputError } from "../lib/errors.ts";

const DIGEST = "sha256:" + "ab".repeat(32);

Deno.test("parseReference accepts every form docker accepts", async (t) => {
  const cases: [string, string, string, string | undefined, string | undefined, string][] = [
    ["alpine", "docker.io", "library/alpine", "latest", undefined, "alpine"],
    ["alpine:3.20", "docker.io", "library/alpine", "3.20", undefined, "alpine"],
    ["library/alpine", "docker.io", "library/alpine", "latest", undefined, "alpine"],
    [
      "docker.io/library/alpine:latest",
      "docker.io",
      "library/alpine",
      "latest",
      undefined,
      "alpine",
    ],
    [
      "index.docker.io/library/alpine",
      "docker.io",
      "library/alpine",
      "latest",
      undefined,
      "alpine",
    ],
    ["user/app", "docker.io", "user/app", "latest", undefined, "user/app"],
    ["ghcr.io/org/app:v1", "ghcr.io", "org/app", "v1", undefined, "ghcr.io/org/app"],
    ["localhost:5000/x", "localhost:5000", "x", "latest", undefined, "localhost:5000/x"],
    ["localhost/x", "localhost", "x", "latest", undefined, "localhost/x"],
    [
      "127.0.0.1:5000/a/b/c:tag",
      "127.0.0.1:5000",
      "a/b/c",
      "tag",
      undefined,
      "127.0.0.1:5000/a/b/c",
    ],
    [`name@${DIGEST}`, "docker.io", "library/name", undefined, DIGEST, "name"],
    [`name:tag@${DIGEST}`, "docker.io", "library/name", "tag", DIGEST, "name"],
    [
      "my-registry.example.com:443/team/app_x.y__z:1.0-rc_1",
      "my-registry.example.com:443",
      "team/app_x.y__z",
      "1.0-rc_1",
      undefined,
      "my-registry.example.com:443/team/app_x.y__z",
    ],
    ["[::1]:5000/app", "[::1]:5000", "app", "latest", undefined, "[::1]:5000/app"],
  ];
  for (const [input, registry, repository, tag, digest, familiar] of cases) {
    await t.step(input, () => {
      const ref = parseReference(input);
      assertEquals(ref, { registry, repository, tag, digest });
      assertEquals(familiarName(ref), familiar);
    });
  }
});

Deno.test("parseReference refuses invalid references with a reason", async (t) => {
  const cases: [string, RegExp][] = [
    ["", /empty/],
    ["   ", /empty/],
    ["Alpine", /lowercase/],
    ["docker.io/User/app", /lowercase/],
    ["alpine:-bad", /invalid tag/],
    ["alpine:bad/tag", /invalid/],
    ["alpine:" + "a".repeat(129), /invalid tag/],
    ["alpine@sha256:abc", /invalid digest/],
    ["alpine@sha256:" + "A".repeat(64), /lowercase hex/],
    ["alpine@md5:" + "a".repeat(32), /unsupported digest algorithm/],
    ["alpine@", /invalid digest/],
    ["a//b", /invalid repository name component/],
    ["app-", /invalid repository name component/],
    [":tag", /repository name is empty/],
    ["bad_host-.com:5000/x", /invalid registry host/],
    ["localhost:99999/x", /port out of range/],
    ["a/" + "b".repeat(300), /longer than 255/],
  ];
  for (const [input, pattern] of cases) {
    await t.step(JSON.stringify(input.slice(0, 40)), () => {
      const error = assertThrows(() => parseReference(input), InvalidInputError);
      if (!pattern.test(error.message)) {
        throw new Error(`message "${error.message}" does not match ${pattern}`);
      }
    });
  }
});
