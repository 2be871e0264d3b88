/**
 * The terminal side of an attached container (`run -it`, `attach`,
 * `start -ai`): raw mode on this terminal while attached, its window size
 * passed on (and again on SIGWINCH), input sent, output written; docker's
 * detach keys, ctrl-p ctrl-q, let go of the container, which runs on.
 *
 * @module
 */

import type { AttachedContainer } from "../mod.ts";

const CTRL_P = 0x10;
const CTRL_Q = 0x11;

/** Writes all of `bytes` to a stream of this process. */
async function writeAll(to: typeof Deno.stdout, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength;) {
    offset += await to.write(bytes.subarray(offset));
  }
}

/**
 * Copies this process's stdin to the container until it ends or the detach
 * keys come; resolves with whether they came.
 */
async function sendInput(session: AttachedContainer, tty: boolean): Promise<boolean> {
  const buffer = new Uint8Array(16 * 1024);
  // A ctrl-p held back until the next byte says whether it starts the detach keys.
  let held = false;
  for (;;) {
    const n = await Deno.stdin.read(buffer).catch(() => null);
    if (n === null) {
      if (held) await session.write(new Uint8Array([CTRL_P]));
      if (!tty) await session.endInput();
      return false;
    }
    const out: number[] = [];
    for (const byte of buffer.subarray(0, n)) {
      if (held) {
        held = false;
        if (byte === CTRL_Q) {
          if (out.length > 0) await session.write(new Uint8Array(out));
          return true;
        }
        out.push(CTRL_P);
      }
      if (byte === CTRL_P) held = true;
      else out.push(byte);
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
  options: { input: boolean },
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
      ? sendInput(session, session.tty)
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
