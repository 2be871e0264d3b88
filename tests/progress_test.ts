/**
 * The pull display a user reads: on a terminal, per-layer lines redrawn in
 * place; piped, one line per state change. Checked on the screen a
 * terminal would show.
 */

import { assert, assertEquals } from "./_assert.ts";
import { screen } from "./_terminal.ts";
import { progressRenderer } from "../cli/progress.ts";
import type { PullEvent } from "../lib/operations/pull.ts";

const a = `sha256:${"a".repeat(64)}`;
const b = `sha256:${"b".repeat(64)}`;
const c = `sha256:${"c".repeat(64)}`;
const MB = 1_000_000;

/** A pull of three layers: one already stored, one with a device-node warning midway. */
const events: PullEvent[] = [
  { type: "pulling", repository: "library/app", reference: "1.0" },
  {
    type: "resolved",
    reference: "docker.io/library/app",
    digest: `sha256:${"d".repeat(64)}`,
    manifestDigest: `sha256:${"e".repeat(64)}`,
    imageId: `sha256:${"f".repeat(64)}`,
    imageStored: false,
    layers: [{ digest: a, size: 3 * MB, stored: false }, {
      digest: b,
      size: 2 * MB,
      stored: false,
    }, { digest: c, size: 64, stored: true }],
  },
  { type: "layer-cached", digest: c, size: 64 },
  { type: "layer-start", digest: a, size: 3 * MB, source: "registry" },
  { type: "layer-start", digest: b, size: 2 * MB, source: "registry" },
  { type: "layer-progress", digest: a, bytes: MB, size: 3 * MB },
  { type: "layer-progress", digest: b, bytes: 2 * MB, size: 2 * MB },
  { type: "layer-extracting", digest: b, size: 2 * MB },
  {
    type: "warning",
    digest: b,
    message: `layer ${b}: skipped 1 device node(s) or FIFO(s), e.g. /dev/null`,
  },
  { type: "layer-done", digest: b, size: 2 * MB },
  { type: "layer-progress", digest: a, bytes: 2 * MB, size: 3 * MB },
  { type: "layer-progress", digest: a, bytes: 3 * MB, size: 3 * MB },
];

function render(options: { terminal: boolean; color: boolean }, upTo = events.length) {
  let out = "";
  const renderer = progressRenderer({
    write: (text) => (out += text),
    ...options,
    columns: 120,
    redrawInterval: 60_000, // Byte progress is drawn only by state changes and finish().
  });
  for (const event of events.slice(0, upTo)) renderer.onEvent(event);
  return {
    text: () => out,
    renderer,
    more: (more: PullEvent[]) => more.forEach(renderer.onEvent),
  };
}

Deno.test("on a terminal, layer lines redraw in place and a warning never freezes them", () => {
  const midway = render({ terminal: true, color: false }, 6).text();
  assertEquals(screen(midway), [
    "1.0: Pulling from library/app",
    "aaaaaaaaaaaa: Downloading [>                                                  ]  0B/3.00MB",
    "bbbbbbbbbbbb: Downloading [>                                                  ]  0B/2.00MB",
    "cccccccccccc: Already exists",
  ]);
  let out = "";
  const renderer = progressRenderer({
    write: (text) => (out += text),
    terminal: true,
    color: false,
    columns: 120,
    redrawInterval: 60_000,
  });
  for (const event of events) renderer.onEvent(event);
  renderer.finish();
  assertEquals(screen(out), [
    "1.0: Pulling from library/app",
    `warning: layer ${b}: skipped 1 device node(s) or FIFO(s), e.g. /dev/null`,
    "aaaaaaaaaaaa: Downloading [==================================================>]  3.00MB/3.00MB",
    "bbbbbbbbbbbb: Pull complete",
    "cccccccccccc: Already exists",
  ]);
  renderer.onEvent({ type: "layer-extracting", digest: a, size: 3 * MB });
  renderer.onEvent({ type: "layer-done", digest: a, size: 3 * MB });
  assertEquals(screen(out).slice(2), [
    "aaaaaaaaaaaa: Pull complete",
    "bbbbbbbbbbbb: Pull complete",
    "cccccccccccc: Already exists",
  ]);
});

