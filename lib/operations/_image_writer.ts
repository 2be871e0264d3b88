/**
 * Writes new images into the store, for `commit` and `build`: a layer
 * from a stream of tar entries (gzip-compressed, its diff_id and digest
 * computed as it streams, then extracted and checked as a pulled layer
 * is), and an image from a parent image, an optional new layer and the
 * new config. Nothing stored before is modified.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "../io/path.ts";
import { tarEntries, type TarEntrySpec } from "../archive/tar_writer.ts";
import { ingestLayer } from "../layer/ingest.ts";
import type { Descriptor, ImageConfig, ImageManifest } from "../model/manifest.ts";
import {
  DOCKER_CONFIG,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
} from "../model/media_types.ts";
import type { ContentStore } from "../store/content_store.ts";
import { imageToRecord, type Store } from "../store/store.ts";

/** A layer written by {@link writeLayer}. */
export interface WrittenLayer {
  /** Its blob's descriptor. */
  descriptor: Descriptor;
  /** Its uncompressed digest. */
  diffId: string;
}

/** The media types of an image that has `parent` as its base (docker's, or OCI's). */
export function mediaTypesOf(parent?: ImageManifest): {
  manifest: string;
  config: string;
  layer: string;
} {
  return parent?.mediaType === DOCKER_MANIFEST
    ? { manifest: DOCKER_MANIFEST, config: DOCKER_CONFIG, layer: DOCKER_LAYER_GZIP }
    : { manifest: OCI_MANIFEST, config: OCI_CONFIG, layer: OCI_LAYER_GZIP };
}

/**
 * Writes a layer: the entries as a tar, gzip-compressed into a staging file
 * while both digests are computed, moved into the content store, and
 * extracted into the layer store (unless it has that diff_id already).
 *
 * @param store The store (held for adding).
 * @param blobs The content store of that hold.
 * @param staging Its staging directory.
 * @param entries The layer's entries, in order.
 * @param mediaType The layer's media type (a gzip one).
 * @returns The layer.
 */
export async function writeLayer(
  store: Store,
  blobs: ContentStore,
  staging: string,
  entries: AsyncIterable<TarEntrySpec> | Iterable<TarEntrySpec>,
  mediaType: string,
): Promise<WrittenLayer> {
  const uncompressed = createHash("sha256");
  const compressed = createHash("sha256");
  const path = join(staging, `layer-${crypto.randomUUID()}.tar.gz`);
  let size = 0;
  const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  // The stream closes the file (its last bytes are written only then); adopt() syncs it.
  await tarEntries(entries)
    .pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          uncompressed.update(chunk);
          controller.enqueue(chunk);
        },
      }),
    )
    .pipeThrough(
      new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    )
    .pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          compressed.update(chunk);
          size += chunk.byteLength;
          controller.enqueue(chunk);
        },
      }),
    )
    .pipeTo(file.writable);
  const descriptor = { mediaType, digest: `sha256:${compressed.digest("hex")}`, size };
  const diffId = `sha256:${uncompressed.digest("hex")}`;
  try {
    if (!(await store.layers.has(diffId))) {
      await ingestLayer((await Deno.open(path)).readable, {
        descriptor,
        diffId,
        layers: store.layers,
        staging,
        extract: { preserveOwnership: Deno.uid() === 0 },
      });
    }
    await blobs.adopt(path, descriptor.digest);
  } finally {
    await Deno.remove(path).catch(() => {});
  }
  return { descriptor, diffId };
}

/** What a new image is made of. */
export interface NewImage {
  /** Its parent's manifest and config (none: from scratch). */
  parent?: { manifest: ImageManifest; config: ImageConfig };
  /** Its new layer, if it has one. */
  layer?: WrittenLayer;
  /** Its runtime defaults (docker's `config`: Env, Cmd, Entrypoint, …). */
  config: Record<string, unknown>;
  /** Its history entry. */
  history: { created_by: string; comment?: string; author?: string };
  /** Its author (`commit --author`). */
  author?: string;
  /** Its creation time (RFC 3339). */
  created: string;
  /** Its platform, from scratch. */
  platform?: { architecture: string; os: string; variant?: string };
}

/**
 * Writes a new image's config and manifest and records it (under
 * `repository:tag` when given).
 *
 * @returns The image's ID (its config's digest).
 */
export async function writeImage(
  store: Store,
  blobs: ContentStore,
  image: NewImage,
  name: { repository?: string; tag?: string } = {},
): Promise<string> {
  const parent = image.parent;
  const types = mediaTypesOf(parent?.manifest);
  const base: Record<string, unknown> = parent
    ? structuredClone(parent.config) as unknown as Record<string, unknown>
    : {
      architecture: image.platform?.architecture ?? "amd64",
      os: image.platform?.os ?? "linux",
      ...(image.platform?.variant ? { variant: image.platform.variant } : {}),
      rootfs: { type: "layers", diff_ids: [] },
      history: [],
    };
  const rootfs = base.rootfs as { type: string; diff_ids: string[] };
  const history = [...((base.history ?? []) as Record<string, unknown>[])];
  history.push({
    created: image.created,
    ...(image.author ? { author: image.author } : {}),
    created_by: image.history.created_by,
    ...(image.history.comment ? { comment: image.history.comment } : {}),
    ...(image.layer ? {} : { empty_layer: true }),
  });
  delete base.container;
  delete base.container_config;
  const config = {
    ...base,
    created: image.created,
    ...(image.author ? { author: image.author } : {}),
    config: image.config,
    rootfs: {
      type: "layers",
      diff_ids: [...rootfs.diff_ids, ...(image.layer ? [image.layer.diffId] : [])],
    },
    history,
  };
  if (!image.author) delete (config as Record<string, unknown>).author;
  const configBytes = new TextEncoder().encode(JSON.stringify(config));
  const id = await blobs.putBytes(configBytes);
  const layers = [
    ...(parent?.manifest.layers ?? []),
    ...(image.layer ? [image.layer.descriptor] : []),
  ];
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: types.manifest,
    config: { mediaType: types.config, digest: id, size: configBytes.byteLength },
    layers,
  } as ImageManifest;
  const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
  const manifestDigest = await blobs.putBytes(manifestBytes);
  let size = 0;
  for (const diffId of config.rootfs.diff_ids) size += (await store.layers.read(diffId)).size;
  await store.recordImage({
    ...imageToRecord({
      manifest,
      manifestBytes,
      manifestDigest,
      config: config as unknown as ImageConfig,
      configBytes,
      size,
    }),
    ...name,
  });
  return id;
}
