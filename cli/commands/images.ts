// deno-lint-ignore-file no-console
/**
 * `denocker images [OPTIONS]`: list stored images.
 *
 * @module
 */

import { type Command, none } from "../command.ts";
import { formatBytes, shortDigest, table, timeAgo } from "../format.ts";
import { listImages } from "../../mod.ts";

export const command: Command = {
  usage: "images [OPTIONS]",
  summary: "List stored images",
  options: {
    json: { type: "boolean", help: "Print a JSON array of every row" },
    quiet: { type: "boolean", short: "q", help: "Print only image IDs" },
    digests: { type: "boolean", help: "Show repository digests" },
  },
  examples: ["denocker images", "denocker images --digests"],
  arguments: none,
  async run({ values, root }) {
    const rows = await listImages({ root: root() });
    if (values.json) {
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
