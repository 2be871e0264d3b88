/**
 * Attaching to a detached container: its monitor listens on a unix socket
 * (`/run/denocker/<id>.sock`, root's alone) and relays, to every client
 * attached, what the container writes, and from them its input and window
 * size. Frames on the socket are a type byte, a 4-byte big-endian length
 * and the payload.
 *
 * @module
 */

import { join } from "../io/path.ts";

/** What a frame carries. */
export const FRAME = {
  /** Monitor to client: the container's stdout (its terminal's output, with `-t`). */
  stdout: 1,
  /** Monitor to client: its stderr. */
  stderr: 2,
  /** Monitor to client: it ended, with this status (decimal text). */
  exit: 3,
  /** Client to monitor: input. */
  stdin: 10,
  /** Client to monitor: the window size, rows then columns (two 16-bit numbers). */
  resize: 11,
  /** Client to monitor: no more input (the container's stdin is closed; not with `-t`). */
  stdinEnd: 12,
} as const;

/** Where the sockets are: a unix socket's path must stay under 108 bytes. */
export const ATTACH_DIRECTORY = "/run/denocker";

/** A container's attach socket. */
export function attachSocketPath(id: string): string {
  return join(ATTACH_DIRECTORY, `${id}.sock`);
}

/** A frame's bytes. */
export function encodeFrame(type: number, payload: Uint8Array = new Uint8Array()): Uint8Array {
  const frame = new Uint8Array(5 + payload.byteLength);
  frame[0] = type;
  new DataView(frame.buffer).setUint32(1, payload.byteLength);
  frame.set(payload, 5);
  return frame;
}

/** The frames that come on a connection, until it closes. */
export async function* readFrames(
  connection: Deno.Conn,
): AsyncGenerator<{ type: number; payload: Uint8Array }> {
  let pending = new Uint8Array();
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    let n: number | null;
    try {
      n = await connection.read(buffer);
    } catch {
      return;
    }
    if (n === null) return;
    const joined = new Uint8Array(pending.byteLength + n);
    joined.set(pending);
    joined.set(buffer.subarray(0, n), pending.byteLength);
    let offset = 0;
    while (joined.byteLength - offset >= 5) {
      const length = new DataView(joined.buffer, offset + 1, 4).getUint32(0);
      if (joined.byteLength - offset - 5 < length) break;
      yield { type: joined[offset], payload: joined.slice(offset + 5, offset + 5 + length) };
      offset += 5 + length;
    }
    pending = joined.slice(offset);
  }
}

/** Writes all of `bytes` to a connection; false when it is closed. */
async function send(connection: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    for (let offset = 0; offset < bytes.byteLength;) {
      offset += await connection.write(bytes.subarray(offset));
    }
    return true;
  } catch {
    return false;
  }
}

/** What a monitor does with its clients' frames. */
export interface AttachHandlers {
  /** Input for the container. */
  input(bytes: Uint8Array): void;
  /** A new window size. */
  resize(rows: number, columns: number): void;
  /** The client's input ended. */
  inputEnd(): void;
}

/** A monitor's side: the socket, its clients, and what it sends them. */
export class AttachServer {
  readonly path: string;
  readonly #listener: Deno.Listener;
  readonly #clients = new Set<Deno.Conn>();
  /** What to do with the clients' frames (a restarted container's new terminal takes them). */
  handlers: AttachHandlers;
  /** Output kept for the first client (`run -it`: what came before it attached). */
  #held: Uint8Array[] | undefined;
  #heldBytes = 0;
  /** Settles once a first client got what was held (`hold`). */
  readonly #attached: Promise<void>;
  #settleAttached: () => void = () => {};
  /** The last window size a client gave (a restarted container's new terminal gets it). */
  size?: [number, number];

  private constructor(
    path: string,
    listener: Deno.Listener,
    handlers: AttachHandlers,
    hold: boolean,
  ) {
    this.path = path;
    this.#listener = listener;
    this.handlers = handlers;
    this.#held = hold ? [] : undefined;
    this.#attached = new Promise((resolve) => this.#settleAttached = resolve);
    this.#accept();
  }

  /**
   * Listens on a container's socket.
   *
   * @param path The socket's path (an old one there is replaced).
   * @param handlers What to do with the clients' frames.
   * @param hold Keep the output (up to 1 MiB) until a first client comes.
   */
  static async listen(
    path: string,
    handlers: AttachHandlers,
    hold: boolean,
  ): Promise<AttachServer> {
    await Deno.mkdir(ATTACH_DIRECTORY, { recursive: true, mode: 0o700 });
    await Deno.chmod(ATTACH_DIRECTORY, 0o700);
    await Deno.remove(path).catch(() => {});
    const listener = Deno.listen({ transport: "unix", path });
    await Deno.chmod(path, 0o600);
    return new AttachServer(path, listener, handlers, hold);
  }

