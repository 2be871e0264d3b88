/**
 * Safe, faithful extraction of one layer's tar stream into its own
 * directory. Whiteouts are kept as `.wh.` marker files for flattening to
 * apply; nothing is ever created, changed or deleted outside the directory.
 *
 * @module
 */

import { type LowerLink, OPAQUE_MARKER, WHITEOUT_PREFIX } from "../model/layer.ts";

export type { LowerLink };
import { lchownSync, lutimesSync } from "node:fs";
import { writeXattrs } from "../io/xattr.ts";
import { readTar, type TarEntryHeader as TarHeader } from "../archive/tar_reader.ts";
import { permissionGranted, symlinkRefusal } from "../permissions.ts";
import { InvalidInputError, MalformedLayerError } from "../errors.ts";

/** Caps that turn a decompression bomb into a clear error. */
export interface ExtractLimits {
  /** Most entries in one layer. */
  maxEntries: number;
  /** Most uncompressed bytes in one layer. */
  maxBytes: number;
  /** Longest entry or link name, in bytes. */
  maxPathBytes: number;
}

/** Generous defaults: no real image comes near them. */
export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = {
  maxEntries: 2_000_000,
  maxBytes: 64 * 1024 ** 3,
  maxPathBytes: 4096,
};

/** Options for {@link extractLayer}. */
export interface ExtractOptions extends Partial<ExtractLimits> {
  /** Apply the tar's uid/gid (needs root); off by default. */
  preserveOwnership?: boolean;
  /**
   * The tar stream's chunks are the extraction's to free as soon as they
   * are written out (their buffers are detached), rather than at V8's next
   * collection; for a stream that no one else reads. Off by default.
   */
  releaseChunks?: boolean;
}

/** What an extraction did. */
export interface ExtractResult {
  /** Entries read. */
  entries: number;
  /** Uncompressed size of the layer in bytes. */
  bytes: number;
  /** Device nodes and FIFOs, which cannot be created from Deno. */
  skipped: { path: string; type: string }[];
  /** Hardlinks to files of lower layers, applied when flattening. */
  lowerLinks: LowerLink[];
  /** Whether the layer had an entry for its root (`./`), whose metadata the directory now has. */
  rootEntry: boolean;
}

type Kind = "directory" | "file" | "symlink" | "whiteout" | "lower-link";

/** An entry's body, read piece by piece (an empty piece at its end). */
type BodyReader = () => Uint8Array | Promise<Uint8Array>;

interface Metadata {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

const encoder = new TextEncoder();
/** Files up to this size are written with a single call. */
const GATHER_BYTES = 1024 * 1024;
/** The process umask, read once: it tells when a creation mode needs a chmod after all. */
const UMASK = currentUmask();

function currentUmask(): number {
  // Without --allow-sys=umask (the narrowest permissions) Deno would prompt on a terminal.
  if (!permissionGranted({ name: "sys", kind: "umask" })) return 0o777; // Unknown: always chmod.
  try {
    // Setting and restoring is the only portable way to read it; nothing is created in between.
    const mask = Deno.umask(0o022);
    Deno.umask(mask);
    return mask;
  } catch {
    return 0o777; // Unknown: always chmod.
  }
}

function refuse(name: string, rule: string): never {
  throw new MalformedLayerError(`Cannot extract layer entry "${name}": ${rule}`);
}

function removeIfPresent(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Extracts one layer; see {@link extractLayer}. */
class LayerExtractor {
  readonly #root: string;
  readonly #limits: ExtractLimits;
  readonly #preserveOwnership: boolean;
  /** What this layer created, by relative path; the layer root is "". */
  readonly #kinds = new Map<string, Kind>([["", "directory"]]);
  /** Where a small file that straddles chunks is gathered: one buffer, reused. */
  #gather: Uint8Array | undefined;
  /** Directory metadata, applied after their content so that modes and times stick. */
  readonly #directories = new Map<string, Metadata>();
  readonly result: ExtractResult = {
    entries: 0,
    bytes: 0,
    skipped: [],
    lowerLinks: [],
    rootEntry: false,
  };

  constructor(root: string, options: ExtractOptions) {
    this.#root = root;
    this.#limits = { ...DEFAULT_EXTRACT_LIMITS, ...options };
    this.#preserveOwnership = options.preserveOwnership ?? false;
  }

  /**
   * Splits a name into safe components: a leading `/` is stripped (as
   * docker does), `.` and empty components dropped, `..` refused.
   */
  #components(name: string, entry = name, what = "name"): string[] {
    const shown = entry.length > 80 ? `${entry.slice(0, 80)}…` : entry;
    // A UTF-16 unit encodes to at most 3 bytes: most names need no encoding to be checked.
    if (
      name.length * 3 > this.#limits.maxPathBytes &&
      encoder.encode(name).byteLength > this.#limits.maxPathBytes
    ) {
      refuse(shown, `${what} longer than ${this.#limits.maxPathBytes} bytes`);
    }
    if (name.includes("\0")) refuse(shown, `${what} contains a NUL byte`);
    const components = name.split("/").filter((part) => part !== "" && part !== ".");
    if (components.includes("..")) {
      const subject = what === "name" ? what : `${what} "${name}"`;
      refuse(shown, `${subject} has a ".." component, which could leave the layer`);
    }
    return components;
  }

  /** The absolute path of a relative path already made of safe components. */
  #path(relative: string): string {
    return relative === "" ? this.#root : `${this.#root}/${relative}`;
  }

