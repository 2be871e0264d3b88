/**
 * `network create|ls|inspect|rm`: user-defined bridge networks, and what
 * docker's `network inspect` shows of them.
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";
import { storeOf, type StoreOptions } from "../store/store.ts";
import { ContainerStore } from "../runtime/containers.ts";
import { DEFAULT_NETWORK, type NetworkDefinition } from "../runtime/network.ts";
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
    const on = records.filter((record) => record.attachment?.network === network.name);
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
      Containers: Object.fromEntries(on.map((record) => [record.id, {
        Name: record.name,
        MacAddress: record.attachment!.macAddress,
        IPv4Address: `${record.attachment!.address}/${record.attachment!.prefixLength}`,
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
