/**
 * A container's place on a bridge network: a network namespace of its own
 * (iproute2's `ip netns`, made before the container and joined by it), a
 * veth pair with the container's end as `eth0`, an address from the
 * network's pool, and a default route through the bridge. The bridge, its
 * address and its nftables table (outbound NAT, forwarding) exist while the
 * network has containers: the first container makes them and the last one
 * removes them, so nothing is left on the machine when none runs.
 *
 * Addresses are reserved as files `<network>/addresses/<address>` (the
 * container's ID inside) made exclusively under the network's lock; a
 * reservation whose container is gone or has ended is taken back by the
 * next allocation, so a crash leaks none.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { DenockerError } from "../errors.ts";
import { withLock } from "../io/lock.ts";
import { readDirIfExists } from "../io/fs.ts";
import { hostEnvironment, hostTool } from "./host_tools.ts";
import { type PortBinding, portElements, releasePorts, reservePorts } from "./ports.ts";

/** A bridge network: its name, its Linux bridge and its IPv4 subnet. */
export interface NetworkDefinition {
  /** The network's name (`bridge` for the default one, as docker's). */
  name: string;
  /** Its ID (64 hex digits). */
  id: string;
  /** When it was made (RFC 3339); none for the default one. */
  created?: string;
  /** Its labels. */
  labels?: Record<string, string>;
  /** The Linux bridge's interface name. */
  bridge: string;
  /** The subnet, `ADDRESS/PREFIX`. */
  subnet: string;
  /** The bridge's own address in it: the containers' default route. */
  gateway: string;
}

/**
 * The default network: docker's `bridge`, on gocker's `gocker0` subnet
 * (172.29.0.0/16), which neither docker's 172.17.0.0/16 nor podman's
 * 10.88.0.0/16 takes.
 */
export const DEFAULT_NETWORK: NetworkDefinition = {
  name: "bridge",
  // sha256("denocker bridge"): the same on every machine, as it is made the same everywhere.
  id: "444279d25a56f1bae936fe3cac118e7ce7255a94a9ba5fda547f06d007e873a5",
  bridge: "denocker0",
  subnet: "172.29.0.0/16",
  gateway: "172.29.0.1",
};

/** A container on a network: what was made for it, all of it removed by {@link detachNetwork}. */
export interface NetworkAttachment {
  /** The container's ID. */
  container: string;
  /** The network's name. */
  network: string;
  /** The network's ID. */
  networkId: string;
  /** Its nftables table. */
  table: string;
  /** Its bridge. */
  bridge: string;
  /** Its subnet. */
  subnet: string;
  /** The container's address. */
  address: string;
  /** The subnet's prefix length. */
  prefixLength: number;
  /** The default route. */
  gateway: string;
  /** The container's `eth0` hardware address (from its IP address, as docker makes it). */
  macAddress: string;
  /** The network namespace's file (`/run/netns/…`), which the container joins. */
  namespace: string;
  /** The veth pair's host end, on the bridge. */
  hostInterface: string;
  /** The container's end (`eth0` for its first network, `eth1`… for those connected later). */
  interface?: string;
  /** The network's state directory (its lock and reservations). */
  directory: string;
  /** Its published ports, host ports chosen (see ports.ts). */
  ports: PortBinding[];
  /** The names other containers of a user-defined network find it by (name, aliases). */
  names: string[];
}

/**
 * What a reservation file holds: its container, and on a user-defined
 * network what the other containers' `/etc/hosts` list for it.
 */
export interface Reservation {
  /** The container's ID. */
  container: string;
  /** Its hostname (its own line in its `/etc/hosts`). */
  hostname?: string;
  /** The names others find it by. */
  names?: string[];
  /** Lines of its own it keeps in its `/etc/hosts` (`--add-host`). */
  extraHosts?: string[];
  /** Its `/etc/hosts` on the host, rewritten as containers come and go. */
  hosts?: string;
  /** The container's interface with this address (`eth0` when not written). */
  interface?: string;
}

/** A reservation file's content (a bare ID, as the first versions wrote, or JSON). */
export function readReservation(text: string): Reservation {
  const trimmed = text.trim();
  if (!trimmed.startsWith("{")) return { container: trimmed };
  try {
    return JSON.parse(trimmed) as Reservation;
  } catch {
    return { container: "" };
  }
}

/** Whether containers of this network find each other by name (docker: user-defined ones). */
function resolvesNames(network: { name: string }): boolean {
  return network.name !== DEFAULT_NETWORK.name;
}

