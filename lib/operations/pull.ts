/**
 * The pull operation: resolve a reference to one image manifest; fetch and
 * verify its manifest, config and layers; extract each layer; record the
 * image and its tag.
 *
 * @module
 */

import { mapConcurrent } from "../io/pool.ts";
import { assertSupportedLayer } from "../archive/compression.ts";
import type { BlobWriter, ContentStore } from "../store/content_store.ts";
import {
  DenockerError,
  ImageNotFoundError,
  InvalidInputError,
  RegistryError,
  VerificationError,
} from "../errors.ts";
import { isDiskFull } from "../io/paths.ts";
import type { ExtractLimits } from "../layer/extract.ts";
import { ingestLayer } from "../layer/ingest.ts";
import type { LayerRecord, LayerStore } from "../store/layer_store.ts";
import {
  type FoundImage,
  type ImageRecord,
  imageToRecord,
  type Store,
  storeOf,
  type StoreOptions,
} from "../store/store.ts";
import {
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  type ManifestDocument,
  parseImageConfig,
  parseManifestDocument,
  type Platform,
} from "../model/manifest.ts";
import {
  configPlatform,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  platformMatches,
  selectManifest,
} from "../model/platform.ts";
import {
  familiarName,
  familiarReference,
  parseReference,
  type Reference,
} from "../model/reference.ts";
import type { ImageSource } from "../transport/mirrors.ts";
import { registryAccess, type RemoteOptions } from "../transport/access.ts";
import { runningAsRoot } from "../store/root.ts";

/** Largest image config accepted; configs are held in memory. */
export const MAX_CONFIG_BYTES = 64 * 1024 * 1024;

/** A layer as progress events name it. */
export interface LayerProgress {
  /** Digest of the layer blob. */
  digest: string;
  /** Size of the layer blob in bytes. */
  size: number;
  /** Whether the store holds it (blob and extraction) already: no download, no wait. */
  stored: boolean;
}

/**
 * Progress reported while pulling, in the order a pull goes:
 * `pulling` (the registry is being asked), `resolved` (the image and its
 * layers are known), then per layer `layer-cached`, or `layer-start`,
 * `layer-progress`… (up to the blob's size), `layer-extracting` (every
 * byte read; extraction finishing), `layer-done`. `warning`s may come at
 * any time (with the layer's digest when they concern one), and
 * `waiting-for-lock` when another denocker command holds the store.
 */
export type PullEvent =
  | { type: "waiting-for-lock"; root: string }
  | { type: "pulling"; repository: string; reference: string }
  | {
    type: "resolved";
    reference: string;
    /** Digest of the document the reference names (an index for a multi-platform image). */
    digest: string;
    manifestDigest: string;
    imageId: string;
    /** Whether the store holds the image already (under any name): docker lists no layers then. */
    imageStored: boolean;
    layers: LayerProgress[];
  }
  | { type: "layer-cached"; digest: string; size: number }
  /** Another denocker command is downloading this blob; this one waits for it. */
  | { type: "layer-waiting"; digest: string; size: number }
  | { type: "layer-start"; digest: string; size: number; source: "registry" | "store" }
  | { type: "layer-progress"; digest: string; bytes: number; size: number }
  | { type: "layer-extracting"; digest: string; size: number }
  | { type: "layer-done"; digest: string; size: number }
  | { type: "warning"; message: string; digest?: string }
  | {
    type: "retry";
    /** What is retried, e.g. "fetch blob sha256:… of registry/repo". */
    action: string;
    /** The layer blob concerned, when it is one. */
    digest?: string;
    /** The attempt about to be made, and how many there may be. */
    attempt: number;
    attempts: number;
    /** Milliseconds until then. */
    delay: number;
    /** Why the last attempt failed. */
    reason: string;
  };

/** Options for {@link pull}. */
export interface PullOptions extends StoreOptions, RemoteOptions {
  /**
   * The platform to pull. When given, it must hold: a single-platform image
   * of another platform is refused. By default the host's, and a
   * single-platform image of another platform is pulled with a warning.
   */
  platform?: Platform;
  /** Return an image already in the store without contacting the registry. */
  missing?: boolean;
  /** Layers fetched and extracted at once; 3 by default. */
  maxConcurrentDownloads?: number;
  /** Receives progress events. */
  onProgress?: (event: PullEvent) => void;
  /** Extraction caps (entries, uncompressed bytes, name length). */
  limits?: Partial<ExtractLimits>;
  /** Apply file owners from the layers; by default when running as root. */
  preserveOwnership?: boolean;
}

