/**
 * A container's log in docker's json-file format: a line an entry, each
 * stream apart, long lines in 16 KiB pieces, rotation by size.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import {
  ContainerLogWriter,
  logFiles,
  logTime,
  parseLogLines,
} from "../lib/runtime/container_log.ts";

const encode = (text: string) => new TextEncoder().encode(text);

async function entriesOf(path: string) {
  const entries = [];
  for (const file of await logFiles(path)) {
    entries.push(...parseLogLines(await Deno.readTextFile(file)));
  }
  return entries;
}

Deno.test("each line of each stream is one json-file entry, as docker writes them", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "c-json.log");
  const log = await ContainerLogWriter.open(path);
  await log.write("stdout", encode("hel"));
  await log.write("stderr", encode("oops\n"));
  await log.write("stdout", encode("lo\nsecond\nthird without newline"));
  await log.close();
  const entries = await entriesOf(path);
  assertEquals(entries.map(({ log, stream }) => [stream, log]), [
    ["stderr", "oops\n"],
    ["stdout", "hello\n"],
    ["stdout", "second\n"],
    ["stdout", "third without newline"],
  ]);
  for (const { time } of entries) {
    assertMatch(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
  }
  const [first] = (await Deno.readTextFile(path)).split("\n");
  assertMatch(first, /^\{"log":"oops\\n","stream":"stderr","time":"[^"]+"\}$/);
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
});

Deno.test("a line longer than 16 KiB is logged in pieces", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "c-json.log");
  const log = await ContainerLogWriter.open(path);
  await log.write("stdout", encode("x".repeat(40 * 1024) + "\n"));
  await log.close();
  const pieces = (await entriesOf(path)).map((entry) => entry.log.length);
  assertEquals(pieces, [16 * 1024, 16 * 1024, 8 * 1024 + 1]);
});

Deno.test("the log rotates past its size and keeps at most its files", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "c-json.log");
  const log = await ContainerLogWriter.open(path, { maxSize: 1000, maxFiles: 3 });
  for (let i = 0; i < 100; i++) await log.write("stdout", encode(`line ${i}\n`));
  await log.close();
  assertEquals(await logFiles(path), [`${path}.2`, `${path}.1`, path]);
  for (const file of await logFiles(path)) assert((await Deno.stat(file)).size <= 1000);
  const lines = (await entriesOf(path)).map((entry) => entry.log);
  // The oldest lines are gone; what is kept is in order and ends with the last line.
  assertEquals(lines.at(-1), "line 99\n");
  const numbers = lines.map((line) => Number(line.slice(5)));
  assertEquals(numbers, numbers.toSorted((a, b) => a - b));
  assert(numbers[0] > 0, "nothing was rotated away");
});

Deno.test("log times are RFC 3339 with up to nanoseconds, in order", () => {
  const times = [logTime(), logTime(), logTime()];
  for (const time of times) assertMatch(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
  assert(Math.abs(Date.parse(times[0]) - Date.now()) < 1000);
});
