// deno-lint-ignore-file no-console
/**
 * `denocker run [OPTIONS] IMAGE [COMMAND [ARG...]]`: run a command in a new
 * container (pulls the image when it is not stored).
 *
 * @module
 */

import {
  type Command,
  INSECURE_REGISTRY,
  type Invocation,
  positiveInteger,
  remoteOptions,
  UsageError,
} from "../command.ts";
import { pullPrinter } from "../pull_output.ts";
import { whileForwardingSignals } from "../signals.ts";
import { ContainerStartError } from "../../lib/errors.ts";
import { parsePlatform } from "../../lib/model/platform.ts";
import { type RestartPolicy, signalNumber } from "../../lib/runtime/containers.ts";
import { type RunOptions, startContainer } from "../../lib/operations/run.ts";
import { parsePortBinding } from "../../lib/runtime/ports.ts";
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from "../../lib/runtime/volumes.ts";
import { attachTerminal, DETACH_KEYS, detachKeysOf } from "../attach.ts";
import { labelOption, parseByteSize, signalOption } from "../options.ts";

/** `--memory` as docker reads it: bytes, or a number with b, k, m or g; at least 6 MiB. */
function parseSize(text: string, command: string): number {
  const bytes = parseByteSize(text, "--memory", command);
  if (bytes < 6 * 1024 * 1024) {
    throw new UsageError("--memory must be at least 6m (6 MiB), as in docker", command);
  }
  return bytes;
}

/** `--restart` as docker reads it: no, always, unless-stopped, on-failure[:N]. */
function restartPolicy(text: string): RestartPolicy {
  const match = /^(no|always|unless-stopped|on-failure)(?::([0-9]+))?$/.exec(text);
  if (!match || (match[2] !== undefined && match[1] !== "on-failure")) {
    throw new UsageError(
      `--restart takes no, always, unless-stopped or on-failure[:N], got "${text}"`,
      "run",
    );
  }
  return {
    name: match[1] as RestartPolicy["name"],
    maximumRetryCount: match[2] === undefined ? 0 : Number(match[2]),
  };
}

/** `--log-opt max-size=SIZE` and `max-file=N`, as docker's json-file driver takes them. */
function logOptions(entries: string[]): { maxSize?: number; maxFiles?: number } | undefined {
  if (entries.length === 0) return undefined;
  const result: { maxSize?: number; maxFiles?: number } = {};
  for (const entry of entries) {
    const [key, value = ""] = entry.split(/=(.*)/s);
    if (key === "max-size") {
      result.maxSize = parseByteSize(value, "--log-opt max-size", "run");
      if (result.maxSize < 1) throw new UsageError("--log-opt max-size must be above 0", "run");
    } else if (key === "max-file") {
      result.maxFiles = positiveInteger(value, "--log-opt max-file", "run");
    } else {
      throw new UsageError(
        `--log-opt takes max-size=SIZE or max-file=N (the json-file log), got "${entry}"`,
        "run",
      );
    }
  }
  return result;
}

/**
 * `--security-opt` values as docker takes them: `no-new-privileges` (or
 * `=true`/`:true`), `seccomp=unconfined`.
 */
function securityOptions(
  values: string[],
): { noNewPrivileges?: boolean; seccomp?: "default" | "unconfined" } {
  const result: { noNewPrivileges?: boolean; seccomp?: "default" | "unconfined" } = {};
  for (const value of values) {
    const match = /^no-new-privileges(?:[=:](true|false))?$/.exec(value);
    if (match) {
      result.noNewPrivileges = match[1] !== "false";
    } else if (value === "seccomp=unconfined" || value === "seccomp:unconfined") {
      result.seccomp = "unconfined";
    } else if (/^seccomp[=:]/.test(value)) {
      throw new UsageError(
        `--security-opt ${value}: only seccomp=unconfined is supported (the default is docker's profile)`,
        "run",
      );
    } else {
      throw new UsageError(
        `--security-opt takes no-new-privileges or seccomp=unconfined, got "${value}"`,
        "run",
      );
    }
  }
  return result;
}

/**
 * The container options run and create read from their flags, checked
 * (a bad one is a usage error); the pull's progress and signal are the
 * caller's.
 */
