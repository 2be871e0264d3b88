/**
 * The overlay root of a container, over the stored layer directories as
 * they are. The layer store keeps whiteouts as `.wh.NAME` files and opaque
 * directories as `.wh..wh..opq` files, which overlayfs does not read. So
 * each layer gets, once per layer stack (chain ID), two small directories
 * beside the store's:
 *
 * - `below/` (under the layer): a character device 0/0 for each
 *   `.wh.NAME` and the `trusted.overlay.opaque` xattr on each opaque
 *   directory, hiding what lower layers have there;
 * - `above/` (over the layer): a whiteout for each marker file itself, so
 *   that `.wh.*` names never show, and the hardlinks whose targets are in
 *   lower layers (the layer store records them; they cannot live in a
 *   layer's own directory).
 *
 * Directories that `above/` needs carry the attributes of the layer's (or
 * a lower layer's) same directory, since the upper one's show. Nothing in
 * `layers/` is written.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { firstNonDirectoryParent, lstatIfExists } from "../io/fs.ts";
import type { LayerStore } from "../store/layer_store.ts";
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from "../model/layer.ts";
import { mknodChar, setXattr } from "./_libc.ts";
import { MalformedLayerError } from "../errors.ts";
import { rootLayout } from "../store/layout.ts";

/** Where the prepared directories of a chain are. */
export function overlayDirectory(root: string, chainId: string): string {
  return join(rootLayout(root).overlay, chainId.replace(/^sha256:/, ""));
}

/** Copies a directory's mode, owner and times onto another. */
async function copyAttributes(from: Deno.FileInfo, to: string): Promise<void> {
  await Deno.chown(to, from.uid, from.gid);
  await Deno.chmod(to, (from.mode ?? 0o755) & 0o7777);
  const mtime = from.mtime ?? new Date(0);
  await Deno.utime(to, from.atime ?? mtime, mtime);
}

/**
 * Makes the directories of `relative` under `base`, each with the
 * attributes of the first of `sources` that has it.
 */
async function mkdirLike(base: string, relative: string, sources: string[]): Promise<void> {
  if (relative === "") return;
  let current = "";
  for (const part of relative.split("/")) {
    current = current === "" ? part : `${current}/${part}`;
    const path = join(base, current);
    if (await lstatIfExists(path)) continue;
    await Deno.mkdir(path);
    for (const source of sources) {
      const info = await lstatIfExists(join(source, current));
      if (info?.isDirectory) {
        await copyAttributes(info, path);
        break;
      }
    }
  }
}

/** Every directory of a tree holding whiteout or opaque markers, with those markers. */
async function markers(root: string): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  const walk = async (relative: string) => {
    for await (const entry of Deno.readDir(join(root, relative))) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.name.startsWith(WHITEOUT_PREFIX)) {
        found.set(relative, [...(found.get(relative) ?? []), entry.name]);
      } else if (entry.isDirectory) {
        await walk(path);
      }
    }
  };
  await walk("");
  return found;
}

/** A layer of a stack as the overlay needs it. */
export interface StackLayer {
  diffId: string;
  chainId: string;
}

/**
 * Prepares the `below/` and `above/` directories of one layer in its stack
 * (once: an existing preparation is kept), building them in `staging` and
 * renaming them into place.
 *
 * @param root The store root.
 * @param layers The layer store.
 * @param stack The image's layers, lowest first.
 * @param index The layer to prepare.
 * @param staging A directory of the store for work in progress.
 */
