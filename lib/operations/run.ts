/**
 * Running a stored image as a container: new mount, PID, UTS, IPC (and
 * network) namespaces made by util-linux `unshare`, an overlay root over
 * the stored layers, device rules and cgroup limits, docker's default
 * capabilities and seccomp filter, and the image's command as PID 1 (see
 * `lib/runtime/init.ts` for what happens inside), or the same container
 * through an OCI runtime (runc, crun).
 *
 * @module
 */

import { join, relative } from "../io/path.ts";
import { DenockerError, ImageNotFoundError, InvalidInputError } from "../errors.ts";
import { parseReference } from "../model/reference.ts";
import {
  configPlatform,
  formatPlatform,
  hostPlatform,
  platformMatches,
} from "../model/platform.ts";
import type { Platform } from "../model/manifest.ts";
import {
  type FoundImage,
  type ImageRecord,
  type Store,
  storeOf,
  type StoreOptions,
} from "../store/store.ts";
import type { LayerStore } from "../store/layer_store.ts";
import { withLock } from "../io/lock.ts";
import { requireAllPermissions } from "../permissions.ts";
import { createCgroup, deviceRulesAvailable, type Limits } from "../runtime/cgroup.ts";
import { capabilityNumber, containerCapabilities } from "../runtime/capabilities.ts";
import { DEFAULT_DEVICE_RULES } from "../runtime/devices.ts";
import { containerFilter } from "../runtime/container_filter.ts";
import type { SecuritySpec } from "../runtime/init.ts";
import { hostTool } from "../runtime/host_tools.ts";
import { hostsFile, resolvConf } from "../runtime/network.ts";
import { NetworkStore } from "../runtime/network_store.ts";
import type { PortBinding } from "../runtime/ports.ts";
import {
  type MountRequest,
  type MountSpec,
  resolveMounts,
  VolumeStore,
} from "../runtime/volumes.ts";
import { ContainerLogWriter, type LogOptions } from "../runtime/container_log.ts";
import { chainIds } from "../model/layer.ts";
import {
  lowerDirectories,
  overlayDirectory,
  prepareLayer,
  type StackLayer,
} from "../runtime/overlay.ts";
import { lstatIfExists } from "../io/fs.ts";
import {
  type ContainerRecord,
  ContainerStore,
  currentProcess,
  freeName,
  isAlive,
  type RestartPolicy,
} from "../runtime/containers.ts";
import type { PullOptions, PullResult } from "./pull.ts";
import { type AttachedContainer, attachHeld } from "../runtime/attach.ts";
import {
  endContainer,
  launchContainer,
  type MonitorHandle,
  spawnMonitor,
} from "../runtime/launch.ts";

