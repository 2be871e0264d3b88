/**
 * A container's log in docker's `json-file` format: one JSON object a line,
 * `{"log":"…\n","stream":"stdout","time":"…"}` (RFC 3339 with nanoseconds),
 * in `containers/<id>/<id>-json.log`. A line longer than 16 KiB is written
 * in pieces without their newline, as docker does. The file is rotated
 * once it passes `maxSize`: `.1` is the newest rotated file, and at most
 * `maxFiles` files are kept (10 MiB × 3 by default).
 *
 * @module
 */

import { lstatIfExists, removeIfExists } from "../io/fs.ts";

/** Which stream a line came from. */
export type LogStream = "stdout" | "stderr";

/** One line of a container's output, as logged. */
export interface LogEntry {
  /** The text, with its newline (none for a piece of a longer line, or the last). */
  log: string;
  /** Where it came from. */
  stream: LogStream;
  /** When it was written (RFC 3339, nanoseconds). */
  time: string;
}

/** Rotation of a log. */
export interface LogOptions {
  /** Bytes after which the file is rotated (10 MiB by default). */
  maxSize?: number;
  /** Files kept, the current one included (3 by default). */
  maxFiles?: number;
}

/** Default {@link LogOptions.maxSize}. */
export const DEFAULT_LOG_MAX_SIZE = 10 * 1024 * 1024;
/** Default {@link LogOptions.maxFiles}. */
export const DEFAULT_LOG_MAX_FILES = 3;
/** The longest piece of a line written as one entry. */
const MAX_LINE_BYTES = 16 * 1024;

/** Now in RFC 3339 with the nanoseconds Go prints (trailing zeros dropped). */
export function logTime(): string {
  const now = performance.timeOrigin + performance.now();
  const whole = Math.floor(now);
  const nanos = Math.round((now - whole) * 1e6);
  const iso = new Date(whole).toISOString(); // …T10:40:39.123Z
  const fraction = `${iso.slice(20, 23)}${String(nanos).padStart(6, "0")}`.replace(/0+$/, "");
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ""}Z`;
}

/** Writes a container's output into its log, a line an entry. */
export class ContainerLogWriter {
  readonly #path: string;
  readonly #maxSize: number;
  readonly #maxFiles: number;
  #file: Deno.FsFile;
  #size: number;
  readonly #pending: Record<LogStream, Uint8Array[]> = { stdout: [], stderr: [] };
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder();

  private constructor(path: string, file: Deno.FsFile, size: number, options: LogOptions) {
    this.#path = path;
    this.#file = file;
    this.#size = size;
    this.#maxSize = options.maxSize ?? DEFAULT_LOG_MAX_SIZE;
    this.#maxFiles = Math.max(1, options.maxFiles ?? DEFAULT_LOG_MAX_FILES);
  }

  /**
   * Opens a log for appending (a restarted container goes on in the same log).
   *
   * @param path The log file.
   * @param options Rotation.
   * @returns The writer.
   */
  static async open(path: string, options: LogOptions = {}): Promise<ContainerLogWriter> {
    const file = await Deno.open(path, { append: true, create: true, mode: 0o600 });
    return new ContainerLogWriter(path, file, (await file.stat()).size, options);
  }

  /**
   * Logs a chunk of a stream: each complete line is an entry; the rest
   * waits for its newline (or is written in 16 KiB pieces).
   *
   * @param stream Where it came from.
   * @param chunk The bytes.
   */
  async write(stream: LogStream, chunk: Uint8Array): Promise<void> {
    const pending = this.#pending[stream];
    let start = 0;
    for (let newline = chunk.indexOf(10); newline >= 0; newline = chunk.indexOf(10, start)) {
      pending.push(chunk.subarray(start, newline + 1));
      await this.#pieces(stream, concat(pending.splice(0)), true);
      start = newline + 1;
    }
    if (start === chunk.byteLength) return;
    pending.push(chunk.slice(start));
    if (pending.reduce((total, part) => total + part.byteLength, 0) < MAX_LINE_BYTES) return;
    const rest = await this.#pieces(stream, concat(pending.splice(0)), false);
    if (rest.byteLength > 0) pending.push(rest);
  }

  /**
   * Logs `bytes` in pieces of at most 16 KiB; unless `all`, a last piece
   * shorter than that is handed back to wait for its newline.
   */
  async #pieces(stream: LogStream, bytes: Uint8Array, all: boolean): Promise<Uint8Array> {
    let offset = 0;
    while (bytes.byteLength - offset > (all ? 0 : MAX_LINE_BYTES - 1)) {
      const end = Math.min(offset + MAX_LINE_BYTES, bytes.byteLength);
      await this.#entry(stream, bytes.subarray(offset, end));
      offset = end;
    }
    return bytes.slice(offset);
  }

  /** Writes what waits for a newline, and closes the file. */
  async close(): Promise<void> {
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = this.#pending[stream].splice(0);
      if (rest.length > 0) await this.#entry(stream, concat(rest));
    }
    this.#file.close();
  }

  async #entry(stream: LogStream, bytes: Uint8Array): Promise<void> {
    const entry: LogEntry = { log: this.#decoder.decode(bytes), stream, time: logTime() };
    const line = this.#encoder.encode(`${JSON.stringify(entry)}\n`);
    if (this.#size > 0 && this.#size + line.byteLength > this.#maxSize) await this.#rotate();
    for (let written = 0; written < line.byteLength;) {
      written += await this.#file.write(line.subarray(written));
    }
    this.#size += line.byteLength;
  }

  /** `log` becomes `log.1`, `log.1` becomes `log.2`, …; the oldest past `maxFiles` goes. */
  async #rotate(): Promise<void> {
    this.#file.close();
    const kept = this.#maxFiles - 1;
    if (kept === 0) await removeIfExists(this.#path);
    else {
      await removeIfExists(`${this.#path}.${kept}`);
      for (let n = kept - 1; n >= 1; n--) {
        if (await lstatIfExists(`${this.#path}.${n}`)) {
          await Deno.rename(`${this.#path}.${n}`, `${this.#path}.${n + 1}`);
        }
      }
      await Deno.rename(this.#path, `${this.#path}.1`);
    }
    this.#file = await Deno.open(this.#path, { append: true, create: true, mode: 0o600 });
    this.#size = 0;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((total, part) => total + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/**
 * The files of a log, oldest first: `log.N`, …, `log.1`, `log`.
 *
 * @param path The log file.
 * @returns The paths that exist.
 */
export async function logFiles(path: string): Promise<string[]> {
  const rotated: string[] = [];
  for (let n = 1; await lstatIfExists(`${path}.${n}`); n++) rotated.unshift(`${path}.${n}`);
  return (await lstatIfExists(path)) ? [...rotated, path] : rotated;
}

/**
 * Parses a log file's lines; a line that is not an entry (cut by a crash) is skipped.
 *
 * @param text The file's text.
 * @returns Its entries.
 */
export function parseLogLines(text: string): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      const entry = JSON.parse(line);
      if (typeof entry.log === "string" && typeof entry.time === "string") entries.push(entry);
    } catch {
      // A half-written last line.
    }
  }
  return entries;
}