/** What a pull produced. */
export interface PullResult {
  /** The reference, normalised. */
  reference: Reference;
  /** `sha256:<hex>` of the image config: docker's image ID. */
  imageId: string;
  /**
   * Digest of the document the reference names, as docker prints it after
   * `Digest:` and records in `RepoDigests` (the index for a multi-platform image).
   */
  digest: string;
  /** Digest of the image manifest (the platform's manifest for a multi-platform image). */
  manifestDigest: string;
  /** The image manifest. */
  manifest: ImageManifest;
  /** The image config. */
  config: ImageConfig;
  /** The layer descriptors, lowest first. */
  layers: Descriptor[];
  /** The platform of the image pulled. */
  platform: Platform;
  /**
   * True when the name pulled already named this image and nothing was
   * downloaded (docker's "Image is up to date"); false when anything was
   * downloaded or the name is new to this root.
   */
  cached: boolean;
}

/** A pull's state shared by its steps. */
interface PullContext {
  client: ImageSource;
  store: Store;
  blobs: ContentStore;
  layers: LayerStore;
  staging: string;
  reference: Reference;
  options: PullOptions;
  signal: AbortSignal;
  /** Stops every other step once one has failed. */
  abort: AbortController;
  transferred: boolean;
}

interface Document {
  digest: string;
  bytes: Uint8Array;
  document: ManifestDocument;
}

/** Loads a manifest document by digest from the store, or fetches, checks and stores it. */
async function documentByDigest(context: PullContext, digest: string): Promise<Document> {
  const { blobs, client, reference, signal } = context;
  if (await blobs.has(digest)) {
    const bytes = await blobs.readBytes(digest);
    return { digest, bytes, document: parseManifestDocument(bytes, null) };
  }
  context.transferred = true;
  const fetched = await client.getManifest(reference.repository, digest, { signal });
  await blobs.putBytes(fetched.bytes, fetched.digest);
  return fetched;
}

/**
 * Resolves the reference to a document. For a tag, a HEAD asks for the
 * current digest first, so an unchanged image costs no download.
 */
async function resolveReference(context: PullContext): Promise<Document> {
  const { reference, client, blobs, signal } = context;
  if (reference.digest) return documentByDigest(context, reference.digest);
  try {
    const head = await client.headManifest(reference.repository, reference.tag!, { signal });
    if (head.digest && await blobs.has(head.digest)) return documentByDigest(context, head.digest);
  } catch (error) {
    // Some registries answer HEAD poorly; the GET below reports their real problems. A registry
    // that cannot be reached at all (no status) is not asked twice: a timeout would double.
    if (!(error instanceof RegistryError) || error.status === undefined) throw error;
  }
  context.transferred = true;
  const fetched = await client.getManifest(reference.repository, reference.tag!, { signal });
  await blobs.putBytes(fetched.bytes, fetched.digest);
  return fetched;
}

