/**
 * The store: one owner for everything under a denocker root. It holds the
 * blob store, the extracted layers, per-image metadata and the
 * `images.json` index, the store locks and the staging directories, and
 * offers operations what they need in their own words: find an image,
 * read it, record a pulled image, untag, collect garbage, work under a
 * lock. No operation builds a file name or a lock path.
 *
 * @module
 */

import { isAbsolute, join, resolve } from "../io/path.ts";
import { DenockerError, ImageInUseError, ImageNotFoundError } from "../errors.ts";
import type { ImageConfig, ImageManifest, Platform } from "../model/manifest.ts";
import { parseImageConfig } from "../model/manifest.ts";
import { configPlatform } from "../model/platform.ts";
import { chainIds } from "../model/layer.ts";
import { familiarName, parseReference, type Reference } from "../model/reference.ts";
import { ContentStore } from "./content_store.ts";
import { readDirIfExists } from "../io/fs.ts";
import { type ImageLayer, type ImageRecord, ImageStore } from "./_image_store.ts";
import { LayerStore } from "./layer_store.ts";
import { withLock } from "../io/lock.ts";
import { ensureDirectory } from "../io/paths.ts";
import type { Problem } from "./_check.ts";
import { Staging } from "./_staging.ts";
import { ImageIndex, type ImageIndexData } from "./image_index.ts";
import { defaultRoot } from "./root.ts";
import { rootLayout } from "./layout.ts";

export type { ImageLayer, ImageRecord, Problem };

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
  /** Set when a tag names an image whose metadata is gone (left by a crash); only untag works. */
  missing?: boolean;
}

/** A stored image's record with its two documents. */
export interface StoredImage {
  /** What denocker records of it. */
  record: ImageRecord;
  /** Its image manifest. */
  manifest: ImageManifest;
  /** Its config. */
  config: ImageConfig;
}

/** What {@link Store.recordImage} records of a pulled image. */
export interface ImageToRecord {
  /** `sha256:<hex>` of the config: the image ID. */
  id: string;
  /** The repository as docker prints it, e.g. `alpine`; none for an image loaded without a name. */
  repository?: string;
  /** The tag to point at the image, when it was pulled by tag. */
  tag?: string;
  /** Digest of the document the reference named (an index or the manifest). */
  digest?: string;
  /** Digest of the image manifest. */
  manifestDigest: string;
  /** The image's platform. */
  platform: Platform;
  /** Its layers, lowest first. */
  layers: ImageLayer[];
  /** Uncompressed size of all layers in bytes. */
  size: number;
  /** The manifest's bytes, as fetched. */
  manifest: Uint8Array;
  /** The config's bytes, as fetched. */
  config: Uint8Array;
}

/**
 * An image's record as pull and load store it, built from its manifest and
 * config (one place, so both record the same fields the same way).
 *
 * @param image The manifest and config, parsed and as bytes, and the layers' size.
 * @param name The name it was pulled by, if any: repository, tag, and the digest named.
 * @returns What {@link Store.recordImage} takes.
 */
export function imageToRecord(
  image: {
    manifest: ImageManifest;
    manifestBytes: Uint8Array;
    manifestDigest: string;
    config: ImageConfig;
    configBytes: Uint8Array;
    size: number;
  },
  name: { repository?: string; tag?: string; digest?: string } = {},
): ImageToRecord {
  return {
    id: image.manifest.config.digest,
    ...name,
    manifestDigest: image.manifestDigest,
    platform: configPlatform(image.config),
    layers: image.manifest.layers.map(({ digest, mediaType, size }, i) => ({
      digest,
      mediaType,
      size,
      diffId: image.config.rootfs.diff_ids[i],
    })),
    size: image.size,
    manifest: image.manifestBytes,
    config: image.configBytes,
  };
}

/** What removing one name did. */
export interface Untagged {
  /** `repository:tag` and `repository@digest` references removed. */
  untagged: string[];
  /** The image ID, when the image itself was deleted. */
  deleted?: string;
}

/** What collecting garbage deleted. */
export interface Collected {
  /** Layers (diff IDs). */
  deletedLayers: string[];
  /** Blobs (digests). */
  deletedBlobs: string[];
}

/** How a store waits for its lock. */
export interface LockWaitOptions {
  /** Called once when another denocker command has held the store for more than a second. */
  onWait?: () => void;
}