export async function containerOptions(
  values: Invocation["values"],
  command: string,
  { root, config }: Pick<Invocation, "root" | "config">,
): Promise<RunOptions & { pull: Omit<NonNullable<RunOptions["pull"]>, "signal" | "onProgress"> }> {
  const network = values.network ?? "bridge";
  if (network === "") throw new UsageError("--network needs a network's name", command);
  const addHosts = ((values["add-host"] ?? []) as string[]).map((entry) => {
    const at = entry.indexOf(":");
    const [host, ip] = [entry.slice(0, at), entry.slice(at + 1)];
    if (at <= 0 || !/^\d+\.\d+\.\d+\.\d+$/.test(ip)) {
      throw new UsageError(`invalid argument "${entry}" for "--add-host": use HOST:IP`, command);
    }
    return { host, ip };
  });
  if (values.rootfs !== undefined && values.rootfs !== "overlay" && values.rootfs !== "copy") {
    throw new UsageError(`--rootfs takes overlay or copy, got "${values.rootfs}"`, command);
  }
  const cpus = values.cpus === undefined ? undefined : Number(values.cpus);
  if (cpus !== undefined && !(cpus > 0)) {
    throw new UsageError(`--cpus needs a number above 0, got "${values.cpus}"`, command);
  }
  const security = securityOptions(values["security-opt"] ?? []);
  // As docker: the files' variables first, -e over them.
  const env = [...await envFiles(values["env-file"] ?? []), ...(values.env ?? [])];
  const stopTimeout = values["stop-timeout"] === undefined
    ? undefined
    : Number(values["stop-timeout"]);
  if (stopTimeout !== undefined && !(Number.isInteger(stopTimeout) && stopTimeout >= 0)) {
    throw new UsageError(
      `--stop-timeout needs a whole number of seconds, got "${values["stop-timeout"]}"`,
      command,
    );
  }
  const stopSignal = values["stop-signal"] === undefined
    ? undefined
    : signalOption(values["stop-signal"], "--stop-signal", command);
  const attaches = command === "run" && !values.detach;
  if (values.tty && values.interactive && attaches && !Deno.stdin.isTerminal()) {
    throw new UsageError("the input device is not a TTY (-t needs a terminal on stdin)", command);
  }
  let platform;
  try {
    platform = values.platform === undefined ? undefined : parsePlatform(values.platform);
  } catch (error) {
    throw new UsageError((error as Error).message, command);
  }
  const remote = await remoteOptions({ values, config }, command);
  return {
    root: root(),
    name: values.name,
    hostname: values.hostname,
    env,
    entrypoint: values.entrypoint === undefined
      ? undefined
      : values.entrypoint === ""
      ? []
      : [values.entrypoint],
    workdir: values.workdir,
    user: values.user,
    memory: values.memory === undefined ? undefined : parseSize(values.memory, command),
    cpus,
    pidsLimit: values["pids-limit"] === undefined
      ? undefined
      : positiveInteger(values["pids-limit"], "--pids-limit", command),
    network,
    readOnly: values["read-only"],
    rootfs: values.rootfs,
    capAdd: values["cap-add"],
    capDrop: values["cap-drop"],
    privileged: values.privileged,
    noNewPrivileges: security.noNewPrivileges,
    seccomp: security.seccomp,
    runtime: values.runtime,
    onWarning: (message) => console.error(`warning: ${message}`),
    remove: values.rm,
    platform,
    init: values.init,
    // In the foreground with a restart policy: its monitor restarts it, this process attaches.
    detach: values.detach || (values.restart !== undefined && values.restart !== "no"),
    tty: values.tty,
    interactive: values.interactive,
    // Attached at once (-i, -t, or a restart policy in the foreground): its output kept for it.
    holdOutput: command === "run" && !values.detach &&
      (values.tty || values.interactive || (values.restart ?? "no") !== "no"),
    restart: values.restart === undefined ? undefined : restartPolicy(values.restart),
    labels: labelOption(values.label ?? [], command),
    stopSignal,
    stopTimeout,
    log: logOptions(values["log-opt"] ?? []),
    publish: (values.publish ?? []).map(parsePortBinding),
    publishAll: values["publish-all"],
    networkAliases: values["network-alias"],
    ip: values.ip,
    macAddress: values["mac-address"],
    addHosts,
    dns: values.dns,
    mounts: [
      ...(values.volume ?? []).map(parseVolumeFlag),
      ...(values.mount ?? []).map(parseMountFlag),
      ...(values.tmpfs ?? []).map(parseTmpfsFlag),
    ],
    pull: remote,
  };
}

