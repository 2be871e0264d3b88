// deno-lint-ignore-file no-console
/**
 * `denocker load [-i FILE]`: load images from a docker-archive or OCI archive
 * (stdin by default).
 *
 * @module
 */

import { type Command, none } from "../command.ts";
import { readArchive } from "../files.ts";
import { loadImages } from "../../lib/operations/load.ts";

export const command: Command = {
  usage: "load [-i FILE]",
  summary: "Load images from a docker-archive or OCI archive (stdin by default)",
  options: {
    input: { type: "string", short: "i", value: "FILE", help: "Read the archive from FILE" },
  },
  examples: ["denocker load -i alpine.tar", "docker save alpine | denocker load"],
  arguments: none,
  async run({ values, root, signal }) {
    const { stream, source } = await readArchive(values.input, "load");
    const loaded = await loadImages(stream, { root: root(), signal, source });
    for (const image of loaded) {
      for (const tag of image.tags) console.log(`Loaded image: ${tag}`);
      if (image.tags.length === 0) console.log(`Loaded image ID: ${image.imageId}`);
    }
    return 0;
  },
};
