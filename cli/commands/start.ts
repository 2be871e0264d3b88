/**
 * `denocker start [OPTIONS] CONTAINER...`: start ended or created
 * containers again, detached (`-a`: print one's output until it ends).
 *
 * @module
 */

import { atLeastOne, type Command, forEachName, UsageError } from "../command.ts";
import { attachTerminal, DETACH_KEYS, detachKeysOf } from "../attach.ts";
import { startAttached } from "../../lib/operations/attach.ts";
import { startStoppedContainer } from "../../lib/operations/lifecycle.ts";

export const command: Command = {
  usage: "start [OPTIONS] CONTAINER [CONTAINER...]",
  summary: "Start ended containers again (detached; -a: print the output until it ends)",
  options: {
    "detach-keys": DETACH_KEYS,
    attach: {
      type: "boolean",
      short: "a",
      help: "Print the container's stdout and stderr until it ends; exit with its status",
    },
    interactive: {
      type: "boolean",
      short: "i",
      help: "With -a, send this terminal's input to it (a container made with -i or -t)",
    },
  },
  examples: ["denocker start web", "denocker start -a job"],
  arguments: atLeastOne,
  async run({ values, positionals, root }) {
    if (!values.attach) {
      return await forEachName(
        positionals,
        (name) => startStoppedContainer(name, { root: root() }),
      );
    }
    if (positionals.length > 1) {
      throw new UsageError("you cannot start and attach multiple containers at once", "start");
    }
    const session = await startAttached(positionals[0], { root: root() });
    return await attachTerminal(session, {
      input: values.interactive ?? false,
      detachKeys: detachKeysOf(values),
    });
  },
};
