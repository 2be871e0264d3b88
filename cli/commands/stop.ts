/**
 * `denocker stop [OPTIONS] CONTAINER...`: stop running containers: their
 * stop signal, then SIGKILL after the grace period.
 *
 * @module
 */

import { atLeastOne, type Command, forEachName, UsageError } from "../command.ts";
import { stopContainer } from "../../lib/operations/lifecycle.ts";

/** `-t SECONDS`, as stop and restart take it. */
export function graceOption(text: string | undefined, command: string): number | undefined {
  const time = text === undefined ? undefined : Number(text);
  if (time !== undefined && !(Number.isInteger(time) && time >= 0)) {
    throw new UsageError(`--time needs a whole number of seconds, got "${text}"`, command);
  }
  return time;
}

export const command: Command = {
  usage: "stop [OPTIONS] CONTAINER [CONTAINER...]",
  summary: "Stop running containers: their stop signal, then SIGKILL after the grace period",
  options: {
    time: {
      type: "string",
      short: "t",
      value: "SECONDS",
      help: "Grace period (default: the container's --stop-timeout, else 10)",
    },
  },
  examples: ["denocker stop web", "denocker stop -t 2 web db"],
  arguments: atLeastOne,
  run({ values, positionals, root }) {
    const timeout = graceOption(values.time, "stop");
    return forEachName(positionals, (name) => stopContainer(name, { root: root(), timeout }));
  },
};
