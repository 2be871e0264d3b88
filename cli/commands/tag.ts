/**
 * `denocker tag SOURCE TARGET`: give a stored image another name (TARGET's tag
 * is latest by default).
 *
 * @module
 */

import { type Command, exactly, UsageError } from "../command.ts";
import { InvalidReferenceError } from "../../lib/errors.ts";
import { tagImage } from "../../lib/operations/tag.ts";

export const command: Command = {
  usage: "tag SOURCE TARGET",
  summary: "Give a stored image another name (TARGET's tag is latest by default)",
  options: {},
  examples: ["denocker tag alpine:3.20 registry.lan:5000/base/alpine:3.20"],
  arguments: exactly(2, "SOURCE and TARGET"),
  async run({ positionals, root }) {
    try {
      await tagImage(positionals[0], positionals[1], { root: root() });
    } catch (error) {
      // A malformed TARGET is how the command was called; a SOURCE not stored is not.
      if (error instanceof InvalidReferenceError) {
        throw new UsageError(error.message, "tag");
      }
      throw error;
    }
    return 0;
  },
};
