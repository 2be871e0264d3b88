/**
 * The image model: plain types named after the OCI JSON fields, and the
 * checks that decide whether a fetched manifest document can be trusted.
 *
 * @module
 */

import {
  DOCKER_SCHEMA1,
  DOCKER_SCHEMA1_SIGNED,
  INDEX_TYPES,
  MANIFEST_TYPES,
} from "./media_types.ts";
import { parseDigest } from "./digest_syntax.ts";
import { InvalidInputError } from "../errors.ts";

/** A platform as named in an OCI index. */
export interface Platform {
  /** Operating system, e.g. `linux`. */
  os: string;
  /** CPU architecture, e.g. `amd64`, `arm64`. */
  architecture: string;
  /** CPU variant, e.g. `v8`. */
  variant?: string;
  /** OS version (Windows images). */
  "os.version"?: string;
}

/** A reference to content by digest. */
export interface Descriptor {
  /** Media type of the referenced content. */
  mediaType: string;
  /** Digest of the referenced content. */
  digest: string;
  /** Size of the referenced content in bytes. */
  size: number;
  /** Platform, on index entries. */
  platform?: Platform;
  /** Free-form annotations. */
  annotations?: Record<string, string>;
  /** Alternative download locations (unused by denocker). */
  urls?: string[];
}

/** An OCI image manifest or Docker v2 schema 2 manifest. */
export interface ImageManifest {
  /** Always 2. */
  schemaVersion: number;
  /** Optional in OCI; required by Docker. */
  mediaType?: string;
  /** The image config. */
  config: Descriptor;
  /** The layers, lowest first. */
  layers: Descriptor[];
  /** Free-form annotations. */
  annotations?: Record<string, string>;
}

/** An OCI image index or Docker manifest list. */
export interface IndexManifest {
  /** Always 2. */
  schemaVersion: number;
  /** Optional in OCI; required by Docker. */
  mediaType?: string;
  /** One entry per platform (and possibly attestations). */
  manifests: Descriptor[];
  /** Free-form annotations. */
  annotations?: Record<string, string>;
}

/** The image configuration (the JSON whose digest is the image ID). */
export interface ImageConfig {
  /** CPU architecture. */
  architecture: string;
  /** Operating system. */
  os: string;
  /** CPU variant. */
  variant?: string;
  /** Creation time, RFC 3339. */
  created?: string;
  /** Author. */
  author?: string;
  /** Runtime defaults (Env, Cmd, Entrypoint, …), kept as given. */
  config?: Record<string, unknown>;
  /** The uncompressed layer digests, lowest first. */
  rootfs: { type: string; diff_ids: string[] };
  /** Build history. */
  history?: Record<string, unknown>[];
}

