/**
 * `denocker manifest [OPTIONS] IMAGE`: print an image's manifest or index
 * exactly as its registry serves it.
 *
 * @module
 */

import { type Command, exactly, INSECURE_REGISTRY, remoteOptions } from "../command.ts";
import { fetchManifest } from "../../lib/operations/remote.ts";

export const command: Command = {
  usage: "manifest [OPTIONS] IMAGE",
  summary: "Print an image's manifest or index exactly as its registry serves it",
  options: {
    "insecure-registry": INSECURE_REGISTRY,
  },
  examples: ["denocker manifest alpine:3.20"],
  arguments: exactly(1, "IMAGE"),
  async run({ values, positionals, config, signal }) {
    const { bytes } = await fetchManifest(positionals[0], {
      ...await remoteOptions({ values, config }, "manifest"),
      signal,
    });
    await Deno.stdout.write(bytes);
    return 0;
  },
};
