/**
 * `load`: images from a docker-archive (what `docker save` writes, old and
 * new layouts) or an OCI image layout archive, verified and extracted as a
 * pull would, and recorded with their tags. A corrupt or hostile archive
 * changes nothing in the store.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { dirname, join, normalize } from "../io/path.ts";
import {
  DenockerError,
  InvalidInputError,
  MalformedLayerError,
  VerificationError,
} from "../errors.ts";
import {
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  parseImageConfig,
  parseManifestDocument,
} from "../model/manifest.ts";
import {
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_LAYER_TAR,
  OCI_LAYER_ZSTD,
  OCI_MANIFEST,
} from "../model/media_types.ts";
import { familiarName, parseReference } from "../model/reference.ts";
import { runningAsRoot } from "../store/root.ts";
import { imageToRecord, type Store, storeOf, type StoreOptions } from "../store/store.ts";
import type { ContentStore } from "../store/content_store.ts";
import type { LayerStore } from "../store/layer_store.ts";
import { ingestLayer } from "../layer/ingest.ts";
import { readTar } from "../archive/tar_reader.ts";
import { sniff, streamFrom, untilAborted } from "../io/streams.ts";
import { decompressLayer } from "../archive/compression.ts";

/** Options for {@link loadImages}. */
export interface LoadOptions extends StoreOptions {
  /** Stops the load, even while waiting for input; nothing is recorded. */
  signal?: AbortSignal;
  /** What the input is called in messages (`stdin`, a file's path); "the archive" by default. */
  source?: string;
}

/** An image loaded, with the names it was recorded under (none: an untagged image). */
export interface LoadedImage {
  /** `sha256:<hex>` of its config. */
  imageId: string;
  /** `repository:tag` names recorded, as docker prints them. */
  tags: string[];
}

/** A file of the archive, staged on disk with its digest. */
interface Staged {
  path: string;
  digest: string;
  size: number;
}

/** An image found in the archive, before anything is stored. */
interface Candidate {
  manifest: ImageManifest;
  manifestBytes: Uint8Array;
  config: ImageConfig;
  configBytes: Uint8Array;
  /** The staged file of each layer blob, by digest. */
  files: Map<string, Staged>;
  tags: string[];
}

const MAX_DOCUMENT = 64 * 1024 * 1024;

function refuse(reason: string): never {
  throw new InvalidInputError(`Cannot load the archive: ${reason}`);
}

function notAnArchive(source: string, why = ""): never {
  throw new InvalidInputError(`Cannot load: ${source} is not a docker or OCI archive${why}`);
}

/**
 * The archive's tar bytes: gzip and zstd are uncompressed (docker load
 * takes `docker save | gzip`); empty input is refused.
 */
async function archiveBytes(
  input: ReadableStream<Uint8Array>,
  source: string,
): Promise<ReadableStream<Uint8Array>> {
  const { kind, stream } = await sniff(input);
  if (kind === "empty") throw new InvalidInputError(`Cannot load: ${source} is empty`);
  if (kind === "other") return stream;
  const tar = stream.pipeThrough(
    decompressLayer(kind === "gzip" ? OCI_LAYER_GZIP : OCI_LAYER_ZSTD),
  );
  // The decompressor's own errors ("unexpected end of file") say what they are about.
  return streamFrom(async function* () {
    try {
      yield* tar;
    } catch (error) {
      if (error instanceof DenockerError) throw error;
      throw new InvalidInputError(
        `Cannot load: ${source} is not valid ${kind} (${(error as Error).message})`,
        { cause: error },
      );
    }
  }());
}

/** Stages every file of the archive under `directory`, hashed on the way. */
async function stageArchive(
  input: ReadableStream<Uint8Array>,
  directory: string,
  source: string,
): Promise<Map<string, Staged>> {
  const files = new Map<string, Staged>();
  const links = new Map<string, string>();
  let count = 0;
  let entries = 0;
  const tar = readTar(await archiveBytes(input, source));
  // Its first header tells a tar from anything else.
  const first = await tar.next().catch((error) => {
    if (error instanceof MalformedLayerError) notAnArchive(source);
    throw error;
  });
  async function* all() {
    if (first.done) return;
    yield first.value;
    yield* tar;
  }
  for await (const { header, body } of all()) {
    entries++;
    const name = normalize(header.name.replace(/^\/+/, "")).replace(/\/$/, "");
    if (name.startsWith("..")) refuse(`the entry "${header.name}" leaves the archive`);
    if (header.type === "symlink") {
      // Old docker saves link a layer shared by two images to its first copy.
      links.set(name, normalize(join(dirname(name), header.linkname ?? "")));
      continue;
    }
    if (header.type !== "file") {
      await body.cancel();
      continue;
    }
    const path = join(directory, `file-${++count}`);
    const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    const hash = createHash("sha256");
    let size = 0;
    try {
      for await (const chunk of body) {
        hash.update(chunk);
        size += chunk.byteLength;
        for (let written = 0; written < chunk.byteLength;) {
          written += await file.write(chunk.subarray(written));
        }
      }
    } finally {
      file.close();
    }
    files.set(name, { path, digest: `sha256:${hash.digest("hex")}`, size });
  }
  for (const [name, target] of links) {
    const staged = files.get(target);
    if (staged) files.set(name, staged);
  }
  if (entries === 0) notAnArchive(source, " (it is a tar with no entries)");
  return files;
}

