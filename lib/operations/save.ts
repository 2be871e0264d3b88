/**
 * `save`: stored images as one tar stream that other tools load: the
 * docker-archive layout (`docker load`, skopeo `docker-archive:`) or an OCI
 * image layout (skopeo `oci-archive:`, umoci).
 *
 * @module
 */

import { DenockerError, ImageNotFoundError } from "../errors.ts";
import { digestOf } from "../model/digest.ts";
import { OCI_INDEX, OCI_MANIFEST } from "../model/media_types.ts";
import type { ContentStore } from "../store/content_store.ts";
import type { LayerStore } from "../store/layer_store.ts";
import { type StoredImage, storeOf, type StoreOptions } from "../store/store.ts";
import { decompressLayer } from "../archive/compression.ts";
import { type TarFile, tarFiles } from "../archive/tar_writer.ts";

/** Options for {@link saveImages}. */
export interface SaveOptions extends StoreOptions {
  /** `docker` (docker-archive, the default) or `oci` (an OCI image layout). */
  format?: "docker" | "oci";
  /** Stops the save. */
  signal?: AbortSignal;
}

/** An image to save, with the names it is saved under. */
interface Saved {
  image: StoredImage;
  manifestBytes: Uint8Array;
  tags: string[];
}

const encoder = new TextEncoder();

function bytesFile(name: string, bytes: Uint8Array): TarFile {
  return {
    name,
    size: bytes.byteLength,
    open: () => new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(),
  };
}

async function blobFile(name: string, digest: string, blobs: ContentStore): Promise<TarFile> {
  const size = (await Deno.stat(blobs.path(digest))).size;
  return { name, size, open: () => blobs.open(digest) };
}

/**
 * Writes stored images as a tar to `output`. `docker`: `manifest.json`,
 * the configs, one uncompressed `<diffid>/layer.tar` per layer and
 * `repositories`, as `docker save` writes them (the same image IDs).
 * `oci`: `oci-layout`, `index.json` (an entry per name) and `blobs/`, the
 * stored blobs as they are (the same digests). Streamed: each blob is read
 * when its turn comes.
 *
 * Requires `--allow-read`.
 *
 * @example
 * ```ts
 * import { saveImages } from "@denocker/denocker";
 * const file = await Deno.open("/tmp/alpine.tar", { write: true, create: true });
 * await saveImages(["alpine:3.20"], file.writable, { root: "/tmp/denocker" });
 * ```
 *
 * @param names References or IDs of stored images.
 * @param output Where the tar goes; it is closed at the end.
 * @param options The store, the format, abort.
 */
export async function saveImages(
  names: string[],
  output: WritableStream<Uint8Array>,
  options: SaveOptions = {},
): Promise<void> {
  const store = await storeOf(options);
  const { blobs, layers } = store;
  // Found and read under the store's hold, so nothing collects them before they are written.
  await store.whileReading(async () => {
    const saved: Saved[] = [];
    for (const name of names) {
      const found = await store.find(name);
      if (found.missing) throw new ImageNotFoundError(`Cannot save ${name}: its metadata is gone`);
      const tags = found.tag ? [`${found.tag.repository}:${found.tag.tag}`] : [];
      const existing = saved.find((entry) => entry.image.record.id === found.record.id);
      if (existing) {
        existing.tags.push(...tags.filter((tag) => !existing.tags.includes(tag)));
        continue;
      }
      const image = await store.image(found.record.id);
      const manifestBytes = await blobs.readBytes(image.record.manifestDigest).catch((error) => {
        throw new DenockerError(
          `Cannot save ${name}: its manifest blob is missing; pull it again`,
          {
            cause: error,
          },
        );
      });
      saved.push({ image, manifestBytes, tags });
    }
    const files = options.format === "oci"
      ? ociFiles(saved, blobs)
      : dockerFiles(saved, blobs, layers);
    await tarFiles(files).pipeTo(output, { signal: options.signal });
  });
}

async function* dockerFiles(
  saved: Saved[],
  blobs: ContentStore,
  layers: LayerStore,
): AsyncGenerator<TarFile> {
  const manifest = [];
  const repositories: Record<string, Record<string, string>> = {};
  const written = new Set<string>();
  for (const { image, tags } of saved) {
    const configName = `${image.record.id.slice(7)}.json`;
    const layerNames = image.record.layers.map((layer) => `${layer.diffId.slice(7)}/layer.tar`);
    manifest.push({ Config: configName, RepoTags: tags, Layers: layerNames });
    for (const tag of tags) {
      const at = tag.lastIndexOf(":");
      const top = image.record.layers.at(-1)?.diffId.slice(7) ?? "";
      (repositories[tag.slice(0, at)] ??= {})[tag.slice(at + 1)] = top;
    }
    if (!written.has(configName)) {
      written.add(configName);
      yield await blobFile(configName, image.record.id, blobs);
    }
    for (const layer of image.record.layers) {
      const name = `${layer.diffId.slice(7)}/layer.tar`;
      if (written.has(name)) continue;
      written.add(name);
      // docker-archive layers are uncompressed; the extracted layer's record knows the size.
      const { size } = await layers.read(layer.diffId);
      yield {
        name,
        size,
        open: async () =>
          (await blobs.open(layer.digest)).pipeThrough(decompressLayer(layer.mediaType)),
      };
    }
  }
  yield bytesFile("manifest.json", encoder.encode(JSON.stringify(manifest)));
  yield bytesFile("repositories", encoder.encode(JSON.stringify(repositories)));
}

async function* ociFiles(saved: Saved[], blobs: ContentStore): AsyncGenerator<TarFile> {
  yield bytesFile("oci-layout", encoder.encode(JSON.stringify({ imageLayoutVersion: "1.0.0" })));
  const manifests = [];
  for (const { image, manifestBytes, tags } of saved) {
    const descriptor = {
      mediaType: image.manifest.mediaType ?? OCI_MANIFEST,
      digest: digestOf(manifestBytes),
      size: manifestBytes.byteLength,
    };
    if (tags.length === 0) manifests.push(descriptor);
    for (const tag of tags) {
      manifests.push({
        ...descriptor,
        annotations: {
          "org.opencontainers.image.ref.name": tag.slice(tag.lastIndexOf(":") + 1),
          "io.containerd.image.name": tag,
        },
      });
    }
  }
  yield bytesFile(
    "index.json",
    encoder.encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests })),
  );
  const written = new Set<string>();
  for (const { image, manifestBytes } of saved) {
    const manifestDigest = digestOf(manifestBytes);
    if (!written.has(manifestDigest)) {
      written.add(manifestDigest);
      yield bytesFile(`blobs/sha256/${manifestDigest.slice(7)}`, manifestBytes);
    }
    for (const digest of [image.record.id, ...image.record.layers.map((layer) => layer.digest)]) {
      if (written.has(digest)) continue;
      written.add(digest);
      yield await blobFile(`blobs/sha256/${digest.slice(7)}`, digest, blobs);
    }
  }
}
