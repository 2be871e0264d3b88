/**
 * A registry for one image that fails the way networks do, on the requests
 * a test chooses, and logs every request (range asked, status, bytes sent).
 */

import { type fakeImage, startServer, type TestServer } from "./_fake_registry.ts";
import { OCI_MANIFEST } from "../lib/model/media_types.ts";

/** A fault for one request, chosen by the test from the request's number and kind. */
export type Fault =
  | { status: number; retryAfter?: string }
  | { cutAfter: number; how: "reset" | "truncate" | "stall" }
  | { ignoreRange: true };

export interface Logged {
  method: string;
  kind: "manifest" | "blob" | "other";
  range: string | null;
  status: number;
  bytes: number;
}

/** A faulty registry and its log; `await using` closes its server at the end of the scope. */
export interface FaultyRegistry extends AsyncDisposable {
  server: TestServer;
  log: Logged[];
}

/** A registry for one image whose requests may fail as `faultFor` decides; it logs every one. */
export function faultyRegistry(
  image: ReturnType<typeof fakeImage>,
  faultFor: (kind: Logged["kind"], nth: number) => Fault | undefined,
  options: { chunkDelayMs?: number } = {},
): FaultyRegistry {
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
        if (options.chunkDelayMs) {
          await new Promise((resolve) => setTimeout(resolve, options.chunkDelayMs));
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
  return { server, log, [Symbol.asyncDispose]: () => server.close() };
}

/** Random-looking content that does not compress, so byte counts mean something. */
export function noise(bytes: number): string {
  let text = "";
  let x = 12345;
  while (text.length < bytes) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    text += x.toString(36);
  }
  return text.slice(0, bytes);
}