  /** Makes sure every parent is a real directory of this layer, never a symlink. */
  #parents(name: string, components: string[]): void {
    let current = "";
    for (const component of components.slice(0, -1)) {
      current = current === "" ? component : `${current}/${component}`;
      const kind = this.#kinds.get(current);
      if (kind === "directory") continue;
      if (kind === undefined) {
        Deno.mkdirSync(this.#path(current), { mode: 0o755 });
        this.#kinds.set(current, "directory");
        continue;
      }
      if (kind === "symlink") {
        refuse(name, `its parent "${current}" is a symlink; writing through a symlink is refused`);
      }
      refuse(name, `its parent "${current}" is not a directory`);
    }
  }

  /** Clears the path for a non-directory entry: it replaces a file or link, never a directory. */
  #replace(name: string, relative: string, what: string): void {
    const existing = this.#kinds.get(relative);
    if (existing === "directory") refuse(name, `a ${what} may not replace a directory`);
    if (existing !== undefined) removeIfPresent(this.#path(relative));
  }

  #stampSymlink(path: string, header: TarHeader): void {
    const mtime = header.mtime ?? new Date(0);
    // Deno's chown/chmod/utime follow symlinks; the l* calls act on the link itself.
    if (this.#preserveOwnership) lchownSync(path, header.uid ?? 0, header.gid ?? 0);
    lutimesSync(path, mtime, mtime);
  }

  /** Makes one entry; what of its body `read` leaves unread, the tar reader skips. */
  entry(header: TarHeader, read: BodyReader): void | Promise<void> {
    if (++this.result.entries > this.#limits.maxEntries) {
      throw new InvalidInputError(
        `Cannot extract layer: more than ${this.#limits.maxEntries} entries`,
      );
    }
    const name = header.name;
    const type = header.type ?? "file";
    const components = this.#components(name);
    const relative = components.join("/");
    const base = components.at(-1) ?? "";
    if (base.startsWith(WHITEOUT_PREFIX)) {
      return this.#whiteout(name, components, relative, base);
    }
    if (relative === "" && type !== "directory") {
      refuse(name, `a ${type} entry may not name the layer root`);
    }
    switch (type) {
      case "directory":
        return this.#directory(name, components, relative, header);
      case "file":
        return this.#file(name, components, relative, header, read);
      case "symlink":
        return this.#symlink(name, components, relative, header);
      case "link":
        return this.#hardlink(name, components, relative, header);
      case "character-device":
      case "block-device":
      case "fifo":
        this.result.skipped.push({ path: relative, type });
        return;
      default:
        refuse(name, `unsupported entry type "${type}"`);
    }
  }

