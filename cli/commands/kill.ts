/**
 * `denocker kill [OPTIONS] CONTAINER...`: send a signal (SIGKILL by
 * default) to running containers.
 *
 * @module
 */

import { atLeastOne, type Command, forEachName } from "../command.ts";
import { signalOption } from "../options.ts";
import { killContainer } from "../../lib/operations/lifecycle.ts";

export const command: Command = {
  usage: "kill [OPTIONS] CONTAINER [CONTAINER...]",
  summary: "Send a signal (default SIGKILL) to running containers",
  options: {
    signal: {
      type: "string",
      short: "s",
      value: "SIGNAL",
      help: "The signal: a name (HUP, SIGTERM) or number",
    },
  },
  examples: ["denocker kill web", "denocker kill -s HUP web"],
  arguments: atLeastOne,
  run({ values, positionals, root }) {
    const signal = values.signal === undefined
      ? undefined
      : signalOption(values.signal, "--signal", "kill");
    return forEachName(positionals, (name) => killContainer(name, { root: root(), signal }));
  },
};