Deno.test("piped, each state change is one plain line and nothing redraws", () => {
  const { text, more } = render({ terminal: false, color: false });
  more([
    { type: "layer-extracting", digest: a, size: 3 * MB },
    { type: "layer-done", digest: a, size: 3 * MB },
  ]);
  assertEquals(text().includes("\x1b"), false);
  assertEquals(text().split("\n").filter(Boolean), [
    "1.0: Pulling from library/app",
    "aaaaaaaaaaaa: Waiting",
    "bbbbbbbbbbbb: Waiting",
    // A stored layer never waits: "Already exists" from the start.
    "cccccccccccc: Already exists",
    "aaaaaaaaaaaa: Downloading 3.00MB",
    "bbbbbbbbbbbb: Downloading 2.00MB",
    "bbbbbbbbbbbb: Extracting",
    `warning: layer ${b}: skipped 1 device node(s) or FIFO(s), e.g. /dev/null`,
    "bbbbbbbbbbbb: Pull complete",
    "aaaaaaaaaaaa: Extracting",
    "aaaaaaaaaaaa: Pull complete",
  ]);
});

Deno.test("warnings are colored on a terminal only without NO_COLOR", () => {
  const colored = render({ terminal: true, color: true }).text();
  assert(colored.includes("\x1b[33mwarning:\x1b[0m layer"), "warning not colored");
  const plain = render({ terminal: true, color: false }).text();
  assertEquals(plain.includes("\x1b[33m"), false);
});

Deno.test("a retry shows on its layer's line until bytes flow again", () => {
  let out = "";
  const renderer = progressRenderer({
    write: (text) => (out += text),
    terminal: true,
    color: false,
    columns: 120,
    redrawInterval: 0,
  });
  for (const event of events.slice(0, 4)) renderer.onEvent(event);
  const retry: PullEvent = {
    type: "retry",
    action: `fetch blob ${a} of docker.io/library/app`,
    digest: a,
    attempt: 2,
    attempts: 5,
    delay: 2000,
    reason: "connection reset by the server",
  };
  renderer.onEvent(retry);
  assertEquals(screen(out)[1], "aaaaaaaaaaaa: Retrying in 2s (2/5)");
  renderer.onEvent({ type: "layer-progress", digest: a, bytes: MB, size: 3 * MB });
  assert(screen(out)[1].startsWith("aaaaaaaaaaaa: Downloading ["), screen(out)[1]);
  let plain = "";
  const piped = progressRenderer({
    write: (text) => (plain += text),
    terminal: false,
    color: false,
  });
  for (const event of events.slice(0, 4)) piped.onEvent(event);
  piped.onEvent(retry);
  assertEquals(
    plain.trim().split("\n").at(-1),
    "aaaaaaaaaaaa: Retrying in 2s (2/5): connection reset by the server",
  );
});

Deno.test("a re-pull of a stored image lists no layers, as docker's does", () => {
  for (const terminal of [true, false]) {
    let out = "";
    const renderer = progressRenderer({ write: (text) => (out += text), terminal, color: false });
    renderer.onEvent(events[0]);
    renderer.onEvent({
      ...(events[1] as Extract<PullEvent, { type: "resolved" }>),
      imageStored: true,
    });
    for (const digest of [a, b, c]) renderer.onEvent({ type: "layer-cached", digest, size: 1 });
    renderer.finish();
    assertEquals(screen(out), ["1.0: Pulling from library/app"]);
  }
});

Deno.test("waiting for another command's download is the layer's status, not a warning", () => {
  const waiting: PullEvent = { type: "layer-waiting", digest: a, size: 3 * MB };
  let piped = "";
  const renderer = progressRenderer({
    write: (text) => (piped += text),
    terminal: false,
    color: true,
  });
  for (const event of [...events.slice(0, 2), waiting]) renderer.onEvent(event);
  assertEquals(
    piped.trim().split("\n").at(-1),
    "aaaaaaaaaaaa: Waiting for another denocker command downloading it",
  );
  let shown = "";
  const terminal = progressRenderer({
    write: (text) => (shown += text),
    terminal: true,
    color: true,
  });
  for (const event of [...events.slice(0, 2), waiting]) terminal.onEvent(event);
  assertEquals(
    screen(shown)[1],
    "aaaaaaaaaaaa: Waiting for another denocker command downloading it",
  );
  assertEquals(shown.includes("warning"), false);
  terminal.onEvent({ type: "layer-start", digest: a, size: 3 * MB, source: "store" });
  assert(screen(shown)[1].startsWith("aaaaaaaaaaaa: Extracting ["), screen(shown)[1]);
});
