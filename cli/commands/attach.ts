/**
 * `denocker attach CONTAINER`: this terminal to a running container's
 * terminal or stdin, and its output (ctrl-p ctrl-q detaches).
 *
 * @module
 */

import { type Command, exactly } from "../command.ts";
import { attachTerminal, DETACH_KEYS, detachKeysOf } from "../attach.ts";
import { attachContainer } from "../../lib/operations/attach.ts";

export const command: Command = {
  usage: "attach [OPTIONS] CONTAINER",
  summary: "Attach this terminal to a running container (ctrl-p ctrl-q detaches)",
  options: {
    "detach-keys": DETACH_KEYS,
    "no-stdin": { type: "boolean", help: "Do not send this terminal's input" },
  },
  examples: ["denocker attach web"],
  arguments: exactly(1, "CONTAINER"),
  ownsSignals: true,
  async run({ values, positionals, root }) {
    const session = await attachContainer(positionals[0], { root: root() });
    return await attachTerminal(session, {
      input: !values["no-stdin"],
      detachKeys: detachKeysOf(values),
    });
  },
};
