/**
 * `denocker logs [OPTIONS] CONTAINER`: what a container wrote, from its
 * json-file log; stdout to stdout, stderr to stderr.
 *
 * @module
 */

import { type Command, exactly, positiveInteger } from "../command.ts";
import { containerLogs } from "../../mod.ts";

export const command: Command = {
  usage: "logs [OPTIONS] CONTAINER",
  summary: "Print a container's output (stdout and stderr kept apart)",
  options: {
    tail: { type: "string", short: "n", value: "N", help: 'Only the last N lines ("all")' },
    timestamps: { type: "boolean", short: "t", help: "Show each line's time" },
  },
  examples: ["denocker logs web", "denocker logs --tail 5 -t web"],
  arguments: exactly(1, "CONTAINER"),
  async run({ values, positionals, root }) {
    const tail = values.tail === undefined || values.tail === "all"
      ? undefined
      : values.tail === "0"
      ? 0
      : positiveInteger(values.tail, "--tail", "logs");
    const encoder = new TextEncoder();
    for await (const entry of containerLogs(positionals[0], { root: root(), tail })) {
      const text = values.timestamps ? `${entry.time} ${entry.log}` : entry.log;
      const out = entry.stream === "stderr" ? Deno.stderr : Deno.stdout;
      const bytes = encoder.encode(text);
      for (let written = 0; written < bytes.byteLength;) {
        written += await out.write(bytes.subarray(written));
      }
    }
    return 0;
  },
};