/** Options for {@link startContainer}. */
export interface RunOptions extends StoreOptions {
  /** The container's name; a generated one by default. */
  name?: string;
  /** Hostname inside; the ID's first 12 digits by default. */
  hostname?: string;
  /** `KEY=VALUE` entries over the image's `Env`; a bare `KEY` takes this process's value. */
  env?: string[];
  /**
   * Replaces the image's `Entrypoint` (`--entrypoint`); the image's `Cmd`
   * is then not used, as in docker. `[]` runs the command alone.
   */
  entrypoint?: string[];
  /** Working directory inside; the image's `WorkingDir`, else `/`. */
  workdir?: string;
  /** `uid[:gid]` or `name[:group]`; the image's `User`, else root. */
  user?: string;
  /** Memory limit in bytes (a process over it is killed). */
  memory?: number;
  /** CPU quota, in CPUs. */
  cpus?: number;
  /** Most processes and threads. */
  pidsLimit?: number;
  /**
   * `bridge` (default, as docker's: an address on denocker's bridge, with
   * outbound NAT), a user-defined network's name (containers there find
   * each other by name), `none` (a network namespace with only `lo`) or
   * `host`.
   */
  network?: string;
  /** More names it is found by on a user-defined network (`--network-alias`). */
  networkAliases?: string[];
  /** Its address on a user-defined network (`--ip`). */
  ip?: string;
  /** Its `eth0`'s hardware address on a bridge network (`--mac-address`). */
  macAddress?: string;
  /** `/etc/hosts` entries of its own (`--add-host HOST:IP`). */
  addHosts?: { host: string; ip: string }[];
  /** Name servers for its `/etc/resolv.conf` instead of the host's (`--dns`). */
  dns?: string[];
  /** Mount the root read-only. */
  readOnly?: boolean;
  /** Remove the container when it ends. */
  remove?: boolean;
  /**
   * Run it detached (`-d`): a monitor process of its own holds its output
   * (to its log), records its end and applies `remove` and `restart`; it
   * lives on after this process. stdin is empty.
   */
  detach?: boolean;
  /**
   * Give the command a new pseudo-terminal (`-t`): its output is the
   * terminal's, clients attach to type into it. Runs detached.
   */
  tty?: boolean;
  /** Keep its stdin open for clients that attach (`-i`). Runs detached. */
  interactive?: boolean;
  /**
   * The monitor keeps what the container writes until a first client
   * attaches (`run -it` attaches right after the start).
   */
  holdOutput?: boolean;
  /** When the monitor starts the command again (detached only: `detach`, `tty` or `interactive`); `no` by default. */
  restart?: RestartPolicy;
  /** `KEY=VALUE` labels recorded with the container. */
  labels?: Record<string, string>;
  /** The signal `stop` sends first (SIGTERM by default). */
  stopSignal?: Deno.Signal;
  /** Seconds `stop` waits before SIGKILL (10 by default). */
  stopTimeout?: number;
  /** The log's rotation (`--log-opt max-size=…,max-file=…`). */
  log?: LogOptions;
  /** Ports published on the host (`-p`, read by `parsePortBinding`); bridge network only. */
  publish?: PortBinding[];
  /** Publish each of the image's `ExposedPorts` on a free host port (`-P`). */
  publishAll?: boolean;
  /** Volumes, bind mounts and tmpfs (`-v`, `--mount`, `--tmpfs`, read by `parseVolumeFlag` and the like). */
  mounts?: MountRequest[];
  /**
   * The image's platform: a stored image of another is pulled again for
   * this one; one that is not the host's gets a warning (it runs only
   * where the kernel can run its binaries, e.g. through qemu-user).
   */
  platform?: Platform;
  /**
   * Run a minimal init as PID 1 (`--init`: the host's static tini, mounted
   * read-only at `/dev/init`) that passes signals on and reaps zombies.
   */
  init?: boolean;
  /** How a missing image is pulled (transport options and progress). */
  pull?: Omit<PullOptions, "root" | "store">;
  /** Called when the image is not stored, before it is pulled. */
  onPull?: (reference: string) => void;
  /** Called when that pull is done. */
  onPulled?: (result: PullResult) => void;
  /**
   * Where the container's stdin, stdout and stderr go: by default relayed
   * through pipes to this process's (a terminal on stdin is not read).
   */
  stdio?: "inherit" | "null";
  /** Capabilities added to docker's default set (`ALL`: every one). */
  capAdd?: string[];
  /** Capabilities taken from it (`ALL`: every one). */
  capDrop?: string[];
  /**
   * Every capability, no seccomp filter, no device rules, no masked paths,
   * `/sys` writable (`--privileged`): nothing of the boundary is left.
   */
  privileged?: boolean;
  /** Set `no_new_privs`: setuid programs and file capabilities give nothing. */
  noNewPrivileges?: boolean;
  /** `unconfined` runs without the seccomp filter. */
  seccomp?: "default" | "unconfined";
  /**
   * Run through an OCI runtime (`runc`, `crun`, or an absolute path)
   * instead of denocker's own init.
   */
  runtime?: string;
  /**
   * The root: an overlay over the stored layers, or a copy of the image
   * made for the container (slower to start, more disk). By default the
   * overlay, or the copy where the kernel has no overlayfs.
   */
  rootfs?: "overlay" | "copy";
  /** Told what the user should know (e.g. that the root is a copy). */
  onWarning?: (message: string) => void;
}

/** A container that was started. */
export interface RunningContainer {
  /** 64 hex digits. */
  id: string;
  /** Its name. */
  name: string;
  /**
   * Sends a signal to the container's first process. As for any PID 1, a
   * signal it has no handler for is ignored, but for SIGKILL.
   */
  kill(signal: Deno.Signal): void;
  /** Settles with the exit status once the container has ended (and was cleaned up). */
  exited: Promise<number>;
  /** With `holdOutput`: attached to it, its output from the start. */
  session?: AttachedContainer;
}

const ADJECTIVES = [
  "brave",
  "calm",
  "eager",
  "fond",
  "keen",
  "lucid",
  "merry",
  "quiet",
  "swift",
  "wise",
];
const NAMES = [
  "babbage",
  "curie",
  "darwin",
  "euler",
  "gauss",
  "hopper",
  "lovelace",
  "noether",
  "turing",
  "wu",
];

function generatedName(id: string): string {
  const n = parseInt(id.slice(0, 8), 16);
  return `${ADJECTIVES[n % ADJECTIVES.length]}_${NAMES[Math.floor(n / 256) % NAMES.length]}_${
    id.slice(0, 4)
  }`;
}

