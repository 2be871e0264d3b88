/**
 * Platforms: the host's, parsing `os/arch[/variant]`, and choosing an
 * entry from an image index.
 *
 * @module
 */

import type { Descriptor, IndexManifest, Platform } from "./manifest.ts";

const ARCH_NAMES: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };

/**
 * The platform images are pulled for by default. Container images are Linux
 * images on every host but Windows, so the OS is `linux` there and the
 * architecture is the host's, in OCI names.
 *
 * @returns The default platform.
 */
export function hostPlatform(): Platform {
  const architecture = ARCH_NAMES[Deno.build.arch] ?? Deno.build.arch;
  const os = Deno.build.os === "windows" ? "windows" : "linux";
  return { os, architecture };
}

/**
 * Parses `os/arch[/variant]`, e.g. `linux/arm64/v8`.
 *
 * @example
 * ```ts
 * import { parsePlatform } from "./platform.ts";
 * parsePlatform("linux/arm/v7"); // { os: "linux", architecture: "arm", variant: "v7" }
 * ```
 *
 * @param text The platform as a user typed it.
 * @returns The platform.
 */
export function parsePlatform(text: string): Platform {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !/^[a-z0-9._-]+$/.test(part))) {
    throw new TypeError(`Cannot parse platform "${text}": expected os/arch[/variant]`);
  }
  const [os, architecture, variant] = parts;
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/**
 * Formats a platform as `os/arch[/variant]`.
 *
 * @param platform The platform.
 * @returns Its text form.
 */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
}

/** The variant an architecture means when none is written. */
function defaultVariant(architecture: string): string | undefined {
  if (architecture === "arm64") return "v8";
  if (architecture === "arm") return "v7";
  return undefined;
}

function variantOf(platform: Platform): string | undefined {
  return platform.variant || defaultVariant(platform.architecture);
}

/**
 * Chooses the index entry for a platform: same OS and architecture, and the
 * same variant (an absent variant means the architecture's usual one).
 * Entries that are not images (attestations, `unknown/unknown`) never match.
 * Throws a `RangeError` listing what the image offers when nothing matches.
 *
 * @param index The image index.
 * @param wanted The platform to pull.
 * @returns The matching entry.
 */
export function selectManifest(index: IndexManifest, wanted: Platform): Descriptor {
  const match = index.manifests.find((entry) =>
    entry.platform !== undefined &&
    entry.platform.os === wanted.os &&
    entry.platform.architecture === wanted.architecture &&
    (wanted.variant === undefined && entry.platform.variant === undefined ||
      variantOf(entry.platform) === variantOf(wanted))
  ) ?? index.manifests.find((entry) =>
    wanted.variant === undefined &&
    entry.platform?.os === wanted.os &&
    entry.platform.architecture === wanted.architecture
  );
  if (match) return match;
  const offered = index.manifests
    .filter((entry) => entry.platform && entry.platform.os !== "unknown")
    .map((entry) => formatPlatform(entry.platform!));
  throw new RangeError(
    `Cannot find a manifest for platform ${formatPlatform(wanted)}: the image offers ${
      offered.length > 0 ? offered.join(", ") : "no platforms"
    }`,
  );
}
