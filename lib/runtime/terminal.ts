/**
 * The host side of a container's pseudo-terminal (`-t`): the init opens it
 * in the container's devpts and writes its master's number on stdout
 * ({@link TERMINAL_MARK}); the host takes a copy of that descriptor
 * (pidfd_getfd) and answers on the init's stdin. Then the master is read
 * and written here, on threads of Deno's pool, and its window size set.
 *
 * @module
 */

import { DenockerError } from "../errors.ts";
import { closeDescriptor, readAsync, setWindowSize, takeDescriptor, writeAsync } from "./_libc.ts";
import { TERMINAL_MARK } from "./terminal_mark.ts";
import type { AttachSession } from "./attach.ts";

/** A container's terminal, from the host: what its programs write, and their input. */
export class PseudoTerminal {
  readonly #master: number;
  #closed = false;
  /** Writes go one at a time: a container that stops reading holds one pool thread, not many. */
  #writing: Promise<void> = Promise.resolve();

  /** Wraps a master descriptor (this process's own). */
  constructor(master: number) {
    this.#master = master;
  }

  /** What the container's programs wrote since; null once they all closed the terminal. */
  async read(): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    const buffer = new Uint8Array(16 * 1024);
    const n = await readAsync(this.#master, buffer);
    return n === 0 ? null : buffer.subarray(0, n);
  }

  /** Types `bytes` into the terminal (after what was typed before). */
  write(bytes: Uint8Array): Promise<void> {
    const copy = new Uint8Array(bytes);
    const next = this.#writing.then(() => {
      if (!this.#closed) return writeAsync(this.#master, copy);
    });
    this.#writing = next.catch(() => {});
    return next;
  }

  /** Sets its window size (its foreground processes get SIGWINCH). */
  resize(rows: number, columns: number): void {
    if (this.#closed || rows <= 0 || columns <= 0) return;
    try {
      setWindowSize(this.#master, rows, columns);
    } catch {
      // Gone meanwhile.
    }
  }

  /** Closes this side. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeDescriptor(this.#master);
  }
}

/**
 * Takes over the terminal an init hands over: reads its stdout up to the
 * mark's line, copies the descriptor named there out of process `pid`, and
 * answers on its stdin.
 *
 * @param pid The init's host PID.
 * @param stdout Its stdout (read up to the line only).
 * @param stdin Its stdin.
 * @returns The terminal; undefined when the init ended first (its stderr says why).
 */
export async function receiveTerminal(
  pid: number,
  stdout: ReadableStream<Uint8Array>,
  stdin: WritableStream<Uint8Array>,
): Promise<PseudoTerminal | undefined> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  const match = new RegExp(`^${TERMINAL_MARK} ([0-9]+)\\n`).exec(text);
  if (!match) throw new DenockerError(`Cannot take the container's terminal: "${text.trim()}"`);
  const terminal = new PseudoTerminal(takeDescriptor(pid, Number(match[1])));
  const writer = stdin.getWriter();
  await writer.write(new Uint8Array([1]));
  writer.releaseLock();
  return terminal;
}

/**
 * A terminal as an attach session (`exec -it`): its output until it is
 * closed, input typed into it; closing it hangs the terminal up.
 *
 * @param terminal The terminal.
 * @param exited The status of the process it belongs to.
 * @returns The session.
 */
export function terminalSession(
  terminal: PseudoTerminal,
  exited: Promise<number>,
): AttachSession & { tty: true; interactive: true } {
  async function* output(): AsyncGenerator<{ stream: "stdout" | "stderr"; data: Uint8Array }> {
    try {
      for (;;) {
        const data = await terminal.read().catch(() => null);
        if (data === null) return;
        yield { stream: "stdout", data };
      }
    } finally {
      terminal.close();
    }
  }
  return {
    output: output(),
    exited,
    write: (bytes) => terminal.write(bytes).catch(() => {}),
    resize: (rows, columns) => Promise.resolve(terminal.resize(rows, columns)),
    endInput: () => Promise.resolve(),
    close: () => terminal.close(),
    tty: true,
    interactive: true,
  };
}
