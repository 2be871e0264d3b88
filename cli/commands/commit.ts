// deno-lint-ignore-file no-console
/**
 * `denocker commit [-m MSG] [-a AUTHOR] [-c INSTRUCTION]... CONTAINER
 * [REPOSITORY[:TAG]]`: a new image of a container's changes.
 *
 * @module
 */

import { type Command, UsageError } from "../command.ts";
import { InvalidReferenceError } from "../../lib/errors.ts";
import { commitContainer } from "../../lib/operations/commit.ts";

export const command: Command = {
  usage: "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
  summary: "Make an image of a container's changes: its image and one more layer",
  options: {
    message: { type: "string", short: "m", value: "MSG", help: "The history entry's comment" },
    author: { type: "string", short: "a", value: "AUTHOR", help: "The image's author" },
    change: {
      type: "string",
      short: "c",
      multiple: true,
      value: "INSTRUCTION",
      help: "A Dockerfile instruction for the config (CMD, ENV, …); repeatable",
    },
    pause: {
      type: "string",
      short: "p",
      value: "true|false",
      help: "Freeze a running container while its changes are read (default true)",
    },
  },
  examples: [
    "denocker commit web",
    "denocker commit -m 'with the site' -c 'CMD [\"httpd\", \"-f\"]' web site:1",
  ],
  arguments: (positionals) =>
    positionals.length === 1 || positionals.length === 2
      ? undefined
      : "requires 1 or 2 arguments: CONTAINER [REPOSITORY[:TAG]]",
  async run({ values, positionals, root }) {
    const pause = values.pause ?? "true";
    if (pause !== "true" && pause !== "false") {
      throw new UsageError(`invalid --pause value "${pause}": true or false`, "commit");
    }
    try {
      const { imageId } = await commitContainer(positionals[0], positionals[1], {
        root: root(),
        message: values.message,
        author: values.author,
        changes: values.change ?? [],
        pause: pause === "true",
      });
      console.log(imageId);
    } catch (error) {
      if (error instanceof InvalidReferenceError) throw new UsageError(error.message, "commit");
      throw error;
    }
    return 0;
  },
};
