// deno-lint-ignore-file no-console
/**
 * `denocker ps [OPTIONS]`: list running containers (-a: every container).
 *
 * @module
 */

import { type Command, none } from "../command.ts";
import { since, table } from "../format.ts";
import { listContainers } from "../../mod.ts";

export const command: Command = {
  usage: "ps [OPTIONS]",
  summary: "List running containers (-a: every container)",
  options: {
    all: { type: "boolean", short: "a", help: "Show exited containers too" },
    quiet: { type: "boolean", short: "q", help: "Print only container IDs" },
  },
  examples: ["denocker ps", "denocker ps -a -q"],
  arguments: none,
  async run({ values, root }) {
    const rows = await listContainers({ root: root(), all: values.all });
    if (values.quiet) {
      for (const row of rows) console.log(row.id.slice(0, 12));
      return 0;
    }
    const quote = (command: string[]) => {
      const text = command.join(" ");
      return `"${text.length > 20 ? `${text.slice(0, 19)}…` : text}"`;
    };
    const status = (row: (typeof rows)[number]) =>
      row.state === "running"
        ? `Up ${since(row.started)}`
        : row.state === "created"
        ? "Created"
        : `Exited (${row.exitCode}) ${since(row.finished)} ago`;
    console.log(table([
      ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"],
      ...rows.map((row) => [
        row.id.slice(0, 12),
        row.image,
        quote(row.command),
        `${since(row.created)} ago`,
        status(row),
        row.name,
      ]),
    ]));
    return 0;
  },
};
