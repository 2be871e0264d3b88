/**
 * `push`: a stored image uploaded to its registry, blobs byte-identical to
 * the stored ones (so the manifest digest is kept).
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";
import { parseManifestDocument } from "../model/manifest.ts";
import { OCI_MANIFEST } from "../model/media_types.ts";
import { parseReference } from "../model/reference.ts";
import { storeOf, type StoreOptions, storeParts } from "../store/store.ts";
import { dockerConfigCredentials } from "../transport/credentials.ts";
import { RegistryClient } from "../transport/registry.ts";
import type { RemoteOptions } from "./remote.ts";

/** Options for {@link pushImage}. */
export interface PushOptions extends StoreOptions, RemoteOptions {
  /**
   * Upload each blob in chunks of this many bytes (`PATCH`es). By default
   * a blob goes up in one request, and in chunks only when the registry
   * refuses that.
   */
  chunkSize?: number;
  /** Told as each blob is handled. */
  onProgress?: (
    event: { type: "blob"; digest: string; how: "present" | "mounted" | "uploaded" },
  ) => void;
}

/** What a push did. */
export interface PushResult {
  /** The tag pushed. */
  tag: string;
  /** The manifest digest in the registry. */
  digest: string;
  /** The manifest's size in bytes. */
  size: number;
}

/**
 * Pushes a stored image to the registry its name names: each blob is
 * checked with `HEAD` first (nothing present is sent again), mounted from
 * another repository of the same registry the image came from when it can
 * be, else uploaded as stored; then the manifest, byte for byte.
 *
 * Requires `--allow-net`, `--allow-read` and `--allow-env`.
 *
 * @example
 * ```ts
 * import { pushImage } from "@denocker/denocker";
 * const { digest } = await pushImage("registry.lan:5000/team/app:1.0", { root: "/tmp/denocker" });
 * ```
 *
 * @param name A stored image's name, `repository:tag`.
 * @param options The store, transport options, progress.
 * @returns The tag, digest and size pushed.
 */
export async function pushImage(name: string, options: PushOptions): Promise<PushResult> {
  const reference = parseReference(name);
  if (reference.digest !== undefined) {
    throw new InvalidInputError(`Cannot push ${name}: name a tag, not a digest`);
  }
  const store = await storeOf(options);
  const found = await store.find(name);
  if (!found.tag) throw new InvalidInputError(`Cannot push ${name}: no image is tagged so`);
  const { record } = found;
  const { blobs } = storeParts(store);
  const manifestBytes = await blobs.readBytes(record.manifestDigest);
  const document = parseManifestDocument(manifestBytes, null);
  const mediaType = document.kind === "manifest"
    ? document.manifest.mediaType ?? OCI_MANIFEST
    : OCI_MANIFEST;
  const client = new RegistryClient(reference.registry, {
    fetch: options.fetch,
    credentials: options.credentials ?? dockerConfigCredentials(),
    insecureRegistries: options.insecureRegistries,
    retry: options.retry,
  });
  // A repository of the same registry that has these blobs: one the image was pulled from.
  const mountFrom = record.repoDigests
    .map((entry) => parseReference(entry))
    .find((pulled) =>
      pulled.registry === reference.registry && pulled.repository !== reference.repository
    )?.repository;
  return await store.whileReading(async () => {
    const descriptors = [
      ...record.layers.map(({ digest, size }) => ({ digest, size })),
      { digest: record.id, size: (await Deno.stat(blobs.path(record.id))).size },
    ];
    for (const descriptor of descriptors) {
      const how = await client.pushBlob(
        reference.repository,
        descriptor,
        () => blobs.open(descriptor.digest),
        {
          mountFrom,
          chunkSize: options.chunkSize,
          signal: options.signal,
        },
      );
      options.onProgress?.({ type: "blob", digest: descriptor.digest, how });
    }
    const digest = await client.putManifest(
      reference.repository,
      reference.tag!,
      manifestBytes,
      mediaType,
      { signal: options.signal },
    );
    return { tag: reference.tag!, digest, size: manifestBytes.byteLength };
  });
}
