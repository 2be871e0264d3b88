/**
 * A strict, streaming tar reader: the layer's security boundary. It reads
 * what Go's `archive/tar` (docker's reader) and GNU tar read: v7, ustar,
 * star, old GNU, GNU and POSIX (PAX) headers; GNU long names and links;
 * PAX records (each applying to the entry it precedes, `size` overriding
 * the header's); GNU sparse files in every format, expanded; old-style
 * directories (a regular entry named with a trailing `/`); volume labels
 * (skipped); numeric fields padded with spaces or NULs, base-256 numbers,
 * negative times; a missing or one-block end-of-archive marker; data after
 * the marker (drained, ignored). Anything else malformed is refused with
 * a `MalformedLayerError` naming the entry and the reason: never a guess.
 *
 * Where Go and GNU tar disagree, it follows Go, as docker does: a GNU long
 * name wins over a PAX `path`, and global PAX headers (`g`) are ignored.
 *
 * What Go refuses but GNU tar 1.34 and bsdtar read, it reads as GNU tar
 * does: a zero block followed by more headers (plexus-archiver writes
 * them) ends the archive, what follows ignored; a Solaris ACL entry (`A`)
 * is a regular file, which the file it describes then replaces. Times,
 * even where Go reads them otherwise, are read exactly as GNU tar reads
 * them, since a time decides nothing about what a layer holds: a header
 * time it cannot read is -1, a PAX time is its longest leading number,
 * and an unreadable PAX time leaves the header's. A time beyond what a
 * `Date` holds (year 275760) is clamped to it; the kernel clamps further
 * to what the filesystem holds, as it does for GNU tar.
 *
 * @module
 */

import { DenockerError, MalformedLayerError } from "../errors.ts";
import { releaseChunk } from "../io/streams.ts";

/** What an entry is, in the names `extract.ts` uses. */
export type TarEntryType =
  | "file"
  | "directory"
  | "symlink"
  | "link"
  | "character-device"
  | "block-device"
  | "fifo"
  | `unsupported type ${string}`;

/** One entry's header, all extensions applied. */
export interface TarEntryHeader {
  /** The path, UTF-8. */
  name: string;
  /** The entry's type. */
  type: TarEntryType;
  /** Bytes in its body (a sparse file's real size). */
  size: number;
  /** Permission bits, with setuid, setgid and sticky. */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Modification time. */
  mtime: Date;
  /** Target of a symlink or hardlink. */
  linkname?: string;
  /** Extended attributes (PAX `SCHILY.xattr.NAME`), by name. */
  xattrs?: Record<string, Uint8Array>;
}

/** An entry: its header and its body (empty for all but files). */
export interface TarEntry {
  /** The header. */
  header: TarEntryHeader;
  /**
   * The body as a stream (made when first asked for); read it to its end
   * or cancel it before asking for the next entry, or use `read` instead.
   */
  readonly body: ReadableStream<Uint8Array>;
  /**
   * The body's next bytes without a stream (no promise when they are in
   * hand), an empty array at its end. What is not read is skipped when the
   * next entry is asked for.
   */
  read(): Uint8Array | Promise<Uint8Array>;
}

/** Options for {@link readTar}. */
export interface TarReaderOptions {
  /** Called with the bytes of holes a sparse file adds beyond what the archive stores. */
  onHoles?: (bytes: number) => void;
  /** Largest PAX or GNU long-name record accepted, in bytes; 8 MiB by default. */
  maxExtensionBytes?: number;
  /**
   * The stream's chunks are the reader's to free: each is released once
   * read past (see `releaseChunk`), so that a body chunk read is valid only
   * until the next read. For streams no one else reads.
   */
  releaseChunks?: boolean;
  /** Called with each chunk of the stream as it is taken in, before any of it is read. */
  onChunk?: (chunk: Uint8Array) => void;
}

const BLOCK = 512;
/** No bytes: an empty field, the end of a body. Never written to. */
const NOTHING = new Uint8Array(0);
/** The PAX records of an entry that has none (most): one map, never written to. */
const NO_RECORDS: Map<string, string> = new Map();
const ZERO_CHUNK = new Uint8Array(64 * 1024);
const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