/** The image `text` names, pulled when it is a reference to an image not stored. */
async function findOrPull(store: Store, text: string, options: RunOptions): Promise<FoundImage> {
  const platform = options.platform;
  let found: FoundImage | undefined;
  let notFound: unknown;
  try {
    found = await store.find(text);
  } catch (error) {
    if (!(error instanceof ImageNotFoundError) && !(error instanceof InvalidInputError)) {
      throw error;
    }
    notFound = error;
  }
  // A stored image of another platform than the one asked for is pulled again, as docker does.
  const stored = found && platform
    ? configPlatform((await store.image(found.record.id)).config)
    : undefined;
  if (found && (!platform || platformMatches(platform, stored!))) return found;
  let reference;
  try {
    reference = parseReference(text);
  } catch {
    throw notFound ?? new ImageNotFoundError(
      `Cannot run ${text}: the image stored is ${formatPlatform(stored!)}, not ${
        formatPlatform(platform!)
      }`,
    );
  }
  options.onPull?.(text);
  // Loaded only when a pull is needed: a container's start does not pay for the pull's code.
  const { pullImage } = await import("./pull.ts");
  options.onPulled?.(await pullImage(reference, { ...options.pull, platform, store }));
  return await store.find(text);
}

/** The image's config section (`Env`, `Cmd`, …) as docker names its fields. */
interface RuntimeConfig {
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown>;
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
}

/** `--add-host`'s entries as `/etc/hosts` lines. */
function extraHostsOf(options: RunOptions): string[] {
  return (options.addHosts ?? []).map(({ host, ip }) => `${ip}\t${host}`);
}

/**
 * The network a container asks for: `none`, `host`, the default bridge, or
 * a user-defined network (which must exist); aliases and a fixed address
 * only on a user-defined one, as docker has it.
 */
async function networkOf(
  root: string,
  image: string,
  options: RunOptions,
): Promise<{ network: "none" | "host" | "bridge"; networkName?: string }> {
  const asked = options.network ?? "bridge";
  const userDefined = asked !== "none" && asked !== "host" && asked !== "bridge";
  if (!userDefined && (options.networkAliases?.length || options.ip !== undefined)) {
    throw new InvalidInputError(
      `Cannot run ${image}: ${
        options.ip !== undefined ? "--ip" : "--network-alias"
      } is supported only on user-defined networks`,
    );
  }
  if (options.macAddress !== undefined) {
    // A unicast address (the first octet's lowest bit clear), as docker requires.
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(options.macAddress)) {
      throw new InvalidInputError(`Cannot run ${image}: invalid MAC address ${options.macAddress}`);
    }
    if (parseInt(options.macAddress.slice(0, 2), 16) & 1) {
      throw new InvalidInputError(
        `Cannot run ${image}: ${options.macAddress} is a multicast MAC address`,
      );
    }
    if (asked === "none" || asked === "host") {
      throw new InvalidInputError(`Cannot run ${image}: --mac-address needs a bridge network`);
    }
  }
  for (const alias of options.networkAliases ?? []) {
    // Each lands in other containers' /etc/hosts: a name, nothing that could add a line.
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(alias)) {
      throw new InvalidInputError(`Cannot run ${image}: invalid network alias "${alias}"`);
    }
  }
  if (asked === "bridge") {
    // The default network takes the config's subnet (docker's bip) while no container is on it.
    const { readConfig } = await import("../transport/config.ts");
    const containers = new ContainerStore(root);
    await new NetworkStore(root).configureDefault((await readConfig()).bip, async (id) => {
      const record = await containers.read(id);
      return record !== undefined && record.state !== "exited";
    });
  }
  if (!userDefined) return { network: asked };
  const found = await new NetworkStore(root).read(asked);
  if (!found) throw new InvalidInputError(`Cannot run ${image}: network ${asked} not found`);
  return { network: "bridge", networkName: found.name };
}

/**
 * The ports a container publishes: `-p`'s, and with `-P` each of the
 * image's `ExposedPorts` on a free host port. Only a bridge network has
 * them: with the host's network they are left out with a warning (as
 * docker does), and `none` refuses them.
 */
function publishedPorts(
  image: string,
  options: RunOptions,
  imageConfig: RuntimeConfig,
  network: string,
  onWarning: (message: string) => void,
): PortBinding[] {
  const exposed = options.publishAll
    ? Object.keys(imageConfig.ExposedPorts ?? {}).map((key): PortBinding => {
      const [port, protocol = "tcp"] = key.split("/");
      return {
        hostIp: "0.0.0.0",
        hostPort: 0,
        containerPort: Number(port),
        protocol: protocol === "udp" ? "udp" : "tcp",
      };
    })
    : [];
  const given = options.publish ?? [];
  const ports = [
    ...given,
    ...exposed.filter((port) =>
      !given.some((other) =>
        other.containerPort === port.containerPort && other.protocol === port.protocol
      )
    ),
  ];
  if (ports.length === 0 || network === "bridge") return ports;
  if (network === "host") {
    onWarning("Published ports are discarded when using host network mode");
    return [];
  }
  throw new InvalidInputError(
    `Cannot run ${image}: published ports need a bridge network, not --network ${network}`,
  );
}

