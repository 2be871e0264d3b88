/**
 * Platforms: the host's, parsing what a user types (normalised as
 * containerd does), matching, and choosing an entry from an image index.
 *
 * @module
 */

import type { Descriptor, ImageConfig, IndexManifest, Platform } from "./manifest.ts";
import { ImageNotFoundError, InvalidInputError } from "../errors.ts";

/** Operating systems a bare `--platform NAME` may name (Go's GOOS values). */
const KNOWN_OS = new Set([
  "aix",
  "android",
  "darwin",
  "dragonfly",
  "freebsd",
  "illumos",
  "ios",
  "js",
  "linux",
  "netbsd",
  "openbsd",
  "plan9",
  "solaris",
  "wasip1",
  "windows",
]);

/** Architectures a bare `--platform NAME` may name, in any spelling normalizeArchitecture reads. */
const KNOWN_ARCHITECTURES = new Set([
  "386",
  "amd64",
  "arm",
  "arm64",
  "loong64",
  "mips",
  "mips64",
  "mips64le",
  "mipsle",
  "ppc64",
  "ppc64le",
  "riscv64",
  "s390x",
  "wasm",
]);

/**
 * Normalises an architecture and variant to the OCI names, as containerd
 * does: `x86_64`/`x86-64` are `amd64`, `aarch64` is `arm64`, `armhf` is
 * `arm/v7`, `armel` is `arm/v6`, `i386` is `386`; a bare variant number
 * gains its `v`, and the variants an architecture implies are dropped
 * (`arm64/v8`) or filled in (`arm` is `arm/v7`). Case-insensitive.
 *
 * @param architecture The architecture as written.
 * @param variant The variant as written.
 * @returns The OCI architecture and variant.
 */
export function normalizeArchitecture(
  architecture: string,
  variant?: string,
): { architecture: string; variant?: string } {
  const arch = architecture.toLowerCase();
  let vari = variant?.toLowerCase() || undefined;
  if (vari !== undefined && /^[0-9]/.test(vari)) vari = `v${vari}`;
  switch (arch) {
    case "i386":
    case "i686":
      return { architecture: "386" };
    case "x86_64":
    case "x86-64":
    case "amd64":
      return { architecture: "amd64", ...(vari && vari !== "v1" ? { variant: vari } : {}) };
    case "aarch64":
    case "arm64":
      return {
        architecture: "arm64",
        ...(vari && vari !== "v8" && vari !== "v8.0" ? { variant: vari } : {}),
      };
    case "armhf":
      return { architecture: "arm", variant: "v7" };
    case "armel":
      return { architecture: "arm", variant: "v6" };
    case "arm":
      return { architecture: "arm", variant: vari ?? "v7" };
    default:
      return vari === undefined ? { architecture: arch } : { architecture: arch, variant: vari };
  }
}

/**
 * A platform in normal form: lower-case OS (`macos` is `darwin`) and a
 * normalised architecture and variant. Other fields are kept.
 *
 * @param platform A platform as written in an index, a config or by a user.
 * @returns The same platform, normalised.
 */
export function normalizePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase() === "macos" ? "darwin" : platform.os.toLowerCase();
  const { architecture, variant } = normalizeArchitecture(
    platform.architecture,
    platform.variant,
  );
  const normal: Platform = { ...platform, os, architecture };
  delete normal.variant;
  return variant === undefined ? normal : { ...normal, variant };
}

/**
 * The platform an image config declares.
 *
 * @param config The image config.
 * @returns Its `os`, `architecture` and `variant`, normalized.
 */
export function configPlatform(config: ImageConfig): Platform {
  return normalizePlatform({
    os: config.os,
    architecture: config.architecture,
    ...(config.variant ? { variant: config.variant } : {}),
  });
}

/**
 * The platform images are pulled for by default. Container images are Linux
 * images on every host but Windows, so the OS is `linux` there and the
 * architecture is the host's, in OCI names.
 *
 * @returns The default platform.
 */
export function hostPlatform(): Platform {
  const os = Deno.build.os === "windows" ? "windows" : "linux";
  return normalizePlatform({ os, architecture: Deno.build.arch });
}

/**
 * Parses a platform as docker and containerd take it: `os/arch[/variant]`,
 * or a bare OS or architecture (the other part is the host's), in any case
 * and with the usual aliases (`linux/x86_64`, `aarch64`, `linux/armhf`).
 * The result is normalised.
 *
 * @example
 * ```ts
 * import { parsePlatform } from "@denocker/denocker";
 * parsePlatform("linux/arm/v7"); // { os: "linux", architecture: "arm", variant: "v7" }
 * parsePlatform("aarch64"); // { os: "linux", architecture: "arm64" }
 * ```
 *
 * @param text The platform as a user typed it.
 * @returns The platform.
 */
export function parsePlatform(text: string): Platform {
  const parts = text.split("/");
  if (
    parts.length > 3 || parts.some((part) => !/^[A-Za-z0-9._-]+$/.test(part))
  ) {
    throw new InvalidInputError(`Cannot parse platform "${text}": expected os/arch[/variant]`);
  }
  if (parts.length === 1) {
    const name = parts[0].toLowerCase();
    const host = hostPlatform();
    if (KNOWN_OS.has(name) || name === "macos") {
      return normalizePlatform({ os: name, architecture: host.architecture });
    }
    const normal = normalizeArchitecture(name);
    if (KNOWN_ARCHITECTURES.has(normal.architecture)) {
      return normalizePlatform({ os: host.os, architecture: name });
    }
    throw new InvalidInputError(
      `Cannot parse platform "${text}": not a known OS or architecture; expected os/arch[/variant]`,
    );
  }
  const [os, architecture, variant] = parts;
  return normalizePlatform(
    variant === undefined ? { os, architecture } : { os, architecture, variant },
  );
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

/**
 * Whether an image of platform `actual` is what `wanted` asks for: same OS
 * and architecture after normalisation, and the same variant where both
 * name one (an image that names no variant serves any variant).
 *
 * @param wanted The platform asked for.
 * @param actual An image's platform (from its config or an index entry).
 * @returns True when they match.
 */
export function platformMatches(wanted: Platform, actual: Platform): boolean {
  const a = normalizePlatform(wanted);
  const b = normalizePlatform(actual);
  return a.os === b.os && a.architecture === b.architecture &&
    (a.variant === undefined || b.variant === undefined || a.variant === b.variant);
}

/**
 * Chooses the index entry for a platform: same OS and architecture, and the
 * same variant after normalisation; an exact variant match wins over an
 * entry that names none. Entries that are not images (attestations,
 * `unknown/unknown`) never match. Throws an `ImageNotFoundError` listing what the
 * image offers when nothing matches.
 *
 * @param index The image index.
 * @param wanted The platform to pull.
 * @returns The matching entry.
 */
export function selectManifest(index: IndexManifest, wanted: Platform): Descriptor {
  const normalWanted = normalizePlatform(wanted);
  const candidates = index.manifests.filter((entry) =>
    entry.platform !== undefined && platformMatches(normalWanted, entry.platform)
  );
  const exact = candidates.find((entry) =>
    normalizePlatform(entry.platform!).variant === normalWanted.variant
  );
  const match = exact ?? candidates[0];
  if (match) return match;
  const offered = index.manifests
    .filter((entry) => entry.platform && entry.platform.os !== "unknown")
    .map((entry) => formatPlatform(normalizePlatform(entry.platform!)));
  throw new ImageNotFoundError(
    `Cannot find a manifest for platform ${formatPlatform(normalWanted)}: the image offers ${
      offered.length > 0 ? offered.join(", ") : "no platforms"
    }`,
  );
}