/** A name for messages: bytes that are not UTF-8 shown as `\xNN`. */
function printable(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    let text = "";
    for (const byte of bytes) {
      text += byte >= 0x20 && byte < 0x7f
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, "0")}`;
    }
    return text;
  }
}

function refuse(name: string, reason: string): never {
  const shown = name.length > 100 ? `${name.slice(0, 100)}…` : name;
  throw new MalformedLayerError(`Cannot extract layer entry "${shown}": ${reason}`);
}

/** Bytes of a NUL-terminated field. */
function field(block: Uint8Array, offset: number, length: number): Uint8Array {
  // One view at most (none for an empty field): this runs for every header.
  let end = offset;
  while (end < offset + length && block[end] !== 0) end++;
  return end === offset ? NOTHING : block.subarray(offset, end);
}

/** A name's bytes as UTF-8, or a refusal naming it: a lossy decode could merge two names. */
function decodeName(bytes: Uint8Array, what: string): string {
  if (bytes.byteLength === 0) return "";
  try {
    return utf8.decode(bytes);
  } catch {
    refuse(printable(bytes), `its ${what} is not UTF-8, and denocker cannot create such a name`);
  }
}

/**
 * A numeric field: octal, padded with spaces or NULs on either side (as Go
 * and GNU tar accept), or base-256 (first byte 0x80 or 0xff, negative).
 */
function numeric(
  block: Uint8Array,
  offset: number,
  length: number,
  what: string,
  name: () => string,
): number {
  // Read in place, byte by byte: this runs six times per entry.
  const end = offset + length;
  if (block[offset] & 0x80) {
    // Base-256, two's complement: 0xff starts a negative number.
    const negative = block[offset] === 0xff;
    let value = 0;
    for (let i = offset; i < end; i++) {
      let byte = i === offset ? block[i] & 0x7f : block[i];
      if (negative) byte = (i === offset ? 0x7f : 0xff) ^ byte;
      value = value * 256 + byte;
      if (value > Number.MAX_SAFE_INTEGER) refuse(name(), `its ${what} field is too large`);
    }
    return negative ? -(value + 1) : value;
  }
  // Octal digits between optional runs of spaces or NULs.
  let i = offset;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let value = 0;
  let digits = 0;
  for (; i < end && block[i] >= 0x30 && block[i] <= 0x37; i++, digits++) {
    value = value * 8 + (block[i] - 0x30);
  }
  for (; i < end; i++) {
    if (block[i] !== 0x20 && block[i] !== 0) {
      const text = latin1.decode(block.subarray(offset, end)).replace(/\0/g, "");
      refuse(name(), `its ${what} field "${text}" is not a number`);
    }
  }
  if (value > Number.MAX_SAFE_INTEGER) refuse(name(), `its ${what} field is too large`);
  return digits === 0 ? 0 : value;
}

/** Which header layout a block uses, as Go tells them apart. */
type Format = "v7" | "ustar" | "star" | "gnu";

function bytesAre(block: Uint8Array, offset: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (block[offset + i] !== text.charCodeAt(i)) return false;
  }
  return true;
}

function formatOf(block: Uint8Array): Format {
  if (bytesAre(block, 257, "ustar\0") && bytesAre(block, 263, "00")) {
    return bytesAre(block, 508, "tar\0") ? "star" : "ustar";
  }
  if (bytesAre(block, 257, "ustar ") && bytesAre(block, 263, " \0")) return "gnu";
  return "v7";
}

function checksumMatches(block: Uint8Array, name: () => string): boolean {
  const stored = numeric(block, 148, 8, "checksum", name);
  // The sum with the checksum field counted as spaces; most writers sum unsigned bytes.
  let unsigned = 8 * 0x20;
  for (let i = 0; i < 148; i++) unsigned += block[i];
  for (let i = 156; i < BLOCK; i++) unsigned += block[i];
  if (stored === unsigned) return true;
  // Some old writers summed signed bytes.
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    signed += block[i] > 127 ? block[i] - 256 : block[i];
  }
  return stored === signed;
}

/** A sparse file's layout: where its stored fragments go, its real size, and what is stored. */
interface SparseMap {
  fragments: { offset: number; length: number }[];
  realSize: number;
  /** Bytes the archive holds for it: its fragments, back to back. */
  stored: number;
}

/** Extensions gathered before an entry, applied to it and then forgotten. */
interface Pending {
  pax?: Map<string, string>;
  longName?: Uint8Array;
  longLink?: Uint8Array;
}

/**
 * Reads exact byte counts from a stream of chunks, keeping what it has not
 * handed out. Each method answers at once (no promise) when the chunk in
 * hand holds what it asks: most calls, and a promise per call would be
 * most of a small entry's garbage.
 */
class ByteSource {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #release: boolean;
  readonly #onChunk: ((chunk: Uint8Array) => void) | undefined;
  #chunk: Uint8Array = new Uint8Array(0);
  #offset = 0;

  constructor(
    stream: ReadableStream<Uint8Array>,
    release: boolean,
    onChunk: ((chunk: Uint8Array) => void) | undefined,
  ) {
    this.#reader = stream.getReader();
    this.#release = release;
    this.#onChunk = onChunk;
  }

  /** Whether a next chunk exists (reads one when the current is used up). */
  async #fill(): Promise<boolean> {
    while (this.#offset >= this.#chunk.byteLength) {
      if (this.#release) releaseChunk(this.#chunk);
      const { done, value } = await this.#reader.read();
      if (done) return false;
      this.#onChunk?.(value);
      this.#chunk = value;
      this.#offset = 0;
    }
    return true;
  }

  /** `length` bytes from the chunk in hand, when it holds them. */
  #take(length: number): Uint8Array | undefined {
    if (this.#chunk.byteLength - this.#offset < length) return undefined;
    const bytes = this.#chunk.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return bytes;
  }

  /** Exactly `length` bytes, or fewer when the stream ends first. */
  read(length: number): Uint8Array | Promise<Uint8Array> {
    return this.#take(length) ?? this.#readSlowly(length);
  }

  async #readSlowly(length: number): Promise<Uint8Array> {
    if (!(await this.#fill())) return NOTHING;
    const within = this.#take(length);
    if (within) return within;
    const bytes = new Uint8Array(length);
    let filled = 0;
    while (filled < length && await this.#fill()) {
      const take = Math.min(length - filled, this.#chunk.byteLength - this.#offset);
      bytes.set(this.#chunk.subarray(this.#offset, this.#offset + take), filled);
      this.#offset += take;
      filled += take;
    }
    return filled === length ? bytes : bytes.subarray(0, filled);
  }

  /** Up to `most` bytes as they come (no copy), or an empty array at the end. */
  next(most: number): Uint8Array | Promise<Uint8Array> {
    if (this.#offset < this.#chunk.byteLength) {
      return this.#take(Math.min(most, this.#chunk.byteLength - this.#offset))!;
    }
    return this.#nextSlowly(most);
  }

  async #nextSlowly(most: number): Promise<Uint8Array> {
    if (!(await this.#fill())) return NOTHING;
    return this.#take(Math.min(most, this.#chunk.byteLength - this.#offset))!;
  }

  /** Skips `length` bytes; false when the stream ended first. */
  skip(length: number): boolean | Promise<boolean> {
    if (this.#chunk.byteLength - this.#offset >= length) {
      this.#offset += length;
      return true;
    }
    return this.#skipSlowly(length);
  }

  async #skipSlowly(length: number): Promise<boolean> {
    let left = length;
    while (left > 0) {
      const bytes = await this.next(left);
      if (bytes.byteLength === 0) return false;
      left -= bytes.byteLength;
    }
    return true;
  }

  /** Reads everything that is left, discarding it (so that upstream checks see every byte). */
  async drain(): Promise<void> {
    // Data after the end of the archive is ignored, as Go ignores it.
    this.#offset = this.#chunk.byteLength;
    while (await this.#fill()) this.#offset = this.#chunk.byteLength;
  }

  cancel(reason: unknown): Promise<void> {
    return this.#reader.cancel(reason);
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** PAX records: `LEN key=value\n`, each length counting itself. Anything else is refused. */
function parsePax(bytes: Uint8Array, name: () => string): Map<string, string> {
  const records = new Map<string, string>();
  // GNU sparse 0.0 repeats offset/numbytes keys; keep them in order under numbered keys.
  let sparsePairs = 0;
  let offset = 0;
  while (offset < bytes.byteLength) {
    const space = bytes.indexOf(0x20, offset);
    const lengthText = space < 0 ? "" : latin1.decode(bytes.subarray(offset, space));
    const length = /^[0-9]+$/.test(lengthText) ? Number(lengthText) : NaN;
    if (
      !(length > 0) || offset + length > bytes.byteLength || bytes[offset + length - 1] !== 0x0a
    ) {
      refuse(name(), "its PAX extended header is malformed");
    }
    const record = bytes.subarray(space + 1, offset + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals <= 0) refuse(name(), "its PAX extended header is malformed");
    const key = latin1.decode(record.subarray(0, equals));
    const valueBytes = record.subarray(equals + 1);
    let value: string;
    try {
      // An attribute's value is bytes: kept one character per byte.
      value = key.startsWith("SCHILY.xattr.") ? latin1.decode(valueBytes) : utf8.decode(valueBytes);
    } catch {
      if (key === "path" || key === "linkpath" || key === "GNU.sparse.name") {
        refuse(
          printable(valueBytes),
          `its PAX ${key} is not UTF-8, and denocker cannot create such a name`,
        );
      }
      value = latin1.decode(valueBytes);
    }
    if (key === "GNU.sparse.offset") records.set(`GNU.sparse.offset.${sparsePairs}`, value);
    else if (key === "GNU.sparse.numbytes") {
      records.set(`GNU.sparse.numbytes.${sparsePairs++}`, value);
    } else records.set(key, value);
    offset += length;
  }
  return records;
}

function paxNumber(pax: Map<string, string>, key: string, name: () => string): number | undefined {
  const text = pax.get(key);
  if (text === undefined) return undefined;
  if (!/^-?[0-9]+$/.test(text)) refuse(name(), `its PAX ${key} "${text}" is not a whole number`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) refuse(name(), `its PAX ${key} is too large`);
  return value;
}

/** Seconds either side of 1970 that GNU tar's 64-bit `time_t` holds. */
const TIME_T_LIMIT = 2n ** 63n;
/** Milliseconds either side of 1970 that a `Date` holds. */
const DATE_LIMIT = 8.64e15;

/** A time in milliseconds as a `Date`, clamped to what a `Date` holds (never an invalid one). */
function clampedDate(milliseconds: number): Date {
  return new Date(Math.min(DATE_LIMIT, Math.max(-DATE_LIMIT, milliseconds)));
}

/**
 * A PAX time as GNU tar reads it: the longest leading `-?digits(.digits)?`,
 * whatever follows ignored. Undefined (so the header's time stands) where
 * GNU tar finds no time there, or one beyond `time_t`.
 */
function paxTime(pax: Map<string, string>, key: string): Date | undefined {
  const text = pax.get(key);
  if (text === undefined) return undefined;
  const match = /^(-?)([0-9]+)(?:\.([0-9]*))?/.exec(text);
  if (!match) return undefined;
  const [, sign, whole, fraction = ""] = match;
  const seconds = BigInt(sign + whole);
  if (seconds < -TIME_T_LIMIT || seconds >= TIME_T_LIMIT) return undefined;
  // Whole milliseconds towards zero, as Deno reports a file's time.
  const milliseconds = Number(fraction.slice(0, 3).padEnd(3, "0"));
  return clampedDate(Number(seconds) * 1000 + (sign === "" ? milliseconds : -milliseconds));
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/**
 * The header's mtime in seconds, as GNU tar's `from_header` reads a
 * `time_t`: one leading NUL skipped (left by a writer whose size field
 * overflowed), then blanks; octal digits ending at a NUL or blank (what
 * follows is ignored), or base-256 (0x80 or 0xff first) within `time_t`.
 * Blanks only, garbage, or a base-256 number beyond `time_t` read as -1,
 * the value GNU tar gives an unreadable time (it reports it and goes on).
 */
function headerTime(block: Uint8Array, name: () => string): number {
  const end = 148;
  let i = block[136] === 0 ? 137 : 136;
  while (i < end && isSpace(block[i])) i++;
  if (i === end) return -1;
  const first = block[i];
  if (first >= 0x30 && first <= 0x37) {
    // At most twelve digits: 36 bits, exact in a number.
    let value = 0;
    for (; i < end && block[i] >= 0x30 && block[i] <= 0x37; i++) {
      value = value * 8 + block[i] - 0x30;
    }
    return i === end || block[i] === 0 || isSpace(block[i]) ? value : -1;
  }
  if (first === 0x2b || first === 0x2d) {
    // GNU tar reads these as base-64, a form only its 1.13 test releases of 1999 wrote.
    refuse(name(), "its mtime field is in an obsolete base-64 form");
  }
  if ((first === 0x80 || first === 0xff) && i <= end - 2) {
    // Two's complement below a marker bit (0x40 of the first byte is the sign), accumulated in
    // 64 bits with GNU tar's overflow check, which skips the last byte: it wraps, GNU tar too.
    const negative = first === 0xff;
    const top = negative ? 0xff00000000000000n : 0n;
    let value = BigInt.asUintN(64, BigInt((first & 0x3f) - (negative ? 0x40 : 0)));
    for (i++;;) {
      value = BigInt.asUintN(64, (value << 8n) + BigInt(block[i++]));
      if (i === end) break;
      if ((BigInt.asUintN(64, value << 8n) >> 8n | top) !== value) return -1;
    }
    const magnitude = negative ? BigInt.asUintN(64, -value) : value;
    if (magnitude > (negative ? TIME_T_LIMIT : TIME_T_LIMIT - 1n)) return -1;
    return Number(negative ? -magnitude : magnitude);
  }
  // A NUL here (two leading NULs, or a blank then a NUL) ends an empty number: 0.
  return first === 0 ? 0 : -1;
}

/** Checks a sparse map against the stored size and the real size. */
function checkSparse(map: SparseMap, name: () => string): SparseMap {
  let end = 0;
  let total = 0;
  for (const { offset, length } of map.fragments) {
    if (!(offset >= end && length >= 0 && offset + length <= map.realSize)) {
      refuse(name(), "its sparse map is out of order or beyond the file's size");
    }
    end = offset + length;
    total += length;
  }
  if (total !== map.stored) refuse(name(), "its sparse map does not add up to the data stored");
  return map;
}

/** The sparse map of a PAX 0.0 (`GNU.sparse.offset`/`numbytes`) or 0.1 (`GNU.sparse.map`) entry. */
function paxSparseMap(pax: Map<string, string>, name: () => string): SparseMap["fragments"] {
  const numbers: number[] = [];
  const map = pax.get("GNU.sparse.map");
  if (map !== undefined) {
    for (const part of map === "" ? [] : map.split(",")) {
      if (!/^[0-9]+$/.test(part)) refuse(name(), "its GNU.sparse.map is malformed");
      numbers.push(Number(part));
    }
  } else {
    for (let i = 0; pax.has(`GNU.sparse.offset.${i}`); i++) {
      numbers.push(
        paxNumber(pax, `GNU.sparse.offset.${i}`, name)!,
        paxNumber(pax, `GNU.sparse.numbytes.${i}`, name) ?? NaN,
      );
    }
  }
  if (numbers.length % 2 !== 0 || numbers.some((value) => !Number.isSafeInteger(value))) {
    refuse(name(), "its sparse map is malformed");
  }
  const count = paxNumber(pax, "GNU.sparse.numblocks", name);
  if (count !== undefined && count * 2 !== numbers.length) {
    refuse(name(), "its sparse map has another number of fragments than it says");
  }
  const fragments = [];
  for (let i = 0; i < numbers.length; i += 2) {
    fragments.push({ offset: numbers[i], length: numbers[i + 1] });
  }
  return fragments;
}

/**
 * Whether a header block is the end-of-archive marker (a zero block).
 * Refuses a block cut short or with a checksum that does not match.
 */
function endsArchive(block: Uint8Array, raw: () => string): boolean {
  if (block.byteLength < BLOCK) refuse(raw(), "the archive ends inside its header");
  if (block[0] === 0 && block.every((byte) => byte === 0)) {
    // The end-of-archive marker. A zero block followed by more headers ends the archive too:
    // GNU tar warns "A lone zero block" and stops there (without -i), and bsdtar stops.
    return true;
  }
  if (!checksumMatches(block, raw)) refuse(raw(), "its header checksum does not match");
  return false;
}

/** Whether a type flag marks a record for the next entry (PAX, GNU long name or link). */
function isExtension(flag: string): boolean {
  return flag === "x" || flag === "g" || flag === "L" || flag === "K";
}

/**
 * An extension record's data, its padding read past; refused when larger
 * than `limit` or cut short.
 */
async function readExtension(
  source: ByteSource,
  size: number,
  limit: number,
  raw: () => string,
): Promise<Uint8Array> {
  if (size > limit) refuse(raw(), `its extension record is larger than ${limit} bytes`);
  // The padding is read with the data, in one read: at most a block more than the record.
  const padded = size + padding(size);
  const record = await source.read(padded);
  if (record.byteLength < padded) refuse(raw(), "the archive ends inside an extension record");
  return record.subarray(0, size);
}

/** Skips a GNU volume label: it names the archive, not a file. */
async function skipVolumeLabel(source: ByteSource, size: number, raw: () => string): Promise<void> {
  if (!(await source.skip(size + padding(size)))) {
    refuse(raw(), "the archive ends inside a volume label");
  }
}

/** Keeps an extension record's data for the entry it precedes. */
function addExtension(pending: Pending, flag: string, data: Uint8Array, raw: () => string): void {
  // Global PAX headers are ignored, as Go (and so docker) ignores them.
  if (flag === "x") pending.pax = parsePax(data, raw);
  else if (flag === "L") pending.longName = field(data, 0, data.byteLength).slice();
  else if (flag === "K") pending.longLink = field(data, 0, data.byteLength).slice();
}

/** The header's name field, behind its prefix field in the formats that have one. */
function headerName(block: Uint8Array): Uint8Array {
  const name = field(block, 0, 100);
  const format = formatOf(block);
  if (format !== "ustar" && format !== "star") return name;
  const prefix = field(block, 345, format === "star" ? 131 : 155);
  if (prefix.byteLength === 0) return name;
  const joined = new Uint8Array(prefix.byteLength + 1 + name.byteLength);
  joined.set(prefix);
  joined[prefix.byteLength] = 0x2f;
  joined.set(name, prefix.byteLength + 1);
  return joined;
}

/** The entry type a header's type flag names (refusing a flag tar readers disagree on). */
function entryType(flag: string, name: string): TarEntryType {
  switch (flag) {
    case "\0":
      // Before POSIX, a directory was a regular entry whose name ends in "/" (Go and GNU
      // tar agree: a directory, without data).
      return name.endsWith("/") ? "directory" : "file";
    case "0":
    case "7":
      // Here they disagree (GNU tar makes a directory, Go a file with data): refused.
      if (name.endsWith("/")) {
        refuse(name, 'a regular file whose name ends in "/" (tar readers disagree on it)');
      }
      return "file";
    case "1":
      return "link";
    case "2":
      return "symlink";
    case "3":
      return "character-device";
    case "4":
      return "block-device";
    case "5":
      return "directory";
    case "6":
      return "fifo";
    case "S":
      // An old GNU sparse file: its map is read by `readOldGnuSparse`.
      return "file";
    case "A":
      // A Solaris ACL, named for the entry it precedes. GNU tar extracts it as a regular file
      // ("Unknown file type 'A', extracted as normal file"), which that entry then replaces.
      return "file";
    default:
      return `unsupported type ${JSON.stringify(flag)}`;
  }
}

/** Appends up to `count` old GNU sparse fragments (24 bytes each) found at `offset`. */
function addOldGnuFragments(
  from: Uint8Array,
  offset: number,
  count: number,
  fragments: SparseMap["fragments"],
  name: () => string,
): void {
  for (let i = 0; i < count; i++) {
    const at = offset + i * 24;
    if (from[at] === 0) break;
    fragments.push({
      offset: numeric(from, at, 12, "sparse offset", name),
      length: numeric(from, at + 12, 12, "sparse length", name),
    });
  }
}

/** An old GNU sparse entry's map: four fragments in the header, then 21 per extension block. */
async function readOldGnuSparse(
  source: ByteSource,
  block: Uint8Array,
  stored: number,
  name: () => string,
): Promise<SparseMap> {
  if (formatOf(block) !== "gnu") refuse(name(), "an old GNU sparse entry without GNU magic");
  const fragments: SparseMap["fragments"] = [];
  addOldGnuFragments(block, 386, 4, fragments, name);
  let extended = block[482] !== 0;
  while (extended) {
    const extension = await source.read(BLOCK);
    if (extension.byteLength < BLOCK) {
      refuse(name(), "the archive ends inside its sparse map");
    }
    addOldGnuFragments(extension, 0, 21, fragments, name);
    extended = extension[504] !== 0;
  }
  const realSize = numeric(block, 483, 12, "real size", name);
  return checkSparse({ fragments, realSize, stored }, name);
}

/** Whether an entry's PAX records make it a GNU sparse file. */
function hasPaxSparse(pax: Map<string, string>): boolean {
  return pax.has("GNU.sparse.major") || pax.has("GNU.sparse.size") ||
    pax.has("GNU.sparse.realsize") || pax.has("GNU.sparse.map") ||
    pax.has("GNU.sparse.offset.0");
}

/** A PAX sparse entry's map: in its records (0.0, 0.1) or opening its data (1.0). */
async function readPaxSparse(
  source: ByteSource,
  pax: Map<string, string>,
  size: number,
  name: () => string,
): Promise<SparseMap> {
  const realSize = paxNumber(pax, "GNU.sparse.realsize", name) ??
    paxNumber(pax, "GNU.sparse.size", name);
  if (realSize === undefined) refuse(name(), "its sparse records give no real size");
  if (pax.get("GNU.sparse.major") !== "1") {
    return checkSparse({ fragments: paxSparseMap(pax, name), realSize, stored: size }, name);
  }
  if (pax.get("GNU.sparse.minor") !== "0") refuse(name(), "an unknown GNU sparse format");
  // Sparse 1.0: the map opens the data, as decimal lines, padded to a block.
  const { fragments, mapBytes } = await readSparseMap10(source, size, name);
  return checkSparse({ fragments, realSize, stored: size - mapBytes }, name);
}

/**
 * An entry's header: its mode, owner and time from its PAX records, else
 * from its block, and its link target if it is a link.
 */
function entryHeader(
  block: Uint8Array,
  pax: Map<string, string>,
  name: string,
  type: TarEntryType,
  size: number,
  linkname: string,
  named: () => string,
): TarEntryHeader {
  return {
    name,
    type,
    size,
    mode: paxNumber(pax, "mode", named) ?? numeric(block, 100, 8, "mode", named),
    uid: paxNumber(pax, "uid", named) ?? numeric(block, 108, 8, "uid", named),
    gid: paxNumber(pax, "gid", named) ?? numeric(block, 116, 8, "gid", named),
    mtime: paxTime(pax, "mtime") ?? clampedDate(headerTime(block, named) * 1000),
    ...(type === "link" || type === "symlink" ? { linkname } : {}),
    ...xattrsOf(pax),
  };
}

/** The `SCHILY.xattr.NAME` records, as bytes by name. */
function xattrsOf(pax: Map<string, string>): { xattrs?: Record<string, Uint8Array> } {
  if (pax.size === 0) return {};
  const xattrs: Record<string, Uint8Array> = {};
  for (const [key, value] of pax) {
    if (!key.startsWith("SCHILY.xattr.")) continue;
    xattrs[key.slice(13)] = Uint8Array.from(value, (char) => char.charCodeAt(0));
  }
  return Object.keys(xattrs).length > 0 ? { xattrs } : {};
}

/**
 * Reads a tar archive entry by entry. Each entry's body must be read to its
 * end or cancelled before the next entry is asked for.
 *
 * @param stream The uncompressed archive.
 * @param options Hole accounting, extension size cap.
 * @returns The entries, in order.
 */
export async function* readTar(
  stream: ReadableStream<Uint8Array>,
  options: TarReaderOptions = {},
): AsyncGenerator<TarEntry> {
  const source = new ByteSource(stream, options.releaseChunks ?? false, options.onChunk);
  const maxExtension = options.maxExtensionBytes ?? 8 * 1024 * 1024;
  let pending: Pending = {};
  let index = 0;
  let completed = false;
  try {
    for (;;) {
      // A copy: the header is read again after later reads (sparse maps, messages), which may
      // free the chunk it was in.
      const block = new Uint8Array(await source.read(BLOCK));
      // No end-of-archive marker after a complete entry: the end, as Go reads it.
      if (block.byteLength === 0) break;
      index++;
      const raw = () => printable(field(block, 0, 100)) || `#${index}`;
      if (endsArchive(block, raw)) break;
      const flag = String.fromCharCode(block[156]);
      const storedSize = numeric(block, 124, 12, "size", raw);
      if (storedSize < 0) refuse(raw(), "its size is negative");

      if (isExtension(flag)) {
        const data = await readExtension(source, storedSize, maxExtension, raw);
        addExtension(pending, flag, data, raw);
        continue;
      }
      if (flag === "V") {
        await skipVolumeLabel(source, storedSize, raw);
        pending = {};
        continue;
      }

      const current = pending;
      pending = {};
      const pax = current.pax ?? NO_RECORDS;
      // A GNU long name wins over the PAX records (as in Go) and over the header's field, which
      // is not read then: oldgnu puts the long name's first 100 bytes there, perhaps cutting a
      // character in two.
      let name = current.longName
        ? decodeName(current.longName, "name")
        : pax.get("path") ?? decodeName(headerName(block), "name");
      const linkname = current.longLink
        ? decodeName(current.longLink, "link name")
        : pax.get("linkpath") ?? decodeName(field(block, 157, 100), "link name");
      const named = () => name || raw();

      const size = paxNumber(pax, "size", named) ?? storedSize;
      if (size < 0) refuse(named(), "its size is negative");
      const type = entryType(flag, name);
      let sparse: SparseMap | undefined;
      if (flag === "S") sparse = await readOldGnuSparse(source, block, size, named);
      else if (hasPaxSparse(pax)) {
        if (type !== "file") refuse(named(), "sparse records on an entry that is not a file");
        name = pax.get("GNU.sparse.name") ?? name;
        sparse = await readPaxSparse(source, pax, size, named);
      }

      const reportedSize = sparse ? sparse.realSize : type === "file" ? size : 0;
      const header = entryHeader(block, pax, name, type, reportedSize, linkname, named);
      if (sparse) options.onHoles?.(sparse.realSize - sparse.stored);
      // Links, directories, devices and FIFOs carry no data, whatever their size says (Go).
      const body = sparse
        ? sparseBody(source, sparse, named)
        : entryBody(source, type === "file" || type.startsWith("unsupported") ? size : 0, named);
      // The stream is made only for a consumer that asks for it: most read directly.
      let stream: ReadableStream<Uint8Array> | undefined;
      yield {
        header,
        get body() {
          return stream ??= streamOf(body);
        },
        read: body.read,
      };
      await body.finished();
    }
    if (pending.pax || pending.longName || pending.longLink) {
      refuse(`#${index}`, "the archive ends after an extension header, without its entry");
    }
    await source.drain();
    completed = true;
  } finally {
    // Stopped early (a refusal here, or the consumer's own failure): stop the source too.
    if (!completed) {
      await source.cancel(new DenockerError("Cannot read layer: stopped")).catch(() => {});
    }
  }
}