async function readStaged(files: Map<string, Staged>, name: string): Promise<Uint8Array> {
  const staged = files.get(name);
  if (!staged) refuse(`it has no ${name}`);
  if (staged.size > MAX_DOCUMENT) refuse(`${name} is larger than ${MAX_DOCUMENT} bytes`);
  return await Deno.readFile(staged.path);
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    refuse(`${what} is not valid JSON`);
  }
}

/** The layer media type from the first bytes of its file: gzip, zstd, or a plain tar. */
async function sniffLayer(staged: Staged): Promise<string> {
  const file = await Deno.open(staged.path);
  try {
    const head = new Uint8Array(4);
    const read = await file.read(head) ?? 0;
    if (read >= 2 && head[0] === 0x1f && head[1] === 0x8b) return OCI_LAYER_GZIP;
    if (read >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
      return OCI_LAYER_ZSTD;
    }
    return OCI_LAYER_TAR;
  } finally {
    file.close();
  }
}

function named(tags: unknown, what: string): string[] {
  if (tags === null || tags === undefined) return [];
  if (!Array.isArray(tags) || tags.some((tag) => typeof tag !== "string")) {
    refuse(`${what} is not a list of names`);
  }
  return tags.map((tag: string) => {
    const reference = parseReference(tag);
    return `${familiarName(reference)}:${reference.tag ?? "latest"}`;
  });
}

/** Images of a docker-archive: `manifest.json` names each config, its layers and tags. */
async function dockerCandidates(files: Map<string, Staged>): Promise<Candidate[]> {
  const entries = parseJson(await readStaged(files, "manifest.json"), "manifest.json");
  if (!Array.isArray(entries)) refuse("manifest.json is not a list");
  const candidates: Candidate[] = [];
  for (const entry of entries as Record<string, unknown>[]) {
    if (typeof entry?.Config !== "string" || !Array.isArray(entry.Layers)) {
      refuse("a manifest.json entry has no Config or Layers");
    }
    const configName = normalize(entry.Config as string);
    const configBytes = await readStaged(files, configName);
    const configFile = files.get(configName)!;
    const config = parseImageConfig(configBytes);
    const layers: Descriptor[] = [];
    const layerFiles = new Map<string, Staged>();
    for (const layerName of entry.Layers as unknown[]) {
      const staged = typeof layerName === "string" ? files.get(normalize(layerName)) : undefined;
      if (!staged) refuse(`a layer named in manifest.json is missing: ${String(layerName)}`);
      layers.push({
        mediaType: await sniffLayer(staged),
        digest: staged.digest,
        size: staged.size,
      });
      layerFiles.set(staged.digest, staged);
    }
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configFile.digest, size: configFile.size },
      layers,
    };
    candidates.push({
      manifest,
      manifestBytes: new TextEncoder().encode(JSON.stringify(manifest)),
      config,
      configBytes,
      files: layerFiles,
      tags: named(entry.RepoTags, "RepoTags"),
    });
  }
  return candidates;
}

/** Images of an OCI layout: `index.json`, and blobs verified against their names. */
async function ociCandidates(files: Map<string, Staged>): Promise<Candidate[]> {
  const blob = (digest: string) => {
    const staged = files.get(`blobs/${digest.replace(":", "/")}`);
    if (!staged) refuse(`the blob ${digest} is missing`);
    if (staged.digest !== digest) {
      throw new VerificationError(
        `Cannot load the archive: blob ${digest} has digest ${staged.digest}`,
      );
    }
    return staged;
  };
  const index = parseJson(await readStaged(files, "index.json"), "index.json") as {
    manifests?: (Descriptor & { annotations?: Record<string, string> })[];
  };
  if (!Array.isArray(index?.manifests)) refuse("index.json has no manifests");
  const candidates = new Map<string, Candidate>();
  for (const entry of index.manifests) {
    const manifestFile = blob(entry.digest);
    const manifestBytes = await readStaged(files, `blobs/${entry.digest.replace(":", "/")}`);
    const document = parseManifestDocument(manifestBytes, null);
    if (document.kind !== "manifest") refuse(`${entry.digest} is not an image manifest`);
    const name = entry.annotations?.["io.containerd.image.name"];
    const tags = name ? named([name], "io.containerd.image.name") : [];
    const existing = candidates.get(manifestFile.digest);
    if (existing) {
      existing.tags.push(...tags);
      continue;
    }
    const manifest = document.manifest;
    const configFile = blob(manifest.config.digest);
    const configBytes = await Deno.readFile(configFile.path);
    const layerFiles = new Map<string, Staged>();
    for (const layer of manifest.layers) {
      const staged = blob(layer.digest);
      if (staged.size !== layer.size) {
        refuse(`blob ${layer.digest} has another size than its manifest says`);
      }
      layerFiles.set(layer.digest, staged);
    }
    candidates.set(manifestFile.digest, {
      manifest,
      manifestBytes,
      config: parseImageConfig(configBytes),
      configBytes,
      files: layerFiles,
      tags,
    });
  }
  return [...candidates.values()];
}

