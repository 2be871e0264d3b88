/**
 * `network create|ls|inspect|rm|connect|disconnect`: user-defined bridge
 * networks, containers joining and leaving them, and what docker's
 * `network inspect` shows of them.
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";
import { storeOf, type StoreOptions } from "../store/store.ts";
import { DenockerError } from "../errors.ts";
import { type ContainerRecord, ContainerStore, isAlive } from "../runtime/containers.ts";
import { attachRecord, nextInterface } from "../runtime/launch.ts";
import {
  DEFAULT_NETWORK,
  detachNetwork,
  type NetworkAttachment,
  type NetworkDefinition,
  subnetRange,
} from "../runtime/network.ts";
import { NetworkStore } from "../runtime/network_store.ts";

/** docker's `network inspect` document of a bridge network. */
export interface NetworkInspect {
  /** docker's `Name`. */
  Name: string;
  /** docker's `Id`. */
  Id: string;
  /** docker's `Created`. */
  Created: string;
  /** docker's `Scope`. */
  Scope: "local";
  /** docker's `Driver`. */
  Driver: "bridge";
  /** docker's `EnableIPv6`. */
  EnableIPv6: false;
  /** docker's `IPAM`. */
  IPAM: {
    Driver: "default";
    Options: Record<string, string>;
    Config: { Subnet: string; Gateway: string }[];
  };
  /** docker's `Internal`. */
  Internal: false;
  /** docker's `Containers`: those on it while they run. */
  Containers: Record<
    string,
    { Name: string; MacAddress: string; IPv4Address: string; IPv6Address: string }
  >;
  /** docker's `Options`: the bridge's name. */
  Options: Record<string, string>;
  /** docker's `Labels`. */
  Labels: Record<string, string>;
}

async function storesOf(options: StoreOptions) {
  const store = await storeOf(options, { create: true });
  const containers = new ContainerStore(store.root);
  return { networks: new NetworkStore(store.root), containers };
}

/**
 * Makes a user-defined bridge network.
 *
 * @param name Its name.
 * @param options Store, `subnet`, `gateway`, labels.
 */
export async function createNetwork(
  name: string,
  options: StoreOptions & { subnet?: string; gateway?: string; labels?: Record<string, string> } =
    {},
): Promise<NetworkDefinition> {
  const { networks } = await storesOf(options);
  return await networks.create(name, options);
}

/** Every network docker would list: the bridge ones, and `host` and `none`. */
export async function listNetworks(
  options: StoreOptions = {},
): Promise<{ id: string; name: string; driver: string }[]> {
  const { networks } = await storesOf(options);
  const bridges = (await networks.list()).map((network) => ({
    id: network.id,
    name: network.name,
    driver: "bridge",
  }));
  // sha256("denocker NAME"), as the default network's: the same on every machine.
  const fixed = await Promise.all(["host", "none"].map(async (name) => ({
    id: Array.from(
      new Uint8Array(
        await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`denocker ${name}`)),
      ),
      (byte) => byte.toString(16).padStart(2, "0"),
    ).join(""),
    name,
    driver: name === "host" ? "host" : "null",
  })));
  return [...bridges, ...fixed].sort((a, b) => a.name.localeCompare(b.name));
}

/** docker's `network inspect` of bridge networks (by name or ID prefix). */
export async function inspectNetworks(
  names: string[],
  options: StoreOptions = {},
): Promise<NetworkInspect[]> {
  const { networks, containers } = await storesOf(options);
  const records = await containers.list();
  const documents: NetworkInspect[] = [];
  for (const name of names) {
    const network = await networks.read(name);
    if (!network) throw new InvalidInputError(`Cannot inspect network ${name}: no such network`);
    const on = records.flatMap((record) =>
      [record.attachment, ...(record.connected ?? [])]
        .filter((attachment) => attachment?.network === network.name)
        .map((attachment) => ({ record, attachment: attachment! }))
    );
    documents.push({
      Name: network.name,
      Id: network.id,
      Created: network.created ?? "0001-01-01T00:00:00Z",
      Scope: "local",
      Driver: "bridge",
      EnableIPv6: false,
      IPAM: {
        Driver: "default",
        Options: {},
        Config: [{ Subnet: network.subnet, Gateway: network.gateway }],
      },
      Internal: false,
      Containers: Object.fromEntries(on.map(({ record, attachment }) => [record.id, {
        Name: record.name,
        MacAddress: attachment.macAddress,
        IPv4Address: `${attachment.address}/${attachment.prefixLength}`,
        IPv6Address: "",
      }])),
      Options: { "com.docker.network.bridge.name": network.bridge },
      Labels: network.labels ?? {},
    });
  }
  return documents;
}

/** Removes user-defined networks no container is on; returns their names. */
export async function removeNetworks(
  names: string[],
  options: StoreOptions = {},
): Promise<string[]> {
  const { networks, containers } = await storesOf(options);
  await containers.reap();
  const removed: string[] = [];
  for (const name of names) {
    if (name === "host" || name === "none" || name === DEFAULT_NETWORK.name) {
      throw new InvalidInputError(`Cannot remove network ${name}: it is a built-in network`);
    }
    removed.push(
      await networks.remove(name, async (id) => {
        const record = await containers.read(id);
        return record !== undefined && record.state !== "exited";
      }),
    );
  }
  return removed;
}