/** A 32-bit IPv4 address as a number. */
function ipv4Number(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((part) => !/^\d{1,3}$/.test(part) || Number(part) > 255)) {
    throw new DenockerError(`invalid IPv4 address "${text}"`);
  }
  return parts.reduce((value, part) => value * 256 + Number(part), 0);
}

function ipv4Text(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/**
 * A subnet's first and last usable host addresses (the network's own
 * address and its broadcast excluded).
 *
 * @param subnet `ADDRESS/PREFIX`, the address at the start of the subnet.
 */
export function subnetRange(subnet: string): { first: number; last: number; prefixLength: number } {
  const [address, prefix] = subnet.split("/");
  const prefixLength = Number(prefix);
  if (!/^\d+$/.test(prefix ?? "") || prefixLength < 8 || prefixLength > 30) {
    throw new DenockerError(
      `invalid subnet "${subnet}": needs ADDRESS/PREFIX, a prefix of 8 to 30`,
    );
  }
  const size = 2 ** (32 - prefixLength);
  const base = ipv4Number(address);
  if (base % size !== 0) {
    throw new DenockerError(
      `invalid subnet "${subnet}": ${address} is not where a /${prefix} starts`,
    );
  }
  return { first: base + 1, last: base + size - 2, prefixLength };
}

/** Runs a host tool; its last line of stderr in the error when it fails. */
async function run(program: string, args: string[], input?: string): Promise<void> {
  const child = new Deno.Command(program, {
    args,
    clearEnv: true,
    env: hostEnvironment(),
    stdin: input === undefined ? "null" : "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const { code, stderr } = await child.output();
  if (code !== 0) {
    const message = new TextDecoder().decode(stderr).trim().split("\n").at(-1) ?? "";
    throw new DenockerError(`${program.split("/").at(-1)} ${args.join(" ")} failed: ${message}`);
  }
}

/** Whether the bridge exists in this network namespace (netlink, not /sys: that shows another's). */
async function bridgeExists(bridge: string): Promise<boolean> {
  const { code } = await new Deno.Command(hostTool("ip", "iproute2"), {
    args: ["link", "show", "dev", bridge],
    clearEnv: true,
    env: hostEnvironment(),
    stdout: "null",
    stderr: "null",
  }).output();
  return code === 0;
}

/** The nftables table of a network's rules. */
function tableName(network: NetworkDefinition): string {
  return network.name === DEFAULT_NETWORK.name
    ? `denocker-${network.name}`
    : `denocker-${network.id.slice(0, 12)}`;
}

/**
 * Makes the network's bridge, its address, forwarding and its nftables
 * table (masquerade of what leaves the subnet by another interface, and
 * forwarding from and back to the bridge). Call it under the network's lock.
 */
async function bringUp(network: NetworkDefinition): Promise<void> {
  const { prefixLength } = subnetRange(network.subnet);
  const ip = hostTool("ip", "iproute2");
  if (!(await bridgeExists(network.bridge))) {
    await run(
      ip,
      ["-batch", "-"],
      [
        `link add ${network.bridge} type bridge`,
        `addr add ${network.gateway}/${prefixLength} dev ${network.bridge}`,
        `link set ${network.bridge} up`,
        "",
      ].join("\n"),
    );
  }
  // Per network namespace: the value of the namespace this process is in.
  await Deno.writeTextFile("/proc/sys/net/ipv4/ip_forward", "1\n");
  // 127.0.0.1:PORT forwarded to a container leaves by the bridge with a loopback source. With
  // route_localnet the kernel would also take what comes in by the bridge for 127.0.0.0/8: a
  // container with CAP_NET_RAW could reach the host's loopback services (CVE-2020-8558's
  // kind). The table's `guard` chain drops that before anything else sees it.
  await Deno.writeTextFile(`/proc/sys/net/ipv4/conf/${network.bridge}/route_localnet`, "1\n");
  // IPv4 only: a container's router advertisement must not become the host's IPv6 route.
  await Deno.writeTextFile(`/proc/sys/net/ipv6/conf/${network.bridge}/accept_ra`, "0\n")
    .catch(() => {}); // No IPv6 in this kernel: nothing to refuse.
  const table = tableName(network);
  // Published ports: by host port (on every address), or by host address and port.
  const maps = ["tcp", "udp"].map((protocol) => `
  map ${protocol}-any { type inet_service : ipv4_addr . inet_service; }
  map ${protocol}-at { type ipv4_addr . inet_service : ipv4_addr . inet_service; }`).join("");
  const forwards = ["tcp", "udp"].map((protocol) => `
    fib daddr type local dnat ip to ${protocol} dport map @${protocol}-any
    fib daddr type local dnat ip to ip daddr . ${protocol} dport map @${protocol}-at`).join("");
  // Declared, deleted and made again: the same whether it existed or not.
  await run(
    hostTool("nft", "nftables"),
    ["-f", "-"],
    `table ip ${table} {}
delete table ip ${table}
table ip ${table} {${maps}
  chain guard {
    type filter hook prerouting priority raw; policy accept;
    iifname != "lo" ip daddr 127.0.0.0/8 drop
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;${forwards}
  }
  chain output {
    type nat hook output priority -100; policy accept;${forwards}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${network.subnet} oifname != "${network.bridge}" masquerade
    oifname "${network.bridge}" ip saddr 127.0.0.0/8 masquerade
    oifname "${network.bridge}" ip saddr ${network.subnet} ct status dnat masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${network.bridge}" oifname "denocker0" oifname != "${network.bridge}" drop
    iifname "${network.bridge}" oifname "dn-*" oifname != "${network.bridge}" drop
    iifname "${network.bridge}" accept
    oifname "${network.bridge}" ct state established,related accept
    oifname "${network.bridge}" ct status dnat accept
    oifname "${network.bridge}" drop
  }
}
`,
  );
}

/** Removes the bridge and its table (the network has no container left). */
async function bringDown(network: NetworkDefinition): Promise<void> {
  await run(hostTool("nft", "nftables"), ["delete", "table", "ip", tableName(network)])
    .catch(() => {});
  if (await bridgeExists(network.bridge)) {
    await run(hostTool("ip", "iproute2"), ["link", "delete", network.bridge]);
  }
}

/** Options for {@link attachNetwork}. */
export interface AttachNetworkOptions {
  /** Where networks keep their state (`networks/` of the store root). */
  directory: string;
  /** Whether the container of a reservation still holds it (exists and has not ended). */
  inUse: (id: string) => Promise<boolean>;
  /** Ports to publish. */
  ports?: PortBinding[];
  /** The address asked for (`--ip`); the first free one otherwise. */
  address?: string;
  /** The hardware address asked for (`--mac-address`); made from the IP address otherwise. */
  macAddress?: string;
  /** Its hostname, written with its address into its `/etc/hosts`. */
  hostname: string;
  /** Its `/etc/hosts` on the host (rewritten in place: it is mounted). */
  hosts: string;
  /** The names others on a user-defined network find it by (name, aliases). */
  names?: string[];
  /** `/etc/hosts` lines of its own (`--add-host`). */
  extraHosts?: string[];
  /**
   * Its interface: `eth0` (the default) makes the network namespace, `lo`
   * and the default route; another (`eth1`…, `network connect`) is added to
   * the namespace it already has.
   */
  interface?: string;
}

/** Every reservation of every network under `networks/`, with its network's name and address. */
async function allReservations(
  networks: string,
): Promise<(Reservation & { network: string; address: string })[]> {
  const all: (Reservation & { network: string; address: string })[] = [];
  for (const network of await readDirIfExists(networks)) {
    if (!network.isDirectory) continue;
    const addresses = join(networks, network.name, "addresses");
    for (const entry of await readDirIfExists(addresses)) {
      const text = await Deno.readTextFile(join(addresses, entry.name)).catch(() => "");
      all.push({ ...readReservation(text), network: network.name, address: entry.name });
    }
  }
  return all;
}

/**
 * Rewrites the `/etc/hosts` of every container on a network: its own line
 * (with the address of its first network), its `--add-host` lines, and for
 * each user-defined network it is on, a line for each other container
 * there. Call under the network's lock.
 */
async function refreshHosts(addresses: string, leaving?: string): Promise<void> {
  const networks = join(addresses, "..", "..");
  const network = addresses.split("/").at(-2)!;
  const all = await allReservations(networks);
  // And the one leaving, on the networks it stays on: it no longer lists this one's.
  for (
    const member of all.filter((reservation) =>
      reservation.network === network || reservation.container === leaving
    )
  ) {
    if (!member.hosts || member.hostname === undefined) continue;
    const own = all.filter((other) => other.container === member.container);
    const first = own.find((other) => (other.interface ?? "eth0") === "eth0") ?? member;
    const shared = new Set(
      own.filter((other) => resolvesNames({ name: other.network })).map((other) => other.network),
    );
    const others = all.filter((other) =>
      shared.has(other.network) && other.container !== member.container &&
      (other.names ?? []).length > 0
    ).map((other) => `${other.address}\t${other.names!.join(" ")}`);
    const lines = [...new Set([...(member.extraHosts ?? []), ...others])];
    const text = hostsFile(member.hostname, first.address) +
      lines.map((line) => `${line}\n`).join("");
    // In place, not renamed: the running container has this file mounted.
    await Deno.writeTextFile(member.hosts, text).catch(() => {});
  }
}

/**
 * Gives a container a place on a network: an address, and a network
 * namespace with `lo`, `eth0` on the bridge and a default route, made
 * before the container starts (it joins the namespace); published ports
 * forwarded to it.
 *
 * @param id The container's ID.
 * @param network The network.
 * @param options Where its state is, which reservations are live, and the container's names.
 * @returns What was made, for {@link detachNetwork}.
 */
export async function attachNetwork(
  id: string,
  network: NetworkDefinition,
  options: AttachNetworkOptions,
): Promise<NetworkAttachment> {
  const directory = join(options.directory, network.name);
  const addresses = join(directory, "addresses");
  // First, so that a port already taken stops the start before anything is made.
  const ports = await reservePorts(id, options.ports ?? [], options);
  const release = () => releasePorts(id, ports, options.directory);
  await Deno.mkdir(addresses, { recursive: true, mode: 0o700 });
  const { first, last, prefixLength } = subnetRange(network.subnet);
  const gateway = ipv4Number(network.gateway);
  const names = resolvesNames(network) ? options.names ?? [] : [];
  const device = options.interface ?? "eth0";
  const address = await withLock(join(directory, "lock"), { exclusive: true }, async () => {
    const taken = new Set<number>([gateway]);
    for (const entry of await readDirIfExists(addresses)) {
      const text = await Deno.readTextFile(join(addresses, entry.name)).catch(() => "");
      const holder = readReservation(text).container;
      if (holder !== "" && holder !== id && await options.inUse(holder)) {
        taken.add(ipv4Number(entry.name));
      } else {
        await Deno.remove(join(addresses, entry.name)).catch(() => {});
      }
    }
    let candidate = first;
    if (options.address !== undefined) {
      candidate = ipv4Number(options.address);
      const problem = candidate < first || candidate > last
        ? `it is not in the network's subnet ${network.subnet}`
        : taken.has(candidate)
        ? "it is already in use"
        : undefined;
      if (problem) {
        await release();
        throw new DenockerError(
          `Cannot attach to network ${network.name}: address ${options.address}: ${problem}`,
        );
      }
    }
    while (candidate <= last && taken.has(candidate)) candidate++;
    if (candidate > last) {
      await release();
      throw new DenockerError(`Cannot attach to network ${network.name}: no address is free`);
    }
    if (taken.size === 1) {
      await bringUp(network).catch(async (error) => {
        await release();
        throw error;
      });
    }
    const text = ipv4Text(candidate);
    const reservation: Reservation = {
      container: id,
      hostname: options.hostname,
      names,
      extraHosts: options.extraHosts ?? [],
      hosts: options.hosts,
      ...(device === "eth0" ? {} : { interface: device }),
    };
    await Deno.writeTextFile(join(addresses, text), JSON.stringify(reservation) + "\n", {
      createNew: true,
    });
    await refreshHosts(addresses);
    return text;
  });
  const octets = address.split(".").map((part) => Number(part).toString(16).padStart(2, "0"));
  const attachment: NetworkAttachment = {
    container: id,
    network: network.name,
    networkId: network.id,
    table: tableName(network),
    bridge: network.bridge,
    subnet: network.subnet,
    address,
    prefixLength,
    gateway: network.gateway,
    macAddress: options.macAddress ?? ["02", "42", ...octets].join(":"),
    namespace: `/run/netns/denocker-${id.slice(0, 12)}`,
    hostInterface: `vd${id.slice(0, 9)}${network.id.slice(0, 4)}`,
    ...(device === "eth0" ? {} : { interface: device }),
    directory,
    ports,
    names,
  };
  const name = `denocker-${id.slice(0, 12)}`;
  const ip = hostTool("ip", "iproute2");
  try {
    await run(
      ip,
      ["-batch", "-"],
      [
        ...(device === "eth0" ? [`netns add ${name}`] : []),
        `link add ${attachment.hostInterface} type veth peer name ${device} netns ${name}`,
        `link set ${attachment.hostInterface} master ${network.bridge}`,
        `link set ${attachment.hostInterface} up`,
        "",
      ].join("\n"),
    );
    // Before it is up: IPv4 only, as docker's IPv4 networks (no address, no router
    // advertisement taken from a neighbour); lo keeps ::1.
    await run(hostTool("nsenter", "util-linux"), [
      `--net=${attachment.namespace}`,
      "--",
      hostTool("sh", "a POSIX shell"),
      "-c",
      `for f in default ${device}; do [ ! -e /proc/sys/net/ipv6/conf/$f ] || ` +
      "echo 1 > /proc/sys/net/ipv6/conf/$f/disable_ipv6 || exit 1; done",
    ]);
    await run(
      ip,
      ["-netns", name, "-batch", "-"],
      [
        ...(device === "eth0" ? ["link set lo up"] : []),
        `link set ${device} address ${attachment.macAddress}`,
        `addr add ${address}/${prefixLength} dev ${device}`,
        `link set ${device} up`,
        // The first network's gateway is the default route; others serve their subnet.
        ...(device === "eth0" ? [`route add default via ${network.gateway}`] : []),
        "",
      ].join("\n"),
    );
    if (ports.length > 0) {
      const elements = portElements("add", attachment.table, address, ports);
      await run(hostTool("nft", "nftables"), ["-f", "-"], elements);
    }
  } catch (error) {
    await detachNetwork(attachment, device === "eth0");
    throw new DenockerError(
      `Cannot attach the container to network ${network.name}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return attachment;
}

/**
 * Removes what {@link attachNetwork} made: the namespace (its veth pairs
 * go with it) or, with `removeNamespace` false, this network's veth pair
 * only (`network disconnect`), published ports, the address's
 * reservation, the other containers' `/etc/hosts` lines for it, and the
 * bridge and its rules when no container is left on the network. Safe to
 * call again.
 */
export async function detachNetwork(
  attachment: NetworkAttachment,
  removeNamespace = true,
): Promise<void> {
  const name = attachment.namespace.split("/").at(-1)!;
  const ports = attachment.ports ?? [];
  const table = attachment.table ?? `denocker-${attachment.network}`;
  // One at a time: one already gone must not keep the others.
  for (const binding of ports) {
    const elements = portElements("delete", table, attachment.address, [binding]);
    await run(hostTool("nft", "nftables"), ["-f", "-"], elements).catch(() => {});
  }
  await releasePorts(attachment.container, ports, join(attachment.directory, ".."));
  // Its veth pairs go with the namespace.
  await run(
    hostTool("ip", "iproute2"),
    removeNamespace ? ["netns", "delete", name] : ["link", "delete", attachment.hostInterface],
  ).catch(() => {});
  const addresses = join(attachment.directory, "addresses");
  const network: NetworkDefinition = {
    name: attachment.network,
    id: attachment.networkId ?? DEFAULT_NETWORK.id,
    bridge: attachment.bridge,
    subnet: attachment.subnet,
    gateway: attachment.gateway,
  };
  await withLock(join(attachment.directory, "lock"), { exclusive: true }, async () => {
    const reservation = join(addresses, attachment.address);
    const holder = readReservation(await Deno.readTextFile(reservation).catch(() => "")).container;
    // Only its own: a reservation taken back (its container thought gone) may be another's now.
    if (holder === attachment.container) await Deno.remove(reservation).catch(() => {});
    if ((await readDirIfExists(addresses)).length === 0) await bringDown(network);
    await refreshHosts(addresses, attachment.container);
  });
}

/**
 * A container's `/etc/hosts`, as docker writes it: localhost and the IPv6
 * names, and the container's address with its hostname.
 *
 * @param hostname The container's hostname.
 * @param address Its address on a network (none with `--network none`).
 */
export function hostsFile(hostname: string, address?: string): string {
  return [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
    ...(address ? [`${address}\t${hostname}`] : []),
    "",
  ].join("\n");
}

/**
 * A container's `/etc/resolv.conf` from the host's, as docker makes it:
 * loopback name servers (a local resolver the container cannot reach) are
 * left out, and when none is left, Google's public ones are used.
 * `servers` (`--dns`) replace the host's name servers.
 *
 * @param host The host's `/etc/resolv.conf`.
 * @param servers Name servers asked for.
 */
export function resolvConf(host: string, servers?: string[]): string {
  const lines = host.split("\n").filter((line) => {
    const server = /^\s*nameserver\s+(\S+)/.exec(line)?.[1];
    if (server !== undefined && servers) return false;
    return server === undefined || !(server.startsWith("127.") || server === "::1");
  });
  if (servers) {
    lines.unshift(...servers.map((server) => `nameserver ${server}`));
  }
  const text = lines.join("\n").replace(/\n*$/, "\n");
  if (/^\s*nameserver\s/m.test(text)) return text;
  return `${text.trim() === "" ? "" : text}nameserver 8.8.8.8\nnameserver 8.8.4.4\n`;
}