/**
 * Loads the images of a docker-archive or OCI layout archive: every blob
 * verified, every layer's diff_id checked while it is extracted with the
 * same safety rules as a pull, then the images recorded with their names.
 * Nothing is stored unless every image of the archive is good: layers this
 * load added are removed again on failure.
 *
 * Requires `--allow-read` and `--allow-write` (of the store).
 *
 * @example
 * ```ts
 * import { loadImages } from "@denocker/denocker";
 * const file = await Deno.open("/tmp/alpine.tar");
 * for (const { imageId, tags } of await loadImages(file.readable, { root: "/tmp/denocker" })) {
 *   console.log(imageId, tags);
 * }
 * ```
 *
 * @param input The archive.
 * @param options The store, abort.
 * @returns The images loaded.
 */
export async function loadImages(
  input: ReadableStream<Uint8Array>,
  options: LoadOptions = {},
): Promise<LoadedImage[]> {
  const store = await storeOf(options, { create: true });
  return await store.whileAdding(async (staging, blobs) => {
    const source = options.source ?? "the archive";
    const files = await stageArchive(untilAborted(input, options.signal), staging, source);
    const candidates = files.has("manifest.json")
      ? await dockerCandidates(files)
      : files.has("index.json")
      ? await ociCandidates(files)
      : notAnArchive(
        source,
        " (a tar with neither manifest.json, as docker saves, nor index.json, as an OCI layout)",
      );
    if (candidates.length === 0) refuse("it holds no image");
    await ingestCandidates(candidates, store.layers, staging, options.signal);
    const loaded: LoadedImage[] = [];
    for (const candidate of candidates) loaded.push(await recordCandidate(store, blobs, candidate));
    if (loaded.length === 0) throw new DenockerError("Cannot load the archive: no image in it");
    return loaded;
  }, {});
}

/**
 * Extracts every layer the candidates have that the store lacks; on a
 * failure, the layers this added are removed again: nothing of a bad
 * archive stays.
 */
async function ingestCandidates(
  candidates: Candidate[],
  layers: LayerStore,
  staging: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const added: string[] = [];
  try {
    for (const candidate of candidates) {
      const diffIds = candidate.config.rootfs.diff_ids;
      if (diffIds.length !== candidate.manifest.layers.length) {
        throw new VerificationError(
          `Cannot load image ${candidate.manifest.config.digest}: its config lists ${diffIds.length} diff_ids for ${candidate.manifest.layers.length} layers`,
        );
      }
      for (const [i, layer] of candidate.manifest.layers.entries()) {
        if (await layers.has(diffIds[i])) continue;
        const staged = candidate.files.get(layer.digest)!;
        await ingestLayer((await Deno.open(staged.path)).readable, {
          descriptor: layer,
          diffId: diffIds[i],
          layers,
          staging,
          extract: { preserveOwnership: runningAsRoot() },
          signal,
        });
        added.push(diffIds[i]);
      }
    }
  } catch (error) {
    for (const diffId of added) await layers.delete(diffId, staging).catch(() => {});
    throw error;
  }
}

/** Moves a candidate's blobs into the store and records it under each of its tags (or none). */
async function recordCandidate(
  store: Store,
  blobs: ContentStore,
  candidate: Candidate,
): Promise<LoadedImage> {
  for (const [digest, staged] of candidate.files) await blobs.adopt(staged.path, digest);
  const imageId = candidate.manifest.config.digest;
  await blobs.putBytes(candidate.configBytes, imageId);
  const manifestDigest = await blobs.putBytes(candidate.manifestBytes);
  let size = 0;
  for (const diffId of candidate.config.rootfs.diff_ids) {
    size += (await store.layers.read(diffId)).size;
  }
  const record = imageToRecord({
    manifest: candidate.manifest,
    manifestBytes: candidate.manifestBytes,
    manifestDigest,
    config: candidate.config,
    configBytes: candidate.configBytes,
    size,
  });
  if (candidate.tags.length === 0) await store.recordImage(record);
  for (const tag of candidate.tags) {
    const at = tag.lastIndexOf(":");
    await store.recordImage({ ...record, repository: tag.slice(0, at), tag: tag.slice(at + 1) });
  }
  return { imageId, tags: candidate.tags };
}
