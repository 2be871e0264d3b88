// deno-lint-ignore-file no-console
/**
 * `denocker top CONTAINER [ps OPTIONS]`: the processes of a running
 * container, from the host's `ps`.
 *
 * @module
 */

import type { Command } from "../command.ts";
import { table } from "../format.ts";
import { containerProcesses } from "../../lib/operations/lifecycle.ts";

export const command: Command = {
  usage: "top CONTAINER [ps OPTIONS]",
  summary: "Show the processes of a running container (the host's ps, -ef by default)",
  options: {},
  examples: ["denocker top web", "denocker top web -o pid,user,args"],
  arguments: (positionals) => positionals.length > 0 ? undefined : "requires at least 1 argument",
  optionsEndAfter: 1,
  async run({ positionals, root }) {
    const { titles, processes } = await containerProcesses(positionals[0], {
      root: root(),
      psOptions: positionals.length > 1 ? positionals.slice(1) : undefined,
    });
    console.log(table([titles, ...processes]));
    return 0;
  },
};
