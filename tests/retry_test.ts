/**
 * Pulls through a registry that fails the way real networks do: busy
 * answers, resets and truncations mid-blob, stalls. Each pull must succeed
 * with the right image, resuming blobs with `Range` rather than starting
 * over, and give up only after its attempts, naming the last cause.
 */

import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { fakeImage, listFiles, startServer, tempDir } from "./_fake_registry.ts";
import { craftTar } from "./_tar.ts";
import { OCI_MANIFEST } from "../lib/model/media_types.ts";
import { pull, type PullEvent } from "../lib/operations/pull.ts";
import { RegistryError } from "../lib/errors.ts";

/** A fault for one request, chosen by the test from the request's number and kind. */
type Fault =
  | { status: number; retryAfter?: string }
  | { cutAfter: number; how: "reset" | "truncate" | "stall" }
  | { ignoreRange: true };

interface Logged {
  method: string;
  kind: "manifest" | "blob" | "other";
  range: string | null;
  status: number;
  bytes: number;
}

/** A registry for one image whose requests may fail as `faultFor` decides; it logs every one. */
function faultyRegistry(
  image: ReturnType<typeof fakeImage>,
  faultFor: (kind: Logged["kind"], nth: number) => Fault | undefined,
) {
  const log: Logged[] = [];
  const counts = { manifest: 0, blob: 0, other: 0 };
  const server = startServer((request, url) => {
    const kind = url.pathname.includes("/manifests/")
      ? "manifest"
      : url.pathname.includes("/blobs/")
      ? "blob"
      : "other";
    const fault = faultFor(kind, ++counts[kind]);
    const entry: Logged = {
      method: request.method,
      kind,
      range: request.headers.get("range"),
      status: 200,
      bytes: 0,
    };
    log.push(entry);
    if (fault && "status" in fault) {
      entry.status = fault.status;
      return new Response("busy", {
        status: fault.status,
        headers: fault.retryAfter ? { "retry-after": fault.retryAfter } : {},
      });
    }
    if (kind === "manifest") {
      const body = request.method === "HEAD"
        ? null
        : image.manifestBytes as Uint8Array<ArrayBuffer>;
      return new Response(body, { headers: { "content-type": OCI_MANIFEST } });
    }
    if (kind !== "blob") return Response.json({});
    const bytes = image.blobs.get(url.pathname.split("/").pop()!)!;
    const range = /^bytes=([0-9]+)-$/.exec(entry.range ?? "");
    const start = range && !(fault && "ignoreRange" in fault) ? Number(range[1]) : 0;
    if (start > 0) entry.status = 206;
    let sent = start;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const cut = fault && "cutAfter" in fault ? fault : undefined;
        if (cut && sent >= cut.cutAfter) {
          if (cut.how === "reset") return controller.error(new Error("reset by the fault"));
          if (cut.how === "truncate") return controller.close();
          return await new Promise(() => {}); // A stall: nothing more, ever.
        }
        const end = Math.min(bytes.byteLength, sent + 16 * 1024, cut ? cut.cutAfter : Infinity);
        controller.enqueue(bytes.slice(sent, end));
        entry.bytes += end - sent;
        sent = end;
        if (sent >= bytes.byteLength) controller.close();
      },
    });
    return new Response(body, {
      status: start > 0 ? 206 : 200,
      headers: {
        "content-length": String(bytes.byteLength - start),
        ...(start > 0
          ? { "content-range": `bytes ${start}-${bytes.byteLength - 1}/${bytes.byteLength}` }
          : {}),
      },
    });
  });
  return { server, log };
}

/** Random-looking content that does not compress, so byte counts mean something. */
function noise(bytes: number): string {
  let text = "";
  let x = 12345;
  while (text.length < bytes) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    text += x.toString(36);
  }
  return text.slice(0, bytes);
}

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