/**
 * Refuses options docker refuses before anything is done: `--cpus` beyond
 * the host's processors, an environment entry with no name.
 */
function checkRunOptions(image: string, options: RunOptions): void {
  const available = navigator.hardwareConcurrency;
  if (options.cpus !== undefined && !(options.cpus >= 0.01 && options.cpus <= available)) {
    throw new InvalidInputError(
      `Cannot run ${image}: range of CPUs is from 0.01 to ${available}.00, as there are only ${available} CPUs available`,
    );
  }
  if (options.workdir !== undefined && !options.workdir.startsWith("/")) {
    throw new InvalidInputError(
      `Cannot run ${image}: the working directory '${options.workdir}' is invalid, it needs to be an absolute path`,
    );
  }
  const restart = options.restart?.name ?? "no";
  if (restart !== "no" && options.remove) {
    throw new InvalidInputError(`Cannot run ${image}: conflicting options: --restart and --rm`);
  }
  if (options.init && options.runtime) {
    throw new InvalidInputError(`Cannot run ${image}: --init is not supported with --runtime yet`);
  }
  if (options.tty && options.runtime) {
    throw new InvalidInputError(`Cannot run ${image}: -t is not supported with --runtime yet`);
  }
  if (restart !== "no" && !byMonitor(options)) {
    throw new InvalidInputError(
      `Cannot run ${image}: --restart ${restart} needs detach (the container's monitor restarts it)`,
    );
  }
  for (const entry of options.env ?? []) {
    if (entry === "" || entry.startsWith("=")) {
      throw new InvalidInputError(
        `Cannot run ${image}: invalid environment variable: ${entry === "" ? '""' : entry}`,
      );
    }
  }
}

