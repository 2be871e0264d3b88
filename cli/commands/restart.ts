/**
 * `denocker restart [OPTIONS] CONTAINER...`: stop containers and start
 * them again, detached.
 *
 * @module
 */

import { atLeastOne, type Command, forEachName } from "../command.ts";
import { graceOption } from "./stop.ts";
import { restartContainer } from "../../lib/operations/lifecycle.ts";

export const command: Command = {
  usage: "restart [OPTIONS] CONTAINER [CONTAINER...]",
  summary: "Stop containers and start them again (detached)",
  options: {
    time: {
      type: "string",
      short: "t",
      value: "SECONDS",
      help: "Grace period of the stop (default: the container's --stop-timeout, else 10)",
    },
  },
  examples: ["denocker restart web", "denocker restart -t 0 web"],
  arguments: atLeastOne,
  run({ values, positionals, root }) {
    const timeout = graceOption(values.time, "restart");
    return forEachName(positionals, (name) => restartContainer(name, { root: root(), timeout }));
  },
};