/** Options for {@link connectNetwork}. */
export interface ConnectOptions extends StoreOptions {
  /** More names it is found by there (`--alias`). */
  aliases?: string[];
  /** Its address there (`--ip`). */
  ip?: string;
}

async function running(record: ContainerRecord): Promise<boolean> {
  return record.state === "running" && await isAlive(record.process);
}

/**
 * Connects a container to a bridge network, as `docker network connect`:
 * at once when it runs (a new interface, `eth1`…), and at each start.
 *
 * @param networkName The network's name or ID.
 * @param container The container's name or ID.
 * @param options Store, aliases, address.
 */
export async function connectNetwork(
  networkName: string,
  container: string,
  options: ConnectOptions = {},
): Promise<void> {
  const { networks, containers } = await storesOf(options);
  const record = await containers.find(container);
  const what = `Cannot connect container ${record.name} to network ${networkName}`;
  const network = await networks.read(networkName);
  if (!network) throw new InvalidInputError(`${what}: no such network`);
  if (record.spec.network !== "bridge") {
    throw new InvalidInputError(
      `${what}: it is on ${
        record.spec.network === "host" ? "the host's network" : "no network (--network none)"
      }`,
    );
  }
  const first = record.networkName ?? DEFAULT_NETWORK.name;
  if (
    first === network.name ||
    (record.connections ?? []).some((connection) => connection.network === network.name)
  ) {
    throw new InvalidInputError(`${what}: it is already on it`);
  }
  if (network.name === DEFAULT_NETWORK.name && (options.aliases?.length || options.ip)) {
    throw new InvalidInputError(
      `${what}: ${options.ip ? "--ip" : "--alias"} is supported only on user-defined networks`,
    );
  }
  for (const alias of options.aliases ?? []) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(alias)) {
      throw new InvalidInputError(`${what}: invalid alias "${alias}"`);
    }
  }
  if (options.ip) {
    const { first: low, last: high } = subnetRange(network.subnet);
    const octets = options.ip.split(".");
    const value = octets.reduce((sum, octet) => sum * 256 + Number(octet), 0);
    if (
      octets.length !== 4 || octets.some((octet) => !/^\d{1,3}$/.test(octet) || +octet > 255) ||
      value < low || value > high
    ) {
      throw new InvalidInputError(
        `${what}: --ip ${options.ip} is not an address of its subnet ${network.subnet}`,
      );
    }
  }
  const connection = {
    network: network.name,
    ...(options.aliases?.length ? { aliases: options.aliases } : {}),
    ...(options.ip ? { ipAddress: options.ip } : {}),
  };
  if (await running(record) && record.attachment) {
    const connected = record.connected ?? [];
    const attachment = await attachRecord(
      containers,
      record,
      connection,
      nextInterface([record.attachment, ...connected]),
    );
    record.connected = [...connected, attachment];
  }
  record.connections = [...(record.connections ?? []), connection];
  await containers.save(record);
}

/**
 * Disconnects a container from a bridge network, as `docker network
 * disconnect`: its interface there goes at once when it runs. Its first
 * network's place goes to the next one it is connected to; with none left
 * it has no network but `lo`, as with `--network none`.
 *
 * @param networkName The network's name or ID.
 * @param container The container's name or ID.
 * @param options Store.
 */
export async function disconnectNetwork(
  networkName: string,
  container: string,
  options: StoreOptions = {},
): Promise<void> {
  const { networks, containers } = await storesOf(options);
  const record = await containers.find(container);
  const what = `Cannot disconnect container ${record.name} from network ${networkName}`;
  const network = await networks.read(networkName);
  if (!network) throw new InvalidInputError(`${what}: no such network`);
  const live = await running(record);
  const leave = async (attachment: NetworkAttachment | undefined, namespace: boolean) => {
    if (!attachment) return;
    await detachNetwork(attachment, false);
    if (namespace) await detachNetwork(attachment, true);
  };
  const connections = record.connections ?? [];
  const index = connections.findIndex((connection) => connection.network === network.name);
  if (index >= 0) {
    const attachment = record.connected?.find((item) => item.network === network.name);
    if (live) await leave(attachment, false);
    record.connections = connections.filter((_, i) => i !== index);
    record.connected = record.connected?.filter((item) => item !== attachment);
  } else if (
    record.spec.network === "bridge" &&
    (record.networkName ?? DEFAULT_NETWORK.name) === network.name
  ) {
    const [next, ...rest] = connections;
    if (live) await leave(record.attachment, next === undefined);
    if (next) {
      // Its next network becomes its first (eth0 from its next start).
      const attachment = record.connected?.find((item) => item.network === next.network);
      record.attachment = live ? attachment : undefined;
      record.connected = record.connected?.filter((item) => item !== attachment);
      record.networkName = next.network === DEFAULT_NETWORK.name ? undefined : next.network;
      record.aliases = next.aliases;
      record.ipAddress = next.ipAddress;
      record.connections = rest;
    } else {
      record.attachment = undefined;
      record.networkName = undefined;
      record.aliases = undefined;
      record.ipAddress = undefined;
      record.spec = { ...record.spec, network: "none" };
    }
  } else {
    throw new DenockerError(`${what}: it is not connected to it`);
  }
  await containers.save(record);
}
