/**
 * A registry's distribution API: manifests, blobs, uploads, tags, with
 * their size caps and digest checks. Each request goes through the retry
 * layer (`_retry.ts`) and the HTTP policy (`_http_policy.ts`: timeouts,
 * redirects, auth); a blob's body is resumable (`_resumable_body.ts`).
 *
 * @module
 */

import { Authenticator } from "./_auth.ts";
import type { CredentialLookup } from "./credentials.ts";
import { digestOf, verifyingStream } from "../model/digest.ts";
import { parseDigest } from "../model/digest_syntax.ts";
import { DenockerError, InvalidInputError, RegistryError, VerificationError } from "../errors.ts";

import {
  type Descriptor,
  type ManifestDocument,
  parseManifestDocument,
} from "../model/manifest.ts";
import { MANIFEST_ACCEPT } from "../model/media_types.ts";
import { networkError } from "./_network_error.ts";
import { httpPolicy, type Send, timedFetch } from "./_http_policy.ts";
import { errorFrom, readCapped } from "./_response.ts";
import { registryOrigin } from "./endpoint.ts";
import { Retrier, RETRYABLE_STATUSES, type RetryEvent, type RetryOptions } from "./_retry.ts";
import { resumableBody } from "./_resumable_body.ts";

export type { RetryEvent, RetryOptions };

/** Largest manifest accepted, as the distribution spec recommends. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Options for a {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** The fetch to use; the global one by default. Inject one to test. */
  fetch?: typeof fetch;
  /** Where credentials come from; anonymous when absent. */
  credentials?: CredentialLookup;
  /**
   * `HOST[:PORT]` names reached over plain HTTP besides loopback hosts
   * (read by {@link parseInsecureRegistry}).
   */
  insecureRegistries?: string[];
  /**
   * The API's origin, e.g. `http://mirror.lan:5000` for a mirror; by
   * default `https://` (or `http://` when insecure) and the registry's host.
   */
  baseUrl?: string;
  /** Redirect hops followed per request; 5 by default. */
  maxRedirects?: number;
  /** Manifest size cap in bytes; 4 MiB by default. */
  maxManifestBytes?: number;
  /**
   * Milliseconds to wait for a response's headers (connecting included)
   * before the request fails as timed out; 30 s by default. Bodies may take longer.
   */
  responseTimeout?: number;
  /**
   * Milliseconds a blob's body may go without a byte before the transfer is
   * abandoned and resumed; 30 s by default.
   */
  stallTimeout?: number;
  /** How failed requests are retried (attempts, delays). */
  retry?: RetryOptions;
  /** Told before each retry. */
  onRetry?: (event: RetryEvent) => void;
}

/** Default of {@link RegistryClientOptions.responseTimeout}. */
const DEFAULT_RESPONSE_TIMEOUT_MS = 30_000;
/** Default of {@link RegistryClientOptions.stallTimeout}. */
const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/** A manifest as fetched and checked. */
export interface FetchedManifest {
  /** The exact bytes received (their digest is the manifest digest). */
  bytes: Uint8Array;
  /** Digest of {@link bytes}. */
  digest: string;
  /** The parsed, checked document. */
  document: ManifestDocument;
}

/** What a HEAD of a manifest tells. */
export interface ManifestHead {
  /** `Docker-Content-Digest`, when the registry sent it. */
  digest?: string;
  /** Media type from Content-Type. */
  mediaType?: string;
  /** Content-Length. */
  size?: number;
}

/**
 * A client for one registry's distribution API.
 *
 * @example
 * ```ts
 * import { RegistryClient } from "@denocker/denocker";
 * const client = new RegistryClient("localhost:5000");
 * const { document, digest } = await client.getManifest("team/app", "latest");
 * ```
 */
export class RegistryClient {
  /** Registry name as in references, e.g. `docker.io`. */
  readonly registry: string;
  /** Base URL of the API, e.g. `https://registry-1.docker.io`. */
  readonly baseUrl: string;
  readonly #send: Send;
  readonly #maxManifestBytes: number;
  readonly #stallTimeout: number;
  readonly #retrier: Retrier;