/**
 * `path` made absolute: a container's mounts and processes work in other
 * directories than the caller's. Kept as given when Deno may not read the
 * working directory (a relative path then only works from here).
 */
function absolute(path: string): string {
  if (isAbsolute(path)) return path;
  try {
    return resolve(path);
  } catch {
    return path;
  }
}

/**
 * A denocker store, opened on its root directory.
 *
 * @example
 * ```ts
 * import { Store } from "@denocker/denocker";
 * const store = await Store.open("/tmp/denocker");
 * for (const { repository, tag, imageId } of await store.index.list()) {
 *   console.log(repository, tag, imageId);
 * }
 * ```
 */
export class Store {
  /** The root directory, made absolute. */
  readonly root: string;
  /** `images.json`: repository -> tag -> image ID. */
  readonly index: ImageIndex;
  /**
   * The blobs (manifests, configs, compressed layers), for operations that
   * stream content; read them while holding the store ({@link whileReading}),
   * add them through {@link whileAdding}'s own. For this library's
   * operations, not public API.
   *
   * @ignore
   */
  readonly blobs: ContentStore;
  /**
   * The extracted layers; like {@link blobs}, used while holding the store.
   *
   * @ignore
   */
  readonly layers: LayerStore;
  readonly #images: ImageStore;

  private constructor(root: string) {
    this.root = root;
    this.index = new ImageIndex(root);
    this.blobs = new ContentStore(root);
    this.layers = new LayerStore(root);
    this.#images = new ImageStore(root);
  }

  /**
   * Opens the store at `root`. With `create`, the directory is made when
   * missing (mode 0700); otherwise a missing root is an empty store. A root that is not
   * a directory (or lies under a file) fails with a message in words.
   *
   * Requires `--allow-read` (and `--allow-write` with `create`).
   *
   * @param root The root directory.
   * @param options Whether to create it.
   * @returns The store.
   */
  static async open(root: string, options: { create?: boolean } = {}): Promise<Store> {
    // A new root is its owner's alone: layers hold setuid files, containers their secrets.
    await ensureDirectory(root, "store root", { create: options.create ?? false, mode: 0o700 });
    return new Store(absolute(root));
  }

  /**
   * Runs `fn` while holding the store shared, writing nothing: for commands
   * that only read, so they also work on a store they may not write.
   *
   * @param fn The work.
   * @param options What to call while waiting.
   * @returns What `fn` returns.
   *
   * @ignore
   */
  whileReading<T>(fn: () => Promise<T>, options: LockWaitOptions = {}): Promise<T> {
    return withLock(this.#lockPath, { exclusive: false, onWait: options.onWait }, fn);
  }

  /**
   * Runs `fn` with a fresh staging directory while holding the store shared:
   * content may be added (pulls run side by side), nothing is collected.
   * Leftovers of crashed commands are cleaned first; the staging directory
   * is removed when `fn` settles.
   *
   * @param fn The work, given its staging directory and the blob store as
   *   it adds blobs from there (its temp files in the staging directory).
   * @param options What to call while waiting.
   * @returns What `fn` returns.
   *
   * @ignore
   */
  whileAdding<T>(
    fn: (staging: string, blobs: ContentStore) => Promise<T>,
    options: LockWaitOptions = {},
  ): Promise<T> {
    return this.#withStaging(
      false,
      (staging) => fn(staging, new ContentStore(this.root, { tempDirectory: staging })),
      options,
    );
  }

  /**
   * Runs `fn` with a fresh staging directory while holding the store
   * exclusively: for removing content (no pull can be running).
   *
   * @param fn The work, given its staging directory.
   * @param options What to call while waiting.
   * @returns What `fn` returns.
   *
   * @ignore
   */
  whileRemoving<T>(
    fn: (staging: string) => Promise<T>,
    options: LockWaitOptions = {},
  ): Promise<T> {
    return this.#withStaging(true, fn, options);
  }

