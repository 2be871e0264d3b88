/**
 * Starting a container that is made (see `lib/operations/run.ts`): the
 * command line that makes its namespaces and starts denocker's init (or an
 * OCI runtime), the wait until its first process is the command, the
 * record of its start and of its end, and the hand-over of a detached
 * container to its monitor (`monitor.ts`). Only runtime modules are
 * imported here: the monitor loads this and little else.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { ContainerStartError, DenockerError } from "../errors.ts";
import { type CgroupDirectory, createCgroup, removeCgroup } from "./cgroup.ts";
import { hostEnvironment, hostTool } from "./host_tools.ts";
import { type OutputSink, relayStdio, type StdioMode, stdioOptions } from "./stdio.ts";
import type { AttachHandlers, AttachServer } from "./attach.ts";
import { type PseudoTerminal, receiveTerminal } from "./terminal.ts";
import { attachNetwork, DEFAULT_NETWORK, type NetworkAttachment } from "./network.ts";
import { NetworkStore } from "./network_store.ts";
import { rootLayout } from "../store/layout.ts";
import type { ContainerLogWriter } from "./container_log.ts";
import {
  type ContainerRecord,
  type ContainerStore,
  exitStatus,
  type NetworkConnection,
  processStart,
  releaseRuntime,
} from "./containers.ts";

/**
 * How the init is started: this program again (compiled), or Deno running
 * the init module.
 *
 * @param mode `run`, `exec` or `runtime`.
 * @param specPath Its spec.
 * @returns The command line.
 */
export function initCommand(mode: string, specPath: string): string[] {
  return selfCommand("__container-init", "./init.ts", [mode, specPath]);
}

/**
 * This program again in one of its roles: the compiled binary with the
 * role's word, or Deno running the role's module (with `v8Flags`).
 */
function selfCommand(word: string, module: string, args: string[], v8Flags = ""): string[] {
  if (Deno.build.standalone) return [Deno.execPath(), word, ...args];
  return [
    Deno.execPath(),
    "run",
    "--allow-all",
    "--no-config",
    "--quiet",
    ...(v8Flags ? [`--v8-flags=${v8Flags}`] : []),
    new URL(module, import.meta.url).href,
    ...args,
  ];
}