  /**
   * Creates a client; nothing is sent until a method is called.
   *
   * @param registry Registry name from a reference.
   * @param options Transport options.
   */
  constructor(registry: string, options: RegistryClientOptions = {}) {
    this.registry = registry;
    this.baseUrl = options.baseUrl === undefined
      ? registryOrigin(registry, options.insecureRegistries)
      : new URL(options.baseUrl).origin;
    const fetcher = timedFetch(
      options.fetch ?? fetch,
      options.responseTimeout ?? DEFAULT_RESPONSE_TIMEOUT_MS,
    );
    this.#send = httpPolicy({
      baseUrl: this.baseUrl,
      fetch: fetcher,
      maxRedirects: options.maxRedirects ?? 5,
      auth: new Authenticator(registry, {
        fetch: fetcher,
        credentials: options.credentials,
        allowHttpRealm: this.baseUrl.startsWith("http:"),
      }),
    });
    this.#maxManifestBytes = options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
    this.#stallTimeout = options.stallTimeout ?? DEFAULT_STALL_TIMEOUT_MS;
    this.#retrier = new Retrier(options.retry, options.onRetry);
  }

  /**
   * Sends a request through the HTTP policy (`_http_policy.ts`), retrying connection failures and
   * retryable statuses (see `_retry.ts`); a response with another status is
   * returned for the caller to judge.
   */
  #request(
    path: string,
    init: { method: string; accept?: string; scope: string; signal?: AbortSignal; range?: number },
    action: string,
  ): Promise<Response> {
    return this.#retrier.run(action, async () => {
      const response = await this.#send(path, init, action);
      if (RETRYABLE_STATUSES.has(response.status)) throw await errorFrom(response, action);
      return response;
    }, init.signal);
  }

  /**
   * Checks that the registry speaks the distribution API (`GET /v2/`).
   *
   * @param options An abort signal.
   */
  async ping(options: { signal?: AbortSignal } = {}): Promise<void> {
    const response = await this.#request(
      "/v2/",
      { method: "GET", scope: "", ...options },
      `reach ${this.registry}`,
    );
    if (!response.ok) throw await errorFrom(response, `reach ${this.registry}`);
    await response.body?.cancel();
  }

  /**
   * Fetches a manifest by tag or digest and checks it: size cap, document
   * checks, and, when fetched by digest, the digest itself.
   *
   * @param repository Repository path, e.g. `library/alpine`.
   * @param reference A tag or a digest.
   * @param options An abort signal.
   * @returns The manifest bytes, digest and document.
   */
  async getManifest(
    repository: string,
    reference: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<FetchedManifest> {
    const byDigest = reference.includes(":");
    if (byDigest) parseDigest(reference);
    const what = `manifest ${this.registry}/${repository}${byDigest ? "@" : ":"}${reference}`;
    const action = `fetch ${what}`;
    const { response, bytes } = await this.#retrier.run(action, async () => {
      const response = await this.#send(
        `/v2/${repository}/manifests/${reference}`,
        { method: "GET", accept: MANIFEST_ACCEPT, scope: pullScope(repository), ...options },
        action,
      );
      if (!response.ok) throw await errorFrom(response, action);
      try {
        return { response, bytes: await readCapped(response, this.#maxManifestBytes, what) };
      } catch (error) {
        // A body that breaks off is a network failure of this request, and retried.
        if (error instanceof DenockerError || options.signal?.aborted) throw error;
        throw networkError(error, action, new URL(this.baseUrl).host);
      }
    }, options.signal);
    const algorithm = byDigest ? parseDigest(reference).algorithm : "sha256";
    const digest = digestOf(bytes, algorithm);
    if (byDigest && digest !== reference) {
      throw new VerificationError(`Cannot accept ${what}: its content has digest ${digest}`);
    }
    const announced = response.headers.get("docker-content-digest");
    if (!byDigest && announced && announced.startsWith("sha256:") && announced !== digest) {
      throw new VerificationError(
        `Cannot accept ${what}: registry announced ${announced} but the content has digest ${digest}`,
      );
    }
    let document: ManifestDocument;
    try {
      document = parseManifestDocument(bytes, response.headers.get("content-type"));
    } catch (error) {
      throw new InvalidInputError(`Cannot accept ${what}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return { bytes, digest, document };
  }

  /**
   * Uploads a blob unless the repository has it: `HEAD` first, then a
   * cross-repository mount from `mountFrom` when given, else a monolithic
   * upload (`POST` for a session, `PUT` with the content and its digest).
   * A registry that refuses a monolithic upload (HTTP 405, 413, 416 or 501)
   * gets the content again in chunks (`PATCH` with `Content-Range`, at least
   * its `OCI-Chunk-Min-Length`, then `PUT` with the digest); `chunkSize`
   * asks for chunks from the start.
   *
   * @param repository Repository path.
   * @param descriptor The blob's digest and size.
   * @param open Opens the blob's content (again, for a chunked upload after a refused monolithic one).
   * @param options Where to mount from; chunk size; an abort signal.
   * @returns How the blob got there: `"present"`, `"mounted"` or `"uploaded"`.
   */
  async pushBlob(
    repository: string,
    descriptor: Pick<Descriptor, "digest" | "size">,
    open: () => Promise<ReadableStream<Uint8Array>>,
    options: { mountFrom?: string; chunkSize?: number; signal?: AbortSignal } = {},
  ): Promise<"present" | "mounted" | "uploaded"> {
    const scope = `repository:${repository}:pull,push`;
    const action = `push blob ${descriptor.digest} to ${this.registry}/${repository}`;
    const head = await this.#request(
      `/v2/${repository}/blobs/${descriptor.digest}`,
      { method: "HEAD", scope, signal: options.signal },
      action,
    );
    await head.body?.cancel();
    if (head.ok) return "present";
    const session = await this.#startUpload(repository, {
      scope,
      action,
      signal: options.signal,
      mount: options.mountFrom === undefined
        ? undefined
        : { digest: descriptor.digest, from: options.mountFrom },
    });
    if (session === "mounted") return "mounted";
    if (options.chunkSize === undefined) {
      const location = new URL(session.location);
      location.searchParams.set("digest", descriptor.digest);
      const put = await this.#send(
        location.href,
        {
          method: "PUT",
          scope,
          signal: options.signal,
          body: await open(),
          contentType: "application/octet-stream",
        },
        action,
      );
      if (put.status !== 201 && !MONOLITHIC_REFUSED.has(put.status)) {
        throw await errorFrom(put, action);
      }
      await put.body?.cancel();
      if (put.status === 201) return "uploaded";
    }
    await this.#uploadInChunks(descriptor, open, {
      // After a refused monolithic upload, a new session: the refused one may be spent.
      session: options.chunkSize === undefined
        ? await this.#startUpload(repository, { scope, action, signal: options.signal })
        : session,
      chunkSize: options.chunkSize ?? DEFAULT_CHUNK_BYTES,
      scope,
      action,
      signal: options.signal,
    });
    return "uploaded";
  }

  /**
   * Opens an upload session (`POST`), asking for a cross-repository mount
   * when `mount` is given; `"mounted"` when the registry mounted the blob.
   */
  #startUpload(
    repository: string,
    options: { scope: string; action: string; signal?: AbortSignal },
  ): Promise<UploadSession>;
  #startUpload(
    repository: string,
    options: UploadStart,
  ): Promise<UploadSession | "mounted">;
  async #startUpload(
    repository: string,
    options: UploadStart,
  ): Promise<UploadSession | "mounted"> {
    const { mount, scope, action, signal } = options;
    const query = mount ? `?mount=${mount.digest}&from=${mount.from}` : "";
    const start = await this.#request(
      `/v2/${repository}/blobs/uploads/${query}`,
      { method: "POST", scope, signal },
      action,
    );
    await start.body?.cancel();
    if (start.status === 201 && mount) return "mounted";
    if (start.status !== 202 || !start.headers.has("location")) {
      throw await errorFrom(start, action);
    }
    return uploadSession(start, this.baseUrl);
  }

  /**
   * Sends a blob in chunks of `chunkSize` bytes (or the registry's minimum),
   * each a `PATCH` with its `Content-Range` to the location the last answer
   * gave, then closes the session with `PUT ?digest=`. Holds one chunk in
   * memory at a time.
   */
  async #uploadInChunks(
    descriptor: Pick<Descriptor, "digest" | "size">,
    open: () => Promise<ReadableStream<Uint8Array>>,
    options: {
      session: UploadSession;
      chunkSize: number;
      scope: string;
      action: string;
      signal?: AbortSignal;
    },
  ): Promise<void> {
    const { scope, action, signal } = options;
    const size = Math.max(options.chunkSize, options.session.minChunk);
    let location = options.session.location;
    let offset = 0;
    const send = async (chunk: Uint8Array) => {
      const response = await this.#send(location, {
        method: "PATCH",
        scope,
        signal,
        body: chunk as Uint8Array<ArrayBuffer>,
        contentType: "application/octet-stream",
        contentRange: `${offset}-${offset + chunk.byteLength - 1}`,
      }, action);
      if (response.status !== 202 || !response.headers.has("location")) {
        throw await errorFrom(response, action);
      }
      await response.body?.cancel();
      location = new URL(response.headers.get("location")!, location).href;
      offset += chunk.byteLength;
    };
    // One buffer for every chunk: each PATCH is answered before the buffer is filled again.
    const buffer = new Uint8Array(size);
    let filled = 0;
    for await (const piece of await open()) {
      for (let used = 0; used < piece.byteLength;) {
        const taken = Math.min(size - filled, piece.byteLength - used);
        buffer.set(piece.subarray(used, used + taken), filled);
        filled += taken;
        used += taken;
        if (filled === size) {
          await send(buffer);
          filled = 0;
        }
      }
    }
    if (filled > 0) await send(buffer.subarray(0, filled));
    if (offset !== descriptor.size) {
      throw new VerificationError(
        `Cannot ${action}: the content has ${offset} bytes, expected ${descriptor.size}`,
      );
    }
    const close = new URL(location);
    close.searchParams.set("digest", descriptor.digest);
    const put = await this.#send(close.href, { method: "PUT", scope, signal }, action);
    if (put.status !== 201) throw await errorFrom(put, action);
    await put.body?.cancel();
  }

  /**
   * Puts a manifest under a tag (or its digest).
   *
   * @param repository Repository path.
   * @param reference The tag.
   * @param bytes The manifest's exact bytes.
   * @param mediaType Its media type.
   * @param options An abort signal.
   * @returns The digest the registry gives it.
   */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<string> {
    const action = `push manifest ${this.registry}/${repository}:${reference}`;
    const response = await this.#send(
      `/v2/${repository}/manifests/${reference}`,
      {
        method: "PUT",
        scope: `repository:${repository}:pull,push`,
        signal: options.signal,
        body: bytes as Uint8Array<ArrayBuffer>,
        contentType: mediaType,
      },
      action,
    );
    if (response.status !== 201) throw await errorFrom(response, action);
    await response.body?.cancel();
    const digest = digestOf(bytes);
    const announced = response.headers.get("docker-content-digest");
    if (announced && announced !== digest) {
      throw new VerificationError(
        `Cannot ${action}: the registry stored it as ${announced}, its content has digest ${digest}`,
      );
    }
    return digest;
  }

  /**
   * Lists a repository's tags, following the registry's `Link` pagination.
   *
   * @param repository Repository path, e.g. `library/alpine`.
   * @param options An abort signal; `pageSize` asks for pages of that many tags.
   * @returns Every tag, in the registry's order.
   */
  async listTags(
    repository: string,
    options: { signal?: AbortSignal; pageSize?: number } = {},
  ): Promise<string[]> {
    const action = `list the tags of ${this.registry}/${repository}`;
    const tags: string[] = [];
    let path: string | undefined = `/v2/${repository}/tags/list${
      options.pageSize ? `?n=${options.pageSize}` : ""
    }`;
    for (let page = 0; path !== undefined; page++) {
      if (page > 10_000) throw new RegistryError(`Cannot ${action}: more than 10000 pages`);
      const current: string = path;
      const { body, link } = await this.#retrier.run(action, async () => {
        const response = await this.#send(
          current,
          { method: "GET", scope: pullScope(repository), signal: options.signal },
          action,
        );
        if (!response.ok) throw await errorFrom(response, action);
        const bytes = await readCapped(response, this.#maxManifestBytes, "tag list");
        return { body: new TextDecoder().decode(bytes), link: response.headers.get("link") };
      }, options.signal);
      let parsed: { tags?: unknown };
      try {
        parsed = JSON.parse(body);
      } catch {
        throw new RegistryError(`Cannot ${action}: the answer is not JSON`);
      }
      if (parsed.tags !== null && parsed.tags !== undefined && !Array.isArray(parsed.tags)) {
        throw new RegistryError(`Cannot ${action}: the answer has no tag list`);
      }
      for (const tag of (parsed.tags as unknown[] | null | undefined) ?? []) {
        if (typeof tag === "string") tags.push(tag);
      }
      // RFC 8288: `<url>; rel="next"`, relative to the registry.
      const next = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1] : undefined;
      if (next !== undefined) {
        const url = new URL(next, this.baseUrl);
        if (url.origin !== new URL(this.baseUrl).origin) {
          throw new RegistryError(
            `Cannot ${action}: the next page is on another host (${url.host})`,
          );
        }
        path = url.pathname + url.search;
      } else {
        path = undefined;
      }
    }
    return tags;
  }

  /**
   * Asks for a manifest's digest without downloading it (`HEAD`).
   *
   * @param repository Repository path.
   * @param reference A tag or a digest.
   * @param options An abort signal.
   * @returns What the registry told.
   */
  async headManifest(
    repository: string,
    reference: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<ManifestHead> {
    const what = `manifest ${this.registry}/${repository}:${reference}`;
    const response = await this.#request(
      `/v2/${repository}/manifests/${reference}`,
      { method: "HEAD", accept: MANIFEST_ACCEPT, scope: pullScope(repository), ...options },
      `fetch ${what}`,
    );
    await response.body?.cancel();
    if (!response.ok) {
      throw new RegistryError(`Cannot fetch ${what}: HTTP ${response.status}`, {
        status: response.status,
      });
    }
    const digest = response.headers.get("docker-content-digest") ?? undefined;
    if (digest !== undefined) {
      try {
        parseDigest(digest);
      } catch (error) {
        // A RegistryError with the status, so that a pull falls back to GET.
        throw new RegistryError(
          `Cannot fetch ${what}: the registry sent a malformed Docker-Content-Digest "${digest}"`,
          { status: response.status, cause: error },
        );
      }
    }
    const length = response.headers.get("content-length");
    return {
      digest,
      mediaType: response.headers.get("content-type")?.split(";")[0].trim() || undefined,
      size: length === null ? undefined : Number(length),
    };
  }

  /**
   * Opens a blob as a stream that is verified while it flows: it errors as
   * soon as more bytes than announced arrive, and at the end when the digest
   * or size does not match. Redirects to other hosts (CDNs) are followed.
   *
   * @param repository Repository path.
   * @param descriptor The blob's descriptor (digest and size are enforced).
   * @param options An abort signal; `verify: false` leaves verification to the
   *   consumer (the content store verifies what it stores, so pulls skip a second hash).
   * @returns The content stream, verified unless `verify` is false.
   */
  async fetchBlob(
    repository: string,
    descriptor: Pick<Descriptor, "digest" | "size">,
    options: { signal?: AbortSignal; verify?: boolean; start?: number } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    parseDigest(descriptor.digest);
    const what = `blob ${descriptor.digest} of ${this.registry}/${repository}`;
    const start = options.start ?? 0;
    const action = `fetch ${what}`;
    const open = async (offset: number) => {
      const response = await this.#request(
        `/v2/${repository}/blobs/${descriptor.digest}`,
        { method: "GET", scope: pullScope(repository), signal: options.signal, range: offset },
        action,
      );
      if (!response.ok) throw await errorFrom(response, action);
      if (response.status === 206) {
        const range = /^bytes ([0-9]+)-/.exec(response.headers.get("content-range") ?? "");
        if (!range || Number(range[1]) !== offset) {
          await response.body?.cancel();
          throw new RegistryError(
            `Cannot ${action}: asked for the bytes from ${offset}, the registry sent ${
              response.headers.get("content-range") ?? "no Content-Range"
            }`,
            { status: 206 },
          );
        }
      }
      return response;
    };
    const response = await open(start);
    const length = response.headers.get("content-length");
    const expected = response.status === 206 ? descriptor.size - start : descriptor.size;
    if (length !== null && Number(length) !== expected) {
      await response.body?.cancel();
      throw new VerificationError(
        `Cannot accept ${what}: size is ${length} bytes, expected ${descriptor.size}`,
      );
    }
    const body = resumableBody(response, {
      size: descriptor.size,
      start,
      action,
      host: new URL(response.url || this.baseUrl).host,
      stallTimeout: this.#stallTimeout,
      open,
      pause: (failures, error) => this.#retrier.pause(action, failures, error, options.signal),
      signal: options.signal,
    });
    if (options.verify === false) return body;
    if (start > 0) {
      throw new InvalidInputError(`Cannot ${action}: a blob read from ${start} cannot be verified`);
    }
    return body.pipeThrough(
      verifyingStream(descriptor.digest, descriptor.size, `Cannot accept ${what}`),
    );
  }
}

/** Statuses with which a registry refuses a monolithic upload, and takes chunks instead. */
const MONOLITHIC_REFUSED: ReadonlySet<number> = new Set([405, 413, 416, 501]);
/** Chunk size of a chunked upload unless the caller or the registry asks for another. */
const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;

/** How an upload session is asked for. */
interface UploadStart {
  scope: string;
  action: string;
  signal?: AbortSignal;
  /** Ask for a cross-repository mount of this blob from this repository. */
  mount?: { digest: string; from: string };
}

/** An upload session: where to send the content, and the registry's smallest chunk. */
interface UploadSession {
  location: string;
  minChunk: number;
}

function uploadSession(response: Response, baseUrl: string): UploadSession {
  const minimum = Number(response.headers.get("oci-chunk-min-length") ?? 0);
  return {
    location: new URL(response.headers.get("location")!, baseUrl).href,
    minChunk: Number.isSafeInteger(minimum) && minimum > 0 ? minimum : 0,
  };
}

function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}
