/**
 * A container as `docker inspect` shows it: the same keys and shapes, for
 * scripts that read them (`{{.State.Status}}`, `{{json .Config}}`).
 *
 * @module
 */

import { join } from "../io/path.ts";
import type { StoreOptions } from "../store/store.ts";
import { DEFAULT_LOG_MAX_FILES, DEFAULT_LOG_MAX_SIZE } from "../runtime/container_log.ts";
import { type ContainerRecord, isAlive } from "../runtime/containers.ts";
import type { NetworkAttachment } from "../runtime/network.ts";
import type { PortBinding } from "../runtime/ports.ts";
import { findContainer } from "./_container_lookup.ts";

/** Go's zero time, which docker shows for a time that has not come. */
const ZERO_TIME = "0001-01-01T00:00:00Z";

/** A container in `docker inspect`'s shape (the keys denocker has). */
export interface ContainerInspect {
  /** docker's `Id`. */
  Id: string;
  /** docker's `Created`. */
  Created: string;
  /** docker's `Path`. */
  Path: string;
  /** docker's `Args`. */
  Args: string[];
  /** docker's `State`. */
  State: {
    /** docker's `State.Status`. */
    Status: "created" | "running" | "restarting" | "exited";
    /** docker's `State.Running`. */
    Running: boolean;
    /** docker's `State.Paused`. */
    Paused: boolean;
    /** docker's `State.Restarting`. */
    Restarting: boolean;
    /** docker's `State.OOMKilled`. */
    OOMKilled: boolean;
    /** docker's `State.Dead`. */
    Dead: boolean;
    /** docker's `State.Pid`. */
    Pid: number;
    /** docker's `State.ExitCode`. */
    ExitCode: number;
    /** docker's `State.Error`. */
    Error: string;
    /** docker's `State.StartedAt`. */
    StartedAt: string;
    /** docker's `State.FinishedAt`. */
    FinishedAt: string;
  };
  /** docker's `Image`. */
  Image: string;
  /** docker's `ResolvConfPath`. */
  ResolvConfPath: string;
  /** docker's `HostnamePath`. */
  HostnamePath: string;
  /** docker's `HostsPath`. */
  HostsPath: string;
  /** docker's `LogPath`. */
  LogPath: string;
  /** docker's `Name`. */
  Name: string;
  /** docker's `RestartCount`. */
  RestartCount: number;
  /** docker's `Driver`. */
  Driver: string;
  /** docker's `Platform`. */
  Platform: string;
  /** docker's `HostConfig`. */
  HostConfig: {
    /** docker's `HostConfig.Binds`. */
    Binds: string[] | null;
    /** docker's `HostConfig.LogConfig`. */
    LogConfig: { Type: "json-file"; Config: Record<string, string> };
    /** docker's `HostConfig.NetworkMode`. */
    NetworkMode: string;
    /** docker's `HostConfig.PortBindings`: what `-p` asked for (`HostPort` "" for any). */
    PortBindings: Record<string, { HostIp: string; HostPort: string }[]>;
    /** docker's `HostConfig.RestartPolicy`. */
    RestartPolicy: { Name: string; MaximumRetryCount: number };
    /** docker's `HostConfig.AutoRemove`. */
    AutoRemove: boolean;
    /** docker's `HostConfig.CapAdd`. */
    CapAdd: string[] | null;
    /** docker's `HostConfig.Privileged`. */
    Privileged: boolean;
    /** docker's `HostConfig.ReadonlyRootfs`. */
    ReadonlyRootfs: boolean;
    /** docker's `HostConfig.Runtime`. */
    Runtime: string;
    /** docker's `HostConfig.Memory`. */
    Memory: number;
    /** docker's `HostConfig.NanoCpus`. */
    NanoCpus: number;
    /** docker's `HostConfig.PidsLimit`. */
    PidsLimit: number | null;
  };
  /** docker's `Mounts`. */
  Mounts: MountPoint[];
  /** docker's `NetworkSettings`: the address while it runs on a bridge network. */
  NetworkSettings: {
    /** The network namespace's file (docker's `SandboxKey`). */
    SandboxKey: string;
    /** docker's `NetworkSettings.Gateway` (of the default network). */
    Gateway: string;
    /** docker's `NetworkSettings.IPAddress` (on the default network). */
    IPAddress: string;
    /** docker's `NetworkSettings.IPPrefixLen`. */
    IPPrefixLen: number;
    /** docker's `NetworkSettings.MacAddress`. */
    MacAddress: string;
    /** docker's `NetworkSettings.Networks`, by network name. */
    Networks: Record<string, NetworkEndpoint>;
    /** docker's `NetworkSettings.Ports`: `80/tcp` to where it is published, while it runs. */
    Ports: Record<string, { HostIp: string; HostPort: string }[]>;
  };
  /** docker's `Config`. */
  Config: {
    /** docker's `Config.Hostname`. */
    Hostname: string;
    /** docker's `Config.User`. */
    User: string;
    /** docker's `Config.Env`. */
    Env: string[];
    /** docker's `Config.Cmd`. */
    Cmd: string[] | null;
    /** docker's `Config.Image`. */
    Image: string;
    /** docker's `Config.WorkingDir`. */
    WorkingDir: string;
    /** docker's `Config.Entrypoint`. */
    Entrypoint: string[] | null;
    /** docker's `Config.Tty`: it has a terminal (`-t`). */
    Tty: boolean;
    /** docker's `Config.OpenStdin`: its stdin stays open (`-i`). */
    OpenStdin: boolean;
    /** docker's `Config.Labels`. */
    Labels: Record<string, string>;
    /** docker's `Config.StopSignal`. */
    StopSignal: string;
    /** docker's `Config.StopTimeout`. */
    StopTimeout: number | null;
  };
}

