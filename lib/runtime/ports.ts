/**
 * Published ports (`-p [IP:]HOST:CONTAINER[/PROTO]`): a host port is
 * reserved for one container at a time, checked free on the host before
 * the container starts, and forwarded to the container's address by
 * nftables DNAT (for other hosts in `prerouting`, for the host itself in
 * `output`, `127.0.0.1` included through the bridge's `route_localnet`).
 * No proxy process is kept per port.
 *
 * Reservations are files `networks/ports/<proto>-<host ip>-<port>` holding
 * the container's ID, made exclusively under `networks/ports.lock`; one
 * whose container is gone or has ended is taken back.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { DenockerError, InvalidInputError } from "../errors.ts";
import { withLock } from "../io/lock.ts";
import { readDirIfExists } from "../io/fs.ts";

/** One published port. */
export interface PortBinding {
  /** The host address it is published on; `0.0.0.0` for all of them. */
  hostIp: string;
  /** The host port; 0 for a free one chosen at start. */
  hostPort: number;
  /** The port inside the container. */
  containerPort: number;
  /** `tcp` or `udp`. */
  protocol: "tcp" | "udp";
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;

function portNumber(text: string, spec: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) {
    throw new InvalidInputError(`invalid port "${text}" in "${spec}": needs 1 to 65535`);
  }
  return port;
}

/**
 * Reads a `-p` value as docker does: `CONTAINER`, `HOST:CONTAINER`,
 * `IP:HOST:CONTAINER` or `IP::CONTAINER`, each with `/tcp` (default) or
 * `/udp`. A missing host port is chosen when the container starts.
 *
 * @param spec The value.
 * @returns The binding.
 */
export function parsePortBinding(spec: string): PortBinding {
  const [ports, protocol = "tcp", ...extra] = spec.split("/");
  if (extra.length > 0 || (protocol !== "tcp" && protocol !== "udp")) {
    throw new InvalidInputError(`invalid port "${spec}": the protocol is tcp or udp`);
  }
  const parts = ports.split(":");
  if (parts.length > 3 || parts.at(-1) === "") {
    throw new InvalidInputError(`invalid port "${spec}": use [IP:][HOST:]CONTAINER[/PROTOCOL]`);
  }
  const containerPort = portNumber(parts.at(-1)!, spec);
  const host = parts.length >= 2 ? parts.at(-2)! : "";
  const hostIp = parts.length === 3 ? parts[0] : "0.0.0.0";
  if (!IPV4.test(hostIp)) {
    throw new InvalidInputError(`invalid port "${spec}": "${hostIp}" is not an IPv4 address`);
  }
  return { hostIp, hostPort: host === "" ? 0 : portNumber(host, spec), containerPort, protocol };
}

/**
 * Whether the host lets this process take the port now (nobody else has
 * it); the port it got (the kernel's choice for port 0), or undefined.
 */
async function hostPortFree(
  hostIp: string,
  port: number,
  protocol: "tcp" | "udp",
): Promise<number | undefined> {
  const failed = (error: unknown) => {
    if (
      error instanceof Deno.errors.AddrInUse || (error as { code?: string }).code === "EADDRINUSE"
    ) {
      return undefined;
    }
    throw new DenockerError(
      `Cannot publish ${hostIp}:${port}/${protocol}: ${(error as Error).message}`,
      { cause: error },
    );
  };
  if (protocol === "tcp") {
    try {
      const listener = Deno.listen({ hostname: hostIp, port, transport: "tcp" });
      const taken = (listener.addr as Deno.NetAddr).port;
      listener.close();
      return taken;
    } catch (error) {
      return failed(error);
    }
  }
  // Deno's UDP sockets are unstable; Node's are not (loaded only for a UDP port).
  const { createSocket } = await import("node:dgram");
  return await new Promise<number | undefined>((resolve, reject) => {
    const socket = createSocket("udp4");
    socket.once("error", (error) => {
      socket.close();
      try {
        resolve(failed(error));
      } catch (reason) {
        reject(reason);
      }
    });
    socket.bind(port, hostIp, () => {
      const taken = socket.address().port;
      socket.close();
      resolve(taken);
    });
  });
}

/** Options for {@link reservePorts}. */
export interface ReservePortsOptions {
  /** `networks/` of the store root. */
  directory: string;
  /** Whether the container of a reservation still holds it (exists and has not ended). */
  inUse: (id: string) => Promise<boolean>;
}

