// deno-lint-ignore-file no-console
/**
 * `denocker images [OPTIONS]`: list stored images.
 *
 * @module
 */

import { type Command, UsageError } from "../command.ts";
import { formatBytes, shortDigest, table, timeAgo } from "../format.ts";
import { renderRows } from "../template.ts";
import { familiarName, parseReference } from "../../lib/model/reference.ts";
import { type ImageSummary, listImages } from "../../lib/operations/inspect.ts";

const HEADERS: Record<string, string> = {
  Repository: "REPOSITORY",
  Tag: "TAG",
  ID: "IMAGE ID",
  Digest: "DIGEST",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  Size: "SIZE",
};

/** The fields `--format` reads, docker's names. */
function fields(row: ImageSummary): Record<string, string> {
  return {
    Repository: row.Repository,
    Tag: row.Tag,
    ID: shortDigest(row.ID),
    Digest: row.Digest ?? "<none>",
    CreatedSince: timeAgo(row.Created),
    CreatedAt: row.Created
      ? `${new Date(row.Created).toISOString().slice(0, 19).replace("T", " ")} +0000 UTC`
      : "",
    Size: formatBytes(row.Size),
  };
}

/**
 * `images [REPOSITORY[:TAG]]` and `--filter dangling=true|false`,
 * `reference=REPOSITORY[:TAG]` (a `*` matches within a name part).
 */
function filterOf(
  repository: string | undefined,
  entries: string[],
): (row: ImageSummary) => boolean {
  const references = repository === undefined ? [] : [repository];
  let dangling: boolean | undefined;
  for (const entry of entries) {
    const [key, value = ""] = entry.split(/=(.*)/s);
    if (key === "dangling" && (value === "true" || value === "false")) {
      dangling = value === "true";
    } else if (key === "reference" && value !== "") {
      references.push(value);
    } else {
      throw new UsageError(
        `--filter takes dangling=true|false or reference=NAME[:TAG], got "${entry}"`,
        "images",
      );
    }
  }
  const patterns = references.map((reference) => {
    const [name, tag] = reference.includes("*") ? reference.split(":") : (() => {
      try {
        const parsed = parseReference(reference);
        return [familiarName(parsed), reference.includes(":") ? parsed.tag : undefined];
      } catch {
        return reference.split(":");
      }
    })();
    const glob = (text: string) =>
      new RegExp(`^${text.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", "[^/]*")}$`);
    return { name: glob(name), tag: tag === undefined ? undefined : glob(tag) };
  });
  return (row) => {
    const isDangling = row.Repository === "<none>" && row.Tag === "<none>";
    if (dangling !== undefined && isDangling !== dangling) return false;
    return patterns.every((pattern) =>
      pattern.name.test(row.Repository) && (!pattern.tag || pattern.tag.test(row.Tag))
    );
  };
}

export const command: Command = {
  usage: "images [OPTIONS] [REPOSITORY[:TAG]]",
  summary: "List stored images",
  options: {
    json: { type: "boolean", help: "Print a JSON array of every row" },
    quiet: { type: "boolean", short: "q", help: "Print only image IDs" },
    digests: { type: "boolean", help: "Show repository digests" },
    filter: {
      type: "string",
      short: "f",
      multiple: true,
      value: "KEY=VALUE",
      help: "Only those with dangling=true|false or reference=NAME[:TAG]; repeatable",
    },
    format: {
      type: "string",
      value: "TEMPLATE",
      help: "Go template ('{{.Repository}}:{{.Tag}}'), 'table …', or json",
    },
  },
  examples: [
    "denocker images",
    "denocker images busybox",
    "denocker images --filter dangling=true --format '{{.ID}}'",
  ],
  arguments: (positionals) =>
    positionals.length <= 1 ? undefined : "accepts at most 1 argument (REPOSITORY[:TAG])",
  async run({ values, positionals, root }) {
    const rows = (await listImages({ root: root() })).filter(
      filterOf(positionals[0], values.filter ?? []),
    );
    if (values.format !== undefined) {
      const lines = renderRows(values.format, rows.map(fields), HEADERS);
      if (lines.length > 0) console.log(lines.join("\n"));
    } else if (values.json) {
      // The rows have docker's names, as `docker images --format json` prints them.
      console.log(JSON.stringify(rows, null, 2));
    } else if (values.quiet) {
      const ids = [...new Set(rows.map((row) => shortDigest(row.ID)))];
      if (ids.length > 0) console.log(ids.join("\n"));
    } else {
      const header = [
        "REPOSITORY",
        "TAG",
        ...(values.digests ? ["DIGEST"] : []),
        "IMAGE ID",
        "CREATED",
        "SIZE",
      ];
      const body = rows.map((row) => [
        row.Repository,
        row.Tag,
        ...(values.digests ? [row.Digest ?? "<none>"] : []),
        shortDigest(row.ID),
        timeAgo(row.Created),
        formatBytes(row.Size),
      ]);
      console.log(table([header, ...body]));
    }
    return 0;
  },
};