/** One of a container's mounts, as docker's `Mounts` entries. */
export interface MountPoint {
  /** `bind`, `volume` or `tmpfs`. */
  Type: string;
  /** The volume's name (volumes only). */
  Name?: string;
  /** The host path (none for tmpfs). */
  Source: string;
  /** Where inside. */
  Destination: string;
  /** `local` for volumes. */
  Driver?: string;
  /** `ro`, or "" (docker's `-v` modes). */
  Mode: string;
  /** Writable. */
  RW: boolean;
  /** Mount propagation: always `rprivate`. */
  Propagation: string;
}

/** A container's place on one network, as docker's `NetworkSettings.Networks` entries. */
export interface NetworkEndpoint {
  /** docker's `Gateway`. */
  Gateway: string;
  /** docker's `IPAddress`. */
  IPAddress: string;
  /** docker's `IPPrefixLen`. */
  IPPrefixLen: number;
  /** docker's `MacAddress`. */
  MacAddress: string;
}

/** Ports by `PORT/PROTOCOL`, as docker lists them. */
function portMap(bindings: PortBinding[]): Record<string, { HostIp: string; HostPort: string }[]> {
  const map: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const binding of bindings) {
    const key = `${binding.containerPort}/${binding.protocol}`;
    (map[key] ??= []).push({
      HostIp: binding.hostIp,
      HostPort: binding.hostPort === 0 ? "" : String(binding.hostPort),
    });
  }
  return map;
}

/** What docker shows of a container's networks (empty while it has no address). */
function networkSettings(record: ContainerRecord): ContainerInspect["NetworkSettings"] {
  const attachment = record.attachment;
  const endpointOf = (item: NetworkAttachment | undefined): NetworkEndpoint => ({
    Gateway: item?.gateway ?? "",
    IPAddress: item?.address ?? "",
    IPPrefixLen: item?.prefixLength ?? 0,
    MacAddress: item?.macAddress ?? "",
  });
  const endpoint = endpointOf(attachment);
  const first = record.spec.network === "bridge"
    ? record.networkName ?? "bridge"
    : record.spec.network;
  const connected = new Map((record.connected ?? []).map((item) => [item.network, item]));
  return {
    SandboxKey: attachment?.namespace ?? record.connected?.[0]?.namespace ?? "",
    ...endpoint,
    Networks: Object.fromEntries([
      [first, endpoint],
      // Connected ones: their endpoints while it runs, empty ones until it does.
      ...(record.connections ?? []).map((connection) => [
        connection.network,
        endpointOf(connected.get(connection.network)),
      ]),
    ]),
    Ports: portMap(attachment?.ports ?? []),
  };
}

