// deno-lint-ignore-file no-console
/**
 * `denocker ps [OPTIONS]`: list running containers (-a: every container).
 *
 * @module
 */

import { type Command, none, positiveInteger, UsageError } from "../command.ts";
import { since } from "../format.ts";
import { renderRows } from "../template.ts";
import { type ContainerSummary, listContainers } from "../../lib/operations/containers.ts";

/** The fields `--format` reads, docker's names; `{{.ID}}` and the rest. */
function fields(row: ContainerSummary, noTrunc: boolean): Record<string, string> {
  const text = row.command.map(shellQuote).join(" ");
  const command = noTrunc || text.length <= 20 ? text : `${text.slice(0, 19)}…`;
  const created = new Date(row.created);
  return {
    ID: noTrunc ? row.id : row.id.slice(0, 12),
    Image: row.image,
    Command: `"${command}"`,
    CreatedAt: `${created.toISOString().slice(0, 19).replace("T", " ")} +0000 UTC`,
    RunningFor: `${since(row.created)} ago`,
    Ports: "",
    State: row.state,
    Status: status(row),
    Names: row.name,
    Labels: Object.entries(row.labels ?? {}).map(([key, value]) => `${key}=${value}`).join(","),
    Mounts: "",
    Networks: "",
  };
}

/** An argument as a shell would need it, as docker's ps shows commands: `'echo hi'`. */
function shellQuote(arg: string): string {
  if (arg !== "" && /^[A-Za-z0-9_\-./=:,@%+]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'"'"'`)}'`;
}

function status(row: ContainerSummary): string {
  switch (row.state) {
    case "running":
      return `Up ${since(row.started)}`;
    case "created":
      return "Created";
    case "restarting":
      return `Restarting (${row.exitCode}) ${since(row.finished)} ago`;
    default:
      return `Exited (${row.exitCode}) ${since(row.finished)} ago`;
  }
}

const HEADERS: Record<string, string> = {
  ID: "CONTAINER ID",
  Image: "IMAGE",
  Command: "COMMAND",
  CreatedAt: "CREATED AT",
  RunningFor: "CREATED",
  Ports: "PORTS",
  State: "STATE",
  Status: "STATUS",
  Names: "NAMES",
  Labels: "LABELS",
  Mounts: "MOUNTS",
  Networks: "NETWORKS",
};

const DEFAULT_FORMAT =
  "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Names}}";

/**
 * `--filter KEY=VALUE` as docker's ps reads them: `status`, `name` (a part
 * of it), `id` (a prefix), `label` (`KEY` or `KEY=VALUE`); a key given
 * twice matches either value, different keys must all match.
 */
function filterOf(entries: string[]): (row: ContainerSummary) => boolean {
  const wanted = new Map<string, string[]>();
  for (const entry of entries) {
    const at = entry.indexOf("=");
    const key = entry.slice(0, at);
    if (at < 0 || !["status", "name", "id", "label"].includes(key)) {
      throw new UsageError(
        `--filter takes status=, name=, id= or label=, got "${entry}"`,
        "ps",
      );
    }
    wanted.set(key, [...(wanted.get(key) ?? []), entry.slice(at + 1)]);
  }
  const matches: Record<string, (row: ContainerSummary, value: string) => boolean> = {
    status: (row, value) => row.state === value,
    name: (row, value) => row.name.includes(value),
    id: (row, value) => row.id.startsWith(value),
    label: (row, value) => {
      const [key, expected] = value.split(/=(.*)/s);
      const labels = row.labels ?? {};
      return Object.hasOwn(labels, key) && (expected === undefined || labels[key] === expected);
    },
  };
  return (row) =>
    [...wanted].every(([key, values]) => values.some((value) => matches[key](row, value)));
}

export const command: Command = {
  usage: "ps [OPTIONS]",
  summary: "List running containers (-a: every container)",
  options: {
    all: { type: "boolean", short: "a", help: "Show exited containers too" },
    quiet: { type: "boolean", short: "q", help: "Print only container IDs" },
    filter: {
      type: "string",
      short: "f",
      multiple: true,
      value: "KEY=VALUE",
      help: "Only those with status=, name=, id= or label=; repeatable",
    },
    format: {
      type: "string",
      value: "TEMPLATE",
      help: "Go template ('{{.Names}} {{.Status}}'), 'table …', or json",
    },
    "no-trunc": { type: "boolean", help: "Do not shorten IDs and commands" },
    last: {
      type: "string",
      short: "n",
      value: "N",
      help: "The last N created containers, in every state",
    },
    latest: { type: "boolean", short: "l", help: "The latest created container" },
  },
  examples: [
    "denocker ps",
    "denocker ps -a -q",
    "denocker ps -a --filter status=exited --format '{{.Names}}: {{.Status}}'",
  ],
  arguments: none,
  async run({ values, root }) {
    const last = values.latest
      ? 1
      : values.last === undefined
      ? undefined
      : positiveInteger(values.last, "--last", "ps");
    const keep = filterOf(values.filter ?? []);
    let rows = (await listContainers({ root: root(), all: values.all || last !== undefined }))
      .filter(keep);
    if (last !== undefined) rows = rows.slice(0, last);
    const noTrunc = values["no-trunc"] ?? false;
    if (values.quiet) {
      for (const row of rows) console.log(noTrunc ? row.id : row.id.slice(0, 12));
      return 0;
    }
    const lines = renderRows(
      values.format ?? DEFAULT_FORMAT,
      rows.map((row) => fields(row, noTrunc)),
      HEADERS,
    );
    if (lines.length > 0) console.log(lines.join("\n"));
    return 0;
  },
};
