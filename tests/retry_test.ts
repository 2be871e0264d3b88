/**
 * Pulls through a registry that fails the way real networks do: busy
 * answers, resets and truncations mid-blob, stalls. Each pull must succeed
 * with the right image, resuming blobs with `Range` rather than starting
 * over, and give up only after its attempts, naming the last cause.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { integrationTest, OciLayout, startRegistry } from "./_real_registry.ts";
import { fakeImage, listFiles, tempDir } from "./_fake_registry.ts";
import { faultyRegistry, type Logged, noise } from "./_faulty_registry.ts";
import { craftTar } from "./_tar.ts";
import { pull, type PullEvent } from "../lib/operations/pull.ts";
import { checkStore } from "../lib/operations/check.ts";
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
    assertEquals(await checkStore({ root: root.path }), []);
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

integrationTest("through a faulty proxy to the real registry, a pull survives and resumes", [
  "docker-registry",
  "skopeo",
  "umoci",
], async () => {
  const registry = await startRegistry();
  const layout = await OciLayout.create();
  const root = await tempDir();
  try {
    const dir = join(layout.dir, "content");
    await Deno.mkdir(dir);
    await Deno.writeTextFile(join(dir, "noise.txt"), noise(3_000_000));
    await layout.image("big", [await layout.tarOf(dir, "big")]);
    await layout.push("big", `${registry.host}/team/big:1`);
    const layerSize = (await layout.manifest("big")).layers[0].size;

    // The proxy: 503 for the first manifest request, the big blob cut after 1 MB the first time.
    const log: {
      method: string;
      path: string;
      range: string | null;
      status: number;
      bytes: number;
    }[] = [];
    let manifests = 0;
    let cut = false;
    const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
      const url = new URL(request.url);
      const entry = {
        method: request.method,
        path: url.pathname,
        range: request.headers.get("range"),
        status: 0,
        bytes: 0,
      };
      log.push(entry);
      if (url.pathname.includes("/manifests/") && ++manifests === 1) {
        entry.status = 503;
        return new Response("busy", { status: 503, headers: { "retry-after": "0" } });
      }
      const upstream = await fetch(`http://${registry.host}${url.pathname}${url.search}`, {
        method: request.method,
        headers: request.headers,
        redirect: "manual",
      });
      entry.status = upstream.status;
      const cutThis = !cut && url.pathname.includes("/blobs/") &&
        Number(upstream.headers.get("content-length")) === layerSize;
      if (cutThis) cut = true;
      const reader = upstream.body?.getReader();
      const body = reader && new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          entry.bytes += value.byteLength;
          controller.enqueue(value);
          if (cutThis && entry.bytes >= 1_000_000) {
            await reader.cancel();
            controller.error(new Error("reset by the proxy"));
          }
        },
      });
      return new Response(body ?? null, { status: upstream.status, headers: upstream.headers });
    });
    const host = `127.0.0.1:${proxy.addr.port}`;
    try {
      const started = performance.now();
      const result = await pull(`${host}/team/big:1`, { root: root.path, retry: fast });
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      const ranged = log.filter((entry) => entry.range !== null);
      // deno-lint-ignore no-console
      console.log(
        `recovered in ${seconds} s; requests: ${
          JSON.stringify(
            log.map((
              e,
            ) => [e.method, e.path.split("/").at(-1)?.slice(0, 19), e.range, e.status, e.bytes]),
          )
        }`,
      );
      assertEquals(result.layers[0].size, layerSize);
      assertEquals(ranged.length, 1);
      assertEquals(ranged[0].status, 206);
      const start = Number(/^bytes=([0-9]+)-$/.exec(ranged[0].range!)![1]);
      assertEquals(ranged[0].bytes, layerSize - start);
      assertEquals(await listFiles(root.path, "tmp"), []);
    } finally {
      await proxy.shutdown();
    }
  } finally {
    await root.remove();
    await layout.remove();
    await registry.close();
  }
});

Deno.test("a layer that fails for good among others: its cause, and staging left empty", async () => {
  const layers = await Promise.all(
    [0, 1, 2].map((i) => craftTar([{ name: `layer${i}.bin`, body: noise(400_000 + i) }])),
  );
  const three = fakeImage(layers);
  for (let round = 0; round < 5; round++) {
    const registry = faultyRegistry(
      three,
      (kind, nth) => kind === "blob" && nth === 3 ? { cutAfter: 100_000, how: "reset" } : undefined,
    );
    const root = await tempDir();
    try {
      const error = await assertRejects(
        () => pull(`${registry.server.host}/team/app`, { root: root.path, retry: { attempts: 1 } }),
        RegistryError,
      );
      assertMatch(error.message, /^Cannot fetch blob sha256:[0-9a-f]{64} of /);
      assertEquals(await listFiles(root.path, "tmp"), []);
    } finally {
      await registry.server.close();
      await root.remove();
    }
  }
});