/** A manifest document after its checks, tagged by kind. */
export type ManifestDocument =
  | { kind: "index"; mediaType: string; index: IndexManifest }
  | { kind: "manifest"; mediaType: string; manifest: ImageManifest };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw new InvalidInputError(`${where} is not an object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== "string") throw new InvalidInputError(`${where} has no mediaType`);
  if (typeof digest !== "string") throw new InvalidInputError(`${where} has no digest`);
  parseDigest(digest);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw new InvalidInputError(`${where} has an invalid size`);
  }
  return value as unknown as Descriptor;
}

function baseType(contentType: string | null): string | undefined {
  const type = contentType?.split(";")[0].trim().toLowerCase();
  return type === "" ? undefined : type;
}

/**
 * Parses and checks a manifest document: refuses schema 1, a `mediaType`
 * field that disagrees with the Content-Type, a document that looks like
 * both an index and a manifest, and malformed descriptors.
 *
 * @example
 * ```ts
 * import { parseManifestDocument } from "./manifest.ts";
 * const bytes = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, manifests: [] }));
 * parseManifestDocument(bytes, "application/vnd.oci.image.index.v1+json").kind; // "index"
 * ```
 *
 * @param bytes The document exactly as received.
 * @param contentType The response's Content-Type header, if any.
 * @returns The document, tagged as index or manifest.
 */
export function parseManifestDocument(
  bytes: Uint8Array,
  contentType: string | null,
): ManifestDocument {
  const headerType = baseType(contentType);
  if (headerType === DOCKER_SCHEMA1 || headerType === DOCKER_SCHEMA1_SIGNED) {
    throw new InvalidInputError(
      "Docker image manifest schema 1 is unsupported; push the image again",
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new InvalidInputError("manifest is not valid JSON");
  }
  if (!isObject(json)) throw new InvalidInputError("manifest is not a JSON object");
  if (json.schemaVersion === 1) {
    throw new InvalidInputError(
      "Docker image manifest schema 1 is unsupported; push the image again",
    );
  }
  if (json.schemaVersion !== 2) {
    throw new InvalidInputError(
      `unsupported manifest schemaVersion ${JSON.stringify(json.schemaVersion)}`,
    );
  }
  const fieldType = typeof json.mediaType === "string" ? json.mediaType : undefined;
  const knownHeader = headerType !== undefined &&
    (INDEX_TYPES.includes(headerType) || MANIFEST_TYPES.includes(headerType));
  if (fieldType !== undefined && knownHeader && fieldType !== headerType) {
    throw new InvalidInputError(
      `manifest mediaType "${fieldType}" disagrees with Content-Type "${headerType}"`,
    );
  }
  const looksLikeIndex = "manifests" in json;
  const looksLikeManifest = "config" in json || "layers" in json;
  if (looksLikeIndex && looksLikeManifest) {
    throw new InvalidInputError(
      "document has both index and manifest fields; refusing the ambiguity",
    );
  }
  const declared = fieldType ?? (knownHeader ? headerType : undefined);
  let kind: "index" | "manifest";
  if (declared !== undefined && INDEX_TYPES.includes(declared)) kind = "index";
  else if (declared !== undefined && MANIFEST_TYPES.includes(declared)) kind = "manifest";
  else if (declared !== undefined) {
    throw new InvalidInputError(`unsupported manifest type "${declared}"`);
  } else if (looksLikeIndex) kind = "index";
  else if (looksLikeManifest) kind = "manifest";
  else throw new InvalidInputError("document is neither an image index nor an image manifest");

  if (kind === "index" && looksLikeManifest || kind === "manifest" && looksLikeIndex) {
    throw new InvalidInputError(`document's fields do not fit its type "${declared}"`);
  }
  if (kind === "index") {
    if (!Array.isArray(json.manifests)) throw new InvalidInputError("index has no manifests array");
    json.manifests.forEach((entry, i) => checkDescriptor(entry, `index entry ${i}`));
    return {
      kind,
      mediaType: declared ?? INDEX_TYPES[0],
      index: json as unknown as IndexManifest,
    };
  }
  checkDescriptor(json.config, "manifest config");
  if (!Array.isArray(json.layers)) throw new InvalidInputError("manifest has no layers array");
  json.layers.forEach((layer, i) => checkDescriptor(layer, `manifest layer ${i}`));
  return {
    kind,
    mediaType: declared ?? MANIFEST_TYPES[0],
    manifest: json as unknown as ImageManifest,
  };
}

/**
 * Parses and checks an image config.
 *
 * @param bytes The config exactly as stored.
 * @returns The config.
 */
export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new InvalidInputError("image config is not valid JSON");
  }
  if (!isObject(json)) throw new InvalidInputError("image config is not a JSON object");
  const rootfs = json.rootfs;
  if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids)) {
    throw new InvalidInputError("image config has no rootfs.diff_ids");
  }
  for (const diffId of rootfs.diff_ids) {
    if (typeof diffId !== "string") {
      throw new InvalidInputError("image config has a non-string diff_id");
    }
    parseDigest(diffId);
  }
  return json as unknown as ImageConfig;
}
