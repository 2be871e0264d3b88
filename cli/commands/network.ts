// deno-lint-ignore-file no-console
/**
 * `denocker network create|ls|inspect|rm|connect|disconnect`: user-defined
 * bridge networks, on which containers find each other by name.
 *
 * @module
 */

import { type Command, none } from "../command.ts";
import { table } from "../format.ts";
import { labelOption } from "../options.ts";
import {
  connectNetwork,
  createNetwork,
  disconnectNetwork,
  inspectNetworks,
  listNetworks,
  removeNetworks,
} from "../../lib/operations/networks.ts";

const atLeastOne = (positionals: string[]) =>
  positionals.length > 0 ? undefined : "requires at least 1 argument";

/** `network create [--subnet CIDR] [--gateway IP] NAME`. */
export const create: Command = {
  usage: "network create [OPTIONS] NAME",
  summary: "Make a bridge network on which containers find each other by name",
  options: {
    subnet: { type: "string", value: "CIDR", help: "Its IPv4 subnet (default: a free /16)" },
    gateway: { type: "string", value: "IP", help: "The bridge's address (default: the first)" },
    label: { type: "string", multiple: true, value: "KEY=VALUE", help: "A label; repeatable" },
  },
  examples: [
    "denocker network create app",
    "denocker network create --subnet 10.42.0.0/24 lab",
  ],
  arguments: (positionals) => positionals.length === 1 ? undefined : "requires exactly 1 argument",
  async run({ values, positionals, root }) {
    const labels = labelOption((values.label ?? []) as string[], "network create");
    const network = await createNetwork(positionals[0], {
      root: root(),
      subnet: values.subnet as string | undefined,
      gateway: values.gateway as string | undefined,
      labels,
    });
    console.log(network.id);
    return 0;
  },
};

/** `network ls`. */
export const list: Command = {
  usage: "network ls [OPTIONS]",
  summary: "List networks",
  options: {
    quiet: { type: "boolean", short: "q", help: "Only IDs" },
    "no-trunc": { type: "boolean", help: "Whole IDs" },
  },
  examples: ["denocker network ls"],
  arguments: none,
  async run({ values, root }) {
    const networks = await listNetworks({ root: root() });
    const id = (text: string) => values["no-trunc"] ? text : text.slice(0, 12);
    if (values.quiet) {
      for (const network of networks) console.log(id(network.id));
      return 0;
    }
    console.log(table([
      ["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
      ...networks.map((network) => [id(network.id), network.name, network.driver, "local"]),
    ]));
    return 0;
  },
};

/** `network inspect NAME...`. */
export const inspect: Command = {
  usage: "network inspect NAME...",
  summary: "Print networks as JSON, as docker does (subnet, gateway, containers on it)",
  options: {},
  examples: ["denocker network inspect app"],
  arguments: atLeastOne,
  async run({ positionals, root }) {
    console.log(JSON.stringify(await inspectNetworks(positionals, { root: root() }), null, 4));
    return 0;
  },
};

/** `network rm NAME...`. */
export const remove: Command = {
  usage: "network rm NAME...",
  summary: "Remove user-defined networks no container is on",
  options: {},
  examples: ["denocker network rm app"],
  arguments: atLeastOne,
  async run({ positionals, root }) {
    for (const name of await removeNetworks(positionals, { root: root() })) console.log(name);
    return 0;
  },
};

const networkAndContainer = (positionals: string[]) =>
  positionals.length === 2 ? undefined : "requires exactly 2 arguments: NETWORK CONTAINER";

/** `network connect [--alias NAME] [--ip IP] NETWORK CONTAINER`. */
export const connect: Command = {
  usage: "network connect [OPTIONS] NETWORK CONTAINER",
  summary: "Connect a container to a network (at once if it runs, and at each start)",
  options: {
    alias: { type: "string", multiple: true, value: "NAME", help: "Another name it is found by" },
    ip: { type: "string", value: "IP", help: "Its IPv4 address there" },
  },
  examples: [
    "denocker network connect app web",
    "denocker network connect --alias db --ip 10.42.0.10 lab postgres",
  ],
  arguments: networkAndContainer,
  async run({ values, positionals, root }) {
    await connectNetwork(positionals[0], positionals[1], {
      root: root(),
      aliases: (values.alias ?? []) as string[],
      ip: values.ip as string | undefined,
    });
    return 0;
  },
};

/** `network disconnect NETWORK CONTAINER`. */
export const disconnect: Command = {
  usage: "network disconnect NETWORK CONTAINER",
  summary: "Disconnect a container from a network",
  options: {},
  examples: ["denocker network disconnect app web"],
  arguments: networkAndContainer,
  async run({ positionals, root }) {
    await disconnectNetwork(positionals[0], positionals[1], { root: root() });
    return 0;
  },
};
