/**
 * `denocker cp CONTAINER:SRC DEST` and `denocker cp SRC CONTAINER:DEST`:
 * copy files between a container and the host.
 *
 * @module
 */

import { type Command, exactly, UsageError } from "../command.ts";
import { copyFromContainer, copyToContainer } from "../../lib/operations/container_copy.ts";

/** `CONTAINER:PATH` split, as docker reads it (a `:` before any `/`); undefined for a host path. */
function containerPath(text: string): { container: string; path: string } | undefined {
  const colon = text.indexOf(":");
  if (colon <= 0 || text.slice(0, colon).includes("/")) return undefined;
  return { container: text.slice(0, colon), path: text.slice(colon + 1) || "/" };
}

export const command: Command = {
  usage: "cp CONTAINER:SRC_PATH DEST_PATH | SRC_PATH CONTAINER:DEST_PATH",
  summary: "Copy files between a container and the host (its symlinks never lead out of it)",
  options: {},
  examples: [
    "denocker cp web:/etc/hostname ./hostname",
    "denocker cp ./site web:/srv/",
    "denocker cp web:/var/log - | tar -t",
    "tar -c site | denocker cp - web:/srv",
  ],
  arguments: exactly(2, "SRC and DEST"),
  async run({ positionals, root }) {
    const [source, destination] = positionals.map(containerPath);
    if (source && destination) {
      throw new UsageError("copying between containers is not supported", "cp");
    }
    if (source) {
      // `-`: a tar of it on stdout, as docker writes it.
      const to = positionals[1] === "-" ? Deno.stdout.writable : positionals[1];
      await copyFromContainer(source.container, source.path, to, { root: root() });
    } else if (destination) {
      // `-`: a tar on stdin, its entries into the destination directory.
      const from = positionals[0] === "-" ? Deno.stdin.readable : positionals[0];
      await copyToContainer(from, destination.container, destination.path, {
        root: root(),
      });
    } else {
      throw new UsageError("must specify at least one container source", "cp");
    }
    return 0;
  },
};
