/**
 * `tag`: another name for a stored image, as `docker tag` makes one.
 *
 * @module
 */

import { InvalidInputError, InvalidReferenceError } from "../errors.ts";
import { familiarName, familiarReference, parseReference } from "../model/reference.ts";
import { storeOf, type StoreOptions } from "../store/store.ts";

/**
 * Points `target` (a `repository[:tag]`, `latest` by default) at the image
 * `source` names (a reference or an image ID).
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @example
 * ```ts
 * import { tagImage } from "@denocker/denocker";
 * await tagImage("alpine:3.20", "registry.lan:5000/base/alpine:3.20", { root: "/tmp/denocker" });
 * ```
 *
 * @param source The stored image.
 * @param target The new name.
 * @param options The store.
 * @returns The image ID and the name it now has, as docker prints names.
 */
export async function tagImage(
  source: string,
  target: string,
  options: StoreOptions = {},
): Promise<{ imageId: string; name: string }> {
  const reference = parseReference(target);
  if (reference.digest !== undefined) {
    throw new InvalidReferenceError(`Cannot tag as "${target}": a tag cannot name a digest`);
  }
  const store = await storeOf(options, { create: true });
  // Found and tagged under the store's hold: no removal can take the image in between.
  return await store.whileAdding(async () => {
    const found = await store.find(source);
    if (found.missing) {
      throw new InvalidInputError(`Cannot tag ${source}: its metadata is gone; pull it again`);
    }
    await store.index.set(familiarName(reference), reference.tag ?? "latest", found.record.id);
    return { imageId: found.record.id, name: familiarReference(reference) };
  });
}
