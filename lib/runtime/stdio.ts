/**
 * A container's standard streams: never this process's own descriptors
 * (a file could be reopened for writing through `/proc/self/fd`, a
 * terminal driven with `TIOCSTI`), but pipes that denocker relays, as
 * docker does. A terminal on stdin is not read (docker without `-i`): the
 * container's stdin is then empty, and denocker run in the background is
 * not stopped for reading it.
 *
 * @module
 */

import type { LogStream } from "./container_log.ts";

/** Where a container's output is copied besides this process's streams: its log, its clients. */
export interface OutputSink {
  /** Takes a chunk of one stream. */
  write(stream: LogStream, chunk: Uint8Array): Promise<void>;
}

/**
 * Where a container's streams go: relayed to this process's, nowhere, or
 * (a detached container's) only to its log, with an empty stdin; or
 * relayed with this process's stdin read even when it is a terminal (`-i`);
 * or only the output relayed (stdin is the caller's to use: `exec -t`).
 */
export type StdioMode = "inherit" | "null" | "log" | "interactive" | "output";

/** The `Deno.Command` stdio options for a mode. */
export function stdioOptions(mode: StdioMode): {
  stdin: "piped" | "null";
  stdout: "piped" | "null";
  stderr: "piped" | "null";
} {
  if (mode === "null") return { stdin: "null", stdout: "null", stderr: "null" };
  if (mode === "log") return { stdin: "null", stdout: "piped", stderr: "piped" };
  if (mode === "interactive") return { stdin: "piped", stdout: "piped", stderr: "piped" };
  return { stdin: Deno.stdin.isTerminal() ? "null" : "piped", stdout: "piped", stderr: "piped" };
}

/**
 * Copies a stream to a file, and to the container's log; when the file
 * fails (a closed pipe), the stream is cancelled.
 */
async function copy(
  from: ReadableStream<Uint8Array>,
  to: { write(p: Uint8Array): Promise<number> } | undefined,
  log: ((chunk: Uint8Array) => Promise<void>) | undefined,
): Promise<void> {
  try {
    for await (const chunk of from) {
      await log?.(chunk);
      for (let offset = 0; to && offset < chunk.byteLength;) {
        offset += await to.write(chunk.subarray(offset));
      }
    }
  } catch {
    // The reader stopped (e.g. `| head`): the container's next write fails, as it would directly.
    await from.cancel().catch(() => {});
  }
}

/** Feeds this process's stdin to the container until either ends. */
async function feed(to: WritableStream<Uint8Array>): Promise<void> {
  const writer = to.getWriter();
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) break;
      await writer.write(buffer.slice(0, n));
    }
    await writer.close();
  } catch {
    // The container is gone or closed its stdin.
  }
}

/**
 * Starts relaying a child's piped streams to this process's.
 *
 * @param child A process spawned with {@link stdioOptions}.
 * @param mode The same mode.
 * @param log The container's log (and its clients), which get its stdout and stderr too.
 * @returns Settles once the child's stdout and stderr are drained.
 */
export function relayStdio(
  child: Deno.ChildProcess,
  mode: StdioMode,
  log?: OutputSink,
): Promise<void> {
  if (mode === "null") return Promise.resolve();
  if (mode === "interactive" || mode === "inherit" && !Deno.stdin.isTerminal()) feed(child.stdin);
  const relayed = mode === "inherit" || mode === "interactive" || mode === "output";
  return Promise.all([
    copy(
      child.stdout,
      relayed ? Deno.stdout : undefined,
      log && ((chunk) => log.write("stdout", chunk)),
    ),
    copy(
      child.stderr,
      relayed ? Deno.stderr : undefined,
      log && ((chunk) => log.write("stderr", chunk)),
    ),
  ]).then(() => {});
}
