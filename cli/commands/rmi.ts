// deno-lint-ignore-file no-console
/**
 * `denocker rmi [OPTIONS] IMAGE|ID [IMAGE|ID...]`: remove tags; images left
 * without one are deleted.
 *
 * @module
 */

import { atLeastOne, type Command, waitingFor } from "../command.ts";
import { removeImages } from "../../lib/operations/remove.ts";

export const command: Command = {
  usage: "rmi [OPTIONS] IMAGE|ID [IMAGE|ID...]",
  summary: "Remove tags; images left without one are deleted",
  options: {
    force: {
      type: "boolean",
      short: "f",
      help: "Remove an image by ID even when several repositories tag it, or a container uses it",
    },
  },
  examples: ["denocker rmi alpine:3.20", "denocker rmi --force 1d34ffeaf190"],
  arguments: atLeastOne,
  async run({ values, positionals, root }) {
    const storeRoot = root();
    const result = await removeImages(positionals, {
      root: storeRoot,
      force: values.force,
      onProgress: waitingFor,
    });
    for (const reference of result.untagged) console.log(`Untagged: ${reference}`);
    for (const id of result.deleted) console.log(`Deleted: ${id}`);
    return 0;
  },
};