  get #lockPath(): string {
    return rootLayout(this.root).lock;
  }

  #withStaging<T>(
    exclusive: boolean,
    fn: (staging: string) => Promise<T>,
    options: LockWaitOptions,
  ): Promise<T> {
    return withLock(this.#lockPath, { exclusive, onWait: options.onWait }, async () => {
      await Staging.cleanStale(this.root);
      const staging = await Staging.create(this.root);
      let result: T;
      try {
        result = await fn(staging.path);
      } catch (error) {
        // A clean-up failure never hides why the work failed.
        await staging.dispose().catch(() => {});
        throw error;
      }
      await staging.dispose();
      return result;
    });
  }

  /**
   * Lists every stored image's record.
   *
   * @returns The records.
   */
  images(): Promise<ImageRecord[]> {
    return this.#images.list();
  }

  /**
   * Whether an image is stored (its record is there).
   *
   * @param id The image ID.
   * @returns True when it is.
   */
  async hasImage(id: string): Promise<boolean> {
    return (await this.#images.read(id)) !== undefined;
  }

  /**
   * Reads a stored image: its record, manifest and config.
   *
   * @param id The image ID.
   * @returns The image.
   */
  async image(id: string): Promise<StoredImage> {
    const record = await this.#images.read(id);
    if (!record) throw new ImageNotFoundError(`Cannot read image ${id}: it is not stored`);
    const directory = this.#images.directory(id);
    const manifest = JSON.parse(await Deno.readTextFile(join(directory, "manifest.json")));
    const config = parseImageConfig(await Deno.readFile(join(directory, "config.json")));
    return { record, manifest, config };
  }

  /**
   * Finds a stored image by reference; no network.
   *
   * @param reference A parsed reference.
   * @returns The image, or undefined.
   *
   * @ignore
   */
  async findByReference(reference: Reference): Promise<FoundImage | undefined> {
    const repository = familiarName(reference);
    if (reference.digest) {
      const wanted = `${repository}@${reference.digest}`;
      for (const record of await this.#images.list()) {
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
    const id = await this.index.get(repository, reference.tag!);
    if (id === undefined) return undefined;
    const tag = { repository, tag: reference.tag! };
    const record = await this.#images.read(id);
    // A tag whose image a crash removed is still found, so that rmi can remove the tag.
    return record ? { record, tag } : { record: missingRecord(id), tag, missing: true };
  }

  /**
   * Finds an image and checks that every layer it names is extracted, all
   * while holding the store shared (no removal can take it meanwhile), then
   * runs `fn` on it under that hold; with `staging`, `fn` also gets a
   * staging directory, removed when it settles.
   *
   * @param name What the user typed: a reference or an image ID.
   * @param action What is done, for messages (`unpack`, `export`).
   * @param fn The work.
   * @param options A staging directory or not, and what to call while waiting.
   * @returns What `fn` returns.
   * @throws {ImageNotFoundError} When nothing matches, or the image's metadata is gone.
   *
   * @ignore
   */
  openImage<T>(
    name: string,
    action: string,
    fn: (image: OpenedImage) => Promise<T>,
    options: LockWaitOptions & { staging?: boolean } = {},
  ): Promise<T> {
    const work = async (staging?: string) => {
      const found = await this.find(name);
      if (found.missing) {
        throw new ImageNotFoundError(
          `Cannot ${action} ${name}: its metadata is gone (an interrupted command?); pull it again`,
        );
      }
      const { layers } = this;
      for (const layer of found.record.layers) {
        if (!(await layers.has(layer.diffId))) {
          throw new DenockerError(
            `Cannot ${action} ${name}: layer ${layer.diffId} is missing; pull the image again`,
          );
        }
      }
      return await fn({ found, record: found.record, blobs: this.blobs, layers, staging });
    };
    return options.staging
      ? this.whileAdding((staging) => work(staging), options)
      : this.whileReading(() => work(), options);
  }

  /**
   * Finds a stored image by reference or by image ID (full, `sha256:`-prefixed,
   * or a unique prefix of at least {@link MIN_ID_PREFIX} hex digits). References
   * are tried first, as docker does. Throws {@link ImageNotFoundError} when
   * nothing matches.
   *
   * @param text What the user typed.
   * @returns The image.
   */
  async find(text: string): Promise<FoundImage> {
    let reference: Reference | undefined;
    try {
      reference = parseReference(text);
    } catch {
      // Not a reference; maybe an ID.
    }
    if (reference) {
      const found = await this.findByReference(reference);
      if (found) return found;
    }
    const idMatch = new RegExp(`^(?:sha256:)?([0-9a-f]{${MIN_ID_PREFIX},64})$`).exec(text);
    if (idMatch) {
      const matches = (await this.#images.list()).filter((image) =>
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
      throw new ImageNotFoundError(
        `Cannot find image "${text}": not a valid reference or image ID`,
      );
    }
    throw new ImageNotFoundError(`Cannot find image "${text}": no such image in the store`);
  }

  /**
   * Records a pulled image: its documents and record, its repo digest and
   * its tag, together under the index lock, so concurrent pulls merge. The
   * record is written before the tag, so a crash between them leaves an
   * untagged image, never a tag without an image.
   *
   * @param image What was pulled.
   * @returns The image's record as stored.
   *
   * @ignore
   */
  recordImage(image: ImageToRecord): Promise<ImageRecord> {
    return this.index.update(async (index) => {
      const previous = await this.#images.read(image.id);
      const record: ImageRecord = {
        id: image.id,
        manifestDigest: image.manifestDigest,
        documentDigests: [
          ...new Set([
            ...(previous?.documentDigests ?? []),
            ...(image.digest ? [image.digest] : []),
            image.manifestDigest,
          ]),
        ],
        // A registry's digest only: a loaded image has none (as in docker).
        repoDigests: [
          ...new Set([
            ...(previous?.repoDigests ?? []),
            ...(image.repository && image.digest ? [`${image.repository}@${image.digest}`] : []),
          ]),
        ],
        platform: image.platform,
        pulled: previous?.pulled ?? new Date().toISOString(),
        layers: image.layers,
        size: image.size,
      };
      await this.#images.write(record, image.manifest, image.config);
      if (image.repository !== undefined && image.tag !== undefined) {
        (index[image.repository] ??= {})[image.tag] = image.id;
      }
      return record;
    });
  }

  /**
   * Adds a `repository@digest` to an image's record (`RepoDigests`), as
   * docker does after a push.
   *
   * @param id The image ID.
   * @param repoDigest The familiar repository and the manifest digest.
   *
   * @ignore
   */
  addRepoDigest(id: string, repoDigest: string): Promise<void> {
    return this.index.update(async () => {
      const record = await this.#images.read(id);
      if (!record || record.repoDigests.includes(repoDigest)) return;
      record.repoDigests.push(repoDigest);
      await this.#images.save(record);
    });
  }

  /**
   * Removes one name of an image, as `docker rmi` does: a tag (and, with
   * the repository's last tag, its digests), a `repository@digest`, or, for
   * an image ID, every tag and digest (with `force` when several
   * repositories tag it). An image left without a name is deleted, unless
   * `keep` (a container uses it: it stays, unnamed, as in docker). Layers
   * and blobs stay until {@link collectGarbage}.
   *
   * @param found The image and how it was named.
   * @param options `force`; `keep`.
   * @returns What was untagged and deleted.
   *
   * @ignore
   */
  async untag(
    found: FoundImage,
    options: { force?: boolean; keep?: boolean } = {},
  ): Promise<Untagged> {
    const result = await this.index.update(async (index): Promise<Untagged> => {
      const record = await this.#images.read(found.record.id);
      if (!record) {
        // A tag left pointing at an image a crash already removed: the tag goes too.
        if (found.tag && index[found.tag.repository]?.[found.tag.tag] === found.record.id) {
          delete index[found.tag.repository][found.tag.tag];
          return { untagged: [`${found.tag.repository}:${found.tag.tag}`] };
        }
        return { untagged: [] }; // Removed by an earlier name of the same command.
      }
      const untagged = found.tag
        ? untagTag(index, record, found.tag)
        : found.repoDigest
        ? untagDigest(record, found.repoDigest)
        : untagAll(index, record, options.force ?? false);
      const named = tagsOf(index, record.id).length > 0 ||
        (found.repoDigest !== undefined && record.repoDigests.length > 0);
      if (named || options.keep) {
        await this.#images.save(record);
        return { untagged };
      }
      untagged.push(...record.repoDigests.filter((entry) => !untagged.includes(entry)));
      return { untagged, deleted: record.id };
    });
    // Un-recorded first (images.json no longer names it), deleted after: a crash in between
    // leaves an unnamed image that garbage collection removes, never a tag without an image.
    if (result.deleted) await this.#images.remove(result.deleted);
    return result;
  }

  /**
   * Which of these removals, made in order, would leave its image without a
   * name (so {@link untag} would delete it); nothing is changed. Removal by
   * ID always does.
   *
   * @param found The images and how each was named.
   * @returns For each, whether it deletes its image.
   *
   * @ignore
   */
  async untagDeletes(found: FoundImage[]): Promise<boolean[]> {
    const index = structuredClone(await this.index.load());
    const records = new Map<string, ImageRecord>();
    return found.map((image) => {
      const record = records.get(image.record.id) ?? structuredClone(image.record);
      records.set(record.id, record);
      if (image.tag) untagTag(index, record, image.tag);
      else if (image.repoDigest) untagDigest(record, image.repoDigest);
      else return true;
      return tagsOf(index, record.id).length === 0 &&
        (image.repoDigest === undefined || record.repoDigests.length === 0);
    });
  }

  /**
   * Checks the store: every blob re-hashes to its name, every layer's files
   * are what its extraction recorded (paths, types, modes, owners, sizes,
   * link targets), every recorded image has its metadata and every layer
   * and blob it names, `images.json` parses and names only recorded images,
   * nothing half-written lies outside `tmp/`. With `repair`, removes what
   * is broken (un-recording images that lost a part), so that a pull
   * restores them. Call it inside {@link whileRemoving}.
   *
   * @param options Whether to repair, and the staging directory
   *   {@link whileRemoving} gave (a changed layer is deleted through it).
   * @returns Each problem found, and whether it was repaired.
   *
   * @ignore
   */
  async check(options: { repair?: boolean; staging?: string } = {}): Promise<Problem[]> {
    const { blobs, layers } = this;
    // Loaded when asked for: it hashes every blob, and other commands need none of its code.
    const { checkStore } = await import("./_check.ts");
    return await checkStore(
      {
        root: this.root,
        blobs,
        layers,
        images: this.#images,
        index: this.index,
        staging: options.staging,
      },
      options.repair ?? false,
    );
  }

  /**
   * Deletes every layer and blob that no stored image uses, and the
   * prepared overlay directories of every layer stack no image or container
   * has. Call it inside {@link whileRemoving}, which supplies the staging
   * directory.
   *
   * @param staging The staging directory (deleted layers pass through it).
   * @param options The layer stacks containers run on (diff_ids, lowest first), kept besides the images'.
   * @returns What was deleted.
   *
   * @ignore
   */
  async collectGarbage(
    staging: string,
    options: { keepStacks?: string[][] } = {},
  ): Promise<Collected> {
    const keepBlobs = new Set<string>();
    const keepLayers = new Set<string>(options.keepStacks?.flat());
    const stacks = [...(options.keepStacks ?? [])];
    for (const image of await this.#images.list()) {
      stacks.push(image.layers.map((layer) => layer.diffId));
      keepBlobs.add(image.id);
      for (const digest of image.documentDigests) keepBlobs.add(digest);
      for (const layer of image.layers) {
        keepBlobs.add(layer.digest);
        keepLayers.add(layer.diffId);
      }
    }
    const { blobs, layers } = this;
    const collected: Collected = { deletedLayers: [], deletedBlobs: [] };
    for (const diffId of await layers.list()) {
      if (keepLayers.has(diffId)) continue;
      await layers.delete(diffId, staging);
      collected.deletedLayers.push(diffId);
    }
    for (const digest of await blobs.list()) {
      if (keepBlobs.has(digest)) continue;
      await blobs.delete(digest);
      collected.deletedBlobs.push(digest);
    }
    const keepChains = new Set((await Promise.all(stacks.map(chainIds))).flat());
    const overlay = rootLayout(this.root).overlay;
    for (const entry of await readDirIfExists(overlay)) {
      if (keepChains.has(`sha256:${entry.name}`)) continue;
      await Deno.remove(join(overlay, entry.name), { recursive: true });
    }
    return collected;
  }

  /**
   * Empties `tmp/` but for the given staging directory, and `partial/`
   * (downloads interrupted pulls kept). Call it inside {@link whileRemoving}:
   * no other command can be running then.
   *
   * @param staging The caller's own staging directory, kept.
   * @returns How many entries were removed.
   *
   * @ignore
   */
  async clearTemporary(staging: string): Promise<number> {
    let removed = 0;
    const tmp = rootLayout(this.root).tmp;
    for (const entry of await readDirIfExists(tmp)) {
      const path = join(tmp, entry.name);
      if (path === staging) continue;
      await Deno.remove(path, { recursive: true });
      removed++;
    }
    // Partial downloads: what interrupted pulls kept for the next one.
    const partial = rootLayout(this.root).partial;
    for (const algorithm of await readDirIfExists(partial)) {
      for (const entry of await readDirIfExists(join(partial, algorithm.name))) {
        await Deno.remove(join(partial, algorithm.name, entry.name), { recursive: true });
        if (!entry.name.endsWith(".lock")) removed++;
      }
    }
    return removed;
  }
}

/** The record of an image that a tag names but whose metadata is gone. */
function missingRecord(id: string): ImageRecord {
  return {
    id,
    manifestDigest: id,
    documentDigests: [],
    repoDigests: [],
    platform: { os: "unknown", architecture: "unknown" },
    pulled: "",
    layers: [],
    size: 0,
  };
}

function tagsOf(index: ImageIndexData, id: string): { repository: string; tag: string }[] {
  return Object.entries(index).flatMap(([repository, tags]) =>
    Object.entries(tags).filter(([, imageId]) => imageId === id).map(([tag]) => ({
      repository,
      tag,
    }))
  );
}

/** Removes a tag; with the repository's last tag of the image go its digests, as in docker. */
function untagTag(
  index: ImageIndexData,
  record: ImageRecord,
  tag: { repository: string; tag: string },
): string[] {
  delete index[tag.repository][tag.tag];
  const untagged = [`${tag.repository}:${tag.tag}`];
  if (!tagsOf(index, record.id).some((entry) => entry.repository === tag.repository)) {
    const prefix = `${tag.repository}@`;
    untagged.push(...record.repoDigests.filter((entry) => entry.startsWith(prefix)));
    record.repoDigests = record.repoDigests.filter((entry) => !entry.startsWith(prefix));
  }
  return untagged;
}

function untagDigest(record: ImageRecord, repoDigest: string): string[] {
  record.repoDigests = record.repoDigests.filter((entry) => entry !== repoDigest);
  return [repoDigest];
}

/** Removes every name of an image (removal by ID). */
function untagAll(index: ImageIndexData, record: ImageRecord, force: boolean): string[] {
  const tags = tagsOf(index, record.id);
  const repositories = new Set(tags.map((entry) => entry.repository));
  if (repositories.size > 1 && !force) {
    throw new ImageInUseError(
      `Cannot remove image ${
        record.id.slice(7, 19)
      }: it is referenced in ${repositories.size} repositories (${
        [...repositories].join(", ")
      }); remove the tags or use --force`,
    );
  }
  const untagged = [];
  for (const entry of tags) {
    delete index[entry.repository][entry.tag];
    untagged.push(`${entry.repository}:${entry.tag}`);
  }
  untagged.push(...record.repoDigests);
  record.repoDigests = [];
  return untagged;
}

/** An image {@link Store.openImage} found, with its layers all extracted. */
export interface OpenedImage {
  /** How it was found. */
  found: FoundImage;
  /** Its record. */
  record: ImageRecord;
  /** The blob store its blobs are in. */
  blobs: ContentStore;
  /** The layer store its layers are in. */
  layers: LayerStore;
  /** A staging directory, when asked for. */
  staging?: string;
}

/**
 * Which store an operation works on: a root directory, or a store already
 * open; with neither, the default root ({@link defaultRoot}), as the CLI
 * without `--root`.
 */
export interface StoreOptions {
  /** The store root directory (opened for the call); {@link defaultRoot} when neither this nor `store` is given. */
  root?: string;
  /** A store already open; takes precedence over `root`. */
  store?: Store;
}

/**
 * The store an operation's options name. Not re-exported by `mod.ts`.
 *
 * @param options `store`, or `root` to open (the default root without either).
 * @param open Whether a missing root is created.
 * @returns The store.
 */
export function storeOf(options: StoreOptions, open: { create?: boolean } = {}): Promise<Store> {
  if (options.store) return Promise.resolve(options.store);
  return Store.open(options.root ?? defaultRoot(), open);
}
