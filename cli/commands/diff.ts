// deno-lint-ignore-file no-console
/**
 * `denocker diff CONTAINER`: what a container changed in its root, as
 * docker prints it (`A /new`, `C /etc`, `D /removed`).
 *
 * @module
 */

import { type Command, exactly } from "../command.ts";
import { diffContainer } from "../../lib/operations/commit.ts";

export const command: Command = {
  usage: "diff CONTAINER",
  summary: "List what a container added (A), changed (C) and deleted (D) in its root",
  options: {},
  examples: ["denocker diff web"],
  arguments: exactly(1, "CONTAINER"),
  async run({ positionals, root }) {
    for (const change of await diffContainer(positionals[0], { root: root() })) {
      console.log(`${change.kind} ${change.path}`);
    }
    return 0;
  },
};