  #whiteout(name: string, components: string[], relative: string, base: string): void {
    if (base !== OPAQUE_MARKER) {
      if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return; // aufs bookkeeping, not a whiteout
      const hidden = base.slice(WHITEOUT_PREFIX.length);
      if (hidden === "" || hidden === "." || hidden === "..") {
        refuse(name, "malformed whiteout: it names no file, or a file outside its directory");
      }
    }
    this.#parents(name, components);
    this.#replace(name, relative, "whiteout");
    Deno.openSync(this.#path(relative), { write: true, createNew: true, mode: 0o600 })
      .close();
    this.#kinds.set(relative, "whiteout");
  }

  #directory(name: string, components: string[], relative: string, header: TarHeader): void {
    const path = this.#path(relative);
    if (relative === "") {
      this.result.rootEntry = true;
    } else {
      this.#parents(name, components);
      const existing = this.#kinds.get(relative);
      if (existing !== "directory") {
        if (existing !== undefined) removeIfPresent(path);
        Deno.mkdirSync(path, { mode: 0o700 });
        this.#kinds.set(relative, "directory");
      }
    }
    this.#directories.set(relative, {
      path,
      mode: (header.mode ?? 0o755) & 0o7777,
      uid: header.uid ?? 0,
      gid: header.gid ?? 0,
      mtime: header.mtime ?? new Date(0),
    });
  }

  async #file(
    name: string,
    components: string[],
    relative: string,
    header: TarHeader,
    read: BodyReader,
  ) {
    this.#parents(name, components);
    this.#replace(name, relative, "file");
    const path = this.#path(relative);
    const mode = (header.mode ?? 0o644) & 0o7777;
    // createNew (O_EXCL) never follows a symlink standing at the path. Small files dominate
    // real layers, so this path uses synchronous calls: far fewer round trips per file.
    const file = Deno.openSync(path, { write: true, createNew: true, mode });
    this.#kinds.set(relative, "file");
    const writeAll = (bytes: Uint8Array) => {
      let written = 0;
      while (written < bytes.byteLength) written += file.writeSync(bytes.subarray(written));
    };
    try {
      // A small file that straddles decompressed chunks is gathered and written with one call.
      // A piece is copied or written before the next read, which may free its chunk.
      let whole: Uint8Array | undefined;
      let gathered = 0;
      for (let piece = await read(); piece.byteLength > 0; piece = await read()) {
        if (!whole && (header.size > GATHER_BYTES || piece.byteLength === header.size)) {
          writeAll(piece);
          continue;
        }
        whole ??= (this.#gather ??= new Uint8Array(GATHER_BYTES)).subarray(0, header.size);
        whole.set(piece, gathered);
        gathered += piece.byteLength;
      }
      if (whole) writeAll(whole.subarray(0, gathered));
      const mtime = header.mtime ?? new Date(0);
      file.utimeSync(mtime, mtime);
    } finally {
      file.close();
    }
    const owned = this.#preserveOwnership && ((header.uid ?? 0) !== 0 || (header.gid ?? 0) !== 0);
    // chown clears setuid/setgid, and the umask may have cut bits from the creation mode.
    if (owned) Deno.chownSync(path, header.uid ?? 0, header.gid ?? 0);
    if (owned || (mode & UMASK) !== 0 || mode > 0o777) Deno.chmodSync(path, mode);
    // Last: chown clears file capabilities.
    if (header.xattrs) writeXattrs(path, header.xattrs);
  }

  #symlink(name: string, components: string[], relative: string, header: TarHeader): void {
    const target = header.linkname ?? "";
    if (target === "") refuse(name, "symlink has an empty target");
    if (encoder.encode(target).byteLength > this.#limits.maxPathBytes) {
      refuse(name, `symlink target longer than ${this.#limits.maxPathBytes} bytes`);
    }
    this.#parents(name, components);
    this.#replace(name, relative, "symlink");
    const path = this.#path(relative);
    try {
      Deno.symlinkSync(target, path);
    } catch (error) {
      throw symlinkRefusal(error, `layer entry "${name}"`) ?? error;
    }
    this.#kinds.set(relative, "symlink");
    this.#stampSymlink(path, header);
  }

  #hardlink(name: string, components: string[], relative: string, header: TarHeader): void {
    const targetComponents = this.#components(header.linkname ?? "", name, "hardlink target");
    const target = targetComponents.join("/");
    if (target === "") refuse(name, "hardlink to the layer root");
    if (target === relative) refuse(name, "hardlink to itself");
    const targetKind = this.#kinds.get(target);
    if (targetKind === "directory") refuse(name, `hardlink to directory "${target}"`);
    if (targetKind === "whiteout") refuse(name, `hardlink to whiteout "${target}"`);
    this.#parents(name, components);
    this.#replace(name, relative, "hardlink");
    if (targetKind === undefined || targetKind === "lower-link") {
      // The target is in a lower layer: flattening makes the link.
      const lower = targetKind === "lower-link"
        ? this.result.lowerLinks.find((link) => link.path === target)!.target
        : target;
      this.result.lowerLinks.push({ path: relative, target: lower });
      this.#kinds.set(relative, "lower-link");
      return;
    }
    // link(2) does not follow a symlink target: linking to a symlink links the symlink itself.
    Deno.linkSync(this.#path(target), this.#path(relative));
    this.#kinds.set(relative, "file");
  }

  /** Applies directory metadata, deepest first, so later writes do not disturb it. */
  finish(): void {
    const directories = [...this.#directories.keys()].sort((a, b) => b.length - a.length);
    for (const relative of directories) {
      const metadata = this.#directories.get(relative)!;
      if (this.#preserveOwnership) Deno.chownSync(metadata.path, metadata.uid, metadata.gid);
      Deno.chmodSync(metadata.path, metadata.mode);
      Deno.utimeSync(metadata.path, metadata.mtime, metadata.mtime);
    }
  }
}

/**
 * Extracts a layer's uncompressed tar stream into an empty directory, safely:
 * names with `..` are refused and a leading `/` is stripped; nothing is
 * written through a symlink; a symlink or file never replaces a directory;
 * hardlinks stay inside the layer (ones to files of lower layers are
 * returned for flattening); modes (setuid included), times, and with
 * `preserveOwnership` owners are applied, never through a symlink. Device
 * nodes and FIFOs are skipped and returned. Whiteouts stay as `.wh.` marker
 * files. Entry count, size and name length are capped.
 *
 * Requires `--allow-read` and `--allow-write`.
 *
 * @example
 * ```ts
 * import { extractLayer } from "@denocker/denocker";
 * const tar = (await Deno.open("layer.tar")).readable;
 * await Deno.mkdir("/tmp/layer-fs");
 * const { entries, skipped } = await extractLayer(tar, "/tmp/layer-fs");
 * ```
 *
 * @param tar The uncompressed layer.
 * @param directory An empty directory to extract into.
 * @param options Limits and ownership.
 * @returns What was extracted, skipped, and left for flattening.
 */
export async function extractLayer(
  tar: ReadableStream<Uint8Array>,
  directory: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const extractor = new LayerExtractor(directory, options);
  const maxBytes = options.maxBytes ?? DEFAULT_EXTRACT_LIMITS.maxBytes;
  // The cap counts the archive's bytes and the holes of sparse files: what lands on disk.
  let holes = 0;
  const checkCap = () => {
    if (extractor.result.bytes + holes > maxBytes) {
      throw new InvalidInputError(`Cannot extract layer: more than ${maxBytes} uncompressed bytes`);
    }
  };
  // Counted as the reader takes each chunk in.
  const onChunk = (chunk: Uint8Array) => {
    extractor.result.bytes += chunk.byteLength;
    checkCap();
  };
  const onHoles = (bytes: number) => {
    holes += bytes;
    checkCap();
  };
  const releaseChunks = options.releaseChunks ?? false;
  for await (const { header, read } of readTar(tar, { onHoles, onChunk, releaseChunks })) {
    await extractor.entry(header, read);
  }
  extractor.finish();
  return extractor.result;
}
