/**
 * `denocker exec [OPTIONS] CONTAINER COMMAND [ARG...]`: run a command in a
 * running container.
 *
 * @module
 */

import type { Command } from "../command.ts";
import { whileForwardingSignals } from "../signals.ts";
import { startExec } from "../../mod.ts";

export const command: Command = {
  usage: "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
  summary: "Run a command in a running container",
  options: {
    env: {
      type: "string",
      short: "e",
      multiple: true,
      value: "KEY=VALUE",
      help: "Set a variable; repeatable",
    },
    workdir: { type: "string", short: "w", value: "DIR", help: "Working directory inside" },
    user: { type: "string", short: "u", value: "UID[:GID]", help: "User (or name[:group])" },
  },
  examples: ["denocker exec web ps", "denocker exec -w /tmp web sh -c 'ls'"],
  arguments: (positionals) =>
    positionals.length >= 2 ? undefined : "requires at least 2 arguments (CONTAINER and COMMAND)",
  optionsEndAfter: 1,
  ownsSignals: true,
  failureCode: 125,
  run({ values, positionals, root }) {
    // Signals are passed on to the command, which has a session of its own.
    return whileForwardingSignals(() =>
      startExec(positionals[0], positionals.slice(1), {
        root: root(),
        env: values.env,
        workdir: values.workdir,
        user: values.user,
      })
    );
  },
};