  async #accept(): Promise<void> {
    try {
      for await (const connection of this.#listener) {
        this.#clients.add(connection);
        const held = this.#held;
        this.#held = undefined;
        for (const frame of held ?? []) await send(connection, frame);
        this.#settleAttached();
        this.#serve(connection);
      }
    } catch {
      // Closed.
    }
  }

  async #serve(connection: Deno.Conn): Promise<void> {
    for await (const { type, payload } of readFrames(connection)) {
      if (type === FRAME.stdin) this.handlers.input(payload);
      else if (type === FRAME.stdinEnd) this.handlers.inputEnd();
      else if (type === FRAME.resize && payload.byteLength === 4) {
        const view = new DataView(payload.buffer, payload.byteOffset, 4);
        this.size = [view.getUint16(0), view.getUint16(2)];
        this.handlers.resize(...this.size);
      }
    }
    this.#clients.delete(connection);
    try {
      connection.close();
    } catch {
      // Closed already.
    }
  }

  /** Sends output to every client (or keeps it for the first). */
  async output(stream: "stdout" | "stderr", bytes: Uint8Array): Promise<void> {
    const frame = encodeFrame(stream === "stdout" ? FRAME.stdout : FRAME.stderr, bytes);
    if (this.#held) {
      if (this.#heldBytes + frame.byteLength <= 1024 * 1024) {
        this.#held.push(frame);
        this.#heldBytes += frame.byteLength;
      }
      return;
    }
    await Promise.all([...this.#clients].map((client) => send(client, frame)));
  }

  /**
   * Tells every client the container ended, and closes. Output held for a
   * first client (one that ended before it came: `run -it --rm … echo`)
   * waits for it, up to 10 s (its caller may be gone).
   */
  async close(status?: number): Promise<void> {
    if (this.#held) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#attached,
        new Promise((resolve) => timer = setTimeout(resolve, 10_000)),
      ]);
      clearTimeout(timer);
    }
    if (status !== undefined) {
      const frame = encodeFrame(FRAME.exit, new TextEncoder().encode(String(status)));
      await Promise.all([...this.#clients].map((client) => send(client, frame)));
    }
    try {
      this.#listener.close();
    } catch {
      // Closed already.
    }
    for (const client of this.#clients) {
      try {
        client.close();
      } catch {
        // Closed already.
      }
    }
    await Deno.remove(this.path).catch(() => {});
  }
}

/** What a client gets of an attached container. */
export interface AttachSession {
  /** Its output, as it comes. */
  output: AsyncIterable<{ stream: "stdout" | "stderr"; data: Uint8Array }>;
  /** Its exit status once it ended; undefined when the connection ended first (detached). */
  exited: Promise<number | undefined>;
  /** Input for it. */
  write(bytes: Uint8Array): Promise<void>;
  /** The window size. */
  resize(rows: number, columns: number): Promise<void>;
  /** No more input. */
  endInput(): Promise<void>;
  /** Lets go of it (it runs on). */
  close(): void;
}

/** An attached container, and whether it has a terminal. */
export interface AttachedContainer extends AttachSession {
  /** It has a terminal (`-t`): raw input, one output stream. */
  tty: boolean;
  /** It takes input (`-i` or `-t`). */
  interactive: boolean;
}

/**
 * Attaches to a container's monitor.
 *
 * @param path The container's socket.
 * @returns The session.
 */
export async function connectAttach(path: string): Promise<AttachSession> {
  const connection = await Deno.connect({ transport: "unix", path });
  let settle: (status: number | undefined) => void = () => {};
  const exited = new Promise<number | undefined>((resolve) => settle = resolve);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      connection.close();
    } catch {
      // Closed already.
    }
  };
  async function* output(): AsyncGenerator<{ stream: "stdout" | "stderr"; data: Uint8Array }> {
    try {
      for await (const { type, payload } of readFrames(connection)) {
        if (type === FRAME.stdout) yield { stream: "stdout", data: payload };
        else if (type === FRAME.stderr) yield { stream: "stderr", data: payload };
        else if (type === FRAME.exit) {
          settle(Number(new TextDecoder().decode(payload)));
          return;
        }
      }
    } finally {
      settle(undefined);
      close();
    }
  }
  return {
    output: output(),
    exited,
    write: async (bytes) => {
      if (!closed) await send(connection, encodeFrame(FRAME.stdin, bytes));
    },
    resize: async (rows, columns) => {
      const payload = new Uint8Array(4);
      new DataView(payload.buffer).setUint16(0, rows);
      new DataView(payload.buffer).setUint16(2, columns);
      if (!closed) await send(connection, encodeFrame(FRAME.resize, payload));
    },
    endInput: async () => {
      if (!closed) await send(connection, encodeFrame(FRAME.stdinEnd));
    },
    close,
  };
}

/**
 * Attaches to a container just handed to its monitor with its output held
 * (`run -it`, `start -a`): its socket is there until this first client has
 * come, however soon the container ends.
 *
 * @param id The container's ID.
 * @param tty It has a terminal.
 * @param interactive It takes input.
 * @returns The session.
 */
export async function attachHeld(
  id: string,
  tty: boolean,
  interactive: boolean,
): Promise<AttachedContainer> {
  return { ...await connectAttach(attachSocketPath(id)), tty, interactive: tty || interactive };
}
