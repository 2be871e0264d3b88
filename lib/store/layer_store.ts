/**
 * Extracted layers: `<root>/layers/<diffid hex>/fs/` holds one layer's files,
 * `layer.json` beside it what flattening needs to know. A layer directory
 * appears only complete and verified: it is built in staging and renamed.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { parseDigest } from "../model/digest_syntax.ts";
import type { LowerLink } from "../model/layer.ts";
import { syncDirectory } from "../io/atomic_file.ts";
import { readDirIfExists } from "../io/fs.ts";
import { acquireLock } from "../io/lock.ts";
import type { ExtractedFiles } from "./layer_summary.ts";
import { rootLayout } from "./layout.ts";

/** What is known of a stored layer. */
export interface LayerRecord {
  /** The uncompressed digest. */
  diffId: string;
  /** Uncompressed size in bytes. */
  size: number;
  /** Entries in the layer's tar. */
  entries: number;
  /** Hardlinks to files of lower layers. */
  lowerLinks: LowerLink[];
  /** Device nodes and FIFOs that were not created. */
  skipped: { path: string; type: string }[];
  /** Whether `fs/` carries the metadata of the layer's root entry (`./`). */
  rootEntry: boolean;
  /**
   * What extraction left in `fs/`, for `check` to compare with what is there.
   * Absent in records written before denocker recorded it.
   */
  extractedFiles?: ExtractedFiles;
}

/** How a layer's files compare with what its extraction recorded. */
export type LayerFilesState =
  | { state: "intact" }
  | { state: "unrecorded" }
  | { state: "changed"; found: ExtractedFiles; expected: ExtractedFiles };

/** The `layers/` directory of a root. */
export class LayerStore {
  readonly #directory: string;
  readonly #partial: string;

  /**
   * Opens the layer store of a root.
   *
   * @param root The denocker root.
   */
  constructor(root: string) {
    this.#directory = rootLayout(root).layers;
    this.#partial = rootLayout(root).partial;
  }

  /**
   * Takes the lock under which a layer is made (downloaded and extracted),
   * so that pulls sharing a root make each layer once: a second pull waits,
   * then finds it stored. Held until the returned function is called (or
   * the process ends). The lock file is `partial/ALGORITHM/HEX.layer.lock`,
   * beside the partial downloads, where `check` looks for no layer.
   *
   * @param diffId The layer's uncompressed digest.
   * @param onWait Called once when another process holds it for a second.
   * @returns Releases the lock.
   */
  async lockMaking(diffId: string, onWait?: () => void): Promise<() => void> {
    const { algorithm, hex } = parseDigest(diffId);
    const directory = join(this.#partial, algorithm);
    await Deno.mkdir(directory, { recursive: true });
    return await acquireLock(join(directory, `${hex}.layer.lock`), { exclusive: true, onWait });
  }

  /**
   * A layer's directory (validated digest: never a path outside the store).
   *
   * @param diffId The layer's uncompressed digest.
   * @returns The directory holding `fs/` and `layer.json`.
   */
  directory(diffId: string): string {
    return join(this.#directory, parseDigest(diffId).hex);
  }

  /**
   * Where a layer's files are.
   *
   * @param diffId The layer's uncompressed digest.
   * @returns The `fs/` directory.
   */
  fsPath(diffId: string): string {
    return join(this.directory(diffId), "fs");
  }

  /**
   * Whether a layer is stored.
   *
   * @param diffId The layer's uncompressed digest.
   * @returns True when present.
   */
  async has(diffId: string): Promise<boolean> {
    try {
      return (await Deno.stat(join(this.directory(diffId), "layer.json"))).isFile;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /**
   * Reads a layer's record.
   *
   * @param diffId The layer's uncompressed digest.
   * @returns The record.
   */
  async read(diffId: string): Promise<LayerRecord> {
    return JSON.parse(await Deno.readTextFile(join(this.directory(diffId), "layer.json")));
  }

  /**
   * Walks a stored layer's `fs/` again and compares it with what its
   * extraction recorded: paths, types, modes, owners, sizes, link targets
   * and hardlinks (not times or content).
   *
   * @param diffId The layer's uncompressed digest.
   * @returns `intact`, `changed` (with both summaries), or `unrecorded` for a
   *   layer extracted by a version that recorded nothing.
   */
  async verifyFiles(diffId: string): Promise<LayerFilesState> {
    const expected = (await this.read(diffId)).extractedFiles;
    if (!expected) return { state: "unrecorded" };
    // Loaded when a check asks: it hashes, and reading layers needs none of it.
    const { summarizeExtractedFiles } = await import("./layer_summary.ts");
    const found = summarizeExtractedFiles(this.fsPath(diffId));
    return found.digest === expected.digest ? { state: "intact" } : {
      state: "changed",
      found,
      expected,
    };
  }

  /**
   * Moves a verified, staged layer into place. The staged directory must hold
   * `fs/`; `layer.json` is written into it first. When another process stored
   * the same layer meanwhile, the staged copy is dropped.
   *
   * @param staged The staged layer directory.
   * @param record What to record.
   */
  async commit(staged: string, record: LayerRecord): Promise<void> {
    const file = await Deno.open(join(staged, "layer.json"), { write: true, createNew: true });
    await file.write(new TextEncoder().encode(JSON.stringify(record)));
    await file.sync();
    file.close();
    // The layers directory is 0700: images may hold setuid files that other users must not reach.
    await Deno.mkdir(this.#directory, { recursive: true, mode: 0o700 });
    try {
      await Deno.rename(staged, this.directory(record.diffId));
    } catch (error) {
      if (!(await this.has(record.diffId))) throw error;
      await Deno.remove(staged, { recursive: true });
    }
    await syncDirectory(this.#directory);
  }

  /**
   * Deletes a layer: renamed into staging first, so a crash midway never
   * leaves a half layer that looks complete.
   *
   * @param diffId The layer's uncompressed digest.
   * @param staging A staging directory on the same file system.
   */
  async delete(diffId: string, staging: string): Promise<void> {
    const doomed = join(staging, `deleted-${parseDigest(diffId).hex}`);
    try {
      await Deno.rename(this.directory(diffId), doomed);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    await Deno.remove(doomed, { recursive: true });
  }

  /**
   * Lists stored layers.
   *
   * @returns Their diff IDs.
   */
  async list(): Promise<string[]> {
    return (await readDirIfExists(this.#directory))
      .filter((entry) => /^[0-9a-f]{64}$/.test(entry.name))
      .map((entry) => `sha256:${entry.name}`);
  }
}
