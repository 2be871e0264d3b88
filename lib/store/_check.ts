/**
 * The store's fsck: what a crash, a full disk or a hand in the store can
 * leave, found, and with `repair`, removed so that a pull restores it.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "../io/path.ts";
import type { ContentStore } from "./content_store.ts";
import { readDirIfExists, removeIfExists } from "../io/fs.ts";
import type { ImageStore } from "./_image_store.ts";
import type { LayerFilesState, LayerStore } from "./layer_store.ts";
import type { ImageIndex, ImageIndexData } from "./image_index.ts";
import { rootLayout } from "./layout.ts";

/** One thing found wrong, and whether it was repaired. */
export interface Problem {
  /** One line: what is wrong, and where. */
  message: string;
  /** True when `repair` removed it. */
  repaired: boolean;
}

/** The parts a check reads. */
export interface CheckedParts {
  root: string;
  blobs: ContentStore;
  layers: LayerStore;
  images: ImageStore;
  index: ImageIndex;
  /** A staging directory, through which a repair deletes a layer in one rename. */
  staging?: string;
}

async function hashFile(path: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  const file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** Files a crash leaves mid-write: `writeFileAtomic` temps, never renamed. */
function isTemp(name: string): boolean {
  return name.startsWith(".write.") && name.endsWith(".tmp");
}

/**
 * What is wrong with a layer's files, if anything. A layer extracted before
 * denocker recorded its files has nothing to compare with, and passes.
 */
async function filesProblem(layers: LayerStore, diffId: string): Promise<string | undefined> {
  const layer = `layer ${diffId.slice(0, 19)}…`;
  let files: LayerFilesState;
  try {
    files = await layers.verifyFiles(diffId);
  } catch (error) {
    return `${layer}: cannot read its extracted files: ${(error as Error).message}`;
  }
  if (files.state !== "changed") return undefined;
  const { found, expected } = files;
  const counts = found.entries === expected.entries
    ? `the same ${found.entries} entries, but some changed type, mode, owner, size or link target`
    : `${found.entries} entries, expected ${expected.entries}`;
  return `${layer}: its extracted files differ from what extraction recorded (${counts})`;
}

/**
 * Records one problem; with `repair` and a `fix`, runs the fix first. A
 * problem without a fix is reported only.
 */
type Found = (message: string, fix?: () => Promise<void>) => Promise<void>;

/**
 * Checks the store; with `repair`, removes what is broken. The caller holds
 * the store exclusively.
 *
 * @param parts The store's parts.
 * @param repair Whether to remove what is broken.
 * @returns What was found.
 */
export async function checkStore(parts: CheckedParts, repair: boolean): Promise<Problem[]> {
  const problems: Problem[] = [];
  const found: Found = async (message, fix) => {
    if (repair && fix) await fix();
    problems.push({ message, repaired: repair && fix !== undefined });
  };
  const goodBlobs = await checkBlobs(parts.root, found);
  const goodLayers = await checkLayers(parts, found);
  const recorded = await checkImages(parts, goodLayers, goodBlobs, found);
  await checkIndex(parts.index, recorded, found);
  await checkRootTemps(parts.root, found);
  return problems;
}

/** Blobs: each re-hashes to its name. Returns the digests of the good ones. */
async function checkBlobs(root: string, found: Found): Promise<Set<string>> {
  const goodBlobs = new Set<string>();
  for (const algorithm of ["sha256", "sha512"]) {
    const directory = join(rootLayout(root).blobs, algorithm);
    for (const entry of await readDirIfExists(directory)) {
      const path = join(directory, entry.name);
      if (!/^[0-9a-f]+$/.test(entry.name)) {
        await found(`blobs/${algorithm}/${entry.name}: not a blob`, () => removeIfExists(path));
        continue;
      }
      if ((await hashFile(path, algorithm)) !== entry.name) {
        await found(
          `blob ${algorithm}:${entry.name}: its content has another digest`,
          () => removeIfExists(path),
        );
        continue;
      }
      goodBlobs.add(`${algorithm}:${entry.name}`);
    }
  }
  return goodBlobs;
}

/**
 * Layers: each directory is complete, and its files are what extraction
 * left. Returns the diff IDs of the good ones.
 */
async function checkLayers(parts: CheckedParts, found: Found): Promise<Set<string>> {
  const goodLayers = new Set<string>();
  for (const entry of await readDirIfExists(rootLayout(parts.root).layers)) {
    const diffId = `sha256:${entry.name}`;
    const directory = join(rootLayout(parts.root).layers, entry.name);
    if (!/^[0-9a-f]{64}$/.test(entry.name) || !(await parts.layers.has(diffId))) {
      await found(
        `layers/${entry.name}: not a complete layer`,
        () => removeIfExists(directory, { recursive: true }),
      );
      continue;
    }
    const changed = await filesProblem(parts.layers, diffId);
    if (changed) {
      const { staging } = parts;
      await found(changed, async () => {
        // Through staging the layer goes in one rename, and a pull may extract it again at once.
        if (staging !== undefined) return parts.layers.delete(diffId, staging);
        // Un-recorded first, deleted after: a crash midway leaves an incomplete layer, found above.
        await removeIfExists(join(directory, "layer.json"));
        await removeIfExists(directory, { recursive: true });
      });
      continue;
    }
    goodLayers.add(diffId);
  }
  return goodLayers;
}

/**
 * Images: record, documents, and every layer and blob they name. Returns
 * the IDs of the complete ones.
 */
async function checkImages(
  parts: CheckedParts,
  goodLayers: Set<string>,
  goodBlobs: Set<string>,
  found: Found,
): Promise<Set<string>> {
  const recorded = new Set<string>();
  for (const entry of await readDirIfExists(rootLayout(parts.root).images)) {
    const directory = join(rootLayout(parts.root).images, entry.name);
    for (const file of await readDirIfExists(directory)) {
      if (isTemp(file.name)) {
        await found(
          `images/${entry.name}/${file.name}: a half-written file`,
          () => removeIfExists(join(directory, file.name)),
        );
      }
    }
    const id = `sha256:${entry.name}`;
    const record = /^[0-9a-f]{64}$/.test(entry.name)
      ? await parts.images.read(id).catch(() => undefined)
      : undefined;
    const unrecord = () => parts.images.remove(id);
    if (!record) {
      await found(
        `image ${entry.name.slice(0, 12)}: no readable image.json`,
        () => removeIfExists(directory, { recursive: true }),
      );
      continue;
    }
    const missing = [
      ...["manifest.json", "config.json"].filter((name) => !isFileSync(join(directory, name))),
      ...record.layers.filter((layer) => !goodLayers.has(layer.diffId)).map((layer) =>
        `layer ${layer.diffId}`
      ),
      ...[record.id, ...record.layers.map((layer) => layer.digest)]
        .filter((digest) => !goodBlobs.has(digest)).map((digest) => `blob ${digest}`),
    ];
    if (missing.length > 0) {
      await found(
        `image ${entry.name.slice(0, 12)}: missing ${missing.join(", ")} (pull it again)`,
        unrecord,
      );
      continue;
    }
    recorded.add(id);
  }
  return recorded;
}

/** Whether a path is a regular file (false when it cannot be read). */
function isFileSync(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** images.json: parses, and names only recorded images. */
async function checkIndex(index: ImageIndex, recorded: Set<string>, found: Found): Promise<void> {
  let loaded: ImageIndexData | undefined;
  try {
    loaded = await index.load();
  } catch (error) {
    await found(`${(error as Error).message}`);
  }
  if (!loaded) return;
  const dangling = Object.entries(loaded).flatMap(([repository, tags]) =>
    Object.entries(tags).filter(([, id]) => !recorded.has(id)).map(([tag, id]) => ({
      repository,
      tag,
      id,
    }))
  );
  for (const { repository, tag, id } of dangling) {
    await found(
      `images.json: ${repository}:${tag} names image ${id.slice(7, 19)}, which is not stored`,
      () =>
        index.update((data) => {
          if (data[repository]?.[tag] === id) delete data[repository][tag];
        }),
    );
  }
}

/** The store's root: no half-written files. */
async function checkRootTemps(root: string, found: Found): Promise<void> {
  for (const entry of await readDirIfExists(root)) {
    if (isTemp(entry.name)) {
      await found(
        `${entry.name}: a half-written file`,
        () => removeIfExists(join(root, entry.name)),
      );
    }
  }
}
