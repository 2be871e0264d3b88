// deno-lint-ignore-file no-console
/**
 * `denocker stop [OPTIONS] CONTAINER`: stop a running container: SIGTERM, then
 * SIGKILL after the grace period.
 *
 * @module
 */

import { type Command, exactly, UsageError } from "../command.ts";
import { stopContainer } from "../../mod.ts";

export const command: Command = {
  usage: "stop [OPTIONS] CONTAINER",
  summary: "Stop a running container: SIGTERM, then SIGKILL after the grace period",
  options: {
    time: { type: "string", short: "t", value: "SECONDS", help: "Grace period (default 10)" },
  },
  examples: ["denocker stop web", "denocker stop -t 2 web"],
  arguments: exactly(1, "CONTAINER"),
  async run({ values, positionals, root }) {
    const time = values.time === undefined ? undefined : Number(values.time);
    if (time !== undefined && !(time >= 0)) {
      throw new UsageError(`--time needs a number of seconds, got "${values.time}"`, "stop");
    }
    await stopContainer(positionals[0], { root: root(), timeout: time });
    console.log(positionals[0]);
    return 0;
  },
};
