// deno-lint-ignore-file no-console
/**
 * `denocker build [OPTIONS] CONTEXT`: an image from a Dockerfile, with
 * docker's classic builder's progress (`Step 2/5 : RUN …`, ` ---> ID`).
 *
 * @module
 */

import { type Command, UsageError } from "../command.ts";
import { labelOption } from "../options.ts";
import { type BuildEvent, buildImage } from "../../lib/operations/build.ts";

const short = (id: string) => id.replace(/^sha256:/, "").slice(0, 12);

export const command: Command = {
  usage: "build [OPTIONS] CONTEXT",
  summary: "Build an image from a Dockerfile (CONTEXT a directory; - for a Dockerfile on stdin)",
  options: {
    tag: {
      type: "string",
      short: "t",
      multiple: true,
      value: "NAME[:TAG]",
      help: "Tag it; repeatable",
    },
    file: {
      type: "string",
      short: "f",
      value: "FILE",
      help: "The Dockerfile (default CONTEXT/Dockerfile; - for stdin)",
    },
    "build-arg": {
      type: "string",
      multiple: true,
      value: "KEY[=VALUE]",
      help: "An ARG's value; repeatable",
    },
    target: { type: "string", value: "STAGE", help: "Stop at this stage" },
    platform: { type: "string", value: "OS/ARCH", help: "The platform of base images" },
    "no-cache": { type: "boolean", help: "Build every step again" },
    pull: { type: "boolean", help: "Pull base images even when stored" },
    network: { type: "string", value: "none|host", help: "RUN's network (default none)" },
    label: {
      type: "string",
      multiple: true,
      value: "KEY=VALUE",
      help: "A label of the image; repeatable",
    },
    quiet: { type: "boolean", short: "q", help: "Print only the image ID" },
  },
  examples: [
    "denocker build -t site:1 .",
    "denocker build --build-arg VERSION=2 --target runtime -t app .",
    "denocker build -t tools - < Dockerfile",
  ],
  arguments: (positionals) =>
    positionals.length === 1 ? undefined : "requires exactly 1 argument: CONTEXT",
  async run({ values, positionals, root }) {
    const network = values.network ?? "none";
    if (network !== "none" && network !== "host") {
      throw new UsageError(`invalid --network "${network}": none or host`, "build");
    }
    const buildArgs: Record<string, string> = {};
    for (const entry of (values["build-arg"] ?? []) as string[]) {
      const at = entry.indexOf("=");
      if (at === 0) throw new UsageError(`invalid --build-arg "${entry}": no name`, "build");
      if (at > 0) buildArgs[entry.slice(0, at)] = entry.slice(at + 1);
      else if (Deno.env.get(entry) !== undefined) buildArgs[entry] = Deno.env.get(entry)!;
    }
    const fromStdin = positionals[0] === "-" || values.file === "-";
    const dockerfileText = fromStdin ? await new Response(Deno.stdin.readable).text() : undefined;
    const quiet = values.quiet === true;
    const onEvent = (event: BuildEvent) => {
      if (quiet) return;
      switch (event.type) {
        case "step":
          console.log(`Step ${event.index}/${event.count} : ${event.instruction}`);
          break;
        case "cache":
          console.log(" ---> Using cache");
          break;
        case "running":
          console.log(` ---> Running in ${short(event.container)}`);
          break;
        case "removed":
          console.log(`Removing intermediate container ${short(event.container)}`);
          break;
        case "image":
          console.log(` ---> ${short(event.id)}`);
          break;
        case "note":
          console.error(event.text);
          break;
      }
    };
    const { imageId, tags } = await buildImage({
      root: root(),
      context: positionals[0] === "-" ? undefined : positionals[0],
      dockerfile: values.file === "-" ? undefined : values.file,
      dockerfileText,
      tags: (values.tag ?? []) as string[],
      buildArgs,
      target: values.target,
      platform: values.platform,
      noCache: values["no-cache"] === true,
      pull: values.pull === true,
      network,
      labels: labelOption((values.label ?? []) as string[], "build"),
      output: quiet ? "null" : "inherit",
      onEvent,
    });
    if (quiet) {
      console.log(imageId);
      return 0;
    }
    console.log(`Successfully built ${short(imageId)}`);
    for (const tag of tags) console.log(`Successfully tagged ${tag}`);
    return 0;
  },
};
