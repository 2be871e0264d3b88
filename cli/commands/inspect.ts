// deno-lint-ignore-file no-console
/**
 * `denocker inspect IMAGE|ID [IMAGE|ID...]`: show stored images as JSON, in
 * docker's shape.
 *
 * @module
 */

import { atLeastOne, type Command, oneLine } from "../command.ts";
import { inspectImage } from "../../mod.ts";

export const command: Command = {
  usage: "inspect IMAGE|ID [IMAGE|ID...]",
  summary: "Show stored images as JSON, in docker's shape",
  options: {},
  examples: ["denocker inspect alpine:3.20", "denocker inspect 1d34ffeaf190"],
  arguments: atLeastOne,
  async run({ positionals, root }) {
    const storeRoot = root();
    const found = [];
    const failures = [];
    for (const name of positionals) {
      try {
        found.push(await inspectImage(name, { root: storeRoot }));
      } catch (error) {
        failures.push(error);
      }
    }
    // As docker does: what was found is printed, then an error for each name that was not.
    console.log(JSON.stringify(found, null, 2));
    for (const error of failures) console.error(`denocker: ${oneLine(error)}`);
    return failures.length > 0 ? 1 : 0;
  },
};
