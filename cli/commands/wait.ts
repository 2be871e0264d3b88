// deno-lint-ignore-file no-console
/**
 * `denocker wait CONTAINER`: block until a container ends, then print its
 * exit status.
 *
 * @module
 */

import { type Command, exactly } from "../command.ts";
import { waitContainer } from "../../lib/operations/lifecycle.ts";

export const command: Command = {
  usage: "wait CONTAINER",
  summary: "Block until a container ends, then print its exit status",
  options: {},
  examples: ["denocker wait web"],
  arguments: exactly(1, "CONTAINER"),
  async run({ positionals, root, signal }) {
    console.log(await waitContainer(positionals[0], { root: root(), signal }));
    return 0;
  },
};
