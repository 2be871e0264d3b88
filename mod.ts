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
export * from "./lib/model/reference.ts";
export * from "./lib/model/digest.ts";
export * from "./lib/model/media_types.ts";
export * from "./lib/model/manifest.ts";
export * from "./lib/model/platform.ts";
export * from "./lib/transport/credentials.ts";
export * from "./lib/transport/_auth.ts";
export * from "./lib/transport/registry.ts";
export * from "./lib/store/_content_store.ts";
export * from "./lib/store/root.ts";
export * from "./lib/operations/_compression.ts";
export * from "./lib/operations/extract.ts";
export * from "./lib/store/_layer_store.ts";
export * from "./lib/operations/_layer_ingest.ts";
export * from "./lib/store/image_index.ts";
export * from "./lib/store/_image_store.ts";
export * from "./lib/store/_lookup.ts";
export * from "./lib/store/_lock.ts";
export * from "./lib/store/_staging.ts";
export * from "./lib/operations/pull.ts";
export * from "./lib/operations/inspect.ts";
export * from "./lib/operations/remove.ts";
export * from "./lib/operations/unpack.ts";
