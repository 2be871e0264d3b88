/**
 * Finding a stored image from what a user typed: a reference in any
 * spelling (`alpine`, `docker.io/library/alpine:latest`, `name@sha256:…`)
 * or an image ID, full or shortened.
 *
 * @module
 */

import { ImageNotFoundError } from "../errors.ts";
import { ImageIndex } from "./image_index.ts";
import { type ImageRecord, ImageStore } from "./_image_store.ts";
import { familiarName, parseReference, type Reference } from "../model/reference.ts";
import { ensureDirectory } from "./_paths.ts";

/** Shortest image ID prefix accepted, so that a short word is not taken for an ID. */
export const MIN_ID_PREFIX = 4;

/** A stored image and how it was named. */
export interface FoundImage {
  /** The image's record. */
  record: ImageRecord;
  /** Set when it was found by a tag. */
  tag?: { repository: string; tag: string };
  /** Set when it was found by `repository@digest`. */
  repoDigest?: string;
}

/**
 * Finds a stored image by reference; no network.
 *
 * @param root The denocker root.
 * @param reference A parsed reference.
 * @returns The image, or undefined.
 */
export async function findByReference(
  root: string,
  reference: Reference,
): Promise<FoundImage | undefined> {
  const repository = familiarName(reference);
  const images = new ImageStore(root);
  if (reference.digest) {
    const wanted = `${repository}@${reference.digest}`;
    for (const record of await images.list()) {
      // A platform manifest's digest names the image through its repository's recorded digest.
      const repoDigest = record.repoDigests.includes(wanted)
        ? wanted
        : record.documentDigests.includes(reference.digest)
        ? record.repoDigests.find((entry) => entry.startsWith(`${repository}@`))
        : undefined;
      if (repoDigest) return { record, repoDigest };
    }
    return undefined;
  }
  const id = await new ImageIndex(root).get(repository, reference.tag!);
  const record = id === undefined ? undefined : await images.read(id);
  return record && { record, tag: { repository, tag: reference.tag! } };
}

/**
 * Finds a stored image by reference or by image ID (full, `sha256:`-prefixed,
 * or a unique prefix of at least {@link MIN_ID_PREFIX} hex digits). References are tried first,
 * as docker does. Throws {@link ImageNotFoundError} when nothing matches.
 *
 * @example
 * ```ts
 * import { findImage } from "./_lookup.ts";
 * const { record } = await findImage("/var/lib/denocker", "alpine:3.20");
 * console.log(record.id);
 * ```
 *
 * @param root The denocker root.
 * @param text What the user typed.
 * @returns The image.
 */
export async function findImage(root: string, text: string): Promise<FoundImage> {
  await ensureDirectory(root, "store root", { create: false });
  let reference: Reference | undefined;
  try {
    reference = parseReference(text);
  } catch {
    // Not a reference; maybe an ID.
  }
  if (reference) {
    const found = await findByReference(root, reference);
    if (found) return found;
  }
  const idMatch = new RegExp(`^(?:sha256:)?([0-9a-f]{${MIN_ID_PREFIX},64})$`).exec(text);
  if (idMatch) {
    const matches = (await new ImageStore(root).list()).filter((image) =>
      image.id.slice("sha256:".length).startsWith(idMatch[1])
    );
    if (matches.length > 1) {
      throw new ImageNotFoundError(`Cannot find image "${text}": the ID prefix is ambiguous`);
    }
    if (matches.length === 1) return { record: matches[0] };
  }
  if (/^(?:sha256:)?[0-9a-f]{1,3}$/.test(text)) {
    throw new ImageNotFoundError(
      `Cannot find image "${text}": no such image, and an image ID prefix needs at least ${MIN_ID_PREFIX} hex digits`,
    );
  }
  if (!reference && !idMatch) {
    throw new TypeError(`Cannot find image "${text}": not a valid reference or image ID`);
  }
  throw new ImageNotFoundError(`Cannot find image "${text}": no such image in the store`);
}