function environment(image: string[], given: string[], hostname: string): string[] {
  const entries = new Map<string, string>();
  const add = (entry: string) => {
    const at = entry.indexOf("=");
    if (at < 0) {
      const value = Deno.env.get(entry);
      if (value !== undefined) entries.set(entry, value);
      return;
    }
    entries.set(entry.slice(0, at), entry.slice(at + 1));
  };
  add("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  add(`HOSTNAME=${hostname}`);
  for (const entry of image) add(entry);
  for (const entry of given) add(entry);
  return [...entries].map(([key, value]) => `${key}=${value}`);
}

/** Whether the kernel can run seccomp filters. */
async function seccompAvailable(): Promise<boolean> {
  return await lstatIfExists("/proc/sys/kernel/seccomp/actions_avail") !== undefined;
}

/**
 * What limits the container's processes, and the device rules it gets:
 * docker's defaults, changed by the options. Where device rules cannot be
 * enforced, the container gets no CAP_MKNOD and a `nodev` root instead.
 */
async function securityOf(
  options: RunOptions,
  onWarning: (message: string) => void,
): Promise<{ security: Omit<SecuritySpec, "seccomp">; filter: boolean; devices: boolean }> {
  const privileged = options.privileged ?? false;
  let capabilities;
  try {
    capabilities = containerCapabilities({
      add: options.capAdd,
      drop: options.capDrop,
      privileged,
    });
  } catch (error) {
    throw new InvalidInputError(`Cannot run the container: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (privileged) {
    // Every capability the host has: asking an OCI runtime for one it lacks fails the start.
    const bounding = BigInt(
      `0x${
        /^CapBnd:\s*([0-9a-f]+)/m.exec(await Deno.readTextFile("/proc/self/status"))?.[1] ?? "0"
      }`,
    );
    capabilities = capabilities.filter((name) => (bounding >> BigInt(capabilityNumber(name))) & 1n);
  }
  const devices = !privileged && await deviceRulesAvailable();
  if (!privileged && !devices) {
    onWarning(
      "this machine's cgroups cannot limit devices: the container gets no CAP_MKNOD and a nodev root",
    );
    capabilities = capabilities.filter((name) => name !== "CAP_MKNOD");
  }
  const filter = !privileged && options.seccomp !== "unconfined";
  if (filter && !(await seccompAvailable())) {
    throw new DenockerError(
      "Cannot run the container: this kernel has no seccomp filters; --security-opt seccomp=unconfined runs it without one",
    );
  }
  return {
    security: {
      capabilities,
      noNewPrivileges: options.noNewPrivileges ?? false,
      privileged,
      rootNodev: !privileged && !devices,
    },
    filter,
    devices,
  };
}

/**
 * The mode, owner and times the container's `/` gets (the overlay shows its
 * upper directory's): those of the topmost layer that had a root entry,
 * else `0755` root's, as docker gives it.
 */
async function rootAttributes(
  layers: LayerStore,
  diffIds: string[],
): Promise<{ mode: number; uid: number; gid: number }> {
  for (const diffId of [...diffIds].reverse()) {
    if (!(await layers.read(diffId)).rootEntry) continue;
    const info = await Deno.stat(layers.fsPath(diffId));
    return { mode: (info.mode ?? 0o755) & 0o7777, uid: info.uid ?? 0, gid: info.gid ?? 0 };
  }
  return { mode: 0o755, uid: 0, gid: 0 };
}

/** Makes the container's directory and record (under the containers lock: names are unique). */
async function makeContainer(
  id: string,
  store: Store,
  containers: ContainerStore,
  found: FoundImage,
  image: string,
  command: string[],
  options: RunOptions,
): Promise<ContainerRecord> {
  const { record, config } = await store.image(found.record.id);
  const imageConfig = (config.config ?? {}) as RuntimeConfig;
  const platform = configPlatform(config);
  if (!platformMatches(hostPlatform(), platform)) {
    options.onWarning?.(
      `the image's platform (${formatPlatform(platform)}) does not match the host's (${
        formatPlatform(hostPlatform())
      })`,
    );
  }
  const { args, entrypoint, cmd } = commandOf(imageConfig, command, image, options.entrypoint);
  const onWarning = options.onWarning ?? (() => {});
  const { security, filter, devices } = await securityOf(options, onWarning);
  const runtime = options.runtime === undefined
    ? undefined
    : hostTool(options.runtime, "the OCI runtime");
  const { network, networkName } = await networkOf(store.root, image, options);
  const ports = publishedPorts(image, options, imageConfig, network, onWarning);
  const { mounts, fresh } = await resolveMounts(
    options.mounts ?? [],
    new VolumeStore(store.root),
    Object.keys(imageConfig.Volumes ?? {}),
  );
  const hostname = options.hostname ??
    (network === "host"
      ? (await Deno.readTextFile("/proc/sys/kernel/hostname")).trim()
      : id.slice(0, 12));
  const diffIds = record.layers.map((layer) => layer.diffId);
  const { layers } = store;
  const mode = options.rootfs ?? (await overlayAvailable() ? "overlay" : "copy");
  if (mode === "copy" && options.rootfs === undefined) {
    onWarning(
      "the kernel has no overlayfs: the container runs on a copy of the image (slower to start, more disk)",
    );
  }
  const limits = {
    memory: options.memory,
    cpus: options.cpus,
    pids: options.pidsLimit,
    devices: devices ? DEFAULT_DEVICE_RULES : undefined,
  };
  const plan: ContainerPlan = {
    id,
    image,
    record,
    args,
    entrypoint,
    cmd,
    hostname,
    network,
    networkName,
    ports,
    mounts,
    mode,
    runtime,
    limits,
    security,
    filter,
    imageConfig,
  };
  const made = withLayerStack(store, diffIds, mode, async (lowers) => {
    const rootOwner = mode === "copy" ? undefined : await rootAttributes(layers, diffIds);
    await containers.create();
    const container = await withLock(
      containers.lockPath,
      { exclusive: true },
      () => registerContainer(containers, plan, options, { rootOwner, lowers }),
    );
    if (mode === "copy") await copyRootfs(containers, container, layers, record);
    if (fresh.length > 0) {
      // Loaded only then: copying needs code a container's start otherwise does not.
      const { fillVolumes } = await import("./container_copy.ts");
      await fillVolumes(containers, container, fresh).catch(async (error) => {
        await containers.remove(container, { volumes: true }).catch(() => {});
        throw error;
      });
    }
    return container;
  });
  return await made.catch(async (error) => {
    // Anonymous volumes made for a container that was not made (a name in use, …) go too.
    const volumes = new VolumeStore(store.root);
    for (const mount of fresh) {
      if (mount.anonymous && mount.name) await volumes.remove(mount.name).catch(() => {});
    }
    throw error;
  });
}

/** What {@link makeContainer} worked out before it takes the containers' lock. */
interface ContainerPlan {
  id: string;
  image: string;
  record: ImageRecord;
  args: string[];
  entrypoint: string[];
  cmd: string[];
  hostname: string;
  network: "none" | "host" | "bridge";
  networkName?: string;
  ports: PortBinding[];
  mounts: MountSpec[];
  mode: "overlay" | "copy";
  runtime?: string;
  limits: Limits;
  security: Omit<SecuritySpec, "seccomp">;
  filter: boolean;
  imageConfig: RuntimeConfig;
}

/**
 * Names the container, writes its directory (overlay parts, seccomp filter,
 * an OCI runtime's config), makes its cgroups and saves its record; call
 * under the containers' lock.
 */
async function registerContainer(
  containers: ContainerStore,
  plan: ContainerPlan,
  options: RunOptions,
  root: { rootOwner?: { mode: number; uid: number; gid: number }; lowers: string[] },
): Promise<ContainerRecord> {
  const { id, hostname, network, runtime, limits, security, imageConfig } = plan;
  const name = await freeName(containers, options.name ?? generatedName(id));
  const directory = containers.path(id);
  await writeContainerDirectory(directory, {
    ...root,
    hostname,
    network,
    extraHosts: extraHostsOf(options),
    dns: options.dns,
  });
  const seccomp = plan.filter ? join(directory, "seccomp.bpf") : undefined;
  if (seccomp) {
    await Deno.writeFile(seccomp, await containerFilter(Deno.build.arch, security.capabilities), {
      mode: 0o600,
    });
  }
  // An OCI runtime makes the cgroup itself, from the bundle's config.
  const cgroups = runtime ? [] : await createCgroup(id, limits).catch(async (error) => {
    await Deno.remove(directory, { recursive: true });
    throw error;
  });
  const container: ContainerRecord = {
    id,
    name,
    image: plan.image,
    imageId: plan.record.id,
    diffIds: plan.record.layers.map((layer) => layer.diffId),
    command: plan.args,
    entrypoint: plan.entrypoint,
    cmd: plan.cmd,
    created: new Date().toISOString(),
    state: "created",
    autoRemove: options.remove ?? false,
    interactive: options.interactive,
    owner: byMonitor(options) ? undefined : await currentProcess(),
    cgroups: cgroups.map((cgroup) => cgroup.directory),
    limits,
    restartPolicy: options.restart,
    networkName: plan.networkName,
    aliases: options.networkAliases,
    ipAddress: options.ip,
    macAddress: options.macAddress,
    extraHosts: extraHostsOf(options),
    labels: options.labels,
    stopSignal: options.stopSignal,
    stopTimeout: options.stopTimeout,
    log: options.log,
    ports: plan.ports,
    spec: {
      directory,
      rootfs: plan.mode,
      lowerCount: Math.max(root.lowers.length, 1),
      hostname,
      env: environment(imageConfig.Env ?? [], options.env ?? [], hostname),
      args: plan.args,
      cwd: options.workdir ?? (imageConfig.WorkingDir || "/"),
      user: options.user ?? imageConfig.User ?? "",
      network,
      mounts: plan.mounts,
      readOnly: options.readOnly ?? false,
      cgroups,
      security: { ...security, seccomp },
      runtime,
      tty: options.tty,
      init: options.init ? hostTool("tini-static", "tini (for --init)") : undefined,
    },
  };
  if (runtime) {
    // Loaded only then: the OCI config's seccomp section needs the profile and its compiler.
    const { ociConfig } = await import("../runtime/oci_config.ts");
    await Deno.writeTextFile(
      join(directory, "config.json"),
      JSON.stringify(ociConfig(id, container.spec, limits), null, 2),
      { mode: 0o600 },
    );
  }
  await containers.save(container);
  return container;
}

/**
 * The command a container runs: the image's entrypoint, then the given
 * command or its Cmd; a given entrypoint, then the given command.
 */
function commandOf(
  config: RuntimeConfig,
  command: string[],
  image: string,
  given: string[] | undefined,
): { entrypoint: string[]; cmd: string[]; args: string[] } {
  const entrypoint = given ?? config.Entrypoint ?? [];
  const cmd = given !== undefined || command.length > 0 ? command : config.Cmd ?? [];
  if (entrypoint.length + cmd.length === 0) {
    throw new InvalidInputError(`Cannot run ${image}: no command given and the image has none`);
  }
  return { entrypoint, cmd, args: [...entrypoint, ...cmd] };
}

/** Whether a container is started by a monitor of its own (not waited for by this process). */
function byMonitor(options: RunOptions): boolean {
  return options.detach === true || options.tty === true || options.interactive === true;
}

/**
 * Runs `fn` while holding the store, with the image's layer stack prepared
 * as overlay lower directories (`fn` gets them, topmost first; none for a
 * copied root). Each stack is prepared once, under a staging hold; after
 * that a container only reads.
 */
async function withLayerStack<T>(
  store: Store,
  diffIds: string[],
  mode: "overlay" | "copy",
  fn: (lowers: string[]) => Promise<T>,
): Promise<T> {
  const chains = await chainIds(diffIds);
  const stack: StackLayer[] = diffIds.map((diffId, i) => ({ diffId, chainId: chains[i] }));
  const ready = mode === "copy" || (await Promise.all(
    stack.map((layer) => lstatIfExists(overlayDirectory(store.root, layer.chainId))),
  )).every(Boolean);
  const work = async (staging?: string) => {
    for (let i = 0; staging !== undefined && i < stack.length; i++) {
      await prepareLayer(store.root, store.layers, stack, i, staging);
    }
    return await fn(mode === "copy" ? [] : await lowerDirectories(store.root, store.layers, stack));
  };
  return ready ? await store.whileReading(() => work()) : await store.whileAdding(work);
}

/** Fills a copied container root with the image's layers; the container is removed on failure. */
async function copyRootfs(
  containers: ContainerStore,
  container: ContainerRecord,
  layers: LayerStore,
  record: ImageRecord,
): Promise<void> {
  const copy = join(container.spec.directory, "copy");
  try {
    // The root is 0755 unless a layer's root entry says otherwise (flatten applies it).
    await Deno.mkdir(copy);
    await Deno.chmod(copy, 0o755);
    const { flatten } = await import("../layer/flatten.ts");
    await flatten(layers, record, copy, { preserveOwnership: true });
  } catch (error) {
    await containers.remove(container, { volumes: true }).catch(() => {});
    throw error;
  }
}

/**
 * Makes a container's directory: root's alone (its upper directory holds
 * the container's files, setuid ones too, and its record the environment
 * given with -e), with the overlay's upper, work and lower links, and the
 * files mounted over `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`.
 */
async function writeContainerDirectory(
  directory: string,
  parts: {
    /** The image root's own attributes, which show from the upper directory. */
    rootOwner?: { mode: number; uid: number; gid: number };
    lowers: string[];
    hostname: string;
    network: string;
    extraHosts: string[];
    dns?: string[];
  },
): Promise<void> {
  const { rootOwner, lowers, hostname, network, extraHosts, dns } = parts;
  await Deno.mkdir(directory, { mode: 0o700 });
  await Deno.chmod(directory, 0o700);
  for (const part of ["upper", "work", "rootfs", "lower"]) {
    await Deno.mkdir(join(directory, part));
  }
  if (rootOwner) {
    await Deno.chmod(join(directory, "upper"), rootOwner.mode);
    await Deno.chown(join(directory, "upper"), rootOwner.uid, rootOwner.gid);
  }
  const empty = join(directory, "empty");
  if (lowers.length === 0) await Deno.mkdir(empty);
  for (const [i, lower] of (lowers.length > 0 ? lowers : [empty]).entries()) {
    await Deno.symlink(
      relative(join(directory, "lower"), lower),
      join(directory, "lower", String(i)),
    );
  }
  await Deno.writeTextFile(join(directory, "hostname"), `${hostname}\n`);
  // A bridge network's address is added when it starts (it has one only while it runs).
  const hosts = network === "host"
    ? await Deno.readTextFile("/etc/hosts").catch(() => "127.0.0.1\tlocalhost\n")
    : hostsFile(hostname);
  await Deno.writeTextFile(
    join(directory, "hosts"),
    hosts.replace(/\n*$/, "\n") + extraHosts.map((line) => `${line}\n`).join(""),
  );
  const hostResolver = await Deno.readTextFile("/etc/resolv.conf").catch(() => "");
  await Deno.writeTextFile(
    join(directory, "resolv.conf"),
    network === "host" && !dns ? hostResolver : resolvConf(hostResolver, dns),
  );
}

/** Whether the kernel has overlayfs (listed in /proc/filesystems, or loadable as a module). */
async function overlayAvailable(): Promise<boolean> {
  const listed = await Deno.readTextFile("/proc/filesystems").catch(() => "");
  if (/\toverlay$/m.test(listed)) return true;
  const release = await Deno.readTextFile("/proc/sys/kernel/osrelease").catch(() => "");
  return await lstatIfExists(`/lib/modules/${release.trim()}/kernel/fs/overlayfs`) !== undefined;
}

/** Runs a created container with its monitor; see {@link startContainer}'s `detach`. */
async function detached(
  containers: ContainerStore,
  record: ContainerRecord,
  monitor: MonitorHandle,
  hold: boolean,
): Promise<RunningContainer> {
  try {
    await monitor.start();
  } catch (error) {
    const current = await containers.read(record.id);
    if (current && current.state !== "running") {
      await containers.remove(current, { volumes: true }).catch(() => {});
    }
    throw error;
  }
  return {
    id: record.id,
    name: record.name,
    async kill(signal) {
      const current = await containers.read(record.id);
      try {
        if (current?.process && await isAlive(current.process)) {
          Deno.kill(current.process.pid, signal);
        }
      } catch {
        // Already ended.
      }
    },
    exited: containers.ended(record.id).then((status) => status ?? 0),
    session: hold
      ? await attachHeld(record.id, record.spec.tty === true, record.interactive === true)
      : undefined,
  };
}

function newContainerId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)))
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Makes a container from an image without starting it, as `docker
 * create`: pulled when needed, its root, files, cgroups and record ready,
 * in the `created` state; {@link startStoppedContainer} starts it
 * (detached, with its monitor). Takes {@link startContainer}'s options but
 * `detach` (a created container is started detached).
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @example
 * ```ts
 * import { createContainer, startStoppedContainer } from "@denocker/denocker";
 * const { id } = await createContainer("busybox", ["sleep", "60"], { name: "later" });
 * await startStoppedContainer(id);
 * ```
 *
 * @param image A stored image's name or ID, or a reference to pull.
 * @param command Replaces the image's `Cmd` when not empty.
 * @param options Store, limits, security, and the rest.
 * @returns Its ID and name.
 */
export async function createContainer(
  image: string,
  command: string[],
  options: RunOptions = {},
): Promise<{ id: string; name: string }> {
  if (Deno.build.os !== "linux") throw new DenockerError("Cannot run containers: they need Linux");
  requireAllPermissions("create containers");
  if (Deno.uid() !== 0) {
    throw new DenockerError("Cannot create containers: denocker needs to run as root for that");
  }
  // Started later, by a monitor: as a detached one.
  const detached = { ...options, detach: true };
  checkRunOptions(image, detached);
  const store = await storeOf(options, { create: true });
  const containers = new ContainerStore(store.root);
  await containers.reap();
  const found = await findOrPull(store, image, detached);
  const record = await makeContainer(
    newContainerId(),
    store,
    containers,
    found,
    image,
    command,
    detached,
  );
  return { id: record.id, name: record.name };
}

/**
 * Starts an image as a container: pulls it when it is not stored (a
 * reference), makes the container (overlay root, files, cgroup with the
 * limits and device rules), and starts its command, the image's
 * `Entrypoint` + `Cmd` unless `command` replaces the `Cmd`, with the
 * image's `Env`, `WorkingDir` and `User` unless options override them.
 * The command has docker's default capabilities, seccomp filter, masked
 * paths and devices, a session of its own, no descriptor of this process
 * but the pipes of its stdio. In the foreground this process waits for it;
 * with `detach` a monitor of its own does (see `monitor.ts`), and it lives
 * on after this process. Linux only, as root; needs util-linux `unshare`
 * and coreutils `timeout` (or the OCI runtime asked for).
 *
 * Requires every permission (`--allow-all`): Deno lets only that read the
 * `/proc` and `/sys` files containers need.
 *
 * @example
 * ```ts
 * import { startContainer } from "@denocker/denocker";
 * const container = await startContainer("busybox", ["echo", "hello"], {
 *   root: "/var/lib/denocker",
 *   remove: true,
 * });
 * console.log(await container.exited); // 0
 * ```
 *
 * @param image A stored image's name or ID, or a reference to pull.
 * @param command Replaces the image's `Cmd` when not empty.
 * @param options Store, limits, security, and the rest.
 * @returns The running container.
 */
export async function startContainer(
  image: string,
  command: string[],
  options: RunOptions = {},
): Promise<RunningContainer> {
  if (Deno.build.os !== "linux") throw new DenockerError("Cannot run containers: they need Linux");
  requireAllPermissions("run containers");
  if (Deno.uid() !== 0) {
    throw new DenockerError("Cannot run containers: denocker needs to run as root for that");
  }
  checkRunOptions(image, options);
  const store = await storeOf(options, { create: true });
  const containers = new ContainerStore(store.root);
  const id = newContainerId();
  if (byMonitor(options)) {
    // The monitor's start-up overlaps the container's making (and a pull).
    const monitor = spawnMonitor(store.root, id, options.holdOutput);
    let made;
    try {
      await containers.reap();
      const found = await findOrPull(store, image, options);
      made = await makeContainer(id, store, containers, found, image, command, options);
    } catch (error) {
      monitor.cancel();
      throw error;
    }
    return await detached(containers, made, monitor, options.holdOutput ?? false);
  }
  await containers.reap();
  const found = await findOrPull(store, image, options);
  const record = await makeContainer(id, store, containers, found, image, command, options);
  const stdio = options.stdio ?? "inherit";
  // Every container logs its output (docker's json-file), a foreground one too.
  const log = stdio === "null"
    ? undefined
    : await ContainerLogWriter.open(containers.logPath(record.id), record.log).catch(() =>
      undefined
    );
  let ended: Promise<number>;
  try {
    ({ ended } = await launchContainer(containers, record, stdio, log));
  } catch (error) {
    await log?.close();
    await containers.remove(record, { volumes: true }).catch(() => {});
    throw error;
  }
  const exited = ended.then(async (status) => {
    await log?.close();
    await endContainer(containers, record, status);
    return status;
  });
  return {
    id: record.id,
    name: record.name,
    kill(signal) {
      try {
        if (record.process) Deno.kill(record.process.pid, signal);
      } catch {
        // Already ended.
      }
    },
    exited,
  };
}
