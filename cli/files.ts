/**
 * Where archives come from and go to on the command line: a file or the
 * standard streams, each failure said in words (no OS error codes), and a
 * file written whole or not at all.
 *
 * @module
 */

import { basename, dirname, join } from "../lib/io/path.ts";
import { DenockerError } from "../lib/errors.ts";

/**
 * Ends the command with `code` and prints nothing: a reader that went away
 * (`denocker save IMG | head`) is not a failure worth a message.
 */
export class QuietExit extends Error {
  /** The exit code. */
  readonly code: number;

  /** @param code The exit code. */
  constructor(code: number) {
    super(`exit ${code}`);
    this.code = code;
  }
}

/** The exit code of a process killed by SIGPIPE, what docker's `save | head` gives. */
const BROKEN_PIPE = 141;

function inWords(error: unknown, path: string): string {
  if (error instanceof Deno.errors.NotFound) {
    return `the directory ${dirname(path)} does not exist`;
  }
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  if (error instanceof Deno.errors.NotADirectory) {
    return `a part of ${dirname(path)} is not a directory`;
  }
  if (error instanceof Deno.errors.NotCapable) {
    const directory = dirname(path);
    return `it is written beside itself and renamed into place, which needs --allow-read and --allow-write of ${directory}`;
  }
  return (error as Error).message;
}

async function statIfExists(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    // Not there, or not readable under Deno's permissions (writing it needs no read access).
    if (
      error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory ||
      error instanceof Deno.errors.NotCapable
    ) {
      return undefined;
    }
    throw error;
  }
}

/**
 * Runs `write` on FILE, or on stdout when no FILE is given. A regular FILE
 * is written as docker writes `save -o`: to a temporary file beside it,
 * synced and renamed over it, so that a failure leaves what was there; a
 * device or pipe (`-o /dev/stdout`) is written in place. stdout may not be a
 * terminal (an archive would flood it), and a reader that closes it early
 * ends the command quietly.
 *
 * @param path FILE, or undefined for stdout.
 * @param verb The command, for messages: `save`, `export`.
 * @param write Writes the archive to the stream it is given.
 */
export async function writeArchive(
  path: string | undefined,
  verb: string,
  write: (output: WritableStream<Uint8Array>) => Promise<unknown>,
): Promise<void> {
  if (path === undefined) {
    if (Deno.stdout.isTerminal()) {
      throw new DenockerError(
        "cowardly refusing to save to a terminal. Use the -o flag or redirect",
      );
    }
    try {
      await write(Deno.stdout.writable);
    } catch (error) {
      if (error instanceof Deno.errors.BrokenPipe) throw new QuietExit(BROKEN_PIPE);
      throw error;
    }
    return;
  }
  const failed = (error: unknown): never => {
    throw new DenockerError(`Cannot ${verb} to ${path}: ${inWords(error, path)}`, {
      cause: error,
    });
  };
  const existing = await statIfExists(path).catch(failed);
  if (existing?.isDirectory) failed(new Deno.errors.IsADirectory());
  if (existing && !existing.isFile) {
    const device = await Deno.open(path, { write: true }).catch(failed);
    await write(device.writable);
    return;
  }
  const temporary = join(dirname(path), `.${basename(path)}.denocker-${crypto.randomUUID()}`);
  const file = await Deno.open(temporary, { write: true, createNew: true }).catch(failed);
  let open = true;
  const close = () => {
    if (open) file.close();
    open = false;
  };
  const output = new WritableStream<Uint8Array>({
    write(chunk) {
      // Synchronous: a write into the page cache is shorter than an async call's round trip.
      for (let written = 0; written < chunk.byteLength;) {
        written += file.writeSync(chunk.subarray(written));
      }
    },
    async close() {
      await file.syncData();
      close();
    },
    abort: close,
  });
  try {
    await write(output);
    if (open) {
      await file.syncData();
      close();
    }
    await Deno.rename(temporary, path).catch(failed);
  } catch (error) {
    close();
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/** An archive's bytes, and what to call it in messages. */
export interface ArchiveInput {
  /** The bytes. */
  stream: ReadableStream<Uint8Array>;
  /** `stdin`, or the file's path. */
  source: string;
}

/**
 * FILE's bytes, or stdin's when no FILE is given; stdin may not be a
 * terminal (nobody types an archive, and the command would wait forever).
 *
 * @param path FILE, or undefined for stdin.
 * @param verb The command, for messages: `load`.
 * @returns The stream and its name.
 */
export async function readArchive(path: string | undefined, verb: string): Promise<ArchiveInput> {
  if (path === undefined) {
    if (Deno.stdin.isTerminal()) {
      throw new DenockerError(
        `requested ${verb} from stdin, but stdin is a terminal; use -i FILE or a pipe`,
      );
    }
    return { stream: Deno.stdin.readable, source: "stdin" };
  }
  const failed = (error: unknown): never => {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.IsADirectory
      ? "it is a directory, not an archive"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (error as Error).message;
    throw new DenockerError(`Cannot ${verb} ${path}: ${reason}`, { cause: error });
  };
  const info = await Deno.stat(path).catch(failed);
  if (info.isDirectory) failed(new Deno.errors.IsADirectory());
  const file = await Deno.open(path, { read: true }).catch(failed);
  return { stream: file.readable, source: path };
}
