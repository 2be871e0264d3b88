/**
 * Questions for a registry that touch no store: a repository's tags, and a
 * manifest as the registry serves it.
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";
import { parseReference, type Reference } from "../model/reference.ts";
import type { RegistryClient } from "../transport/registry.ts";
import { registryAccess, type RemoteOptions } from "../transport/access.ts";

export type { RemoteOptions };

async function clientFor(reference: Reference, options: RemoteOptions): Promise<RegistryClient> {
  return (await registryAccess(options)).client(reference.registry);
}

/**
 * Lists every tag of a repository, following the registry's pagination.
 *
 * Requires `--allow-net` (and `--allow-read`/`--allow-env` for credentials).
 *
 * @example
 * ```ts
 * import { listTags } from "@denocker/denocker";
 * for (const tag of await listTags("localhost:5000/team/app")) console.log(tag);
 * ```
 *
 * @param repository A repository, e.g. `alpine` or `ghcr.io/org/app` (no tag or digest).
 * @param options Transport options; `pageSize` asks for pages of that many tags.
 * @returns The tags, in the registry's order.
 */
export async function listTags(
  repository: string,
  options: RemoteOptions & { pageSize?: number } = {},
): Promise<string[]> {
  const reference = parseReference(repository);
  if (reference.digest !== undefined || /:[^/]*$/.test(repository.replace(/^[^/]*\//, ""))) {
    throw new InvalidInputError(
      `Cannot list tags of "${repository}": name a repository, without a tag or digest`,
    );
  }
  return await (await clientFor(reference, options)).listTags(reference.repository, {
    signal: options.signal,
    pageSize: options.pageSize,
  });
}

/**
 * Fetches a manifest or index exactly as the registry serves it (its
 * bytes hash to the digest the registry announces), checked as a pull
 * checks it.
 *
 * Requires `--allow-net` (and `--allow-read`/`--allow-env` for credentials).
 *
 * @example
 * ```ts
 * import { fetchManifest } from "@denocker/denocker";
 * const { bytes, digest } = await fetchManifest("localhost:5000/team/app:1.0");
 * ```
 *
 * @param image A reference by tag or digest.
 * @param options Transport options.
 * @returns The bytes and their digest.
 */
export async function fetchManifest(
  image: string,
  options: RemoteOptions = {},
): Promise<{ bytes: Uint8Array; digest: string }> {
  const reference = parseReference(image);
  const { bytes, digest } = await (await clientFor(reference, options)).getManifest(
    reference.repository,
    reference.digest ?? reference.tag!,
    { signal: options.signal },
  );
  return { bytes, digest };
}
