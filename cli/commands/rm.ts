// deno-lint-ignore-file no-console
/**
 * `denocker rm [OPTIONS] CONTAINER [CONTAINER...]`: remove containers.
 *
 * @module
 */

import { atLeastOne, type Command } from "../command.ts";
import { removeContainers } from "../../lib/operations/containers.ts";

export const command: Command = {
  usage: "rm [OPTIONS] CONTAINER [CONTAINER...]",
  summary: "Remove containers",
  options: {
    force: { type: "boolean", short: "f", help: "Kill and remove a running container" },
    volumes: { type: "boolean", short: "v", help: "Remove its anonymous volumes too" },
  },
  examples: ["denocker rm brave_turing_1a2b", "denocker rm -f 4f2c1d9e8a7b"],
  arguments: atLeastOne,
  async run({ values, positionals, root }) {
    await removeContainers(positionals, {
      root: root(),
      force: values.force,
      volumes: values.volumes,
    });
    for (const name of positionals) console.log(name);
    return 0;
  },
};
