/**
 * The pull operation: resolve a reference to one image manifest, then fetch
 * and verify its manifest, config and layers into the content store.
 *
 * @module
 */

import { mapConcurrent } from "./_pool.ts";
import { ContentStore } from "./content_store.ts";
import { type CredentialLookup, dockerConfigCredentials } from "./credentials.ts";
import { VerificationError } from "./errors.ts";
import {
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  type ManifestDocument,
  parseImageConfig,
  parseManifestDocument,
  type Platform,
} from "./manifest.ts";
import { formatPlatform, hostPlatform, selectManifest } from "./platform.ts";
import { parseReference, type Reference } from "./reference.ts";
import { RegistryClient } from "./registry.ts";

/** Largest image config accepted; configs are held in memory. */
export const MAX_CONFIG_BYTES = 64 * 1024 * 1024;

/** Progress reported while pulling. */
export type PullEvent =
  | { type: "resolved"; reference: string; manifestDigest: string; imageId: string; layers: number }
  | { type: "layer-cached"; digest: string; size: number }
  | { type: "layer-start"; digest: string; size: number }
  | { type: "layer-progress"; digest: string; bytes: number; size: number }
  | { type: "layer-done"; digest: string; size: number };

/** Options for {@link pull}. */
export interface PullOptions {
  /** The store root directory. */
  root: string;
  /** Platform to choose from a multi-platform image; the host's by default. */
  platform?: Platform;
  /** Layers fetched at once; 3 by default. */
  maxConcurrentDownloads?: number;
  /** `HOST[:PORT]` registries reached over plain HTTP besides loopback ones. */
  insecureRegistries?: string[];
  /** Credential lookup; docker's `config.json` by default. */
  credentials?: CredentialLookup;
  /** The fetch to use; inject one to test. */
  fetch?: typeof fetch;
  /** Aborts the pull. */
  signal?: AbortSignal;
  /** Receives progress events. */
  onProgress?: (event: PullEvent) => void;
}

/** What a pull produced. */
export interface PullResult {
  /** The reference, normalised. */
  reference: Reference;
  /** `sha256:<hex>` of the image config: docker's image ID. */
  imageId: string;
  /** Digest of the image manifest (the platform's manifest for a multi-platform image). */
  manifestDigest: string;
  /** Digest of what the reference named (the index for a multi-platform image). */
  referenceDigest: string;
  /** The image manifest. */
  manifest: ImageManifest;
  /** The image config. */
  config: ImageConfig;
  /** The config descriptor. */
  configDescriptor: Descriptor;
  /** The layer descriptors, lowest first. */
  layers: Descriptor[];
  /** The platform of the image pulled. */
  platform: Platform;
}

/** A pull's state shared by its steps. */
interface PullContext {
  client: RegistryClient;
  store: ContentStore;
  reference: Reference;
  options: PullOptions;
}

/**
 * Loads a manifest by digest from the store, or fetches, checks and stores it.
 */
async function manifestByDigest(
  context: PullContext,
  digest: string,
  mediaType?: string,
): Promise<ManifestDocument> {
  const { store, client, reference, options } = context;
  if (await store.has(digest)) {
    return parseManifestDocument(await store.readBytes(digest), mediaType ?? null);
  }
  const fetched = await client.getManifest(reference.repository, digest, options);
  await store.putBytes(fetched.bytes, fetched.digest);
  return fetched.document;
}

/** Resolves the reference to a manifest document and its digest. */
async function resolveReference(
  context: PullContext,
): Promise<{ digest: string; document: ManifestDocument }> {
  const { reference, client, store, options } = context;
  if (reference.digest) {
    return {
      digest: reference.digest,
      document: await manifestByDigest(context, reference.digest),
    };
  }
  const fetched = await client.getManifest(reference.repository, reference.tag!, options);
  await store.putBytes(fetched.bytes, fetched.digest);
  return { digest: fetched.digest, document: fetched.document };
}

