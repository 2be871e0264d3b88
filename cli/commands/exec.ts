/**
 * `denocker exec [OPTIONS] CONTAINER COMMAND [ARG...]`: run a command in a
 * running container.
 *
 * @module
 */

import { type Command, UsageError } from "../command.ts";
import { attachTerminal, DETACH_KEYS, detachKeysOf } from "../attach.ts";
import { whileForwardingSignals } from "../signals.ts";
import { startExec } from "../../lib/operations/containers.ts";

export const command: Command = {
  usage: "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
  summary: "Run a command in a running container",
  options: {
    "detach-keys": DETACH_KEYS,
    env: {
      type: "string",
      short: "e",
      multiple: true,
      value: "KEY=VALUE",
      help: "Set a variable; repeatable",
    },
    workdir: { type: "string", short: "w", value: "DIR", help: "Working directory inside" },
    user: { type: "string", short: "u", value: "UID[:GID]", help: "User (or name[:group])" },
    interactive: { type: "boolean", short: "i", help: "Send this terminal's input to it" },
    tty: { type: "boolean", short: "t", help: "Give it a new pseudo-terminal of the container's" },
  },
  examples: [
    "denocker exec web ps",
    "denocker exec -w /tmp web sh -c 'ls'",
    "denocker exec -it web sh",
  ],
  arguments: (positionals) =>
    positionals.length >= 2 ? undefined : "requires at least 2 arguments (CONTAINER and COMMAND)",
  optionsEndAfter: 1,
  ownsSignals: true,
  failureCode: 125,
  run({ values, positionals, root }) {
    if (values.tty && values.interactive && !Deno.stdin.isTerminal()) {
      throw new UsageError("the input device is not a TTY (-t needs a terminal on stdin)", "exec");
    }
    // Signals are passed on to the command, which has a session of its own.
    return whileForwardingSignals(async () => {
      const process = await startExec(positionals[0], positionals.slice(1), {
        root: root(),
        env: values.env,
        workdir: values.workdir,
        user: values.user,
        tty: values.tty,
        interactive: values.interactive,
      });
      if (!process.terminal) return process;
      const session = { ...process.terminal, tty: true, interactive: true };
      const attached = attachTerminal(session, {
        input: values.interactive ?? false,
        detachKeys: detachKeysOf(values),
      });
      return { kill: process.kill, exited: attached.then(() => process.exited) };
    });
  },
};
