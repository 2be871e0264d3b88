/**
 * The terminal side of an attached container (`run -it`, `attach`,
 * `start -ai`): raw mode on this terminal while attached, its window size
 * passed on (and again on SIGWINCH), input sent, output written; the
 * detach keys (docker's ctrl-p ctrl-q, or `--detach-keys`) let go of the
 * container, which runs on.
 *
 * @module
 */

import type { AttachedContainer } from "../lib/operations/attach.ts";
import { type OptionSpec, UsageError } from "./command.ts";

/** `--detach-keys`, as run, exec, start and attach take it. */
export const DETACH_KEYS: OptionSpec = {
  type: "string",
  value: "KEYS",
  help: "The keys that detach (default ctrl-p,ctrl-q)",
};

/** docker's default detach keys, ctrl-p ctrl-q. */
export const DEFAULT_DETACH_KEYS = [0x10, 0x11];

/**
 * `--detach-keys` as docker reads it: a comma-separated list of `ctrl-X`
 * (X a letter, `@`, `[`, `\\`, `]`, `^` or `_`) or single characters.
 *
 * @param text What the user typed.
 * @returns The bytes.
 * @throws {UsageError} When an entry is neither.
 */
export function parseDetachKeys(text: string): number[] {
  return text.split(",").map((key) => {
    const ctrl = /^ctrl-([a-z@[\\\]^_])$/i.exec(key);
    if (ctrl) return ctrl[1].toUpperCase().charCodeAt(0) & 0x1f;
    if (key.length === 1) return key.charCodeAt(0);
    throw new UsageError(`--detach-keys: invalid key "${key}": use ctrl-X or a character`);
  });
}

/** A command's `--detach-keys`, when given. */
export function detachKeysOf(values: Record<string, unknown>): number[] | undefined {
  const text = values["detach-keys"];
  return typeof text === "string" ? parseDetachKeys(text) : undefined;
}

/** Writes all of `bytes` to a stream of this process. */
async function writeAll(to: typeof Deno.stdout, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength;) {
    offset += await to.write(bytes.subarray(offset));
  }
}

/**
 * Copies this process's stdin to the container until it ends or the detach
 * keys come (in a row); resolves with whether they came. Bytes that start
 * the sequence are held back until the next one says whether it goes on.
 */
async function sendInput(
  session: AttachedContainer,
  tty: boolean,
  keys: number[],
): Promise<boolean> {
  const buffer = new Uint8Array(16 * 1024);
  let matched = 0;
  for (;;) {
    const n = await Deno.stdin.read(buffer).catch(() => null);
    if (n === null) {
      if (matched > 0) await session.write(new Uint8Array(keys.slice(0, matched)));
      if (!tty) await session.endInput();
      return false;
    }
    const out: number[] = [];
    for (const byte of buffer.subarray(0, n)) {
      if (byte === keys[matched]) {
        matched++;
        if (matched === keys.length) {
          if (out.length > 0) await session.write(new Uint8Array(out));
          return true;
        }
        continue;
      }
      out.push(...keys.slice(0, matched));
      matched = byte === keys[0] ? 1 : 0;
      if (matched === 0) out.push(byte);
    }
    if (out.length > 0) await session.write(new Uint8Array(out));
  }
}

/**
 * Runs an attached session to its end.
 *
 * @param session The attached container.
 * @param options `input`: send this process's stdin (`-i`).
 * @returns The container's exit status; 0 when detached.
 */
export async function attachTerminal(
  session: AttachedContainer,
  options: { input: boolean; detachKeys?: number[] },
): Promise<number> {
  const terminal = session.tty && Deno.stdin.isTerminal();
  const raw = terminal && options.input;
  const resize = () => {
    try {
      const { rows, columns } = Deno.consoleSize();
      session.resize(rows, columns);
    } catch {
      // Not a terminal.
    }
  };
  if (session.tty) resize();
  if (raw) Deno.stdin.setRaw(true);
  if (session.tty) Deno.addSignalListener("SIGWINCH", resize);
  try {
    const printed = (async () => {
      for await (const { stream, data } of session.output) {
        await writeAll(stream === "stderr" ? Deno.stderr : Deno.stdout, data);
      }
    })();
    const detached = options.input && session.interactive
      ? sendInput(session, session.tty, options.detachKeys ?? DEFAULT_DETACH_KEYS)
      : new Promise<boolean>(() => {});
    const first = await Promise.race([
      printed.then(() => "ended" as const),
      detached.then((keys) => keys ? "detached" as const : "input ended" as const),
    ]);
    if (first === "detached") {
      session.close();
      await Deno.stderr.write(new TextEncoder().encode("read escape sequence\n"));
      return 0;
    }
    await printed;
    return (await session.exited) ?? 0;
  } finally {
    if (session.tty) Deno.removeSignalListener("SIGWINCH", resize);
    if (raw) Deno.stdin.setRaw(false);
  }
}
