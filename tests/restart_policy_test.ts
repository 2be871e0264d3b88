/**
 * `--restart` as docker's restart manager decides it: which ends restart,
 * and the back-off between starts.
 */

import { assertEquals } from "./_assert.ts";
import { nextDelay, restartWanted } from "../lib/runtime/monitor.ts";

Deno.test("policies restart as docker's do", () => {
  const policy = (name: "no" | "on-failure" | "always" | "unless-stopped", max = 0) => ({
    name,
    maximumRetryCount: max,
  });
  assertEquals(restartWanted(undefined, 1, 0), false);
  assertEquals(restartWanted(policy("no"), 1, 0), false);
  assertEquals(restartWanted(policy("always"), 0, 100), true);
  assertEquals(restartWanted(policy("unless-stopped"), 0, 100), true);
  assertEquals(restartWanted(policy("on-failure"), 0, 0), false);
  assertEquals(restartWanted(policy("on-failure"), 137, 50), true);
  assertEquals(restartWanted(policy("on-failure", 2), 1, 1), true);
  assertEquals(restartWanted(policy("on-failure", 2), 1, 2), false);
});

Deno.test("the back-off doubles from 100 ms up to a minute, and starts over after 10 s up", () => {
  const delays: number[] = [];
  let delay: number | undefined;
  for (let i = 0; i < 12; i++) delays.push(delay = nextDelay(delay, 50));
  assertEquals(delays.slice(0, 4), [100, 200, 400, 800]);
  assertEquals(delays.at(-1), 60_000);
  assertEquals(nextDelay(60_000, 10_000), 100);
});
