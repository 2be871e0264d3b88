/**
 * The store's networks: the default `bridge` (built in: 172.29.0.0/16
 * unless {@link NetworkStore.configureDefault} gave it another subnet,
 * kept in `networks/bridge/network.json`) and user-defined bridge
 * networks, each `networks/<name>/network.json`. A user-defined
 * network's bridge is `dn-<id12>`, its subnet given or the first free one
 * of 172.30.0.0/16 … 172.31.0.0/16, 10.90.0.0/16 … 10.99.0.0/16 (none that
 * overlaps another network's or a route of this namespace).
 *
 * @module
 */

import { join } from "../io/path.ts";
import { DenockerError, InvalidInputError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic_file.ts";
import { readDirIfExists } from "../io/fs.ts";
import { withLock } from "../io/lock.ts";
import { rootLayout } from "../store/layout.ts";
import { hostEnvironment, hostTool } from "./host_tools.ts";
import {
  DEFAULT_NETWORK,
  type NetworkDefinition,
  readReservation,
  subnetRange,
} from "./network.ts";

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The names docker keeps for its own networks. */
const BUILT_IN = ["bridge", "host", "none"];

/** Subnets given to networks made without one, in this order. */
const POOL = [
  "172.30.0.0/16",
  "172.31.0.0/16",
  ...Array.from({ length: 10 }, (_, i) => `10.${90 + i}.0.0/16`),
];

/** A subnet's first and last address, network and broadcast included. */
function bounds(subnet: string): [number, number] {
  const { first, last } = subnetRange(subnet);
  return [first - 1, last + 1];
}

function overlaps(a: string, b: string): boolean {
  const [a0, a1] = bounds(a);
  const [b0, b1] = bounds(b);
  return a0 <= b1 && b0 <= a1;
}

/** The IPv4 routes of this network namespace, as subnets (`default` left out). */
async function routedSubnets(): Promise<string[]> {
  const output = await new Deno.Command(hostTool("ip", "iproute2"), {
    args: ["-4", "route", "show"],
    clearEnv: true,
    env: hostEnvironment(),
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(output.stdout).split("\n")
    .map((line) => line.split(" ")[0])
    .filter((target) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(target))
    .filter((target) => {
      try {
        subnetRange(target);
        return true;
      } catch {
        return false;
      }
    });
}

/** The networks of a store root. */
export class NetworkStore {
  /** `<root>/networks`. */
  readonly directory: string;

  constructor(root: string) {
    this.directory = rootLayout(root).networks;
  }

  /** The default network, as configured. */
  async defaultNetwork(): Promise<NetworkDefinition> {
    const text = await Deno.readTextFile(
      join(this.directory, DEFAULT_NETWORK.name, "network.json"),
    ).catch(() => undefined);
    if (text === undefined) return DEFAULT_NETWORK;
    const { subnet, gateway } = JSON.parse(text) as NetworkDefinition;
    return { ...DEFAULT_NETWORK, subnet, gateway };
  }

  /**
   * Gives the default network the bridge address and prefix `bip`
   * (`10.77.0.1/16`), or its built-in one (172.29.0.1/16) when none is
   * given. Only while no container is on it.
   *
   * @param bip The bridge's address and prefix (checked as the config checks it).
   * @param inUse Whether a container still holds an address there.
   */
  async configureDefault(
    bip: string | undefined,
    inUse: (id: string) => Promise<boolean>,
  ): Promise<NetworkDefinition> {
    const wanted = bip === undefined ? DEFAULT_NETWORK : (() => {
      const [gateway, prefix] = bip.split("/");
      const address = gateway.split(".").reduce((sum, part) => sum * 256 + Number(part), 0);
      const size = 2 ** (32 - Number(prefix));
      const start = address - (address % size);
      const base = [24, 16, 8, 0].map((shift) => Math.floor(start / 2 ** shift) % 256);
      return { ...DEFAULT_NETWORK, subnet: `${base.join(".")}/${prefix}`, gateway };
    })();
    const current = await this.defaultNetwork();
    if (current.subnet === wanted.subnet && current.gateway === wanted.gateway) return current;
    await Deno.mkdir(join(this.directory, DEFAULT_NETWORK.name), { recursive: true, mode: 0o700 });
    return await withLock(join(this.directory, "create.lock"), { exclusive: true }, async () => {
      const directory = join(this.directory, DEFAULT_NETWORK.name);
      for (const entry of await readDirIfExists(join(directory, "addresses"))) {
        const text = await Deno.readTextFile(join(directory, "addresses", entry.name))
          .catch(() => "");
        const holder = readReservation(text).container;
        if (holder && await inUse(holder)) {
          throw new DenockerError(
            `Cannot move the default network to ${wanted.subnet} (bip in the config): ` +
              `container ${holder.slice(0, 12)} is on ${current.subnet}; stop it first`,
          );
        }
      }
      const other = (await this.list()).find((network) =>
        network.name !== DEFAULT_NETWORK.name && overlaps(network.subnet, wanted.subnet)
      );
      if (other) {
        throw new InvalidInputError(
          `Cannot move the default network to ${wanted.subnet} (bip in the config): ` +
            `it overlaps ${other.subnet} of network ${other.name}`,
        );
      }
      const file = join(directory, "network.json");
      if (wanted === DEFAULT_NETWORK) {
        await Deno.remove(file).catch(() => {});
      } else {
        await writeFileAtomic(
          file,
          new TextEncoder().encode(JSON.stringify(wanted, null, 2) + "\n"),
        );
      }
      return wanted;
    });
  }

  /** A network by name (or by a prefix of its ID), or undefined. */
  async read(name: string): Promise<NetworkDefinition | undefined> {
    if (name === DEFAULT_NETWORK.name) return await this.defaultNetwork();
    if (NAME.test(name)) {
      const text = await Deno.readTextFile(join(this.directory, name, "network.json"))
        .catch(() => undefined);
      if (text !== undefined) return JSON.parse(text) as NetworkDefinition;
    }
    if (/^[0-9a-f]{6,64}$/.test(name)) {
      const matches = (await this.list()).filter((network) => network.id.startsWith(name));
      if (matches.length === 1) return matches[0];
    }
    return undefined;
  }

  /** Every bridge network: the default one first, then by name. */
  async list(): Promise<NetworkDefinition[]> {
    const networks: NetworkDefinition[] = [];
    for (const entry of await readDirIfExists(this.directory)) {
      if (!entry.isDirectory || entry.name === DEFAULT_NETWORK.name) continue;
      const text = await Deno.readTextFile(join(this.directory, entry.name, "network.json"))
        .catch(() => undefined);
      if (text !== undefined) networks.push(JSON.parse(text) as NetworkDefinition);
    }
    return [
      await this.defaultNetwork(),
      ...networks.sort((a, b) => a.name.localeCompare(b.name)),
    ];
  }

  /**
   * Makes a user-defined bridge network.
   *
   * @param name Its name.
   * @param options Its subnet (`ADDRESS/PREFIX`) and gateway (default: the subnet's first
   *   address), and labels.
   */
  async create(
    name: string,
    options: { subnet?: string; gateway?: string; labels?: Record<string, string> } = {},
  ): Promise<NetworkDefinition> {
    if (!NAME.test(name)) {
      throw new InvalidInputError(`invalid network name "${name}": use letters, digits, _ . -`);
    }
    if (BUILT_IN.includes(name)) {
      throw new InvalidInputError(`Cannot create network ${name}: it is a built-in network`);
    }
    await Deno.mkdir(this.directory, { recursive: true, mode: 0o700 });
    return await withLock(join(this.directory, "create.lock"), { exclusive: true }, async () => {
      if (await this.read(name)) {
        throw new InvalidInputError(`Cannot create network ${name}: it already exists`);
      }
      const taken = (await this.list()).map((network) => network.subnet);
      let subnet = options.subnet;
      if (subnet !== undefined) {
        subnetRange(subnet);
        const other = taken.find((used) => overlaps(used, subnet!));
        if (other) {
          throw new InvalidInputError(
            `Cannot create network ${name}: its subnet ${subnet} overlaps ${other} of another network`,
          );
        }
      } else {
        const routes = await routedSubnets();
        subnet = POOL.find((candidate) =>
          ![...taken, ...routes].some((used) => overlaps(used, candidate))
        );
        if (subnet === undefined) {
          throw new DenockerError(
            `Cannot create network ${name}: no free subnet is left; give --subnet`,
          );
        }
      }
      const { first, last } = subnetRange(subnet);
      const gateway = options.gateway ??
        [24, 16, 8, 0].map((shift) => Math.floor(first / 2 ** shift) % 256).join(".");
      const gatewayNumber = gateway.split(".").reduce(
        (value, part) => value * 256 + Number(part),
        0,
      );
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(gateway) || gatewayNumber < first || gatewayNumber > last) {
        throw new InvalidInputError(
          `Cannot create network ${name}: the gateway ${gateway} is not in ${subnet}`,
        );
      }
      const id = Array.from(
        crypto.getRandomValues(new Uint8Array(32)),
        (byte) => byte.toString(16).padStart(2, "0"),
      ).join("");
      const network: NetworkDefinition = {
        name,
        id,
        created: new Date().toISOString(),
        labels: options.labels ?? {},
        bridge: `dn-${id.slice(0, 12)}`,
        subnet,
        gateway,
      };
      await Deno.mkdir(join(this.directory, name), { recursive: true, mode: 0o700 });
      await writeFileAtomic(
        join(this.directory, name, "network.json"),
        new TextEncoder().encode(JSON.stringify(network, null, 2) + "\n"),
      );
      return network;
    });
  }

  /**
   * Removes a user-defined network that no container is on.
   *
   * @param name Its name or ID.
   * @param inUse Whether a container still holds an address there.
   */
  async remove(name: string, inUse: (id: string) => Promise<boolean>): Promise<string> {
    const network = await this.read(name);
    if (!network) throw new InvalidInputError(`Cannot remove network ${name}: no such network`);
    if (network.name === DEFAULT_NETWORK.name) {
      throw new InvalidInputError(`Cannot remove network ${name}: it is a built-in network`);
    }
    const directory = join(this.directory, network.name);
    for (const entry of await readDirIfExists(join(directory, "addresses"))) {
      const text = await Deno.readTextFile(join(directory, "addresses", entry.name)).catch(() =>
        ""
      );
      const holder = readReservation(text).container;
      if (holder && await inUse(holder)) {
        throw new DenockerError(
          `Cannot remove network ${network.name}: container ${holder.slice(0, 12)} is on it`,
        );
      }
    }
    // The record first: a crash halfway leaves a directory without one, which lists as nothing.
    await Deno.remove(join(directory, "network.json"));
    await Deno.remove(directory, { recursive: true });
    return network.name;
  }
}
