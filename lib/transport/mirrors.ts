/**
 * A registry behind its mirrors: each request goes to the first mirror
 * that answers it, else to the registry itself. This is how a pull uses a
 * pull-through cache (the distribution registry in proxy mode) and falls
 * back when the cache is down.
 *
 * @module
 */

import { DenockerError, InvalidInputError, NetworkError } from "../errors.ts";
import type { Descriptor } from "../model/manifest.ts";
import { verifyingStream } from "../model/digest.ts";
import type { FetchedManifest, ManifestHead, RegistryClient } from "./registry.ts";
import { continuedStream } from "./_continued_stream.ts";

/** What a pull asks of a registry: manifests and blobs. */
export type ImageSource = Pick<RegistryClient, "headManifest" | "getManifest" | "fetchBlob">;

/** A mirror given up on for a request, for progress. */
export interface MirrorFallback {
  /** The mirror's base URL. */
  mirror: string;
  /** What is asked next: another mirror's URL or the registry's name. */
  next: string;
  /** Why the mirror was left. */
  reason: string;
}

/** Options for {@link MirroredRegistry}. */
export interface MirroredRegistryOptions {
  /** Told the first time each mirror fails. */
  onFallback?: (event: MirrorFallback) => void;
}

interface Endpoint {
  client: RegistryClient;
  /** Base URL for a mirror; undefined for the registry itself. */
  mirror?: string;
}

/**
 * The registry and its mirrors as one source. A mirror's failure of any
 * kind (no connection, an HTTP error such as 404 or 5xx, refused
 * credentials, a manifest that fails its checks) sends the request on to
 * the next mirror and finally to the registry, whose error is the one
 * reported. A mirror that cannot be reached is not asked again by this
 * source. A blob whose transfer from a mirror breaks off is continued from
 * the next source at the byte it reached.
 */
export class MirroredRegistry implements ImageSource {
  readonly #endpoints: Endpoint[];
  readonly #down = new Set<Endpoint>();
  readonly #told = new Set<Endpoint>();
  readonly #onFallback?: (event: MirrorFallback) => void;

  /**
   * Puts a registry behind its mirrors; nothing is sent until a method is called.
   *
   * @param registry The registry's own client, asked last.
   * @param mirrors Clients of its mirrors with their base URLs, asked in this order.
   * @param options Who to tell of a fallback.
   */
  constructor(
    registry: RegistryClient,
    mirrors: { url: string; client: RegistryClient }[],
    options: MirroredRegistryOptions = {},
  ) {
    this.#endpoints = [...mirrors.map(({ url, client }) => ({ client, mirror: url })), {
      client: registry,
    }];
    this.#onFallback = options.onFallback;
  }

  /** The endpoints still worth asking, in order. */
  #available(): Endpoint[] {
    return this.#endpoints.filter((endpoint) => !this.#down.has(endpoint));
  }

  /** Rethrows what a request to `endpoint` threw unless it is a mirror's failure to move on from. */
  #leave(endpoint: Endpoint, next: Endpoint | undefined, error: unknown, signal?: AbortSignal) {
    if (endpoint.mirror === undefined || next === undefined) throw error;
    if (signal?.aborted || !(error instanceof DenockerError)) throw error;
    if (error instanceof NetworkError) this.#down.add(endpoint);
    if (this.#told.has(endpoint)) return;
    this.#told.add(endpoint);
    this.#onFallback?.({
      mirror: endpoint.mirror,
      next: next.mirror ?? next.client.registry,
      reason: error.message,
    });
  }

  async #first<T>(
    request: (client: RegistryClient) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const order = this.#available();
    for (let i = 0;; i++) {
      try {
        return await request(order[i].client);
      } catch (error) {
        this.#leave(order[i], order[i + 1], error, signal);
      }
    }
  }

  /** {@link RegistryClient.headManifest} of the first source that answers. */
  headManifest(
    repository: string,
    reference: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<ManifestHead> {
    return this.#first(
      (client) => client.headManifest(repository, reference, options),
      options.signal,
    );
  }

  /** {@link RegistryClient.getManifest} of the first source that answers. */
  getManifest(
    repository: string,
    reference: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<FetchedManifest> {
    return this.#first(
      (client) => client.getManifest(repository, reference, options),
      options.signal,
    );
  }

  /**
   * {@link RegistryClient.fetchBlob} of the first source that answers; a
   * transfer that breaks off is taken up by the next source with `Range`.
   */
  async fetchBlob(
    repository: string,
    descriptor: Pick<Descriptor, "digest" | "size">,
    options: { signal?: AbortSignal; verify?: boolean; start?: number } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const { signal } = options;
    if (options.verify !== false && (options.start ?? 0) > 0) {
      throw new InvalidInputError(
        `Cannot fetch blob ${descriptor.digest}: a blob read from ${options.start} cannot be verified`,
      );
    }
    const order = this.#available();
    let position = 0;
    /** The blob from `offset`, from the first source left that answers. */
    const open = async (offset: number): Promise<ReadableStream<Uint8Array>> => {
      for (;; position++) {
        try {
          return await order[position].client.fetchBlob(repository, descriptor, {
            signal,
            verify: false,
            start: offset,
          });
        } catch (error) {
          this.#leave(order[position], order[position + 1], error, signal);
        }
      }
    };
    const start = options.start ?? 0;
    const body = continuedStream(await open(start), {
      start,
      reopen: (offset, error) => {
        this.#leave(order[position], order[position + 1], error, signal);
        position++;
        return open(offset);
      },
    });
    if (options.verify === false) return body;
    return body.pipeThrough(
      verifyingStream(
        descriptor.digest,
        descriptor.size,
        `Cannot accept blob ${descriptor.digest} of ${repository}`,
      ),
    );
  }
}