/** The host PID of `parent`'s first child, waited for (unshare forks it at once). */
export async function firstChild(parent: number): Promise<number | undefined> {
  for (let attempt = 0; attempt < 500; attempt++) {
    try {
      const text = await Deno.readTextFile(`/proc/${parent}/task/${parent}/children`);
      const child = Number(text.trim().split(" ")[0]);
      if (child > 0) return child;
    } catch {
      return undefined; // The parent is gone.
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return undefined;
}

/**
 * Moves a starting init into the cgroups it may be in from the start, so
 * that the migration's wait overlaps its start-up; the init joins what is
 * left (and any of these that failed) itself.
 *
 * @param cgroups The container's cgroups.
 * @param pid The init's host PID.
 */
export async function joinEarly(cgroups: CgroupDirectory[], pid: number): Promise<void> {
  await Promise.all(
    cgroups.filter((cgroup) => cgroup.early).map((cgroup) =>
      Deno.writeTextFile(join(cgroup.directory, "cgroup.procs"), String(pid)).catch(() => {})
    ),
  );
}

/**
 * Waits until a container's first process has become the command (or has
 * ended): before, it is the host's shell that bind-mounts denocker's
 * binary, then denocker's init, which holds the host's files and, on some
 * of its threads, the host's privileges: no process of the container may
 * exist meanwhile (`exec` is refused until then). Whether it was seen as
 * the command.
 */
async function untilCommand(pid: number, init: Deno.ChildProcess): Promise<boolean> {
  let ended = false;
  init.status.then(() => ended = true);
  const hosts = await Promise.all(
    [Deno.execPath(), hostTool("sh", "a POSIX shell")].map((path) => Deno.stat(path)),
  );
  while (!ended) {
    const exe = await Deno.stat(`/proc/${pid}/exe`).catch(() => undefined);
    if (!exe) return false;
    if (!hosts.some((host) => host.dev === exe.dev && host.ino === exe.ino)) return true;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return false;
}

/** The container's first process as the OCI runtime records it, once it has one. */
async function runtimeProcess(directory: string, runtime: Deno.ChildProcess) {
  let ended = false;
  runtime.status.then(() => ended = true);
  for (let attempt = 0; attempt < 1000 && !ended; attempt++) {
    const text = await Deno.readTextFile(join(directory, "runtime.pid")).catch(() => "");
    if (/^[0-9]+$/.test(text.trim())) return Number(text.trim());
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return undefined;
}

/**
 * A host shell command line that bind-mounts denocker's own binary
 * read-only onto itself in the current (new, private) mount namespace, and
 * then runs `command`, so that the init it starts runs from that mount: a
 * container that reaches the binary through `/proc/self/exe` finds a
 * read-only file system (runc copies itself to a sealed memfd for the same
 * reason; Deno is too large to copy at every start).
 *
 * @param command What to run then (the init, or what starts it).
 * @returns The command line.
 */
export function fromReadOnlyBinary(command: string[]): string[] {
  return [
    hostTool("sh", "a POSIX shell"),
    "-c",
    `${hostTool("mount", "util-linux")} --bind -o ro "$1" "$1" && shift && exec "$@"`,
    "sh",
    Deno.execPath(),
    ...command,
  ];
}

/**
 * The command that starts a container: with denocker's init, `unshare`
 * makes the namespaces and `timeout` (without a limit) forks into the new
 * PID namespace what becomes its PID 1, passes signals on, and ends as the
 * container's first process ends, with its code or killed by the same
 * signal (`unshare --fork` cannot: it fails with a message of its own when
 * its child is killed by SIGKILL). With an OCI runtime, `unshare` makes
 * only a mount namespace for the root (and the network namespace), and
 * the runtime the rest.
 */
function startCommand(record: ContainerRecord, specPath: string): string[] {
  const unshare = hostTool("unshare", "util-linux");
  const network = record.spec.network === "none" ? ["--net"] : [];
  // On a bridge network the container joins the namespace made for it (see network.ts).
  const joined = record.attachment
    ? [hostTool("nsenter", "util-linux"), `--net=${record.attachment.namespace}`, "--"]
    : [];
  if (record.spec.runtime) {
    return [
      ...joined,
      unshare,
      "--mount",
      "--propagation",
      "private",
      ...network,
      "--",
      ...initCommand("runtime", specPath),
    ];
  }
  return [
    ...joined,
    unshare,
    "--mount",
    "--uts",
    "--ipc",
    "--pid",
    ...network,
    "--",
    hostTool("timeout", "coreutils"),
    "--foreground",
    "0",
    ...fromReadOnlyBinary(initCommand("run", specPath)),
  ];
}

/** The first `ethN` none of a container's attachments has. */
export function nextInterface(attachments: NetworkAttachment[]): string {
  const taken = new Set(attachments.map((attachment) => attachment.interface ?? "eth0"));
  let n = 0;
  while (taken.has(`eth${n}`)) n++;
  return `eth${n}`;
}

/**
 * Gives a container an address on a network and the interface `device`
 * there (`eth0` makes its network namespace; see {@link attachNetwork}).
 * Its first network also publishes its ports.
 */
export async function attachRecord(
  containers: ContainerStore,
  record: ContainerRecord,
  connection: NetworkConnection,
  device: string,
): Promise<NetworkAttachment> {
  const network = await new NetworkStore(containers.root).read(connection.network);
  if (!network) {
    throw new DenockerError(
      `Cannot start container ${record.name}: network ${connection.network} not found`,
    );
  }
  return await attachNetwork(record.id, network, {
    directory: rootLayout(containers.root).networks,
    ports: device === "eth0" ? record.ports : [],
    address: connection.ipAddress,
    macAddress: device === "eth0" ? record.macAddress : undefined,
    hostname: record.spec.hostname,
    hosts: join(record.spec.directory, "hosts"),
    names: [record.name, ...(connection.aliases ?? []), record.id.slice(0, 12)],
    extraHosts: record.extraHosts,
    interface: device,
    inUse: async (id) => {
      // One of its own without an attachment is what a crash left: taken back.
      if (id === record.id) return false;
      const holder = await containers.read(id);
      return holder !== undefined && holder.state !== "exited";
    },
  });
}

/**
 * Starts a created (or ended) container's command once: spawns it, relays
 * or logs its output, and records it as running once its first process is
 * the command.
 *
 * @param containers The store's containers.
 * @param record The container (its record is updated and saved).
 * @param stdio Where its streams go.
 * @param log Its log.
 * @returns `ended` settles with its exit status once it has ended and its output is drained;
 *   `started` is false when it ended before its first process became the command (the init
 *   failed: its message is on the container's stderr).
 */
export async function launchContainer(
  containers: ContainerStore,
  record: ContainerRecord,
  stdio: StdioMode,
  log: ContainerLogWriter | undefined,
  server?: AttachServer,
): Promise<{ ended: Promise<number>; started: boolean }> {
  const tty = record.spec.tty === true;
  const interactive = tty || record.interactive === true;
  const sink: OutputSink = {
    write: async (stream, chunk) => {
      await Promise.all([log?.write(stream, chunk), server?.output(stream, chunk)]);
    },
  };
  if (record.spec.network === "bridge" && !record.attachment) {
    record.attachment = await attachRecord(containers, record, {
      network: record.networkName ?? DEFAULT_NETWORK.name,
      aliases: record.aliases,
      ipAddress: record.ipAddress,
    }, "eth0");
  }
  if (record.attachment) {
    // The networks it was connected to, each on the next free interface.
    for (const connection of record.connections ?? []) {
      const connected = record.connected ?? [];
      if (connected.some((attachment) => attachment.network === connection.network)) continue;
      const attachment = await attachRecord(
        containers,
        record,
        connection,
        nextInterface([record.attachment, ...connected]),
      );
      record.connected = [...connected, attachment];
    }
  }
  let child: Deno.ChildProcess;
  try {
    const [program, ...args] = startCommand(
      record,
      join(containers.path(record.id), "container.json"),
    );
    child = new Deno.Command(program, {
      args,
      clearEnv: true,
      env: hostEnvironment(),
      ...stdioOptions(stdio),
      ...(stdio === "log" && interactive ? { stdin: "piped" as const } : {}),
    }).spawn();
  } catch (error) {
    throw error instanceof DenockerError ? error : new DenockerError(
      `Cannot run containers: util-linux unshare could not be started (${
        (error as Error).message
      })`,
      { cause: error },
    );
  }
  // With a terminal, the init's stdout first hands it over; what follows is relayed.
  let relayed = tty ? undefined : relayStdio(child, stdio, sink);
  const pid = record.spec.runtime
    ? await runtimeProcess(record.spec.directory, child)
    : await firstChild(child.pid);
  const joined = pid === undefined ? Promise.resolve() : joinEarly(record.spec.cgroups, pid);
  const terminal = tty && pid !== undefined
    ? await receiveTerminal(pid, child.stdout, child.stdin).catch(() => undefined)
    : undefined;
  relayed ??= relayStdio(child, stdio, sink);
  const pumped = terminal ? pumpTerminal(terminal, sink) : Promise.resolve();
  if (server) server.handlers = inputHandlers(child, terminal, interactive, server);
  // Running (and open to exec) once its first process is the command: until then it is
  // denocker's init, which no process of the container may see at work.
  const seen = pid !== undefined && !record.spec.runtime && await untilCommand(pid, child);
  const start = pid === undefined ? undefined : await processStart(pid);
  record.state = "running";
  record.started = new Date().toISOString();
  record.exitCode = undefined;
  record.process = pid !== undefined && start !== undefined ? { pid, start } : undefined;
  // Not seen as the command: the first process is gone (the init failed, or the command was
  // that quick); the status tells which.
  const started = seen || record.spec.runtime !== undefined;
  await containers.saveState(record);
  const ended = (async () => {
    const status = exitStatus(await child.status);
    await relayed;
    await pumped;
    terminal?.close();
    await joined;
    return status;
  })();
  return { ended, started };
}

/** Copies what a container's terminal shows to its log and clients, until it is closed. */
async function pumpTerminal(terminal: PseudoTerminal, sink: OutputSink): Promise<void> {
  for (;;) {
    const chunk = await terminal.read().catch(() => null);
    if (chunk === null) return;
    await sink.write("stdout", chunk);
  }
}

/**
 * Where attached clients' input goes: into the terminal (which gets the
 * last window size they gave), or the container's stdin (`-i`), or nowhere.
 */
function inputHandlers(
  child: Deno.ChildProcess,
  terminal: PseudoTerminal | undefined,
  interactive: boolean,
  server: AttachServer,
): AttachHandlers {
  if (terminal && server.size) terminal.resize(...server.size);
  const writer = !terminal && interactive ? child.stdin.getWriter() : undefined;
  return {
    input: (bytes) => {
      if (terminal) terminal.write(bytes).catch(() => {});
      else writer?.write(bytes).catch(() => {});
    },
    resize: (rows, columns) => terminal?.resize(rows, columns),
    inputEnd: () => {
      writer?.close().catch(() => {});
    },
  };
}

/**
 * Records a container's end: its cgroups (and an OCI runtime's state) are
 * removed, and it is recorded as exited with `status`, or removed (`--rm`).
 */
export async function endContainer(
  containers: ContainerStore,
  record: ContainerRecord,
  status: number,
): Promise<void> {
  // Its networks as `network connect|disconnect` left them, all released.
  await containers.refresh(record);
  await removeCgroup(record.cgroups);
  if (record.autoRemove) {
    await containers.remove(record, { volumes: true });
    return;
  }
  await releaseRuntime(record);
  Object.assign(record, {
    state: "exited",
    exitCode: status,
    finished: new Date().toISOString(),
    process: undefined,
    owner: undefined,
    cgroups: [],
    spec: { ...record.spec, cgroups: [] },
  });
  await containers.saveState(record);
}

/** Makes a container's cgroups again when its last end removed them (`start`, restarts). */
export async function recreateCgroups(record: ContainerRecord): Promise<void> {
  if (record.spec.runtime || record.spec.cgroups.length > 0 || !record.limits) return;
  const cgroups = await createCgroup(record.id, record.limits);
  record.cgroups = cgroups.map((cgroup) => cgroup.directory);
  record.spec = { ...record.spec, cgroups };
}

/**
 * How a container's monitor is started: this program again (compiled), or
 * Deno running the monitor module.
 *
 * @param root The store root.
 * @param id The container's ID.
 * @param hold The monitor keeps the output for the first client that attaches.
 * @returns The command line.
 */
export function monitorCommand(root: string, id: string, hold = false): string[] {
  const args = [root, id, ...(hold ? ["--hold"] : [])];
  // A small heap: the monitor lives as long as its container.
  return selfCommand(
    "__container-monitor",
    "./monitor.ts",
    args,
    "--max-old-space-size=32,--single-threaded-gc",
  );
}

/** What a monitor reports on its stdout once the container runs, or could not start. */
export interface MonitorReport {
  /** Why the container could not start; none when it runs (or ran). */
  error?: string;
  /** Its exit status, when it had ended before this report. */
  status?: number;
}

/** A container's monitor, started: told to go once the container is made, or let go. */
export interface MonitorHandle {
  /** The container is made: the monitor starts it; settles once it runs. */
  start(): Promise<void>;
  /** The container was not made: the monitor ends without doing anything. */
  cancel(): void;
}

/**
 * Starts a container's monitor, in a session of its own (util-linux
 * `setsid`), so that it outlives this process and its terminal. It starts
 * (Deno's start-up) while the container is still being made, and waits on
 * its stdin for the word to go.
 *
 * @param root The store root.
 * @param id The container's ID (its record need not exist yet).
 * @param hold The monitor keeps the output for the first client that attaches.
 * @returns The handle.
 */
export function spawnMonitor(root: string, id: string, hold = false): MonitorHandle {
  const [program, ...args] = [hostTool("setsid", "util-linux"), ...monitorCommand(root, id, hold)];
  const monitor = new Deno.Command(program, {
    args,
    clearEnv: true,
    env: hostEnvironment(),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errors = new Response(monitor.stderr).text().catch(() => "");
  const input = monitor.stdin.getWriter();
  return {
    cancel() {
      input.close().catch(() => {});
      monitor.stdout.cancel().catch(() => {});
      monitor.unref();
    },
    async start() {
      await input.write(new TextEncoder().encode("go\n")).catch(() => {});
      await input.close().catch(() => {});
      const reader = monitor.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let line = "";
      while (!line.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        line += value;
      }
      reader.cancel().catch(() => {});
      monitor.unref();
      if (!line.includes("\n")) {
        const status = await monitor.status;
        const text = (await errors).trim().split("\n").at(-1) ?? "";
        throw new DenockerError(
          `Cannot run the container: its monitor ended before it started (exit status ${
            exitStatus(status)
          }${text ? `: ${text}` : ""})`,
        );
      }
      const report = JSON.parse(line) as MonitorReport;
      if (report.error !== undefined) {
        throw new ContainerStartError(report.error, report.status ?? 125);
      }
    },
  };
}

/**
 * Hands a created container to a monitor of its own (see
 * {@link spawnMonitor}); returns once the monitor reports it running.
 */
export async function startMonitor(
  containers: ContainerStore,
  record: ContainerRecord,
  hold = false,
): Promise<void> {
  await spawnMonitor(containers.root, record.id, hold).start();
}
