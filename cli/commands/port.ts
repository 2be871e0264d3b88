// deno-lint-ignore-file no-console
/**
 * `denocker port CONTAINER [PORT[/PROTO]]`: where a running container's
 * ports are published, as docker prints them (`80/tcp -> 0.0.0.0:8080`).
 *
 * @module
 */

import type { Command } from "../command.ts";
import { DenockerError } from "../../lib/errors.ts";
import { inspectContainer } from "../../lib/operations/container_inspect.ts";

export const command: Command = {
  usage: "port CONTAINER [PRIVATE_PORT[/PROTO]]",
  summary: "List a container's published ports, or where one of them is published",
  options: {},
  examples: ["denocker port web", "denocker port web 80/tcp"],
  arguments: (positionals) =>
    positionals.length === 1 || positionals.length === 2 ? undefined : "requires 1 or 2 arguments",
  async run({ positionals, root }) {
    const [name, wanted] = positionals;
    const { NetworkSettings } = await inspectContainer(name, { root: root() });
    const key = wanted === undefined ? undefined : wanted.includes("/") ? wanted : `${wanted}/tcp`;
    const entries = Object.entries(NetworkSettings.Ports)
      .filter(([port]) => key === undefined || port === key);
    if (key !== undefined && entries.length === 0) {
      throw new DenockerError(`No public port '${key}' published for ${name}`);
    }
    for (const [port, bindings] of entries) {
      for (const binding of bindings) {
        const where = `${binding.HostIp}:${binding.HostPort}`;
        console.log(key === undefined ? `${port} -> ${where}` : where);
      }
    }
    return 0;
  },
};
