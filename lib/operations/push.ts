/**
 * `push`: a stored image uploaded to its registry, blobs byte-identical to
 * the stored ones (so the manifest digest is kept).
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";
import { parseManifestDocument } from "../model/manifest.ts";
import { OCI_MANIFEST } from "../model/media_types.ts";
import { familiarName, parseReference, type Reference } from "../model/reference.ts";
import { type ImageRecord, type Store, storeOf, type StoreOptions } from "../store/store.ts";
import { registryAccess, type RemoteOptions } from "../transport/access.ts";
import type { RegistryClient } from "../transport/registry.ts";
import { mapConcurrent } from "../io/pool.ts";

/** Layers uploaded at once (docker's default is 5, skopeo's 6; a pull's downloads are 3). */
const MAX_CONCURRENT_UPLOADS = 3;

/** Options for {@link pushImage}. */
export interface PushOptions extends StoreOptions, RemoteOptions {
  /**
   * Upload each blob in chunks of this many bytes (`PATCH`es). By default
   * a blob goes up in one request, and in chunks only when the registry
   * refuses that.
   */
  chunkSize?: number;
  /** Told once the image is found (`pushing`), then as each blob is handled. */
  onProgress?: (event: PushEvent) => void;
}

/**
 * A push's progress: `pushing` names the repository (docker's "The push
 * refers to repository [...]"), then one `blob` per layer and one for the
 * config (`kind`), each present, mounted (from `from`) or uploaded.
 */
export type PushEvent =
  | { type: "pushing"; repository: string }
  | {
    type: "blob";
    kind: "layer" | "config";
    digest: string;
    how: "present" | "mounted" | "uploaded";
    /** The repository a mounted blob came from. */
    from?: string;
  };

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
export async function pushImage(name: string, options: PushOptions = {}): Promise<PushResult> {
  const reference = parseReference(name);
  if (reference.digest !== undefined) {
    throw new InvalidInputError(`Cannot push ${name}: name a tag, not a digest`);
  }
  const store = await storeOf(options);
  const access = await registryAccess(options);
  // Found and read under the store's hold, so nothing removes it while it is pushed.
  const { record, pushed } = await store.whileReading(async () => {
    const found = await store.find(name);
    if (!found.tag) throw new InvalidInputError(`Cannot push ${name}: no image is tagged so`);
    const { record } = found;
    options.onProgress?.({
      type: "pushing",
      repository: `${reference.registry}/${reference.repository}`,
    });
    const pushed = await pushStored(
      store,
      record,
      reference,
      access.client(reference.registry),
      options,
    );
    return { record, pushed };
  });
  // As docker: the image now has this registry's digest. A store this command may not write
  // (pushed from a read-only grant) keeps its record as it was.
  await store.addRepoDigest(record.id, `${familiarName(reference)}@${pushed.digest}`)
    .catch((error) => {
      if (
        !(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)
      ) {
        throw error;
      }
    });
  return pushed;
}

/** Pushes a stored image's blobs, then its manifest under the reference's tag. */
async function pushStored(
  store: Store,
  record: ImageRecord,
  reference: Reference,
  client: RegistryClient,
  options: PushOptions,
): Promise<PushResult> {
  const { blobs } = store;
  const manifestBytes = await blobs.readBytes(record.manifestDigest);
  const document = parseManifestDocument(manifestBytes, null);
  const mediaType = document.kind === "manifest"
    ? document.manifest.mediaType ?? OCI_MANIFEST
    : OCI_MANIFEST;
  // A repository of the same registry that has these blobs: one the image was pulled from.
  const mountFrom = record.repoDigests
    .map((entry) => parseReference(entry))
    .find((pulled) =>
      pulled.registry === reference.registry && pulled.repository !== reference.repository
    )?.repository;
  const upload = async (kind: "layer" | "config", descriptor: { digest: string; size: number }) => {
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
    options.onProgress?.({
      type: "blob",
      kind,
      digest: descriptor.digest,
      how,
      ...(how === "mounted" ? { from: mountFrom } : {}),
    });
  };
  // Layers a few at once, as docker and skopeo upload them; the config once they are there.
  await mapConcurrent(
    record.layers,
    MAX_CONCURRENT_UPLOADS,
    ({ digest, size }) => upload("layer", { digest, size }),
  );
  await upload("config", {
    digest: record.id,
    size: (await Deno.stat(blobs.path(record.id))).size,
  });
  const digest = await client.putManifest(
    reference.repository,
    reference.tag!,
    manifestBytes,
    mediaType,
    { signal: options.signal },
  );
  return { tag: reference.tag!, digest, size: manifestBytes.byteLength };
}
