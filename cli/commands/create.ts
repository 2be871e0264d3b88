// deno-lint-ignore-file no-console
/**
 * `denocker create [OPTIONS] IMAGE [COMMAND [ARG...]]`: make a container
 * without starting it (`start` starts it, detached).
 *
 * @module
 */

import type { Command } from "../command.ts";
import { pullPrinter } from "../pull_output.ts";
import { command as run, containerOptions } from "./run.ts";
import { createContainer } from "../../lib/operations/run.ts";

const { detach: _detach, "detach-keys": _keys, ...options } = run.options;

export const command: Command = {
  usage: "create [OPTIONS] IMAGE [COMMAND [ARG...]]",
  summary: "Make a container without starting it (pulls the image when it is not stored)",
  options,
  examples: [
    "denocker create --name job busybox sh -c 'date; sleep 1'",
    "denocker create -it --name shell busybox sh   # then: denocker start -ai shell",
  ],
  arguments: run.arguments,
  optionsEndAfter: 1,
  failureCode: 125,
  async run(invocation) {
    const { positionals, signal } = invocation;
    const printer = pullPrinter(false);
    const given = await containerOptions(invocation.values, "create", invocation);
    const { id } = await createContainer(positionals[0], positionals.slice(1), {
      ...given,
      onPull: (image) => console.error(`Unable to find image '${image}' locally`),
      onPulled: printer.done,
      pull: { ...given.pull, signal, onProgress: printer.onProgress },
    });
    console.log(id);
    return 0;
  },
};
