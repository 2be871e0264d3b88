/**
 * `denocker save [-o FILE] [--format docker|oci] IMAGE...`: write stored
 * images as a tar that docker load, skopeo and umoci read.
 *
 * @module
 */

import { atLeastOne, type Command, UsageError } from "../command.ts";
import { writeArchive } from "../files.ts";
import { saveImages } from "../../lib/operations/save.ts";

export const command: Command = {
  usage: "save [-o FILE] [--format docker|oci] IMAGE...",
  summary: "Write stored images as a tar that docker load, skopeo and umoci read",
  options: {
    output: { type: "string", short: "o", value: "FILE", help: "Write the tar to FILE" },
    format: {
      type: "string",
      value: "docker|oci",
      help: "docker-archive (default) or an OCI image layout",
    },
  },
  examples: [
    "denocker save -o alpine.tar alpine:3.20",
    "denocker save --format oci alpine > a.tar",
  ],
  arguments: atLeastOne,
  async run({ values, positionals, root, signal }) {
    const format = values.format ?? "docker";
    if (format !== "docker" && format !== "oci") {
      throw new UsageError(`--format is docker or oci, got "${format}"`, "save");
    }
    await writeArchive(
      values.output,
      "save",
      (output) => saveImages(positionals, output, { root: root(), format, signal }),
    );
    return 0;
  },
};
