/**
 * `denocker rename CONTAINER NEW_NAME`: give a container another name.
 *
 * @module
 */

import { type Command, exactly } from "../command.ts";
import { renameContainer } from "../../lib/operations/lifecycle.ts";

export const command: Command = {
  usage: "rename CONTAINER NEW_NAME",
  summary: "Give a container another name",
  options: {},
  examples: ["denocker rename brave_curie_1a2b web"],
  arguments: exactly(2, "CONTAINER NEW_NAME"),
  async run({ positionals, root }) {
    await renameContainer(positionals[0], positionals[1], { root: root() });
    return 0;
  },
};