/**
 * An entry's bytes over the source, and a way to wait until they and the
 * padding after them are consumed or skipped.
 */
interface Body {
  /** The next bytes, an empty array at the end. */
  read(): Uint8Array | Promise<Uint8Array>;
  finished(): Promise<void>;
}

/** The largest piece of a body handed out at once. */
const MOST_AT_ONCE = 1024 * 1024;

/** A body as a stream. */
function streamOf(body: Body): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const bytes = await body.read();
      if (bytes.byteLength === 0) controller.close();
      else controller.enqueue(bytes);
    },
  }, { highWaterMark: 0 });
}

function entryBody(source: ByteSource, size: number, name: () => string): Body {
  let left = size;
  const taken = (bytes: Uint8Array) => {
    if (bytes.byteLength === 0) refuse(name(), "the archive ends inside its data");
    left -= bytes.byteLength;
    return bytes;
  };
  return {
    read() {
      if (left === 0) return NOTHING;
      const bytes = source.next(Math.min(left, MOST_AT_ONCE));
      return bytes instanceof Promise ? bytes.then(taken) : taken(bytes);
    },
    async finished() {
      // What the consumer left unread is skipped, then the padding.
      if (left > 0) {
        if (!(await source.skip(left))) refuse(name(), "the archive ends inside its data");
        left = 0;
      }
      if (!(await source.skip(padding(size)))) refuse(name(), "the archive ends inside its data");
    },
  };
}

