/**
 * `denocker logs [OPTIONS] CONTAINER`: what a container wrote, from its
 * json-file log; stdout to stdout, stderr to stderr.
 *
 * @module
 */

import { type Command, exactly, positiveInteger } from "../command.ts";
import { timeOption } from "../options.ts";
import { containerLogs } from "../../lib/operations/logs.ts";
import type { LogEntry } from "../../lib/runtime/container_log.ts";

/** Writes log entries as they come: stdout's to stdout, stderr's to stderr. */
export async function writeEntries(
  entries: AsyncIterable<LogEntry>,
  timestamps = false,
): Promise<void> {
  const encoder = new TextEncoder();
  for await (const entry of entries) {
    const text = timestamps ? `${entry.time} ${entry.log}` : entry.log;
    const out = entry.stream === "stderr" ? Deno.stderr : Deno.stdout;
    const bytes = encoder.encode(text);
    for (let written = 0; written < bytes.byteLength;) {
      written += await out.write(bytes.subarray(written));
    }
  }
}

export const command: Command = {
  usage: "logs [OPTIONS] CONTAINER",
  summary: "Print a container's output (stdout and stderr kept apart)",
  options: {
    follow: {
      type: "boolean",
      short: "f",
      help: "Go on printing what it writes, until it ends",
    },
    tail: { type: "string", short: "n", value: "N", help: 'Only the last N lines ("all")' },
    since: {
      type: "string",
      value: "TIME",
      help: "Only lines since a time (2026-12-01T10:00:00Z, a Unix time) or for a while (10m)",
    },
    until: {
      type: "string",
      value: "TIME",
      help: "Only lines before a time, or before a while ago (1h30m)",
    },
    timestamps: { type: "boolean", short: "t", help: "Show each line's time" },
  },
  examples: [
    "denocker logs web",
    "denocker logs -f --tail 5 -t web",
    "denocker logs --since 10m web",
  ],
  arguments: exactly(1, "CONTAINER"),
  async run({ values, positionals, root, signal }) {
    const tail = values.tail === undefined || values.tail === "all"
      ? undefined
      : values.tail === "0"
      ? 0
      : positiveInteger(values.tail, "--tail", "logs");
    await writeEntries(
      containerLogs(positionals[0], {
        root: root(),
        tail,
        follow: values.follow,
        since: values.since === undefined ? undefined : timeOption(values.since, "--since", "logs"),
        until: values.until === undefined ? undefined : timeOption(values.until, "--until", "logs"),
        signal,
      }),
      values.timestamps,
    );
    return 0;
  },
};