async function loadConfig(context: PullContext, descriptor: Descriptor): Promise<ImageConfig> {
  const { store, client, reference, options } = context;
  if (descriptor.size > MAX_CONFIG_BYTES) {
    throw new RangeError(
      `Cannot fetch image config: ${descriptor.size} bytes is over the ${MAX_CONFIG_BYTES}-byte limit`,
    );
  }
  if (!(await store.has(descriptor.digest, descriptor.size))) {
    const stream = await client.fetchBlob(reference.repository, descriptor, {
      signal: options.signal,
      verify: false,
    });
    await store.put(stream, descriptor);
  }
  try {
    return parseImageConfig(await store.readBytes(descriptor.digest));
  } catch (error) {
    throw new TypeError(
      `Cannot accept image config ${descriptor.digest}: ${(error as Error).message}`,
    );
  }
}

async function fetchLayer(context: PullContext, layer: Descriptor): Promise<void> {
  const { store, client, reference, options } = context;
  const report = options.onProgress ?? (() => {});
  if (await store.has(layer.digest, layer.size)) {
    report({ type: "layer-cached", digest: layer.digest, size: layer.size });
    return;
  }
  report({ type: "layer-start", digest: layer.digest, size: layer.size });
  const stream = await client.fetchBlob(reference.repository, layer, {
    signal: options.signal,
    verify: false,
  });
  const writer = await store.ingest(layer.digest, layer.size);
  let bytes = 0;
  try {
    for await (const chunk of stream) {
      await writer.write(chunk);
      bytes += chunk.byteLength;
      report({ type: "layer-progress", digest: layer.digest, bytes, size: layer.size });
    }
    await writer.commit();
  } catch (error) {
    await writer.abort();
    throw error;
  }
  report({ type: "layer-done", digest: layer.digest, size: layer.size });
}

/**
 * Pulls an image into the content store: resolves the reference (choosing
 * the platform from a multi-platform image), then fetches the manifest,
 * config and layers, verifying each against its digest and size as it
 * streams. Blobs already stored are not fetched again.
 *
 * Requires `--allow-net`, `--allow-read` and `--allow-write` (and
 * `--allow-env`, `--allow-run` for docker's credential configuration).
 *
 * @example
 * ```ts
 * import { pull } from "./pull.ts";
 * const result = await pull("localhost:5000/team/app:1.0", { root: "/tmp/denocker" });
 * console.log(result.imageId);
 * ```
 *
 * @param image A reference string or parsed reference.
 * @param options Store root, platform, transport and progress options.
 * @returns The image ID, manifest digest and descriptors.
 */
export async function pull(image: string | Reference, options: PullOptions): Promise<PullResult> {
  const reference = typeof image === "string" ? parseReference(image) : image;
  const client = new RegistryClient(reference.registry, {
    fetch: options.fetch,
    credentials: options.credentials ?? dockerConfigCredentials(),
    insecureRegistries: options.insecureRegistries,
  });
  const store = new ContentStore(options.root);
  const context: PullContext = { client, store, reference, options };
  const platform = options.platform ?? hostPlatform();

  const resolved = await resolveReference(context);
  let manifestDigest = resolved.digest;
  let document = resolved.document;
  if (document.kind === "index") {
    const entry = selectManifest(document.index, platform);
    manifestDigest = entry.digest;
    document = await manifestByDigest(context, entry.digest, entry.mediaType);
    if (document.kind !== "manifest") {
      throw new TypeError(
        `Cannot pull ${
          formatPlatform(platform)
        } entry ${entry.digest}: it is an index, not an image manifest`,
      );
    }
  }
  const manifest = document.manifest;
  const config = await loadConfig(context, manifest.config);
  const imageId = manifest.config.digest;
  options.onProgress?.({
    type: "resolved",
    reference: `${reference.registry}/${reference.repository}`,
    manifestDigest,
    imageId,
    layers: manifest.layers.length,
  });
  await mapConcurrent(
    manifest.layers,
    options.maxConcurrentDownloads ?? 3,
    (layer) => fetchLayer(context, layer),
  );
  if (document.kind === "manifest" && config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new VerificationError(
      `Cannot accept image ${imageId}: config lists ${config.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`,
    );
  }
  return {
    reference,
    imageId,
    manifestDigest,
    referenceDigest: resolved.digest,
    manifest,
    config,
    configDescriptor: manifest.config,
    layers: manifest.layers,
    platform: {
      os: config.os,
      architecture: config.architecture,
      ...(config.variant ? { variant: config.variant } : {}),
    },
  };
}
