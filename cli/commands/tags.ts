// deno-lint-ignore-file no-console
/**
 * `denocker tags [OPTIONS] REPOSITORY`: list a repository's tags in its
 * registry, one a line.
 *
 * @module
 */

import { type Command, exactly, INSECURE_REGISTRY, remoteOptions } from "../command.ts";
import { listTags } from "../../lib/operations/remote.ts";

export const command: Command = {
  usage: "tags [OPTIONS] REPOSITORY",
  summary: "List a repository's tags in its registry, one a line",
  options: {
    "insecure-registry": INSECURE_REGISTRY,
  },
  examples: ["denocker tags registry.lan:5000/team/app"],
  arguments: exactly(1, "REPOSITORY"),
  async run({ values, positionals, config, signal }) {
    const tags = await listTags(positionals[0], {
      ...await remoteOptions({ values, config }, "tags"),
      signal,
    });
    if (tags.length > 0) console.log(tags.join("\n"));
    return 0;
  },
};
