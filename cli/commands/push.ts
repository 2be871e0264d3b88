// deno-lint-ignore-file no-console
/**
 * `denocker push [OPTIONS] IMAGE`: upload a stored image to its registry,
 * blobs as stored.
 *
 * @module
 */

import { type Command, exactly, INSECURE_REGISTRY, remoteOptions } from "../command.ts";
import { shortDigest } from "../format.ts";
import { pushImage } from "../../lib/operations/push.ts";

export const command: Command = {
  usage: "push [OPTIONS] IMAGE",
  summary: "Upload a stored image to its registry, blobs as stored",
  options: {
    "insecure-registry": INSECURE_REGISTRY,
  },
  examples: ["denocker push registry.lan:5000/team/app:1.0"],
  arguments: exactly(1, "IMAGE"),
  async run({ values, positionals, root, config, signal }) {
    const result = await pushImage(positionals[0], {
      root: root(),
      ...await remoteOptions({ values, config }, "push"),
      signal,
      onProgress: (event) => {
        if (event.type === "pushing") {
          return console.error(`The push refers to repository [${event.repository}]`);
        }
        // docker lists layers only; the config goes up unlisted.
        if (event.kind === "config") return;
        const how = event.how === "present"
          ? "Layer already exists"
          : event.how === "mounted"
          ? `Mounted from ${event.from}`
          : "Pushed";
        console.error(`${shortDigest(event.digest)}: ${how}`);
      },
    });
    console.log(`${result.tag}: digest: ${result.digest} size: ${result.size}`);
    return 0;
  },
};
