// deno-lint-ignore-file no-console
/**
 * `denocker copy [OPTIONS] SOURCE DESTINATION`: copy an image registry to
 * registry (every platform), without the store.
 *
 * @module
 */

import { type Command, exactly, INSECURE_REGISTRY, remoteOptions } from "../command.ts";
import { copyImage } from "../../lib/operations/copy.ts";

export const command: Command = {
  usage: "copy [OPTIONS] SOURCE DESTINATION",
  summary: "Copy an image registry to registry (every platform), without the store",
  options: { "insecure-registry": INSECURE_REGISTRY },
  examples: ["denocker copy registry.lan:5000/team/app:1 mirror.lan:5000/team/app:1"],
  arguments: exactly(2, "SOURCE and DESTINATION"),
  async run({ values, positionals, config, signal }) {
    const result = await copyImage(positionals[0], positionals[1], {
      ...await remoteOptions({ values, config }, "copy"),
      signal,
    });
    const { uploaded, mounted, present } = result.blobs;
    console.error(
      `${result.manifests} manifest(s); blobs: ${uploaded} copied, ${mounted} mounted, ${present} already there`,
    );
    console.log(result.digest);
    return 0;
  },
};
