// deno-lint-ignore-file no-console
/**
 * `denocker inspect [OPTIONS] NAME|ID...`: show containers and stored
 * images as JSON, in docker's shape, or through a `--format` template.
 *
 * @module
 */

import { atLeastOne, type Command, oneLine, UsageError } from "../command.ts";
import { renderTemplate } from "../template.ts";
import { inspectContainer } from "../../lib/operations/container_inspect.ts";
import { inspectImage } from "../../lib/operations/inspect.ts";

/** A container's document, else an image's (as docker, containers first), as `type` allows. */
async function inspectAny(name: string, type: string | undefined, root: string) {
  if (type !== "image") {
    try {
      return await inspectContainer(name, { root });
    } catch (error) {
      if (type === "container") throw error;
    }
  }
  // Not a container: the image's error says what is wrong with the name.
  return await inspectImage(name, { root });
}

export const command: Command = {
  usage: "inspect [OPTIONS] NAME|ID [NAME|ID...]",
  summary: "Show containers and stored images as JSON, in docker's shape",
  options: {
    format: {
      type: "string",
      short: "f",
      value: "TEMPLATE",
      help: "Print each through a Go template, e.g. '{{.State.Status}}' or '{{json .Config}}'",
    },
    type: { type: "string", value: "container|image", help: "Only look for this kind" },
  },
  examples: [
    "denocker inspect alpine:3.20",
    "denocker inspect -f '{{.State.Status}} {{.State.ExitCode}}' web",
  ],
  arguments: atLeastOne,
  async run({ values, positionals, root }) {
    const type = values.type as string | undefined;
    if (type !== undefined && type !== "container" && type !== "image") {
      throw new UsageError(`--type takes container or image, got "${type}"`, "inspect");
    }
    const storeRoot = root();
    const found = [];
    const failures = [];
    for (const name of positionals) {
      try {
        found.push(await inspectAny(name, type, storeRoot));
      } catch (error) {
        failures.push(error);
      }
    }
    // As docker does: what was found is printed, then an error for each name that was not.
    if (values.format === undefined) console.log(JSON.stringify(found, null, 4));
    else for (const document of found) console.log(renderTemplate(values.format, document));
    for (const error of failures) console.error(`denocker: ${oneLine(error)}`);
    return failures.length > 0 ? 1 : 0;
  },
};
