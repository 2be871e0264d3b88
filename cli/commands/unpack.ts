// deno-lint-ignore-file no-console
/**
 * `denocker unpack IMAGE|ID DIR`: write an image's flattened root filesystem
 * to DIR (new, or empty).
 *
 * @module
 */

import { type Command, waitingFor } from "../command.ts";
import { unpackImage } from "../../lib/operations/unpack.ts";

export const command: Command = {
  usage: "unpack IMAGE|ID DIR",
  summary: "Write an image's flattened root filesystem to DIR (new, or empty)",
  options: {},
  examples: ["denocker unpack alpine:3.20 ./alpine-rootfs"],
  arguments: (positionals) =>
    positionals.length !== 2
      ? "requires exactly 2 arguments (IMAGE and DIR)"
      : positionals[1] === ""
      ? "needs a DIR, got an empty string"
      : undefined,
  async run({ positionals, root, signal }) {
    const storeRoot = root();
    const id = await unpackImage(positionals[0], positionals[1], {
      root: storeRoot,
      signal,
      onProgress: (event) => event.type === "waiting-for-lock" && waitingFor(event),
    });
    console.log(id);
    return 0;
  },
};
