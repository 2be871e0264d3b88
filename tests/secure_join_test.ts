/**
 * Paths inside a container's root resolve as inside it: symlinks (absolute
 * or relative) and `..` never leave the root, as runc's securejoin has it.
 */

import { join } from "node:path";
import { assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { mkdirInRoot, secureJoin } from "../lib/runtime/secure_join.ts";

Deno.test("secureJoin: symlinks and .. stay inside the root", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "root");
  const outside = join(dir.path, "outside");
  await Deno.mkdir(join(root, "etc"), { recursive: true });
  await Deno.mkdir(outside);
  await Deno.symlink(outside, join(root, "abs")); // an absolute link to a host path
  await Deno.symlink("../../../..", join(root, "etc", "up")); // climbs past the root
  await Deno.symlink("etc", join(root, "rel"));
  await Deno.symlink("loop", join(root, "loop"));
  assertEquals(secureJoin(root, "/etc/passwd"), `${root}/etc/passwd`);
  assertEquals(secureJoin(root, "../../etc/passwd"), `${root}/etc/passwd`);
  assertEquals(secureJoin(root, "/abs/x"), `${root}${outside}/x`);
  assertEquals(secureJoin(root, "/etc/up/x"), `${root}/x`);
  assertEquals(secureJoin(root, "/rel/hosts"), `${root}/etc/hosts`);
  assertMatch(
    assertThrows(() => secureJoin(root, "/loop/x"), Error).message,
    /too many symlinks/,
  );
  // Made inside the root, never at the host path the link names.
  assertEquals(mkdirInRoot(root, "/abs/made"), `${root}${outside}/made`);
  assertEquals((await Deno.stat(`${root}${outside}/made`)).isDirectory, true);
  assertEquals(await Array.fromAsync(Deno.readDir(outside)), []);
  await Deno.writeTextFile(join(root, "file"), "");
  assertMatch(
    assertThrows(() => mkdirInRoot(root, "/file/x"), Error).message,
    /is not a directory/,
  );
});