export async function prepareLayer(
  root: string,
  layers: LayerStore,
  stack: StackLayer[],
  index: number,
  staging: string,
): Promise<void> {
  const { diffId, chainId } = stack[index];
  const target = overlayDirectory(root, chainId);
  if (await lstatIfExists(target)) return;
  const work = join(staging, `overlay-${chainId.slice(7, 19)}`);
  await Deno.mkdir(work, { recursive: true });
  const below = join(work, "below");
  const above = join(work, "above");
  const fs = layers.fsPath(diffId);
  // Where a directory's attributes come from: this layer, then the ones under it.
  const sources = stack.slice(0, index + 1).reverse().map((layer) => layers.fsPath(layer.diffId));
  for (const [directory, names] of await markers(fs)) {
    for (const name of names) {
      await Deno.mkdir(below, { recursive: true });
      await Deno.mkdir(above, { recursive: true });
      await mkdirLike(below, directory, sources);
      await mkdirLike(above, directory, sources);
      if (name === OPAQUE_MARKER) {
        setXattr(join(below, directory), "trusted.overlay.opaque", "y");
      } else {
        mknodChar(join(below, directory, name.slice(WHITEOUT_PREFIX.length)), 0, 0, 0);
      }
      mknodChar(join(above, directory, name), 0, 0, 0);
    }
  }
  const { lowerLinks } = await layers.read(diffId);
  for (const link of lowerLinks) {
    const source = await lowerFile(root, layers, stack, index, link.target);
    const parent = link.path.includes("/") ? link.path.slice(0, link.path.lastIndexOf("/")) : "";
    await Deno.mkdir(above, { recursive: true });
    await mkdirLike(above, parent, sources);
    await Deno.link(source, join(above, link.path));
  }
  // Root's alone: prepared directories hold links to the layers' files, setuid ones too.
  await Deno.mkdir(rootLayout(root).overlay, { recursive: true, mode: 0o700 });
  await Deno.chmod(rootLayout(root).overlay, 0o700);
  try {
    await Deno.rename(work, target);
  } catch (error) {
    // Another container prepared the same layer meanwhile: theirs is as good.
    if (!(await lstatIfExists(target))) throw error;
    await Deno.remove(work, { recursive: true });
  }
}

/** Whether every parent of `path` under `base` is a real directory (none is a symlink). */
async function underRealDirectories(base: string, path: string): Promise<boolean> {
  const parts = path.split("/");
  let current = base;
  for (const part of parts.slice(0, -1)) {
    current = join(current, part);
    if (!(await lstatIfExists(current))?.isDirectory) return false;
  }
  return true;
}

/** Whether a layer has a non-directory (a symlink, a file) at a parent of `path`. */
async function shadowsParent(base: string, path: string): Promise<boolean> {
  return (await firstNonDirectoryParent(base, path))?.info !== undefined;
}

/**
 * The file a lower layer (or its `above/`) has at `path`, the topmost
 * first. As `unpack` does, the path must lie under real directories: a
 * link is never made through a layer's symlink (which could point at any
 * file of the host), nor to a file that a symlink or file of a layer
 * above it hides.
 */
async function lowerFile(
  root: string,
  layers: LayerStore,
  stack: StackLayer[],
  index: number,
  path: string,
): Promise<string> {
  for (let j = index - 1; j >= 0; j--) {
    for (
      const base of [
        join(overlayDirectory(root, stack[j].chainId), "above"),
        layers.fsPath(stack[j].diffId),
      ]
    ) {
      const candidate = join(base, path);
      const info = await lstatIfExists(candidate);
      if (!info || info.isDirectory) {
        if (await shadowsParent(base, path)) {
          throw new MalformedLayerError(
            `Cannot run the image: hardlink target "${path}" does not lie under real directories`,
          );
        }
        continue;
      }
      if (!(await underRealDirectories(base, path))) {
        throw new MalformedLayerError(
          `Cannot run the image: hardlink target "${path}" does not lie under real directories`,
        );
      }
      return candidate;
    }
  }
  throw new MalformedLayerError(
    `Cannot run the image: hardlink target "${path}" is in no lower layer`,
  );
}

/**
 * The overlay's lower directories for a stack, topmost first: per layer
 * its `above/`, its files, its `below/` (those that exist).
 *
 * @param root The store root.
 * @param layers The layer store.
 * @param stack The layers, lowest first (each prepared).
 * @returns Absolute directories.
 */
export async function lowerDirectories(
  root: string,
  layers: LayerStore,
  stack: StackLayer[],
): Promise<string[]> {
  const directories: string[] = [];
  for (const layer of [...stack].reverse()) {
    const prepared = overlayDirectory(root, layer.chainId);
    const above = join(prepared, "above");
    const below = join(prepared, "below");
    if (await lstatIfExists(above)) directories.push(above);
    directories.push(layers.fsPath(layer.diffId));
    if (await lstatIfExists(below)) directories.push(below);
  }
  return directories;
}
