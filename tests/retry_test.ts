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
  await using registry = faultyRegistry(image, faultFor);
  const { server, log } = registry;
  await using root = await tempDir();
  const events: PullEvent[] = [];
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
  await using root = await tempDir();
  await using missing = faultyRegistry(
    image,
    (kind) => kind === "manifest" ? { status: 404 } : undefined,
  );
  await using busy = faultyRegistry(image, () => ({ status: 503 }));
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
});

/** What the proxy in front of the real registry does to the first blob request for the layer. */
type ProxyFault = "503" | "429-date" | "500" | "reset" | "truncate" | "stall";

integrationTest("through a faulty proxy to the real registry, a pull survives and resumes", [
  "docker-registry",
  "skopeo",
  "umoci",
], async (t) => {
  await using registry = await startRegistry();
  await using layout = await OciLayout.create();
  const dir = join(layout.dir, "content");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(join(dir, "noise.txt"), noise(3_000_000));
  await layout.image("big", [await layout.tarOf(dir, "big")]);
  await layout.push("big", `${registry.host}/team/big:1`);
  const layerSize = (await layout.manifest("big")).layers[0].size;
  const faults: ProxyFault[] = ["503", "429-date", "500", "reset", "truncate", "stall"];
  for (const fault of faults) {
    await t.step(fault, async () => {
      await using root = await tempDir();
      const log: { range: string | null; status: number; bytes: number; layer: boolean }[] = [];
      let faulted = false;
      await using proxy = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {} },
        async (request) => {
          const url = new URL(request.url);
          const upstream = await fetch(`http://${registry.host}${url.pathname}${url.search}`, {
            method: request.method,
            headers: request.headers,
            redirect: "manual",
          });
          const layer = url.pathname.includes("/blobs/") &&
            Number(
                upstream.headers.get("content-range")?.split("/")[1] ??
                  upstream.headers.get("content-length"),
              ) === layerSize;
          const entry = {
            range: request.headers.get("range"),
            status: upstream.status,
            bytes: 0,
            layer,
          };
          log.push(entry);
          const hit = layer && !faulted;
          if (hit) faulted = true;
          if (hit && ["503", "429-date", "500"].includes(fault)) {
            await upstream.body?.cancel();
            entry.status = Number(fault.slice(0, 3));
            const retryAfter: Record<string, string> = fault === "429-date"
              ? { "retry-after": new Date(Date.now() + 1000).toUTCString() }
              : fault === "503"
              ? { "retry-after": "0" }
              : {};
            return new Response("busy", { status: entry.status, headers: retryAfter });
          }
          const reader = upstream.body?.getReader();
          const body = reader && new ReadableStream<Uint8Array>({
            async pull(controller) {
              if (hit && entry.bytes >= 1_000_000) {
                await reader.cancel();
                if (fault === "reset") return controller.error(new Error("reset by the proxy"));
                if (fault === "truncate") return controller.close();
                return await new Promise(() => {}); // stall
              }
              const { done, value } = await reader.read();
              if (done) return controller.close();
              entry.bytes += value.byteLength;
              controller.enqueue(value);
            },
          });
          return new Response(body ?? null, {
            status: upstream.status,
            headers: upstream.headers,
          });
        },
      );
      const host = `127.0.0.1:${proxy.addr.port}`;
      const started = performance.now();
      const result = await pull(`${host}/team/big:1`, {
        root: root.path,
        retry: { baseDelay: 100 },
        stallTimeout: 500,
      });
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      assertEquals(result.layers[0].size, layerSize);
      assertEquals(await checkStore({ root: root.path }), []);
      assertEquals(await listFiles(root.path, "tmp"), []);
      const layerRequests = log.filter((entry) => entry.layer || entry.range !== null);
      const resentBytes = layerRequests.reduce((sum, entry) => sum + entry.bytes, 0) -
        layerSize;
      // deno-lint-ignore no-console
      console.log(
        `${fault}: recovered, pull took ${seconds} s; layer requests ${
          JSON.stringify(
            layerRequests.map(({ range, status, bytes }) => [range, status, bytes]),
          )
        }; bytes sent again ${resentBytes}`,
      );
      if (["reset", "truncate", "stall"].includes(fault)) {
        const ranged = log.filter((entry) => entry.range !== null);
        assertEquals(ranged.map((entry) => entry.status), [206]);
        const start = Number(/^bytes=([0-9]+)-$/.exec(ranged[0].range!)![1]);
        assertEquals(ranged[0].bytes, layerSize - start);
        assert(resentBytes < 128 * 1024, `${resentBytes} bytes sent again`);
      } else {
        assertEquals(log.filter((entry) => entry.range !== null).length, 0);
      }
    });
  }
});

Deno.test("a layer that fails for good among others: its cause, and staging left empty", async () => {
  const layers = await Promise.all(
    [0, 1, 2].map((i) => craftTar([{ name: `layer${i}.bin`, body: noise(400_000 + i) }])),
  );
  const three = fakeImage(layers);
  for (let round = 0; round < 5; round++) {
    await using registry = faultyRegistry(
      three,
      (kind, nth) => kind === "blob" && nth === 3 ? { cutAfter: 100_000, how: "reset" } : undefined,
    );
    await using root = await tempDir();
    const error = await assertRejects(
      () => pull(`${registry.server.host}/team/app`, { root: root.path, retry: { attempts: 1 } }),
      RegistryError,
    );
    assertMatch(error.message, /^Cannot fetch blob sha256:[0-9a-f]{64} of /);
    assertEquals(await listFiles(root.path, "tmp"), []);
  }
});
