// deno-lint-ignore-file no-console
/**
 * `denocker history [--no-trunc] [-q] [-H=false] IMAGE`: an image's
 * history, newest first, in docker's columns.
 *
 * @module
 */

import { type Command, exactly, UsageError } from "../command.ts";
import { formatBytes, shortDigest, table, timeAgo } from "../format.ts";
import { imageHistory } from "../../lib/operations/history.ts";

export const command: Command = {
  usage: "history [OPTIONS] IMAGE",
  summary: "Show an image's history: what made each layer, and its size",
  options: {
    "no-trunc": { type: "boolean", help: "Whole IDs and commands" },
    quiet: { type: "boolean", short: "q", help: "Only IDs" },
    human: {
      type: "string",
      short: "H",
      value: "true|false",
      help: "Sizes and times for people (default true); false: bytes and RFC 3339",
    },
  },
  examples: ["denocker history busybox", "denocker history --no-trunc site:1"],
  arguments: exactly(1, "IMAGE"),
  async run({ values, positionals, root }) {
    const human = values.human ?? "true";
    if (human !== "true" && human !== "false") {
      throw new UsageError(`invalid --human value "${human}": true or false`, "history");
    }
    const entries = await imageHistory(positionals[0], { root: root() });
    const full = values["no-trunc"] === true;
    const id = (entry: { id?: string }) =>
      entry.id === undefined ? "<missing>" : full ? entry.id : shortDigest(entry.id);
    if (values.quiet) {
      for (const entry of entries) console.log(id(entry));
      return 0;
    }
    const createdBy = (text: string) => {
      const line = text.replace(/[\r\n\t]+/g, " ");
      return full || line.length <= 45 ? line : `${line.slice(0, 44)}…`;
    };
    console.log(table([
      ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
      ...entries.map((entry) => [
        id(entry),
        human === "true" ? timeAgo(entry.created) : entry.created ?? "",
        createdBy(entry.createdBy),
        human === "true" ? formatBytes(entry.size) : String(entry.size),
        entry.comment,
      ]),
    ]));
    return 0;
  },
};
