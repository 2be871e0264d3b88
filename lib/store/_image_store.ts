/**
 * Per-image metadata: `<root>/images/<image id hex>/` holds the image's
 * `manifest.json`, `config.json`, and `image.json` (repo digests, platform,
 * layers, when it was pulled). Tags live in `images.json` only.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { syncDirectory, writeFileAtomic } from "../io/atomic_file.ts";
import { parseDigest } from "../model/digest_syntax.ts";
import type { ImageConfig, Platform } from "../model/manifest.ts";
import { parseImageConfig } from "../model/manifest.ts";
import { lstatIfExists, readDirIfExists, removeIfExists } from "../io/fs.ts";
import { DenockerError } from "../errors.ts";
import { rootLayout } from "./layout.ts";

/** A layer of a stored image. */
export interface ImageLayer {
  /** Digest of the layer blob as pulled (compressed). */
  digest: string;
  /** Media type of the layer blob. */
  mediaType: string;
  /** Size of the layer blob. */
  size: number;
  /** Digest of the uncompressed layer. */
  diffId: string;
}

/** `image.json`: what is known of a stored image besides its tags. */
export interface ImageRecord {
  /** `sha256:<hex>` of the config. */
  id: string;
  /** Digest of the image manifest. */
  manifestDigest: string;
  /** Digests of the documents pulled to reach the manifest (an index, the manifest). */
  documentDigests: string[];
  /** `repository@sha256:…` references it was pulled by. */
  repoDigests: string[];
  /** The image's platform. */
  platform: Platform;
  /** When it was first pulled, RFC 3339. */
  pulled: string;
  /** Layers, lowest first. */
  layers: ImageLayer[];
  /** Uncompressed size of all layers in bytes. */
  size: number;
}

function encodeRecord(record: ImageRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record, null, 2) + "\n");
}

/** The `images/` directory of a root. */
export class ImageStore {
  readonly #directory: string;
  /** Where its writes keep their temp files: the store's `tmp/`. */
  readonly #tempDirectory: string;

  /**
   * Opens the image store of a root.
   *
   * @param root The denocker root.
   */
  constructor(root: string) {
    this.#directory = rootLayout(root).images;
    this.#tempDirectory = rootLayout(root).tmp;
  }

  /**
   * An image's directory (validated digest: never a path outside the store).
   *
   * @param id The image ID.
   * @returns Its directory.
   */
  directory(id: string): string {
    return join(this.#directory, parseDigest(id).hex);
  }

  /**
   * Stores an image's documents and record. A new image's directory is
   * built in `tmp/` and renamed into place whole, so a crash never leaves
   * a part of one in `images/`; for an image already there, `image.json` is
   * written last.
   *
   * @param record The record.
   * @param manifest The manifest bytes.
   * @param config The config bytes.
   */
  async write(record: ImageRecord, manifest: Uint8Array, config: Uint8Array): Promise<void> {
    const directory = this.directory(record.id);
    const temp = { tempDirectory: this.#tempDirectory };
    if (await lstatIfExists(directory)) {
      await writeFileAtomic(join(directory, "manifest.json"), manifest, temp);
      await writeFileAtomic(join(directory, "config.json"), config, temp);
      await this.save(record);
      return;
    }
    // Named after this process: the next command removes it when a kill left it.
    const staged = join(this.#tempDirectory, `${Deno.pid}-${crypto.randomUUID()}-image`);
    await Deno.mkdir(staged, { recursive: true });
    try {
      for (
        const [name, bytes] of [
          ["manifest.json", manifest],
          ["config.json", config],
          ["image.json", encodeRecord(record)],
        ] as const
      ) {
        await Deno.writeFile(join(staged, name), bytes);
        using file = await Deno.open(join(staged, name), { read: true });
        await file.sync();
      }
      await Deno.mkdir(this.#directory, { recursive: true });
      await Deno.rename(staged, directory);
    } catch (error) {
      await removeIfExists(staged, { recursive: true });
      throw error;
    }
    await syncDirectory(this.#directory);
  }

  /**
   * Saves a changed record.
   *
   * @param record The record.
   */
  async save(record: ImageRecord): Promise<void> {
    await writeFileAtomic(join(this.directory(record.id), "image.json"), encodeRecord(record), {
      tempDirectory: this.#tempDirectory,
    });
  }

  /**
   * Reads an image's record.
   *
   * @param id The image ID.
   * @returns The record, or undefined when the image is not stored.
   */
  async read(id: string): Promise<ImageRecord | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(join(this.directory(id), "image.json")));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw new DenockerError(`Cannot read metadata of image ${id}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /**
   * Reads an image's config.
   *
   * @param id The image ID.
   * @returns The parsed config.
   */
  async config(id: string): Promise<ImageConfig> {
    return parseImageConfig(await Deno.readFile(join(this.directory(id), "config.json")));
  }

  /**
   * Lists stored images.
   *
   * @returns Their records.
   */
  async list(): Promise<ImageRecord[]> {
    const records: ImageRecord[] = [];
    for (const entry of await readDirIfExists(this.#directory)) {
      if (!/^[0-9a-f]{64}$/.test(entry.name)) continue;
      const record = await this.read(`sha256:${entry.name}`);
      if (record) records.push(record);
    }
    return records;
  }

  /**
   * Removes an image's metadata (`image.json` first, so a crash leaves no half image).
   *
   * @param id The image ID.
   */
  async remove(id: string): Promise<void> {
    const directory = this.directory(id);
    await removeIfExists(join(directory, "image.json"));
    await removeIfExists(directory, { recursive: true });
  }
}
