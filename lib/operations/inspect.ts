/**
 * What `images` and `inspect` show of stored images.
 *
 * @module
 */

import { ImageIndex } from "../store/image_index.ts";
import { ImageStore } from "../store/_image_store.ts";
import { findImage } from "../store/_lookup.ts";
import { ensureDirectory } from "../store/_paths.ts";

/** One row of `images`: an image under one tag (or `<none>`). */
export interface ImageSummary {
  /** Repository as docker prints it, or `<none>`. */
  Repository: string;
  /** Tag, or `<none>` for an image pulled only by digest. */
  Tag: string;
  /** `sha256:<hex>`. */
  Id: string;
  /** The repository digest for this repository, when known. */
  Digest?: string;
  /** Creation time from the image config. */
  Created?: string;
  /** Uncompressed size in bytes. */
  Size: number;
}

/** `inspect` output, in docker's shape. */
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

/**
 * Lists stored images, one row per tag, and one `<none>` row for each image
 * without a tag, newest first.
 *
 * @example
 * ```ts
 * import { listImages } from "./inspect.ts";
 * for (const row of await listImages("/var/lib/denocker")) console.log(row.Repository, row.Tag);
 * ```
 *
 * @param root The denocker root.
 * @returns The rows.
 */
export async function listImages(root: string): Promise<ImageSummary[]> {
  await ensureDirectory(root, "store root", { create: false });
  const images = new ImageStore(root);
  const records = new Map((await images.list()).map((record) => [record.id, record]));
  const created = new Map<string, string | undefined>();
  for (const id of records.keys()) {
    created.set(id, await images.config(id).then((config) => config.created, () => undefined));
  }
  const rows: ImageSummary[] = [];
  const tagged = new Set<string>();
  for (const { repository, tag, imageId } of await new ImageIndex(root).list()) {
    const record = records.get(imageId);
    if (!record) continue;
    tagged.add(imageId);
    rows.push({
      Repository: repository,
      Tag: tag,
      Id: imageId,
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
        Id: record.id,
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
 * @example
 * ```ts
 * import { inspectImage } from "./inspect.ts";
 * const info = await inspectImage("/var/lib/denocker", "alpine:3.20");
 * console.log(info.Id, info.RootFS.Layers.length);
 * ```
 *
 * @param root The denocker root.
 * @param image A reference or an image ID (full or short).
 * @returns The description.
 */
export async function inspectImage(root: string, image: string): Promise<ImageInspect> {
  const { record } = await findImage(root, image);
  const config = await new ImageStore(root).config(record.id);
  const repoTags = (await new ImageIndex(root).list())
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
    Config: config.config ?? null,
    RootFS: { Type: config.rootfs.type, Layers: config.rootfs.diff_ids },
    Size: record.size,
    Metadata: { ManifestDigest: record.manifestDigest, Pulled: record.pulled },
  };
}