export const command: Command = {
  usage: "run [OPTIONS] IMAGE [COMMAND [ARG...]]",
  summary: "Run a command in a new container (pulls the image when it is not stored)",
  options: {
    detach: {
      type: "boolean",
      short: "d",
      help: "Run in the background (a monitor of its own logs its output); print its ID",
    },
    interactive: {
      type: "boolean",
      short: "i",
      help: "Keep stdin open (attached: this terminal's input goes to it)",
    },
    tty: {
      type: "boolean",
      short: "t",
      help: "Give it a new pseudo-terminal (ctrl-p ctrl-q detaches)",
    },
    "detach-keys": DETACH_KEYS,
    rm: { type: "boolean", help: "Remove the container when it ends" },
    restart: {
      type: "string",
      value: "POLICY",
      help: "With -d: no (default), on-failure[:N], always, unless-stopped",
    },
    label: {
      type: "string",
      short: "l",
      multiple: true,
      value: "KEY=VALUE",
      help: "Set a label on the container; repeatable",
    },
    "stop-signal": {
      type: "string",
      value: "SIGNAL",
      help: "The signal stop sends first (default SIGTERM)",
    },
    "stop-timeout": {
      type: "string",
      value: "SECONDS",
      help: "How long stop waits before SIGKILL (default 10)",
    },
    publish: {
      type: "string",
      short: "p",
      multiple: true,
      value: "[IP:][HOST:]PORT[/PROTO]",
      help: "Publish a port on the host (bridge network; no HOST: a free one); repeatable",
    },
    volume: {
      type: "string",
      short: "v",
      multiple: true,
      value: "[SOURCE:]TARGET[:ro]",
      help: "A host directory (absolute SOURCE), a named volume, or an anonymous one; repeatable",
    },
    mount: {
      type: "string",
      multiple: true,
      value: "SPEC",
      help: "type=bind|volume|tmpfs,source=…,target=…[,readonly]; repeatable",
    },
    tmpfs: {
      type: "string",
      multiple: true,
      value: "PATH[:OPTIONS]",
      help: "A new tmpfs at PATH (options: size=64m,mode=1777); repeatable",
    },
    "network-alias": {
      type: "string",
      multiple: true,
      value: "NAME",
      help: "Another name it is found by on a user-defined network; repeatable",
    },
    ip: { type: "string", value: "ADDRESS", help: "Its address on a user-defined network" },
    "mac-address": {
      type: "string",
      value: "ADDRESS",
      help: "Its eth0's hardware address (default: 02:42 and its IP address)",
    },
    "add-host": {
      type: "string",
      multiple: true,
      value: "HOST:IP",
      help: "A line of its own in /etc/hosts; repeatable",
    },
    dns: {
      type: "string",
      multiple: true,
      value: "ADDRESS",
      help: "A name server for /etc/resolv.conf instead of the host's; repeatable",
    },
    "publish-all": {
      type: "boolean",
      short: "P",
      help: "Publish each of the image's exposed ports on a free host port",
    },
    "log-opt": {
      type: "string",
      multiple: true,
      value: "OPT",
      help: "max-size=SIZE (default 10m), max-file=N (default 3); repeatable",
    },
    name: { type: "string", value: "NAME", help: "The container's name" },
    hostname: {
      type: "string",
      value: "NAME",
      help: "Hostname inside (default: the ID's start)",
    },
    env: {
      type: "string",
      short: "e",
      multiple: true,
      value: "KEY=VALUE",
      help: "Set a variable (KEY alone: this shell's value); repeatable",
    },
    "env-file": {
      type: "string",
      multiple: true,
      value: "FILE",
      help: "Read variables from a file: KEY=VALUE lines (# comments); repeatable",
    },
    entrypoint: {
      type: "string",
      value: "CMD",
      help: 'Replace the image\'s entrypoint (and its Cmd); "" for none',
    },
    workdir: { type: "string", short: "w", value: "DIR", help: "Working directory inside" },
    user: { type: "string", short: "u", value: "UID[:GID]", help: "User (or name[:group])" },
    memory: { type: "string", short: "m", value: "SIZE", help: "Memory limit, e.g. 256m" },
    cpus: { type: "string", value: "N", help: "CPU quota in CPUs, e.g. 0.5" },
    "pids-limit": { type: "string", value: "N", help: "Most processes and threads" },
    network: {
      type: "string",
      value: "bridge|NAME|none|host",
      help:
        "bridge (default): an address on denocker0, outbound NAT; NAME: a user-defined network; none: only lo; host: the host's",
    },
    "read-only": { type: "boolean", help: "Mount the root file system read-only" },
    rootfs: {
      type: "string",
      value: "overlay|copy",
      help: "The root: an overlay over the stored layers (default), or a copy of the image",
    },
    "cap-add": {
      type: "string",
      multiple: true,
      value: "CAP",
      help: "Add a capability to docker's default set (ALL: every one); repeatable",
    },
    "cap-drop": {
      type: "string",
      multiple: true,
      value: "CAP",
      help: "Drop a capability (ALL: every one); repeatable",
    },
    privileged: {
      type: "boolean",
      help: "Every capability, no seccomp filter, no device rules, no masked paths",
    },
    "security-opt": {
      type: "string",
      multiple: true,
      value: "OPT",
      help: "no-new-privileges, or seccomp=unconfined; repeatable",
    },
    runtime: {
      type: "string",
      value: "runc|crun|PATH",
      help: "Run through this OCI runtime instead of denocker's own init",
    },
    platform: {
      type: "string",
      value: "OS/ARCH[/VARIANT]",
      help: "Run (and pull) the image for this platform; warned when not the host's",
    },
    init: {
      type: "boolean",
      help: "Run a minimal init as PID 1 (the host's tini): passes signals on, reaps zombies",
    },
    "insecure-registry": INSECURE_REGISTRY,
  },
  examples: [
    "denocker run --rm busybox echo hello",
    "denocker run -it --rm busybox sh",
    "denocker run -d --name web --restart on-failure:3 busybox httpd -f -p 8080",
    "denocker run --rm -e NAME=x -w /tmp --memory 64m --pids-limit 100 alpine:3.20 sh -c 'echo $NAME'",
    "denocker run --rm --cap-drop ALL --security-opt no-new-privileges -u 1000 busybox id",
    "denocker run --rm --runtime runc busybox echo hello",
  ],
  arguments: (positionals) => positionals.length > 0 ? undefined : "requires at least 1 argument",
  optionsEndAfter: 1,
  ownsSignals: true,
  failureCode: 125,
  async run(invocation) {
    const { values, positionals } = invocation;
    const options = await containerOptions(values, "run", invocation);
    // Before the container is known a signal stops the pull (and is passed on once it is).
    const abort = new AbortController();
    const printer = pullPrinter(false);
    let interrupted: Deno.Signal | undefined;
    try {
      return await whileForwardingSignals(
        async () => {
          const container = await startContainer(positionals[0], positionals.slice(1), {
            ...options,
            onPull: (image) => console.error(`Unable to find image '${image}' locally`),
            onPulled: printer.done,
            pull: {
              ...options.pull,
              signal: abort.signal,
              onProgress: printer.onProgress,
            },
          });
          if (values.detach) {
            console.log(container.id);
            return { kill() {}, exited: Promise.resolve(0) };
          }
          if (!container.session) return container;
          return {
            kill: container.kill,
            exited: attachTerminal(container.session, {
              input: values.interactive ?? false,
              detachKeys: detachKeysOf(values),
            }),
          };
        },
        (signal) => {
          interrupted ??= signal;
          abort.abort(new Error("interrupted"));
        },
      );
    } catch (error) {
      if (error instanceof ContainerStartError) {
        console.error(`denocker: ${error.message}`);
        return error.status;
      }
      // A signal before the container started (during its pull): the shell's code for it.
      if (interrupted === undefined) throw error;
      console.error("denocker: interrupted");
      return 128 + signalNumber(interrupted);
    }
  },
};

/**
 * The entries of `--env-file`s, as docker reads them: a `KEY=VALUE` or
 * `KEY` a line, leading blanks dropped, blank lines and `#` comments
 * skipped; a name with blanks is refused.
 */
async function envFiles(paths: string[]): Promise<string[]> {
  const entries: string[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound
        ? "no such file"
        : error instanceof Deno.errors.IsADirectory
        ? "it is a directory"
        : (error as Error).message;
      throw new UsageError(`cannot read --env-file ${path}: ${reason}`, "run");
    }
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trimStart();
      if (line === "" || line.startsWith("#")) continue;
      const name = line.split("=", 1)[0];
      if (name === "" || /\s/.test(name)) {
        throw new UsageError(`invalid variable "${name}" in --env-file ${path}`, "run");
      }
      entries.push(line);
    }
  }
  return entries;
}
