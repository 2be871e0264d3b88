// deno-lint-ignore-file no-console
/**
 * `denocker logout REGISTRY`: remove a registry's credentials from docker's
 * config.json.
 *
 * @module
 */

import { type Command, exactly } from "../command.ts";
import { logout } from "../../lib/operations/login.ts";

export const command: Command = {
  usage: "logout REGISTRY",
  summary: "Remove a registry's credentials from docker's config.json",
  options: {},
  examples: ["denocker logout registry.lan:5000"],
  arguments: exactly(1, "REGISTRY"),
  async run({ positionals }) {
    const removed = await logout(positionals[0]);
    console.log(
      removed
        ? `Removing login credentials for ${positionals[0]}`
        : `Not logged in to ${positionals[0]}`,
    );
    return 0;
  },
};
