/**
 * Pulls through a registry that fails the way real networks do: busy
 * answers, resets and truncations mid-blob, stalls. Each pull must succeed
 * with the right image, resuming blobs with `Range` rather than starting
 * over, and give up only after its attempts, naming the last cause.
 */

import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { fakeImage, listFiles, tempDir } from "./_fake_registry.ts";
import { faultyRegistry, type Logged, noise } from "./_faulty_registry.ts";
import { craftTar } from "./_tar.ts";
import { pull, type PullEvent } from "../lib/operations/pull.ts";
import { RegistryError } from "../lib/errors.ts";

const layer = await craftTar([{ name: "data.bin", body: noise(600_000) }]);
const image = fakeImage([layer]);
const layerDigest = [...image.blobs.keys()][0];
const fast = { baseDelay: 5, maxDelay: 50 };

async function pullThrough(faultFor: Parameters<typeof faultyRegistry>[1], stallTimeout = 30_000) {
  const { server, log } = faultyRegistry(image, faultFor);
  const root = await tempDir();
  const events: PullEvent[] = [];
  try {
    const result = await pull(`${server.host}/team/app`, {
      root: root.path,
      retry: fast,
      stallTimeout,
      onProgress: (event) => events.push(event),
    });
    assertEquals(result.imageId, image.configDigest);
    assertEquals(await listFiles(root.path, "tmp"), []);
    return { log, events };
  } finally {
    await server.close();
    await root.remove();
  }
}

/** Bytes of the layer blob the server sent in all, beyond one copy. */
function resent(log: Logged[]): number {
  const layerRequests = log.filter((entry) => entry.kind === "blob" && entry.bytes > 100_000);
  return layerRequests.reduce((sum, entry) => sum + entry.bytes, 0) - layer.byteLength;
}

Deno.test("busy answers are retried, honouring Retry-After", async () => {
  const { log, events } = await pullThrough((kind, nth) =>
    kind === "manifest" && nth <= 2
      ? { status: 503, retryAfter: "0" }
      : kind === "blob" && nth === 1
      ? { status: 429, retryAfter: "0" }
      : kind === "blob" && nth === 2
      ? { status: 500 }
      : undefined
  );
  const retries = events.filter((event) => event.type === "retry");
  assertEquals(retries.length, 4);
  assertEquals(log.filter((entry) => entry.status >= 500 || entry.status === 429).length, 4);
  assertEquals(log.filter((entry) => entry.range !== null).length, 0);
});

for (const how of ["reset", "truncate", "stall"] as const) {
  Deno.test(`a blob whose transfer breaks (${how}) resumes where it stopped`, async () => {
    const cutAfter = 250_000;
    const { log, events } = await pullThrough(
      (kind, nth) => kind === "blob" && nth === 2 ? { cutAfter, how } : undefined,
      200,
    );
    const ranged = log.filter((entry) => entry.range !== null);
    assertEquals(ranged.length, 1, JSON.stringify(log));
    const start = Number(/^bytes=([0-9]+)-$/.exec(ranged[0].range!)![1]);
    assert(start > 0 && start <= cutAfter, `resumed from ${start}`);
    assertEquals(ranged[0].status, 206);
    // Only what the client had not received is sent again.
    assertEquals(resent(log), cutAfter - start);
    assert(events.some((event) => event.type === "retry" && event.digest === layerDigest));
  });
}

Deno.test("a registry that answers a Range request with 200 is read again from the start", async () => {
  const { log } = await pullThrough((kind, nth) =>
    kind === "blob" && nth === 2
      ? { cutAfter: 250_000, how: "reset" }
      : kind === "blob" && nth === 3
      ? { ignoreRange: true }
      : undefined
  );
  const ranged = log.filter((entry) => entry.range !== null);
  assertEquals(ranged.map((entry) => entry.status), [200]);
});

Deno.test("what is not worth retrying fails at once; the rest after its attempts", async () => {
  const root = await tempDir();
  const missing = faultyRegistry(
    image,
    (kind) => kind === "manifest" ? { status: 404 } : undefined,
  );
  const busy = faultyRegistry(image, () => ({ status: 503 }));
  try {
    await assertRejects(
      () => pull(`${missing.server.host}/team/app`, { root: root.path, retry: fast }),
      RegistryError,
      /HTTP 404/,
    );
    assertEquals(missing.log.filter((entry) => entry.kind === "manifest").length, 2); // HEAD, GET
    const error = await assertRejects(
      () =>
        pull(`${busy.server.host}/team/app`, {
          root: root.path,
          retry: { ...fast, attempts: 3 },
        }),
      RegistryError,
    );
    assertMatch(error.message, /HTTP 503\) \(after 3 attempts\)$/);
    assertEquals(error.status, 503);
  } finally {
    await missing.server.close();
    await busy.server.close();
    await root.remove();
  }
});
