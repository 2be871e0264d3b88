/**
 * The store's fsck: what a crash, a full disk or a hand in the store can
 * leave, found, and with `repair`, removed so that a pull restores it.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import type { ContentStore } from "./_content_store.ts";
import { readDirIfExists, removeIfExists } from "./_fs.ts";
import type { ImageStore } from "./_image_store.ts";
import type { LayerStore } from "./_layer_store.ts";
import type { ImageIndex, ImageIndexData } from "./image_index.ts";

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
 * Checks the store; with `repair`, removes what is broken. The caller holds
 * the store exclusively.
 *
 * @param parts The store's parts.
 * @param repair Whether to remove what is broken.
 * @returns What was found.
 */
export async function checkStore(parts: CheckedParts, repair: boolean): Promise<Problem[]> {
  const problems: Problem[] = [];
  const found = async (message: string, fix?: () => Promise<void>) => {
    if (repair && fix) await fix();
    problems.push({ message, repaired: repair && fix !== undefined });
  };

  // Blobs: each re-hashes to its name.
  const goodBlobs = new Set<string>();
  for (const algorithm of ["sha256", "sha512"]) {
    const directory = join(parts.root, "blobs", algorithm);
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

  // Layers: each directory is complete.
  const goodLayers = new Set<string>();
  for (const entry of await readDirIfExists(join(parts.root, "layers"))) {
    const diffId = `sha256:${entry.name}`;
    if (/^[0-9a-f]{64}$/.test(entry.name) && await parts.layers.has(diffId)) {
      goodLayers.add(diffId);
      continue;
    }
    await found(
      `layers/${entry.name}: not a complete layer`,
      () => removeIfExists(join(parts.root, "layers", entry.name), { recursive: true }),
    );
  }

  // Images: record, documents, and every layer and blob they name.
  const recorded = new Set<string>();
  for (const entry of await readDirIfExists(join(parts.root, "images"))) {
    const directory = join(parts.root, "images", entry.name);
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
      ...["manifest.json", "config.json"].filter((name) => {
        try {
          return !Deno.statSync(join(directory, name)).isFile;
        } catch {
          return true;
        }
      }),
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

  // images.json: parses, and names only recorded images.
  let index: ImageIndexData | undefined;
  try {
    index = await parts.index.load();
  } catch (error) {
    await found(`${(error as Error).message}`);
  }
  if (index) {
    const dangling = Object.entries(index).flatMap(([repository, tags]) =>
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
          parts.index.update((data) => {
            if (data[repository]?.[tag] === id) delete data[repository][tag];
          }),
      );
    }
  }
  for (const entry of await readDirIfExists(parts.root)) {
    if (isTemp(entry.name)) {
      await found(
        `${entry.name}: a half-written file`,
        () => removeIfExists(join(parts.root, entry.name)),
      );
    }
  }
  return problems;
}
