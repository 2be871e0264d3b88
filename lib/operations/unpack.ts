/**
 * `unpack`: an image's flattened root filesystem written to a directory.
 * The name lookup, the target directory and the clean-up live here; the
 * flattening itself in `_flatten.ts`.
 *
 * @module
 */

import { dirname, join, resolve } from "../io/path.ts";
import { InvalidInputError } from "../errors.ts";
import { lstatIfExists, readDirIfExists, removeIfExists } from "../io/fs.ts";
import { directoryProblem } from "../io/paths.ts";
import { runningAsRoot } from "../store/root.ts";
import { storeOf, type StoreOptions } from "../store/store.ts";
import { flatten } from "../layer/flatten.ts";

/**
 * Progress of an unpack: `layer` as each layer starts (`index` of `count`,
 * lowest first), and `waiting-for-lock` while another denocker command
 * holds the store.
 */
export type UnpackEvent =
  | { type: "layer"; index: number; count: number; diffId: string }
  | { type: "waiting-for-lock"; root: string };

/** Options for {@link unpack}. */
export interface UnpackOptions extends StoreOptions {
  /** Apply file owners from the layers; by default when running as root. */
  preserveOwnership?: boolean;
  /** Stops the unpack; what it wrote is removed again. */
  signal?: AbortSignal;
  /** Receives progress. */
  onProgress?: (event: UnpackEvent) => void;
}

/**
 * Prepares the directory to unpack into: a new directory whose parent
 * exists, or an existing empty one.
 *
 * @returns Whether it was created (and so is removed again on failure).
 */
async function prepareTarget(directory: string): Promise<boolean> {
  const fail = (reason: string) =>
    new InvalidInputError(`Cannot unpack into ${directory}: ${reason}`);
  if (directory === "") throw new InvalidInputError("Cannot unpack: the target directory is empty");
  const existing = await lstatIfExists(directory).catch(async (error) => {
    throw fail(await directoryProblem(directory, error));
  });
  if (existing) {
    if (!existing.isDirectory) throw fail("it exists and is not a directory");
    for await (const _ of Deno.readDir(directory)) throw fail("it is not empty");
    return false;
  }
  try {
    await Deno.mkdir(directory, { mode: 0o700 });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      const parent = dirname(resolve(directory));
      const problem = await directoryProblem(directory, error);
      throw fail(
        problem.endsWith("is not a directory") ? problem : `its parent ${parent} does not exist`,
      );
    }
    throw fail(await directoryProblem(directory, error));
  }
  return true;
}

/** Takes back what an unpack wrote: the directory it made, or the content it put in one. */
async function undoUnpack(directory: string, created: boolean): Promise<void> {
  if (created) {
    await removeIfExists(directory, { recursive: true });
    return;
  }
  for (const entry of await readDirIfExists(directory)) {
    await removeIfExists(join(directory, entry.name), { recursive: true });
  }
}

/**
 * Writes an image's flattened root filesystem to a directory, new (its
 * parent must exist) or empty: layers in order, whiteouts and opaque
 * directories applied, hardlinks kept (also those to files of lower
 * layers), modes, times and (as root) owners as in the layers. On failure
 * or abort, what it wrote is removed again. Works on a store it may only read.
 *
 * Requires `--allow-read` (of the store and the directory), `--allow-write`
 * (of the directory) and `--allow-sys`.
 *
 * @example
 * ```ts
 * import { unpackImage } from "@denocker/denocker";
 * await unpackImage("alpine:3.20", "/tmp/alpine-rootfs", { root: "/tmp/denocker" });
 * ```
 *
 * @param image A reference or image ID of a stored image.
 * @param directory The directory to fill: new, or existing and empty.
 * @param options The store, ownership, abort signal, progress.
 * @returns The image ID unpacked.
 */
export async function unpackImage(
  image: string,
  directory: string,
  options: UnpackOptions = {},
): Promise<string> {
  const store = await storeOf(options);
  const onWait = () => options.onProgress?.({ type: "waiting-for-lock", root: store.root });
  return await store.openImage(image, "unpack", async ({ record, layers }) => {
    const created = await prepareTarget(directory);
    try {
      await flatten(layers, record, directory, {
        preserveOwnership: options.preserveOwnership ?? runningAsRoot(),
        signal: options.signal,
        onProgress: options.onProgress,
      });
    } catch (error) {
      await undoUnpack(directory, created);
      throw error;
    }
    return record.id;
  }, { onWait });
}

/**
 * The former name of {@link unpackImage}, kept for one release.
 *
 * @deprecated Use {@link unpackImage}.
 */
export const unpack: typeof unpackImage = unpackImage;
