/**
 * What `images` and `inspect` show of stored images.
 *
 * @module
 */

import { storeOf, type StoreOptions } from "../store/store.ts";

/** One row of `images`: an image under one tag (or `<none>`). */
export interface ImageSummary {
  /** Repository as docker prints it, or `<none>`. */
  Repository: string;
  /** Tag, or `<none>` for an image pulled only by digest. */
  Tag: string;
  /** The image ID, `sha256:<hex>` (docker's `images` JSON calls it `ID`). */
  ID: string;
  /** The repository digest for this repository, when known. */
  Digest?: string;
  /** Creation time from the image config (ISO 8601, as `inspect`'s `Created`). */
  Created?: string;
  /** Uncompressed size in bytes. */
  Size: number;
}

/** `inspect` output, in docker's shape (and so with docker's capitalised names). */
export interface ImageInspect {
  /** `sha256:<hex>`. */
  Id: string;
  /** `repository:tag` references. */
  RepoTags: string[];
  /** `repository@sha256:…` references. */
  RepoDigests: string[];
  /** Creation time from the config. */
  Created?: string;
  /** Author from the config. */
  Author?: string;
  /** CPU architecture. */
  Architecture: string;
  /** CPU variant. */
  Variant?: string;
  /** Operating system. */
  Os: string;
  /** Runtime defaults (Env, Cmd, Entrypoint, …). */
  Config: Record<string, unknown> | null;
  /** The layers' diff IDs. */
  RootFS: { Type: string; Layers: string[] };
  /** Uncompressed size in bytes. */
  Size: number;
  /** denocker's own facts: the manifest digest and when the image was pulled. */
  Metadata: { ManifestDigest: string; Pulled: string };
}

/** The fields of docker's image `Config`, as its inspect shows them when unset. */
const IMAGE_CONFIG_FIELDS = {
  User: "",
  ExposedPorts: null,
  Env: null,
  Cmd: null,
  Volumes: null,
  WorkingDir: "",
  Entrypoint: null,
  OnBuild: null,
  Labels: null,
};

/**
 * Lists stored images, one row per tag, and one `<none>` row for each image
 * without a tag, newest first.
 *
 * Requires `--allow-read`.
 *
 * @example
 * ```ts
 * import { listImages } from "@denocker/denocker";
 * for (const row of await listImages({ root: "/tmp/denocker" })) console.log(row.Repository, row.Tag);
 * ```
 *
 * @param options The store.
 * @returns The rows.
 */
export async function listImages(options: StoreOptions = {}): Promise<ImageSummary[]> {
  const store = await storeOf(options);
  const records = new Map((await store.images()).map((record) => [record.id, record]));
  const created = new Map<string, string | undefined>();
  for (const id of records.keys()) {
    created.set(id, await store.image(id).then(({ config }) => config.created, () => undefined));
  }
  const rows: ImageSummary[] = [];
  const tagged = new Set<string>();
  for (const { repository, tag, imageId } of await store.index.list()) {
    const record = records.get(imageId);
    if (!record) continue;
    tagged.add(imageId);
    rows.push({
      Repository: repository,
      Tag: tag,
      ID: imageId,
      Digest: record.repoDigests.find((entry) => entry.startsWith(`${repository}@`))?.split("@")[1],
      Created: created.get(imageId),
      Size: record.size,
    });
  }
  for (const record of records.values()) {
    if (tagged.has(record.id)) continue;
    const repoDigests = record.repoDigests.length > 0 ? record.repoDigests : [undefined];
    for (const repoDigest of repoDigests) {
      rows.push({
        Repository: repoDigest?.split("@")[0] ?? "<none>",
        Tag: "<none>",
        ID: record.id,
        Digest: repoDigest?.split("@")[1],
        Created: created.get(record.id),
        Size: record.size,
      });
    }
  }
  return rows.sort((a, b) => (b.Created ?? "").localeCompare(a.Created ?? ""));
}

/**
 * Describes a stored image as `docker inspect` does.
 *
 * Requires `--allow-read`.
 *
 * @example
 * ```ts
 * import { inspectImage } from "@denocker/denocker";
 * const info = await inspectImage("alpine:3.20", { root: "/tmp/denocker" });
 * console.log(info.Id, info.RootFS.Layers.length);
 * ```
 *
 * @param image A reference or an image ID (full or short).
 * @param options The store.
 * @returns The description.
 */
export async function inspectImage(
  image: string,
  options: StoreOptions = {},
): Promise<ImageInspect> {
  const store = await storeOf(options);
  const { record } = await store.find(image);
  const { config } = await store.image(record.id);
  const repoTags = (await store.index.list())
    .filter((entry) => entry.imageId === record.id)
    .map((entry) => `${entry.repository}:${entry.tag}`);
  return {
    Id: record.id,
    RepoTags: repoTags,
    RepoDigests: record.repoDigests,
    Created: config.created,
    Author: config.author,
    Architecture: config.architecture,
    Variant: config.variant,
    Os: config.os,
    // docker's ContainerConfig: every field there, null where the image sets none.
    Config: config.config ? { ...IMAGE_CONFIG_FIELDS, ...config.config } : null,
    RootFS: { Type: config.rootfs.type, Layers: config.rootfs.diff_ids },
    Size: record.size,
    Metadata: { ManifestDigest: record.manifestDigest, Pulled: record.pulled },
  };
}
