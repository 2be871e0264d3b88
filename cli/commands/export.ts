/**
 * `denocker export [-o FILE] IMAGE`: write an image's flattened root
 * filesystem as one tar (stdout by default).
 *
 * @module
 */

import { type Command, exactly, waitingFor } from "../command.ts";
import { writeArchive } from "../files.ts";
import { exportImage } from "../../lib/operations/export.ts";

export const command: Command = {
  usage: "export [-o FILE] IMAGE",
  summary: "Write an image's flattened root filesystem as one tar (stdout by default)",
  options: {
    output: { type: "string", short: "o", value: "FILE", help: "Write the tar to FILE" },
  },
  examples: [
    "denocker export -o alpine-rootfs.tar alpine:3.20",
    "denocker export alpine | tar -t",
  ],
  arguments: exactly(1, "IMAGE"),
  async run({ values, positionals, root, signal }) {
    const storeRoot = root();
    await writeArchive(
      values.output,
      "export",
      (output) =>
        exportImage(positionals[0], output, { root: storeRoot, signal, onProgress: waitingFor }),
    );
    return 0;
  },
};
