/**
 * lib/io/path.ts gives what node:path's POSIX functions give, on paths
 * with every edge a real one has: roots, repeated and trailing slashes,
 * `.` and `..` parts (also past the root), dot files, empty parts.
 */

import * as node from "node:path";
import * as ours from "../lib/io/path.ts";
import { assertEquals } from "./_assert.ts";

const PATHS = [
  "",
  ".",
  "..",
  "/",
  "//",
  "///",
  "a",
  "a/",
  "a//",
  "/a",
  "//a",
  "///a",
  "/a/",
  "/a//b",
  "a/b/c",
  "a/./b",
  "a/../b",
  "a/..",
  "a/../",
  "../a",
  "../../a/b",
  "/..",
  "/../a",
  "/a/../..",
  "a/b/../../..",
  "./a",
  ".hidden",
  "/x/.hidden",
  "/x/y.tar.gz",
  "dir/file.txt",
  "/var/lib/denocker/layers/abc/fs",
  "a/b/",
  "/a/b//",
  "...",
  "/a/.../b",
  "a/b/./../c/.",
];

Deno.test("normalize, dirname, basename and isAbsolute as node:path's", () => {
  for (const path of PATHS) {
    assertEquals(ours.normalize(path), node.posix.normalize(path), `normalize(${path})`);
    assertEquals(ours.dirname(path), node.posix.dirname(path), `dirname(${path})`);
    assertEquals(ours.basename(path), node.posix.basename(path), `basename(${path})`);
    assertEquals(ours.isAbsolute(path), node.posix.isAbsolute(path), `isAbsolute(${path})`);
  }
});

Deno.test("join, resolve and relative as node:path's", () => {
  assertEquals(ours.join(), node.posix.join());
  for (const a of PATHS) {
    assertEquals(ours.join(a), node.posix.join(a), `join(${a})`);
    assertEquals(ours.resolve(a), node.posix.resolve(a), `resolve(${a})`);
    for (const b of PATHS) {
      assertEquals(ours.join(a, b), node.posix.join(a, b), `join(${a}, ${b})`);
      assertEquals(ours.join(a, "", b, "c"), node.posix.join(a, "", b, "c"));
      assertEquals(ours.resolve(a, b), node.posix.resolve(a, b), `resolve(${a}, ${b})`);
      assertEquals(ours.relative(a, b), node.posix.relative(a, b), `relative(${a}, ${b})`);
    }
  }
});