async function loadConfig(
  context: PullContext,
  descriptor: Descriptor,
): Promise<{ bytes: Uint8Array; config: ImageConfig }> {
  const { blobs, client, reference, signal } = context;
  if (descriptor.size > MAX_CONFIG_BYTES) {
    throw new InvalidInputError(
      `Cannot fetch image config: ${descriptor.size} bytes is over the ${MAX_CONFIG_BYTES}-byte limit`,
    );
  }
  if (!(await blobs.has(descriptor.digest, descriptor.size))) {
    context.transferred = true;
    const stream = await client.fetchBlob(reference.repository, descriptor, {
      signal,
      verify: false,
    });
    await blobs.put(stream, descriptor);
  }
  const bytes = await blobs.readBytes(descriptor.digest);
  try {
    return { bytes, config: parseImageConfig(bytes) };
  } catch (error) {
    throw new InvalidInputError(
      `Cannot accept image config ${descriptor.digest}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Opens a layer blob's download, or returns undefined when the blob is
 * stored. A partial left by an earlier pull is continued: the store hashes
 * its bytes again, the source reads them back from disk for the extraction,
 * and only the rest is fetched, with `Range`. Another process downloading
 * the same blob is waited for.
 */
async function startDownload(
  context: PullContext,
  layer: Descriptor,
): Promise<{ source: ReadableStream<Uint8Array>; writer: BlobWriter } | undefined> {
  const { blobs, client, reference, signal, options } = context;
  const { digest, size } = layer;
  if (await blobs.has(digest, size)) return undefined;
  const writer = await blobs.resume(digest, size, {
    onWait: () => options.onProgress?.({ type: "layer-waiting", digest, size }),
  });
  // Undefined: another command stored the blob while this one waited for it.
  if (writer === undefined) return undefined;
  context.transferred = true;
  try {
    // The extraction needs the whole blob: what the partial holds is read back for it.
    const held = await blobs.readPartial(digest, writer.offset);
    const rest = writer.offset < size
      ? await client.fetchBlob(reference.repository, layer, {
        signal,
        verify: false,
        start: writer.offset,
      }).catch(async (error) => {
        await held.cancel().catch(() => {});
        throw error;
      })
      : ReadableStream.from<Uint8Array>([]);
    return { source: concatStreams(held, rest), writer };
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

/** One stream of `first`, then `second`. */
function concatStreams(
  first: ReadableStream<Uint8Array>,
  second: ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  const readers = [first.getReader(), second.getReader()];
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (readers.length > 0) {
        const { done, value } = await readers[0].read();
        if (!done) return controller.enqueue(value);
        readers.shift();
      }
      controller.close();
    },
    async cancel(reason) {
      for (const reader of readers) await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/** Whether a layer is stored: it counts as there only with its blob (check, push, save need both). */
async function layerStored(context: PullContext, layer: Descriptor, diffId: string) {
  return await context.layers.has(diffId) && await context.blobs.has(layer.digest, layer.size);
}

/**
 * Makes sure a layer is extracted, downloading its blob only when it is not
 * stored (`stored`, found under the store's hold, which no removal can break).
 */
async function ensureLayer(
  context: PullContext,
  layer: Descriptor,
  diffId: string,
  stored: boolean,
): Promise<LayerRecord> {
  const { layers, options } = context;
  const report = options.onProgress ?? (() => {});
  const { digest, size } = layer;
  if (stored) {
    report({ type: "layer-cached", digest, size });
    return layers.read(diffId);
  }
  // Another pull into this root may be making the layer: it is made once, then found here.
  const release = await layers.lockMaking(
    diffId,
    () => report({ type: "layer-waiting", digest, size }),
  );
  try {
    if (await layerStored(context, layer, diffId)) {
      report({ type: "layer-cached", digest, size });
      return await layers.read(diffId);
    }
    return await makeLayer(context, layer, diffId);
  } finally {
    release();
  }
}

/** Downloads (unless its blob is stored) and extracts a layer that is not stored. */
async function makeLayer(
  context: PullContext,
  layer: Descriptor,
  diffId: string,
): Promise<LayerRecord> {
  const { blobs, layers, options, signal } = context;
  const report = options.onProgress ?? (() => {});
  const { digest, size } = layer;
  const download = await startDownload(context, layer);
  // No download: the blob is stored (only its extraction is missing).
  report({
    type: "layer-start",
    digest,
    size,
    source: download === undefined ? "store" : "registry",
  });
  const source = download?.source ?? await blobs.open(digest);
  const record = await ingestLayer(source, {
    signal,
    descriptor: layer,
    diffId,
    layers,
    staging: context.staging,
    blobWriter: download?.writer,
    extract: {
      ...options.limits,
      preserveOwnership: options.preserveOwnership ?? runningAsRoot(),
    },
    onBytes: (bytes) => report({ type: "layer-progress", digest, bytes, size }),
    onBlobRead: () => report({ type: "layer-extracting", digest, size }),
  });
  if (record.skipped.length > 0) {
    report({
      type: "warning",
      digest,
      message:
        `layer ${digest}: skipped ${record.skipped.length} device node(s) or FIFO(s), e.g. /${
          record.skipped[0].path
        } (Deno cannot create them)`,
    });
  }
  report({ type: "layer-done", digest, size });
  return record;
}

function resultOf(
  reference: Reference,
  record: ImageRecord,
  digest: string,
  documents: { manifest: ImageManifest; config: ImageConfig },
  cached: boolean,
): PullResult {
  return {
    reference,
    imageId: record.id,
    digest,
    manifestDigest: record.manifestDigest,
    manifest: documents.manifest,
    config: documents.config,
    layers: documents.manifest.layers,
    platform: record.platform,
    cached,
  };
}

async function storedResult(store: Store, found: FoundImage): Promise<PullResult> {
  const { record, manifest, config } = await store.image(found.record.id);
  const reference = parseReference(
    found.repoDigest ?? `${found.tag!.repository}:${found.tag!.tag}`,
  );
  const digest = found.repoDigest?.split("@")[1] ??
    record.repoDigests.find((entry) => entry.startsWith(`${familiarName(reference)}@`))
      ?.split("@")[1] ??
    record.manifestDigest;
  return resultOf(reference, record, digest, { manifest, config }, true);
}

/**
 * Checks a single-platform image against the platform asked for: refused
 * when the platform was asked for explicitly (docker's message), a warning
 * when it was only the host's default.
 */
function checkPlatform(context: PullContext, config: ImageConfig, wanted: Platform): void {
  const actual = configPlatform(config);
  if (platformMatches(wanted, actual)) return;
  const { options, reference } = context;
  if (options.platform !== undefined) {
    throw new ImageNotFoundError(
      `image with reference ${
        familiarReference(reference)
      } was found but does not match the specified platform: wanted ${
        formatPlatform(normalizePlatform(wanted))
      }, actual: ${formatPlatform(actual)}`,
    );
  }
  options.onProgress?.({
    type: "warning",
    message: `The image's platform (${formatPlatform(actual)}) does not match the host's (${
      formatPlatform(wanted)
    }) and no platform was asked for`,
  });
}

/** An image resolved for the wanted platform, with its documents. */
interface ResolvedImage {
  /** The document the reference named (index or manifest). */
  named: Document;
  /** The image manifest's document. */
  target: Document;
  manifest: ImageManifest;
  config: ImageConfig;
  configBytes: Uint8Array;
}

/**
 * Resolves the reference to one image manifest for the platform, loads the
 * config, and checks the platform, the media types and the diff_ids.
 */
async function resolveImage(context: PullContext): Promise<ResolvedImage> {
  const { options } = context;
  const platform = options.platform ?? hostPlatform();
  const named = await resolveReference(context);
  let target = named;
  if (named.document.kind === "index") {
    const entry = selectManifest(named.document.index, platform);
    target = await documentByDigest(context, entry.digest);
  }
  if (target.document.kind !== "manifest") {
    throw new InvalidInputError(
      `Cannot pull ${
        formatPlatform(platform)
      } image ${target.digest}: it is an index, not an image manifest`,
    );
  }
  const manifest = target.document.manifest;
  for (const layer of manifest.layers) assertSupportedLayer(layer.mediaType);
  const { bytes: configBytes, config } = await loadConfig(context, manifest.config);
  if (named.document.kind === "manifest") checkPlatform(context, config, platform);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new VerificationError(
      `Cannot accept image ${manifest.config.digest}: config lists ${config.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`,
    );
  }
  return { named, target, manifest, config, configBytes };
}

async function pullWithStaging(context: PullContext): Promise<PullResult> {
  const { reference, options } = context;
  const report = options.onProgress ?? (() => {});
  report({
    type: "pulling",
    repository: reference.repository,
    reference: reference.tag ?? reference.digest!,
  });
  const namedBefore = await context.store.findByReference(reference);
  const { named, target, manifest, config, configBytes } = await resolveImage(context);
  const diffIds = config.rootfs.diff_ids;
  const imageId = manifest.config.digest;
  const stored = await Promise.all(
    manifest.layers.map((layer, i) => layerStored(context, layer, diffIds[i])),
  );
  report({
    type: "resolved",
    reference: `${reference.registry}/${reference.repository}`,
    digest: named.digest,
    manifestDigest: target.digest,
    imageId,
    imageStored: await context.store.hasImage(imageId),
    layers: manifest.layers.map(({ digest, size }, i) => ({ digest, size, stored: stored[i] })),
  });
  const layerRecords = await mapConcurrent(
    manifest.layers,
    options.maxConcurrentDownloads ?? 3,
    (layer, i) =>
      ensureLayer(context, layer, diffIds[i], stored[i]).catch((error) => {
        // The other layers' downloads and extractions stop now instead of running to their end.
        context.abort.abort(error);
        throw error;
      }),
  );
  const record = await context.store.recordImage(imageToRecord({
    manifest,
    manifestBytes: target.bytes,
    manifestDigest: target.digest,
    config,
    configBytes,
    size: layerRecords.reduce((sum, layer) => sum + layer.size, 0),
  }, {
    repository: familiarName(reference),
    // NAME:TAG@DIGEST is a pull by digest, as in docker: the tag stays where it was.
    tag: reference.digest ? undefined : reference.tag,
    digest: named.digest,
  }));
  // Up to date only when nothing came and the name already named this image (docker's rule: a
  // tag new to this root is "Downloaded newer image" even when the image was stored).
  const upToDate = !context.transferred && !namedBefore?.missing &&
    namedBefore?.record.id === imageId;
  return resultOf(reference, record, named.digest, { manifest, config }, upToDate);
}

/**
 * Pulls an image: resolves the reference (choosing the platform from a
 * multi-platform image), fetches manifest, config and layers, verifying
 * each against its digest and size as it streams, extracts every layer
 * (verifying its diff_id) into `layers/`, and records the image and its tag
 * in `images.json`. Blobs and layers already stored are not fetched again;
 * with `missing`, an image already in the store is returned without
 * contacting the registry.
 *
 * Requires `--allow-net`, `--allow-read`, `--allow-write`, `--allow-env`,
 * `--allow-sys=uid` (and `--allow-run` for docker credential helpers).
 *
 * @example
 * ```ts
 * import { pullImage } from "@denocker/denocker";
 * const result = await pullImage("localhost:5000/team/app:1.0", { root: "/tmp/denocker" });
 * console.log(result.imageId);
 * ```
 *
 * @param image A reference string or parsed reference.
 * @param options Store root, platform, transport and progress options.
 * @returns The image ID, manifest digest and descriptors.
 */
export async function pullImage(
  image: string | Reference,
  options: PullOptions = {},
): Promise<PullResult> {
  const reference = typeof image === "string" ? parseReference(image) : image;
  if (options.missing) {
    const stored = await storeOf(options);
    const found = await stored.findByReference(reference);
    // A stored image serves only the platform asked for (the host's by default).
    if (found && platformMatches(options.platform ?? hostPlatform(), found.record.platform)) {
      return storedResult(stored, found);
    }
  }
  const report = options.onProgress ?? (() => {});
  const access = await registryAccess(options, {
    onRetry: (event) =>
      report({
        type: "retry",
        ...event,
        digest: /blob (sha256:[0-9a-f]{64})/.exec(event.action)?.[1],
      }),
    onFallback: ({ mirror, next, reason }) =>
      report({ type: "warning", message: `mirror ${mirror} failed, using ${next}: ${reason}` }),
  });
  const store = await storeOf(options, { create: true });
  const onWait = () => options.onProgress?.({ type: "waiting-for-lock", root: store.root });
  try {
    return await pullInto(store, reference, access.source(reference.registry), options, onWait);
  } catch (error) {
    if (!isDiskFull(error)) throw error;
    // Staging is gone by now; what is stored stays as it was.
    throw new DenockerError(
      `Cannot pull ${familiarReference(reference)}: the disk holding ${store.root} is full`,
      { cause: error },
    );
  }
}

function pullInto(
  store: Store,
  reference: Reference,
  client: ImageSource,
  options: PullOptions,
  onWait: () => void,
): Promise<PullResult> {
  return store.whileAdding(async (staging, blobs) => {
    const abort = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
    const { layers } = store;
    return await pullWithStaging({
      client,
      store,
      blobs,
      layers,
      staging,
      reference,
      options,
      signal,
      abort,
      transferred: false,
    });
  }, { onWait });
}

/**
 * The former name of {@link pullImage}, kept for one release.
 *
 * @deprecated Use {@link pullImage}.
 */
export const pull: typeof pullImage = pullImage;
