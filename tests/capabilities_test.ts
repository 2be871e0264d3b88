/** Capabilities as docker computes them from its flags. */

import { assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import {
  CAPABILITY_NAMES,
  capabilityWords,
  containerCapabilities,
  DEFAULT_CAPABILITIES,
} from "../lib/runtime/capabilities.ts";

Deno.test("capabilities: docker's default set, --cap-add, --cap-drop, ALL, --privileged", () => {
  // /proc/PID/status shows docker's default set as 00000000a80425fb.
  assertEquals(capabilityWords(containerCapabilities({})), [0xa80425fb, 0]);
  assertEquals(containerCapabilities({}).length, DEFAULT_CAPABILITIES.length);
  assertEquals(
    containerCapabilities({ add: ["sys_admin"], drop: ["CAP_MKNOD", "net_raw"] }).filter((name) =>
      !DEFAULT_CAPABILITIES.includes(name)
    ),
    ["CAP_SYS_ADMIN"],
  );
  assertEquals(containerCapabilities({ drop: ["ALL"] }), []);
  // With ALL dropped, only what is added.
  assertEquals(containerCapabilities({ drop: ["all"], add: ["CHOWN", "KILL"] }), [
    "CAP_CHOWN",
    "CAP_KILL",
  ]);
  // With ALL added, every one but those dropped.
  assertEquals(
    containerCapabilities({ add: ["ALL"], drop: ["SYS_ADMIN"] }).length,
    CAPABILITY_NAMES.length - 1,
  );
  assertEquals(containerCapabilities({ privileged: true, drop: ["ALL"] }), [...CAPABILITY_NAMES]);
  assertMatch(
    assertThrows(() => containerCapabilities({ add: ["SYS_EVERYTHING"] }), Error).message,
    /unknown capability/,
  );
  assertEquals(capabilityWords(["CAP_CHECKPOINT_RESTORE"]), [0, 0x100]);
});
