// deno-lint-ignore-file no-console
/**
 * `denocker check [--repair]`: check the store; --repair removes what is
 * broken so a pull restores it.
 *
 * @module
 */

import { type Command, none, waitingFor } from "../command.ts";
import { checkStore } from "../../lib/operations/check.ts";

export const command: Command = {
  usage: "check [--repair]",
  summary: "Check the store; --repair removes what is broken so a pull restores it",
  options: {
    repair: {
      type: "boolean",
      help: "Remove what is broken (images that lost a part are un-recorded)",
    },
  },
  examples: ["denocker check", "denocker check --repair"],
  arguments: none,
  async run({ values, root }) {
    const storeRoot = root();
    const problems = await checkStore({
      root: storeRoot,
      repair: values.repair,
      onProgress: waitingFor,
    });
    for (const problem of problems) {
      console.log(`${problem.repaired ? "repaired: " : ""}${problem.message}`);
    }
    if (problems.length === 0) console.log(`${storeRoot}: no problem found`);
    return problems.some((problem) => !problem.repaired) ? 1 : 0;
  },
};
