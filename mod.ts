/**
 * denocker: pull container images from OCI/Docker registries into a
 * verified, content-addressed local store, extract their layers safely,
 * and manage what is stored.
 *
 * @example
 * ```ts
 * import { pull } from "./mod.ts";
 * const { imageId } = await pull("localhost:5000/team/app:1.0", { root: "/tmp/denocker" });
 * ```
 *
 * @module
 */

export * from "./lib/errors.ts";
export * from "./lib/reference.ts";
export * from "./lib/digest.ts";
export * from "./lib/media_types.ts";
export * from "./lib/manifest.ts";
export * from "./lib/platform.ts";
export * from "./lib/credentials.ts";
export * from "./lib/auth.ts";
export * from "./lib/registry.ts";
export * from "./lib/content_store.ts";
export * from "./lib/root.ts";
export * from "./lib/compression.ts";
export * from "./lib/extract.ts";
export * from "./lib/layer_store.ts";
export * from "./lib/layer_ingest.ts";
export * from "./lib/image_index.ts";
export * from "./lib/image_store.ts";
export * from "./lib/lookup.ts";
export * from "./lib/lock.ts";
export * from "./lib/staging.ts";
export * from "./lib/pull.ts";
export * from "./lib/inspect.ts";
export * from "./lib/remove.ts";
export * from "./lib/unpack.ts";