/** A sparse file's body: stored fragments at their offsets, zeros in the holes. */
function sparseBody(source: ByteSource, map: SparseMap, name: () => string): Body {
  let storedLeft = map.stored;
  async function* expand(): AsyncGenerator<Uint8Array> {
    let position = 0;
    const zeros = function* (until: number) {
      while (position < until) {
        const length = Math.min(until - position, ZERO_CHUNK.byteLength);
        yield ZERO_CHUNK.slice(0, length);
        position += length;
      }
    };
    for (const { offset, length } of map.fragments) {
      yield* zeros(offset);
      let left = length;
      while (left > 0) {
        // Never past the fragment: the next fragment's bytes follow it in the archive.
        const bytes = await source.next(Math.min(left, MOST_AT_ONCE));
        if (bytes.byteLength === 0) refuse(name(), "the archive ends inside its data");
        left -= bytes.byteLength;
        storedLeft -= bytes.byteLength;
        position += bytes.byteLength;
        yield bytes;
      }
    }
    yield* zeros(map.realSize);
  }
  const chunks = expand();
  return {
    async read() {
      const { done, value } = await chunks.next();
      return done ? NOTHING : value;
    },
    async finished() {
      await chunks.return(undefined);
      if (storedLeft > 0 && !(await source.skip(storedLeft))) {
        refuse(name(), "the archive ends inside its data");
      }
      storedLeft = 0;
      if (!(await source.skip(padding(map.stored)))) {
        refuse(name(), "the archive ends inside its data");
      }
    },
  };
}