/** A record's inspect document; `alive` says whether its first process still runs. */
export function containerDocument(
  record: ContainerRecord,
  logPath: string,
  alive: boolean,
): ContainerInspect {
  const running = record.state === "running" && alive;
  const directory = record.spec.directory;
  const limits = record.limits ?? {};
  return {
    Id: record.id,
    Created: record.created,
    Path: record.command[0] ?? "",
    Args: record.command.slice(1),
    State: {
      Status: record.state === "running" && !alive ? "exited" : record.state,
      Running: running,
      Paused: false,
      Restarting: record.state === "restarting",
      OOMKilled: false,
      Dead: false,
      Pid: running ? record.process?.pid ?? 0 : 0,
      ExitCode: record.exitCode ?? 0,
      Error: record.error ?? "",
      StartedAt: record.started ?? ZERO_TIME,
      FinishedAt: running ? ZERO_TIME : record.finished ?? ZERO_TIME,
    },
    Image: record.imageId,
    ResolvConfPath: join(directory, "resolv.conf"),
    HostnamePath: join(directory, "hostname"),
    HostsPath: join(directory, "hosts"),
    LogPath: logPath,
    Name: `/${record.name}`,
    RestartCount: record.restartCount ?? 0,
    Driver: record.spec.rootfs === "copy" ? "copy" : "overlay2",
    Platform: "linux",
    NetworkSettings: networkSettings(record),
    HostConfig: {
      Binds: null,
      LogConfig: {
        Type: "json-file",
        Config: {
          "max-size": String(record.log?.maxSize ?? DEFAULT_LOG_MAX_SIZE),
          "max-file": String(record.log?.maxFiles ?? DEFAULT_LOG_MAX_FILES),
        },
      },
      NetworkMode: record.spec.network,
      // docker shows the address -p was given, "" for none.
      PortBindings: Object.fromEntries(
        Object.entries(portMap(record.ports ?? [])).map(([port, bindings]) => [
          port,
          bindings.map((binding) => ({
            ...binding,
            HostIp: binding.HostIp === "0.0.0.0" ? "" : binding.HostIp,
          })),
        ]),
      ),
      RestartPolicy: {
        Name: record.restartPolicy?.name ?? "no",
        MaximumRetryCount: record.restartPolicy?.maximumRetryCount ?? 0,
      },
      AutoRemove: record.autoRemove,
      CapAdd: null,
      Privileged: record.spec.security.privileged,
      ReadonlyRootfs: record.spec.readOnly,
      Runtime: record.spec.runtime ?? "denocker",
      Memory: limits.memory ?? 0,
      NanoCpus: Math.round((limits.cpus ?? 0) * 1e9),
      PidsLimit: limits.pids ?? null,
    },
    Mounts: (record.spec.mounts ?? []).map((mount) => ({
      Type: mount.type,
      ...(mount.name ? { Name: mount.name } : {}),
      Source: mount.source ?? "",
      Destination: mount.target,
      ...(mount.type === "volume" ? { Driver: "local" } : {}),
      Mode: mount.readOnly ? "ro" : "",
      RW: !mount.readOnly,
      Propagation: mount.type === "bind" ? "rprivate" : "",
    })),
    Config: {
      Hostname: record.spec.hostname,
      User: record.spec.user,
      Env: record.spec.env,
      Cmd: record.cmd ?? null,
      Image: record.image,
      WorkingDir: record.spec.cwd,
      Entrypoint: record.entrypoint?.length ? record.entrypoint : null,
      Tty: record.spec.tty === true,
      OpenStdin: record.interactive === true,
      Labels: record.labels ?? {},
      StopSignal: record.stopSignal ?? "",
      StopTimeout: record.stopTimeout ?? null,
    },
  };
}

/**
 * A container as `docker inspect` shows it.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @example
 * ```ts
 * import { inspectContainer } from "@denocker/denocker";
 * const info = await inspectContainer("web", { root: "/var/lib/denocker" });
 * console.log(info.State.Status, info.State.Pid);
 * ```
 *
 * @param name A container's name or ID (prefix).
 * @param options The store.
 * @returns Its document.
 */
export async function inspectContainer(
  name: string,
  options: StoreOptions = {},
): Promise<ContainerInspect> {
  const { containers, record } = await findContainer(name, options);
  return containerDocument(record, containers.logPath(record.id), await isAlive(record.process));
}
