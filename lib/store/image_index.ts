/**
 * `images.json`: repository -> tag -> image ID.
 *
 * @module
 */

import { writeFileAtomic } from "../io/atomic_file.ts";
import { parseDigest } from "../model/digest_syntax.ts";
import { withLock } from "../io/lock.ts";
import { DenockerError, InvalidInputError } from "../errors.ts";
import { rootLayout } from "./layout.ts";

/** The content of `images.json`. */
export type ImageIndexData = Record<string, Record<string, string>>;

/** One tag in the index. */
export interface TaggedImage {
  /** Repository as docker prints it, e.g. `alpine`, `ghcr.io/org/app`. */
  repository: string;
  /** The tag. */
  tag: string;
  /** `sha256:<hex>`. */
  imageId: string;
}

/**
 * Owns `<root>/images.json`. Every change is a read-modify-write under an
 * exclusive OS file lock, saved through a synced temp file renamed over the
 * old one, so concurrent processes never lose each other's entries and a
 * crash never leaves a torn file. A corrupt file is an error, never
 * silently replaced.
 *
 * @example
 * ```ts
 * import { ImageIndex } from "@denocker/denocker";
 * const index = new ImageIndex("/tmp/denocker");
 * await index.set("alpine", "3.20", "sha256:" + "a".repeat(64));
 * console.log(await index.get("alpine", "3.20"));
 * ```
 */
export class ImageIndex {
  /** Path of `images.json`. */
  readonly path: string;
  readonly #lockPath: string;
  /** Where its writes keep their temp files: the store's `tmp/`. */
  readonly #tempDirectory: string;

  /**
   * Opens the index of a root; the file is read on each call.
   *
   * @param root The denocker root.
   */
  constructor(root: string) {
    const layout = rootLayout(root);
    this.path = layout.index;
    this.#lockPath = layout.indexLock;
    this.#tempDirectory = layout.tmp;
  }

  /**
   * Reads the whole index.
   *
   * @returns Repository -> tag -> image ID; empty when the file does not exist.
   *
   * @ignore
   */
  async load(): Promise<ImageIndexData> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return {};
      throw new DenockerError(`Cannot read ${this.path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new InvalidInputError(
        `Cannot read ${this.path}: it is not valid JSON (fix or move it away)`,
      );
    }
    const valid = typeof data === "object" && data !== null && !Array.isArray(data) &&
      Object.values(data).every((tags) =>
        typeof tags === "object" && tags !== null && !Array.isArray(tags) &&
        Object.values(tags).every((id) => {
          try {
            return typeof id === "string" && parseDigest(id) !== undefined;
          } catch {
            return false;
          }
        })
      );
    if (!valid) {
      throw new InvalidInputError(
        `Cannot read ${this.path}: expected {"repository": {"tag": "sha256:…"}} (fix or move it away)`,
      );
    }
    return data as ImageIndexData;
  }

  /**
   * Looks up a tag.
   *
   * @param repository Familiar repository name.
   * @param tag The tag.
   * @returns The image ID, or undefined.
   */
  async get(repository: string, tag: string): Promise<string | undefined> {
    return (await this.load())[repository]?.[tag];
  }

  /**
   * Lists every tag.
   *
   * @returns The tags, sorted by repository and tag.
   */
  async list(): Promise<TaggedImage[]> {
    const data = await this.load();
    return Object.keys(data).sort().flatMap((repository) =>
      Object.keys(data[repository]).sort().map((tag) => ({
        repository,
        tag,
        imageId: data[repository][tag],
      }))
    );
  }

  /**
   * Changes the index under the lock: `change` gets the current content and
   * edits it in place; the result is saved atomically.
   *
   * @param change The edit.
   * @returns What `change` returns.
   *
   * @ignore
   */
  update<T>(change: (data: ImageIndexData) => T | Promise<T>): Promise<T> {
    return withLock(this.#lockPath, { exclusive: true }, async () => {
      const data = await this.load();
      const result = await change(data);
      for (const repository of Object.keys(data)) {
        if (Object.keys(data[repository]).length === 0) delete data[repository];
      }
      await writeFileAtomic(
        this.path,
        new TextEncoder().encode(JSON.stringify(data, null, 2) + "\n"),
        { tempDirectory: this.#tempDirectory },
      );
      return result;
    });
  }

  /**
   * Points a tag at an image.
   *
   * @param repository Familiar repository name.
   * @param tag The tag.
   * @param imageId The image ID.
   * @returns The image the tag pointed to before, if another.
   */
  set(repository: string, tag: string, imageId: string): Promise<string | undefined> {
    parseDigest(imageId);
    return this.update((data) => {
      const previous = data[repository]?.[tag];
      (data[repository] ??= {})[tag] = imageId;
      return previous === imageId ? undefined : previous;
    });
  }

  /**
   * Removes a tag.
   *
   * @param repository Familiar repository name.
   * @param tag The tag.
   * @returns The image ID it pointed to, or undefined when absent.
   */
  remove(repository: string, tag: string): Promise<string | undefined> {
    return this.update((data) => {
      const previous = data[repository]?.[tag];
      if (previous !== undefined) delete data[repository][tag];
      return previous;
    });
  }
}
