/**
 * Users as a container's /etc/passwd and /etc/group name them, looked up
 * as docker looks them up; a hostile database costs no more than its size.
 */

import { assert, assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import { MAX_USER_DATABASE_BYTES, resolveUser } from "../lib/runtime/user.ts";

function files(entries: Record<string, string>) {
  return (path: string) =>
    entries[path] === undefined ? undefined : new TextEncoder().encode(entries[path]);
}

const read = files({
  "/etc/passwd":
    "root:x:0:0:root:/root:/bin/sh\n\n# a comment\napp:x:1000:1001:app:/home/app:/bin/sh\n" +
    "late:x:1001:1001::/:",
  "/etc/group": "root:x:0:\nstaff:x:50:app\n",
});

Deno.test("users: names and numbers, with and without a group, as docker reads them", () => {
  assertEquals(resolveUser(read, ""), { uid: 0, gid: 0, groups: [0] });
  assertEquals(resolveUser(read, "app"), { uid: 1000, gid: 1001, groups: [1001] });
  // A number takes its primary group from passwd when listed there, else 0.
  assertEquals(resolveUser(read, "1000"), { uid: 1000, gid: 1001, groups: [1001] });
  assertEquals(resolveUser(read, "4242"), { uid: 4242, gid: 0, groups: [0] });
  assertEquals(resolveUser(read, "app:staff"), { uid: 1000, gid: 50, groups: [50] });
  assertEquals(resolveUser(read, "app:7"), { uid: 1000, gid: 7, groups: [7] });
  // The last line has no newline.
  assertEquals(resolveUser(read, "late"), { uid: 1001, gid: 1001, groups: [1001] });
  assertMatch(
    assertThrows(() => resolveUser(read, "ghost"), Error).message,
    /unable to find user ghost/,
  );
  assertMatch(
    assertThrows(() => resolveUser(read, "app:ghosts"), Error).message,
    /unable to find group ghosts/,
  );
  // No database at all: numbers still work, names do not.
  assertEquals(resolveUser(files({}), "7:8"), { uid: 7, gid: 8, groups: [8] });
  assertMatch(assertThrows(() => resolveUser(files({}), "app"), Error).message, /no matching/);
});

Deno.test("users: a database of a million empty lines is read in its own size", () => {
  const huge = files({
    "/etc/passwd": "\n".repeat(MAX_USER_DATABASE_BYTES - 1) + "app:x:5:6::/:\n",
  });
  const before = Deno.memoryUsage().rss;
  const started = performance.now();
  assertEquals(resolveUser(huge, "app").uid, 5);
  const grown = Deno.memoryUsage().rss - before;
  // Splitting every line would take hundreds of MiB and about a second.
  assert(grown < 32 * 1024 * 1024, `memory grew by ${grown >> 20} MiB`);
  assert(performance.now() - started < 500, `${performance.now() - started} ms`);
});