/**
 * Reserves the host ports of a container's bindings: each free on the
 * host and not held by another container (`0.0.0.0` overlaps every
 * address); a host port of 0 becomes a free one.
 *
 * @param id The container's ID.
 * @param bindings What it publishes.
 * @param options Where reservations are, and which are live.
 * @returns The bindings with their host ports.
 */
export async function reservePorts(
  id: string,
  bindings: PortBinding[],
  options: ReservePortsOptions,
): Promise<PortBinding[]> {
  if (bindings.length === 0) return [];
  const directory = join(options.directory, "ports");
  await Deno.mkdir(directory, { recursive: true, mode: 0o700 });
  return await withLock(join(options.directory, "ports.lock"), { exclusive: true }, async () => {
    const held: { protocol: string; hostIp: string; port: number; holder: string }[] = [];
    for (const entry of await readDirIfExists(directory)) {
      const [protocol, hostIp, port] = entry.name.split("-");
      const holder = (await Deno.readTextFile(join(directory, entry.name)).catch(() => "")).trim();
      if (holder !== "" && holder !== id && await options.inUse(holder)) {
        held.push({ protocol, hostIp, port: Number(port), holder });
      } else {
        await Deno.remove(join(directory, entry.name)).catch(() => {});
      }
    }
    const overlaps = (a: string, b: string) => a === b || a === "0.0.0.0" || b === "0.0.0.0";
    const heldBy = (binding: PortBinding, port: number) =>
      held.find((other) =>
        other.protocol === binding.protocol && other.port === port &&
        overlaps(other.hostIp, binding.hostIp)
      );
    const reserved: PortBinding[] = [];
    for (const binding of bindings) {
      let port = binding.hostPort;
      const name = `${binding.hostIp}:${port}/${binding.protocol}`;
      const holder = port === 0 ? undefined : heldBy(binding, port);
      if (holder) {
        throw new DenockerError(
          `Bind for ${name} failed: port is already allocated (to container ${
            holder.holder.slice(0, 12)
          })`,
        );
      }
      // A free one: the kernel's choice, unless a stopped-listening container holds it.
      for (let attempt = 0; port === 0 && attempt < 20; attempt++) {
        const chosen = (await hostPortFree(binding.hostIp, 0, binding.protocol))!;
        if (!heldBy(binding, chosen)) port = chosen;
      }
      if (await hostPortFree(binding.hostIp, port, binding.protocol) === undefined) {
        throw new DenockerError(
          `Bind for ${binding.hostIp}:${port}/${binding.protocol} failed: port is already in use on the host`,
        );
      }
      const published = { ...binding, hostPort: port };
      held.push({ protocol: binding.protocol, hostIp: binding.hostIp, port, holder: id });
      reserved.push(published);
    }
    for (const binding of reserved) {
      await Deno.writeTextFile(join(directory, reservationName(binding)), `${id}\n`);
    }
    return reserved;
  });
}

function reservationName(binding: PortBinding): string {
  return `${binding.protocol}-${binding.hostIp}-${binding.hostPort}`;
}

/** Gives back a container's host ports (only the reservations it holds). */
export async function releasePorts(
  id: string,
  bindings: PortBinding[],
  networks: string,
): Promise<void> {
  if (bindings.length === 0) return;
  const directory = join(networks, "ports");
  await withLock(join(networks, "ports.lock"), { exclusive: true }, async () => {
    for (const binding of bindings) {
      const path = join(directory, reservationName(binding));
      const holder = (await Deno.readTextFile(path).catch(() => "")).trim();
      if (holder === id) await Deno.remove(path).catch(() => {});
    }
  });
}

/**
 * The nftables statements that forward (`add`) or stop forwarding
 * (`delete`) a container's published ports to its address, for the maps
 * of its network's table (see `network.ts`).
 */
export function portElements(
  action: "add" | "delete",
  table: string,
  address: string,
  bindings: PortBinding[],
): string {
  return bindings.map((binding) => {
    const any = binding.hostIp === "0.0.0.0";
    const map = `${binding.protocol}-${any ? "any" : "at"}`;
    const key = any ? `${binding.hostPort}` : `${binding.hostIp} . ${binding.hostPort}`;
    const value = action === "add" ? ` : ${address} . ${binding.containerPort}` : "";
    return `${action} element ip ${table} ${map} { ${key}${value} }\n`;
  }).join("");
}
