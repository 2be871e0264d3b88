/**
 * A container's logged output (`logs`): read from its json-file log and
 * the rotated files, and with `follow`, the lines written after, across
 * rotations, until the container ends.
 *
 * @module
 */

import type { StoreOptions } from "../store/store.ts";
import { type LogEntry, logFiles, parseLogLines } from "../runtime/container_log.ts";
import type { ContainerStore } from "../runtime/containers.ts";
import { findContainer } from "./_container_lookup.ts";

/** Options for {@link containerLogs}. */
export interface LogsOptions extends StoreOptions {
  /** Only the last this many lines (all by default). */
  tail?: number;
  /** Only lines written at or after this time. */
  since?: Date;
  /** Only lines written before this time. */
  until?: Date;
  /** Go on with the lines written after, until the container ends (`-f`). */
  follow?: boolean;
  /** Stops following. */
  signal?: AbortSignal;
}

/** How often a followed log is looked at. */
const FOLLOW_POLL_MS = 50;

/** A log file read from where it was left: whole lines only. */
class LogCursor {
  readonly file: Deno.FsFile;
  readonly ino: number | null;
  #rest = "";
  readonly #decoder = new TextDecoder();

  private constructor(file: Deno.FsFile, ino: number | null) {
    this.file = file;
    this.ino = ino;
  }

  static async open(path: string): Promise<LogCursor | undefined> {
    const file = await Deno.open(path).catch(() => undefined);
    if (!file) return undefined;
    return new LogCursor(file, (await file.stat()).ino);
  }

  /** The whole lines written since the last read. */
  async read(): Promise<LogEntry[]> {
    const buffer = new Uint8Array(64 * 1024);
    let text = this.#rest;
    for (;;) {
      const n = await this.file.read(buffer);
      if (n === null || n === 0) break;
      text += this.#decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    const end = text.lastIndexOf("\n");
    this.#rest = text.slice(end + 1);
    return end < 0 ? [] : parseLogLines(text.slice(0, end));
  }

  close(): void {
    this.file.close();
  }
}

/**
 * The rotated files newer than the one with inode `ino`, oldest first:
 * `log.1` is the newest, so those before `ino`'s number.
 */
async function rotatedAfter(path: string, ino: number | null): Promise<string[]> {
  const newer: string[] = [];
  for (let n = 1;; n++) {
    const info = await Deno.stat(`${path}.${n}`).catch(() => undefined);
    if (!info || info.ino === ino) return newer;
    newer.unshift(`${path}.${n}`);
  }
}

/** Whether a container has ended for good (or is gone). */
async function ended(containers: ContainerStore, id: string): Promise<boolean> {
  const record = await containers.read(id);
  return record === undefined || record.state === "exited";
}

/**
 * Follows a log from the current file's cursor: new lines as they come,
 * the rest of a file that was rotated away, until the container ends.
 */
async function* follow(
  containers: ContainerStore,
  id: string,
  path: string,
  first: LogCursor | undefined,
  signal?: AbortSignal,
): AsyncGenerator<LogEntry> {
  let cursor = first;
  try {
    for (;;) {
      const over = await ended(containers, id);
      if (cursor) yield* await cursor.read();
      const info = await Deno.stat(path).catch(() => undefined);
      if (info && info.ino !== cursor?.ino) {
        // Rotated (or made): the old file's rest was read above, then each file rotated after
        // it (when it rotated more than once since the last look), then the new one.
        if (cursor) {
          yield* await cursor.read();
          for (const file of await rotatedAfter(path, cursor.ino)) {
            yield* parseLogLines(await Deno.readTextFile(file).catch(() => ""));
          }
        }
        cursor?.close();
        cursor = await LogCursor.open(path);
        continue;
      }
      if (over || signal?.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
    }
  } finally {
    cursor?.close();
  }
}

/**
 * A container's logged output, oldest first: every line its command wrote
 * to stdout and stderr (each entry says which), from docker's json-file log
 * and its rotated files; with `follow`, then each line as it is written,
 * until the container ends.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @example
 * ```ts
 * import { containerLogs } from "@denocker/denocker";
 * for await (const entry of containerLogs("web", { root: "/var/lib/denocker", tail: 10 })) {
 *   console.log(entry.stream, entry.log);
 * }
 * ```
 *
 * @param name A container's name or ID (prefix).
 * @param options The store; `tail`, `since`, `until`, `follow`.
 * @returns The entries.
 */
export async function* containerLogs(
  name: string,
  options: LogsOptions = {},
): AsyncGenerator<LogEntry> {
  const { containers, record } = await findContainer(name, options);
  const path = containers.logPath(record.id);
  const since = options.since?.getTime() ?? -Infinity;
  const until = options.until?.getTime() ?? Infinity;
  const wanted = (entry: LogEntry) => {
    const time = Date.parse(entry.time);
    return time >= since && time < until;
  };
  const files = await logFiles(path);
  // The current file is read through the cursor that follow goes on with.
  const current = files.at(-1) === path ? await LogCursor.open(path) : undefined;
  const kept: LogEntry[] = [];
  const take = function* (entries: LogEntry[]): Generator<LogEntry> {
    for (const entry of entries.filter(wanted)) {
      if (options.tail === undefined) yield entry;
      else {
        kept.push(entry);
        if (kept.length > options.tail) kept.shift();
      }
    }
  };
  try {
    for (const file of files.filter((file) => file !== path)) {
      yield* take(parseLogLines(await Deno.readTextFile(file).catch(() => "")));
    }
    if (current) yield* take(await current.read());
    yield* kept;
  } catch (error) {
    current?.close();
    throw error;
  }
  if (!options.follow) {
    current?.close();
    return;
  }
  for await (const entry of follow(containers, record.id, path, current, options.signal)) {
    if (Date.parse(entry.time) >= until) break;
    if (wanted(entry)) yield entry;
  }
}
