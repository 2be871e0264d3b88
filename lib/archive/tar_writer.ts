/**
 * Writes a directory tree as a POSIX (ustar + PAX) tar stream: files,
 * directories, symlinks and hardlinks with their modes, owners and times.
 * Names or link targets that do not fit ustar, and times before 1970 or
 * after 2242, go into PAX records, as GNU tar's `--format=posix` does.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { DenockerError } from "../errors.ts";
import { streamFrom } from "../io/streams.ts";

const BLOCK = 512;
const encoder = new TextEncoder();

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0");
}

function put(block: Uint8Array, offset: number, text: string): void {
  block.set(encoder.encode(text), offset);
}

/** One ustar header; the caller has made sure every field fits. */
function header(fields: {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: string;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}): Uint8Array {
  const block = new Uint8Array(BLOCK);
  put(block, 0, fields.name);
  put(block, 100, octal(fields.mode & 0o7777, 8));
  put(block, 108, octal(fields.uid, 8));
  put(block, 116, octal(fields.gid, 8));
  put(block, 124, octal(fields.size, 12));
  put(block, 136, octal(fields.mtime, 12));
  put(block, 156, fields.type);
  if (fields.linkname) put(block, 157, fields.linkname);
  put(block, 257, "ustar\x0000");
  if (fields.devmajor !== undefined) put(block, 329, octal(fields.devmajor, 8));
  if (fields.devminor !== undefined) put(block, 337, octal(fields.devminor, 8));
  block.fill(0x20, 148, 156);
  const sum = block.reduce((total, byte) => total + byte, 0);
  put(block, 148, `${octal(sum, 7)}\0`);
  return block;
}