/** Reads a sparse 1.0 map from the start of the data: `count\n` then `offset\nlength\n` pairs. */
async function readSparseMap10(
  source: ByteSource,
  size: number,
  name: () => string,
): Promise<{ fragments: SparseMap["fragments"]; mapBytes: number }> {
  let text = "";
  let mapBytes = 0;
  const numbers: number[] = [];
  let expected = -1;
  while (expected < 0 || numbers.length < 1 + expected * 2) {
    if (mapBytes + BLOCK > size) refuse(name(), "its sparse map is longer than its data");
    const block = await source.read(BLOCK);
    if (block.byteLength < BLOCK) refuse(name(), "the archive ends inside its sparse map");
    mapBytes += BLOCK;
    text += latin1.decode(block);
    const lines = text.split("\n");
    text = lines.pop()!;
    for (const line of lines) {
      if (expected >= 0 && numbers.length >= 1 + expected * 2) break;
      if (!/^[0-9]+$/.test(line)) refuse(name(), "its sparse map is malformed");
      numbers.push(Number(line));
      if (numbers.length === 1) {
        expected = numbers[0];
        if (expected > 1_000_000) refuse(name(), "its sparse map has too many fragments");
      }
    }
  }
  const fragments = [];
  for (let i = 1; i < numbers.length; i += 2) {
    fragments.push({ offset: numbers[i], length: numbers[i + 1] });
  }
  return { fragments, mapBytes };
}
