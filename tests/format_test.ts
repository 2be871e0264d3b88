/** How the CLI words durations, as docker's `ps` does. */

import { assertEquals } from "./_assert.ts";
import { since } from "../cli/format.ts";

Deno.test("since words a duration as docker's ps does", () => {
  const ago = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString();
  const cases: [number, string][] = [
    [0.2, "Less than a second"],
    [1, "1 second"],
    [42, "42 seconds"],
    [90, "About a minute"],
    [30 * 60, "30 minutes"],
    [90 * 60, "About an hour"],
    [5 * 3600, "5 hours"],
    [3 * 86400, "3 days"],
    [21 * 86400, "3 weeks"],
    [90 * 86400, "3 months"],
    [800 * 86400, "2 years"],
  ];
  for (const [seconds, words] of cases) assertEquals(since(ago(seconds)), words);
  assertEquals(since(undefined), "a while");
});
