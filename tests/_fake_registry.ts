/**
 * A fake distribution registry on 127.0.0.1 for behaviour a real registry
 * will not show on demand: auth flows, redirects, corrupt content.
 */

import { digestOf } from "../lib/model/digest.ts";
import { gzipSync } from "node:zlib";
import {
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_LAYER_TAR,
  OCI_MANIFEST,
} from "../lib/model/media_types.ts";
import type { Platform } from "../lib/model/manifest.ts";

/** A local server; `await using` closes it at the end of the scope. */
export interface TestServer extends AsyncDisposable {
  origin: string;
  host: string;
  requests: { method: string; path: string; authorization: string | null }[];
  close(): Promise<void>;
}

/** Serves `handler` on 127.0.0.1 at a free port and logs every request. */
export function startServer(
  handler: (request: Request, url: URL) => Response | Promise<Response>,
): TestServer {
  const requests: TestServer["requests"] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    requests.push({
      method: request.method,
      path: url.pathname + url.search,
      authorization: request.headers.get("authorization"),
    });
    return handler(request, url);
  });
  const host = `127.0.0.1:${server.addr.port}`;
  const close = () => server.shutdown();
  return { origin: `http://${host}`, host, requests, close, [Symbol.asyncDispose]: close };
}

export interface FakeImage {
  manifestBytes: Uint8Array;
  manifestDigest: string;
  configDigest: string;
  blobs: Map<string, Uint8Array>;
}

const encoder = new TextEncoder();

/**
 * Builds an image whose layers are the given tars, stored as they are
 * (uncompressed-tar media type), or gzipped with `gzip`.
 */
export function fakeImage(
  layers: Uint8Array[],
  options: { architecture?: string; manifestExtra?: Record<string, unknown>; gzip?: boolean } = {},
): FakeImage {
  const blobs = new Map<string, Uint8Array>();
  const layerDescriptors = layers.map((tar) => {
    const bytes = options.gzip ? new Uint8Array(gzipSync(tar)) : tar;
    const digest = digestOf(bytes);
    blobs.set(digest, bytes);
    return {
      mediaType: options.gzip ? OCI_LAYER_GZIP : OCI_LAYER_TAR,
      digest,
      size: bytes.byteLength,
    };
  });
  const configBytes = encoder.encode(JSON.stringify({
    architecture: options.architecture ?? "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: layers.map((tar) => digestOf(tar)) },
  }));
  const configDigest = digestOf(configBytes);
  blobs.set(configDigest, configBytes);
  const manifestBytes = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: configBytes.byteLength },
    layers: layerDescriptors,
    ...options.manifestExtra,
  }));
  return { manifestBytes, manifestDigest: digestOf(manifestBytes), configDigest, blobs };
}

export interface FakeRegistryOptions {
  /** Manifests by tag or digest: bytes and the Content-Type to send. */
  manifests: Map<string, { bytes: Uint8Array; contentType: string }>;
  blobs: Map<string, Uint8Array>;
  /** Returns a response to send instead (e.g. a 401), or undefined to serve. */
  gate?: (request: Request, url: URL) => Response | undefined;
  /** Where to redirect blob GETs, if anywhere. */
  blobLocation?: (digest: string) => string | undefined;
}

/** A handler that serves manifests and blobs of one repository. */
export function registryHandler(options: FakeRegistryOptions) {
  return (request: Request, url: URL): Response => {
    const gated = options.gate?.(request, url);
    if (gated) return gated;
    if (url.pathname === "/v2/") return Response.json({});
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (manifest) {
      const found = options.manifests.get(manifest[2]);
      if (!found) {
        return Response.json({
          errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }],
        }, {
          status: 404,
        });
      }
      return new Response(
        request.method === "HEAD" ? null : found.bytes as Uint8Array<ArrayBuffer>,
        {
          headers: {
            "content-type": found.contentType,
            "content-length": String(found.bytes.byteLength),
            "docker-content-digest": digestOf(found.bytes),
          },
        },
      );
    }
    const blob = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(url.pathname);
    if (blob) {
      const location = options.blobLocation?.(blob[2]);
      if (location) return new Response(null, { status: 307, headers: { location } });
      const bytes = options.blobs.get(blob[2]);
      if (!bytes) {
        return Response.json({ errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown" }] }, {
          status: 404,
        });
      }
      return new Response(bytes as Uint8Array<ArrayBuffer>);
    }
    return new Response("not found", { status: 404 });
  };
}

/** An OCI index over images, one entry per platform. */
export function fakeIndex(entries: { image: FakeImage; platform: Platform }[]) {
  const bytes = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: entries.map(({ image, platform }) => ({
      mediaType: OCI_MANIFEST,
      digest: image.manifestDigest,
      size: image.manifestBytes.byteLength,
      platform,
    })),
  }));
  return { bytes, digest: digestOf(bytes) };
}

/** The manifests map for an index under one tag, with its images by digest. */
export function manifestsForIndex(
  index: { bytes: Uint8Array; digest: string },
  images: FakeImage[],
  tag = "latest",
) {
  const entry = { bytes: index.bytes, contentType: OCI_INDEX };
  const map = new Map([[tag, entry], [index.digest, entry]]);
  for (const image of images) {
    map.set(image.manifestDigest, { bytes: image.manifestBytes, contentType: OCI_MANIFEST });
  }
  return map;
}

/** The manifests map for a single image under one tag. */
export function manifestsFor(image: FakeImage, tag = "latest") {
  const entry = { bytes: image.manifestBytes, contentType: OCI_MANIFEST };
  return new Map([[tag, entry], [image.manifestDigest, entry]]);
}

/** A temporary directory; `await using` removes it at the end of the scope. */
export interface TempDir extends AsyncDisposable {
  path: string;
  remove(): Promise<void>;
}

/** Makes a temporary directory. */
export async function tempDir(): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix: "denocker-test-" });
  const remove = () => Deno.remove(path, { recursive: true });
  return { path, remove, [Symbol.asyncDispose]: () => remove().catch(() => {}) };
}

/**
 * Runs `cleanup` at the end of the scope, for what is not a resource of its own (an
 * environment variable to restore, a mount to undo): `await using _undo = defer(() => …)`.
 */
export function defer(cleanup: () => unknown): AsyncDisposable {
  return { [Symbol.asyncDispose]: async () => void await cleanup() };
}

/** Every file under a directory, as paths relative to it. */
export async function listFiles(root: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${root}/${prefix}`)) {
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory) out.push(...await listFiles(root, relative));
      else out.push(relative);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return out.sort();
}

/** Writes a docker config.json with credentials for a registry; returns its directory. */
export async function dockerConfig(dir: string, registry: string, user: string, password: string) {
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ auths: { [registry]: { auth: btoa(`${user}:${password}`) } } }),
  );
  return dir;
}
