/**
 * `copy`: an image from one registry to another (or within one) without the
 * store, as `crane copy` does: every manifest of an index, the same bytes,
 * the same digests; blobs streamed through (verified) or mounted.
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";
import type { Descriptor } from "../model/manifest.ts";
import { OCI_INDEX, OCI_MANIFEST } from "../model/media_types.ts";
import { parseReference, type Reference } from "../model/reference.ts";
import { registryAccess, type RemoteOptions } from "../transport/access.ts";

/** What a copy did. */
export interface CopyResult {
  /** Digest of the document copied (an index or a manifest), the same at both ends. */
  digest: string;
  /** Manifests copied (an index counts with its entries). */
  manifests: number;
  /** Blobs copied by upload, mount, or found present. */
  blobs: { uploaded: number; mounted: number; present: number };
}

/**
 * Copies `source` to `destination` registry to registry: for an index,
 * every manifest it names (children first, by digest), then the index;
 * every blob checked at the destination first, mounted when both are in
 * the same registry, else streamed through and verified on the way.
 *
 * Requires `--allow-net` (and `--allow-read`/`--allow-env` for credentials).
 *
 * @example
 * ```ts
 * import { copyImage } from "@denocker/denocker";
 * await copyImage("registry.lan:5000/team/app:1.0", "mirror.lan:5000/team/app:1.0");
 * ```
 *
 * @param source The image to copy, by tag or digest.
 * @param destination Where it goes: `repository:tag`.
 * @param options Transport options.
 * @returns The digest and what was transferred.
 */
export async function copyImage(
  source: string,
  destination: string,
  options: RemoteOptions = {},
): Promise<CopyResult> {
  const from = parseReference(source);
  const to = parseReference(destination);
  if (to.digest !== undefined && to.tag === undefined) {
    throw new InvalidInputError(`Cannot copy to ${destination}: name a tag`);
  }
  const access = await registryAccess(options);
  const client = (reference: Reference) => access.client(reference.registry);
  const pull = client(from);
  const push = client(to);
  const sameRegistry = from.registry === to.registry;
  const result: CopyResult = {
    digest: "",
    manifests: 0,
    blobs: { uploaded: 0, mounted: 0, present: 0 },
  };
  const copyBlob = async (descriptor: Descriptor) => {
    const how = await push.pushBlob(
      to.repository,
      descriptor,
      () => pull.fetchBlob(from.repository, descriptor, { signal: options.signal }),
      { mountFrom: sameRegistry ? from.repository : undefined, signal: options.signal },
    );
    result.blobs[how]++;
  };
  const copyManifest = async (reference: string, tag: string): Promise<string> => {
    const fetched = await pull.getManifest(from.repository, reference, { signal: options.signal });
    const document = fetched.document;
    if (document.kind === "index") {
      for (const entry of document.index.manifests) await copyManifest(entry.digest, entry.digest);
    } else {
      for (const descriptor of [document.manifest.config, ...document.manifest.layers]) {
        await copyBlob(descriptor);
      }
    }
    const mediaType =
      (document.kind === "index" ? document.index.mediaType : document.manifest.mediaType) ??
        (document.kind === "index" ? OCI_INDEX : OCI_MANIFEST);
    result.manifests++;
    return await push.putManifest(to.repository, tag, fetched.bytes, mediaType, {
      signal: options.signal,
    });
  };
  result.digest = await copyManifest(from.digest ?? from.tag!, to.tag ?? from.digest!);
  return result;
}
