// deno-lint-ignore-file no-console
/**
 * `denocker prune`: delete layers, blobs, temp files and partial downloads no
 * image uses.
 *
 * @module
 */

import { type Command, none, waitingFor } from "../command.ts";
import { pruneImages } from "../../lib/operations/remove.ts";

export const command: Command = {
  usage: "prune",
  summary: "Delete layers, blobs, temp files and partial downloads no image uses",
  options: {},
  examples: ["denocker prune"],
  arguments: none,
  async run({ root }) {
    const storeRoot = root();
    const result = await pruneImages({ root: storeRoot, onProgress: waitingFor });
    for (const diffId of result.deletedLayers) console.log(`Deleted layer: ${diffId}`);
    for (const digest of result.deletedBlobs) console.log(`Deleted blob: ${digest}`);
    console.log(
      `Removed ${result.deletedLayers.length} layers, ${result.deletedBlobs.length} blobs, ${result.deletedTemp} temp entries`,
    );
    return 0;
  },
};