/** PAX records (`LEN key=value\n`) as an `x` entry, data padded to blocks; values may be bytes. */
function paxEntry(records: [string, string | Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [key, value] of records) {
    const bytes = typeof value === "string" ? encoder.encode(value) : value;
    const head = encoder.encode(` ${key}=`);
    const body = head.byteLength + bytes.byteLength + 1;
    let length = body + 1;
    while (`${length}`.length + body !== length) length++;
    const record = new Uint8Array(length);
    record.set(encoder.encode(`${length}`));
    record.set(head, `${length}`.length);
    record.set(bytes, `${length}`.length + head.byteLength);
    record[length - 1] = 0x0a;
    parts.push(record);
  }
  const size = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const out = new Uint8Array(BLOCK + Math.ceil(size / BLOCK) * BLOCK);
  out.set(
    header({
      name: "PaxHeader",
      mode: 0o644,
      uid: 0,
      gid: 0,
      size,
      mtime: 0,
      type: "x",
    }),
  );
  let offset = BLOCK;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Fits a name or link in a ustar field (ASCII, at most 100 bytes), or says it needs PAX. */
function fits(text: string): boolean {
  return text.length <= 100 && /^[\x20-\x7e]*$/.test(text);
}

/** The headers (PAX entry included when needed) of one entry. */
function entryHeaders(
  name: string,
  info: Pick<Deno.FileInfo, "mode" | "uid" | "gid" | "mtime">,
  type: string,
  size: number,
  linkname?: string,
  device?: { major: number; minor: number },
  xattrs?: Record<string, Uint8Array>,
) {
  const mtime = Math.floor((info.mtime?.getTime() ?? 0) / 1000);
  const records: [string, string | Uint8Array][] = [];
  for (const [key, value] of Object.entries(xattrs ?? {}).sort(([a], [b]) => a < b ? -1 : 1)) {
    records.push([`SCHILY.xattr.${key}`, value]);
  }
  if (!fits(name)) records.push(["path", name]);
  if (linkname !== undefined && !fits(linkname)) records.push(["linkpath", linkname]);
  if (mtime < 0 || mtime >= 8 ** 11) records.push(["mtime", String(mtime)]);
  if (size >= 8 ** 11) records.push(["size", String(size)]);
  const uid = info.uid ?? 0;
  const gid = info.gid ?? 0;
  if (uid >= 8 ** 7) records.push(["uid", String(uid)]);
  if (gid >= 8 ** 7) records.push(["gid", String(gid)]);
  const block = header({
    name: fits(name) ? name : name.slice(-100).replace(/[^\x20-\x7e]/g, "_"),
    mode: info.mode ?? 0o644,
    uid: uid >= 8 ** 7 ? 0 : uid,
    gid: gid >= 8 ** 7 ? 0 : gid,
    size: size >= 8 ** 11 ? 0 : size,
    mtime: mtime < 0 || mtime >= 8 ** 11 ? 0 : mtime,
    type,
    linkname: linkname === undefined
      ? undefined
      : fits(linkname)
      ? linkname
      : linkname.slice(-100).replace(/[^\x20-\x7e]/g, "_"),
    devmajor: device?.major,
    devminor: device?.minor,
  });
  return records.length > 0 ? [paxEntry(records), block] : [block];
}

/**
 * A tar stream of the tree under `root` (entries relative to it, the root
 * itself left out), depth first in name order. Files are read as the
 * stream is pulled; nothing proportional to the tree is held.
 *
 * @param root The directory.
 * @param only Only this entry of `root` (and what is under it), as `docker cp … -` archives one.
 * @returns The archive.
 */
export function tarTree(root: string, only?: string): ReadableStream<Uint8Array> {
  async function* entries(): AsyncGenerator<Uint8Array> {
    const inodes = new Map<string, string>();
    async function* walk(relative: string): AsyncGenerator<Uint8Array> {
      const names = relative === "" && only !== undefined
        ? [only]
        : (await Array.fromAsync(Deno.readDir(join(root, relative))))
          .map((entry) => entry.name).sort();
      for (const name of names) {
        const path = relative ? `${relative}/${name}` : name;
        const full = join(root, path);
        const info = await Deno.lstat(full);
        if (info.isDirectory) {
          yield* entryHeaders(`${path}/`, info, "5", 0);
          yield* walk(path);
        } else if (info.isSymlink) {
          yield* entryHeaders(path, info, "2", 0, await Deno.readLink(full));
        } else if (info.isFile) {
          const key = `${info.dev}:${info.ino}`;
          const first = info.nlink !== null && info.nlink > 1 ? inodes.get(key) : undefined;
          if (first !== undefined) {
            yield* entryHeaders(path, info, "1", 0, first);
            continue;
          }
          if (info.nlink !== null && info.nlink > 1) inodes.set(key, path);
          yield* entryHeaders(path, info, "0", info.size);
          const file = await Deno.open(full);
          let written = 0;
          for await (const chunk of file.readable) {
            written += chunk.byteLength;
            yield chunk;
          }
          if (written !== info.size) {
            throw new DenockerError(`Cannot export ${path}: it changed while it was read`);
          }
          const pad = (BLOCK - (written % BLOCK)) % BLOCK;
          if (pad > 0) yield new Uint8Array(pad);
        }
        // Device nodes and FIFOs never reach an extracted layer (Deno cannot create them).
      }
    }
    yield* walk("");
    yield new Uint8Array(2 * BLOCK);
  }
  return streamFrom(entries());
}

/** One file of an archive written by {@link tarFiles}. */
export interface TarFile {
  /** Path in the archive. */
  name: string;
  /** Exact size of the body in bytes. */
  size: number;
  /** Opens the body when its turn comes. */
  open(): Promise<ReadableStream<Uint8Array>> | ReadableStream<Uint8Array>;
}

/**
 * A tar stream of files given one by one (regular files only, mode 0644,
 * time 0, owner 0), each body opened when its turn comes: nothing
 * proportional to a file is held.
 *
 * @param files The files, in order.
 * @returns The archive.
 */
export function tarFiles(
  files: Iterable<TarFile> | AsyncIterable<TarFile>,
): ReadableStream<Uint8Array> {
  async function* entries(): AsyncGenerator<Uint8Array> {
    const info = { mode: 0o644, uid: 0, gid: 0, mtime: new Date(0) } as Deno.FileInfo;
    for await (const file of files) {
      yield* entryHeaders(file.name, info, "0", file.size);
      let written = 0;
      for await (const chunk of await file.open()) {
        written += chunk.byteLength;
        if (written > file.size) break;
        yield chunk;
      }
      if (written !== file.size) {
        throw new DenockerError(
          `Cannot write ${file.name}: it has ${written} bytes, ${file.size} were announced`,
        );
      }
      const pad = (BLOCK - (written % BLOCK)) % BLOCK;
      if (pad > 0) yield new Uint8Array(pad);
    }
    yield new Uint8Array(2 * BLOCK);
  }
  return streamFrom(entries());
}

/** One entry of an archive written by {@link tarEntries}. */
export interface TarEntrySpec {
  /** Path in the archive (a directory's without its trailing `/`). */
  name: string;
  /** What it is. */
  type: "file" | "directory" | "symlink" | "hardlink" | "char" | "block" | "fifo";
  /** Permission bits (setuid, setgid and sticky included). */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Modification time, in seconds. */
  mtime: number;
  /** A file's exact size in bytes. */
  size?: number;
  /** A symlink's target, or the archive path a hardlink names. */
  linkname?: string;
  /** A device's numbers. */
  device?: { major: number; minor: number };
  /** Opens a file's body when its turn comes. */
  open?(): Promise<ReadableStream<Uint8Array>>;
  /** Extended attributes, by name (PAX `SCHILY.xattr.NAME`). */
  xattrs?: Record<string, Uint8Array>;
}

const TYPE_FLAGS: Record<TarEntrySpec["type"], string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  directory: "5",
  fifo: "6",
};

/**
 * A tar stream of the entries given, in their order, each file's body
 * opened when its turn comes: nothing proportional to a file is held.
 *
 * @param entries The entries.
 * @returns The archive.
 */
export function tarEntries(
  entries: Iterable<TarEntrySpec> | AsyncIterable<TarEntrySpec>,
): ReadableStream<Uint8Array> {
  async function* blocks(): AsyncGenerator<Uint8Array> {
    for await (const entry of entries) {
      const size = entry.type === "file" ? entry.size ?? 0 : 0;
      const info = {
        mode: entry.mode,
        uid: entry.uid,
        gid: entry.gid,
        mtime: new Date(entry.mtime * 1000),
      };
      const name = entry.type === "directory" ? `${entry.name}/` : entry.name;
      yield* entryHeaders(
        name,
        info,
        TYPE_FLAGS[entry.type],
        size,
        entry.linkname,
        entry.device,
        entry.xattrs,
      );
      if (entry.type !== "file" || size === 0) continue;
      let written = 0;
      for await (const chunk of await entry.open!()) {
        written += chunk.byteLength;
        if (written > size) break;
        yield chunk;
      }
      if (written !== size) {
        throw new DenockerError(`Cannot archive ${entry.name}: it changed while it was read`);
      }
      const pad = (BLOCK - (written % BLOCK)) % BLOCK;
      if (pad > 0) yield new Uint8Array(pad);
    }
    yield new Uint8Array(2 * BLOCK);
  }
  return streamFrom(blocks());
}
