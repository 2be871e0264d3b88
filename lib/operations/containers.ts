/**
 * Managing containers: list (`ps`), remove (`rm`), and run another command
 * in a running one (`exec`).
 *
 * @module
 */

import { join } from "../io/path.ts";
import { DenockerError, InvalidInputError } from "../errors.ts";
import type { StoreOptions } from "../store/store.ts";
import type { ExecSpec } from "../runtime/init.ts";
import { runtimeStateDirectory } from "../runtime/runtime_state.ts";
import type { UserIds } from "../runtime/user.ts";
import type { UserLookupResult } from "../runtime/user_worker.ts";
import { hostEnvironment, hostTool } from "../runtime/host_tools.ts";
import { relayStdio, stdioOptions } from "../runtime/stdio.ts";
import { receiveTerminal, terminalSession } from "../runtime/terminal.ts";
import type { AttachSession } from "../runtime/attach.ts";
import { fromReadOnlyBinary, initCommand, joinEarly } from "../runtime/launch.ts";
import { type ContainerRecord, type ContainerSummary, exitStatus } from "../runtime/containers.ts";
import {
  containersOf,
  findContainer,
  lookUp,
  running,
  settled,
  waitGone,
} from "./_container_lookup.ts";

export type { ContainerRecord, ContainerSummary };

/**
 * Lists containers, newest first: running ones, and with `all` every one.
 * Containers whose `denocker run` died are cleaned first.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @example
 * ```ts
 * import { listContainers } from "@denocker/denocker";
 * for (const c of await listContainers({ root: "/var/lib/denocker", all: true })) {
 *   console.log(c.id.slice(0, 12), c.name, c.state);
 * }
 * ```
 *
 * @param options The store; `all` for exited containers too.
 * @returns The containers.
 */
export async function listContainers(
  options: StoreOptions & { all?: boolean } = {},
): Promise<ContainerSummary[]> {
  const containers = await containersOf(options);
  if (!containers) return [];
  return (await containers.list())
    .filter((record) => options.all || record.state === "running")
    .map((
      { id, name, image, imageId, command, created, state, started, finished, exitCode, labels },
    ) => ({
      id,
      name,
      image,
      imageId,
      command,
      created,
      state,
      started,
      finished,
      exitCode,
      labels,
    }));
}

/**
 * Removes containers; a running one only with `force` (it is killed first).
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param names Containers' names or IDs (prefixes).
 * @param options The store; `force` for running ones.
 * @returns The IDs removed.
 */
export async function removeContainers(
  names: string[],
  options: StoreOptions & { force?: boolean; volumes?: boolean } = {},
): Promise<string[]> {
  const containers = await containersOf(options);
  const records = [];
  for (const name of names) records.push(await lookUp(containers, name));
  const removed: string[] = [];
  for (const record of records) {
    if (await running(record)) {
      if (!options.force) {
        throw new InvalidInputError(
          `Cannot remove container ${record.name}: it is running; stop it or use --force`,
        );
      }
      Deno.kill(record.process!.pid, "SIGKILL");
      await waitGone(record, 5000);
      await settled(containers!, record.id);
    }
    const current = await containers!.read(record.id);
    if (current) await containers!.remove(current, { volumes: options.volumes });
    removed.push(record.id);
  }
  return removed;
}

/** Options for {@link execInContainer}. */
export interface ExecOptions extends StoreOptions {
  /** `KEY=VALUE` entries over the container's environment. */
  env?: string[];
  /** Working directory inside; the container's by default. */
  workdir?: string;
  /** `uid[:gid]` or `name[:group]`; the container's user by default. */
  user?: string;
  /**
   * Where stdin, stdout and stderr go: by default relayed through pipes to
   * this process's (a terminal on stdin is not read).
   */
  stdio?: "inherit" | "null";
  /** Read this process's stdin even when it is a terminal (`-i`). */
  interactive?: boolean;
  /**
   * Give the command a new pseudo-terminal of the container's (`-t`):
   * {@link ExecProcess.terminal} then carries its input and output.
   */
  tty?: boolean;
}

/** A command started in a container. */
export interface ExecProcess {
  /** With `tty`: the command's terminal, to attach to. */
  terminal?: AttachSession;
  /** Sends a signal to the command. */
  kill(signal: Deno.Signal): void;
  /** Settles with its exit status (126/127 when it cannot be run or found). */
  exited: Promise<number>;
}

/** The container's environment with `extra` over it (a bare `KEY` takes this process's value). */
function mergedEnvironment(base: string[], extra: string[]): string[] {
  const entries = new Map<string, string>();
  for (const entry of [...base, ...extra]) {
    const at = entry.indexOf("=");
    if (at < 0) entries.set(entry, Deno.env.get(entry) ?? "");
    else entries.set(entry.slice(0, at), entry.slice(at + 1));
  }
  return [...entries].map(([key, value]) => `${key}=${value}`);
}

/**
 * Starts a command in a running container: in its namespaces, root and
 * cgroup, with its environment, and with exactly the capabilities, seccomp
 * filter and `no_new_privs` of its first process. Nothing of the
 * container is used on the host: denocker's init (started by host tools at
 * absolute paths, with a fixed environment) stays in the host's PID
 * namespace, out of the container's sight, joins the container's
 * namespaces and root from one thread, only then reads the user's ids from
 * the container's `/etc/passwd`, restricts itself, and starts the command
 * in the container. A container run by an OCI runtime gets the command
 * through `RUNTIME exec`.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param name A container's name or ID (prefix).
 * @param command The command and its arguments.
 * @param options The store, environment, directory, user.
 * @returns The started command.
 */
export async function startExec(
  name: string,
  command: string[],
  options: ExecOptions = {},
): Promise<ExecProcess> {
  if (command.length === 0) throw new InvalidInputError("exec needs a COMMAND");
  const { record } = await findContainer(name, options);
  if (!(await running(record))) {
    throw new DenockerError(`Cannot exec in container ${record.name}: it is not running`);
  }
  const tty = options.tty === true;
  if (tty && record.spec.runtime) {
    throw new InvalidInputError(
      `Cannot exec in container ${record.name}: -t is not supported with --runtime yet`,
    );
  }
  const stdio = tty ? "log" : options.interactive ? "interactive" : options.stdio ?? "inherit";
  const spec: ExecSpec = {
    pid: record.process!.pid,
    start: record.process!.start,
    joinNetwork: record.spec.network !== "host",
    env: mergedEnvironment(record.spec.env, options.env ?? []),
    args: command,
    cwd: options.workdir ?? record.spec.cwd,
    user: options.user ?? record.spec.user,
    cgroups: record.spec.cgroups ?? [],
    security: record.spec.security,
    tty,
  };
  const request = join(record.spec.directory, `exec-${crypto.randomUUID()}`);
  const program = await execProgram(record, spec, request);
  const cleanUp = () =>
    Promise.all(
      [".json", ".process.json"].map((suffix) =>
        Deno.remove(`${request}${suffix}`).catch(() => {})
      ),
    );
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program[0], {
      args: program.slice(1),
      clearEnv: true,
      env: hostEnvironment(),
      ...stdioOptions(stdio),
      ...(tty ? { stdin: "piped" as const } : {}),
    }).spawn();
  } catch (error) {
    await cleanUp();
    throw error;
  }
  // With a terminal, the init's stdout first hands it over; its errors come on stderr.
  const pty = tty
    ? await receiveTerminal(child.pid, child.stdout, child.stdin).catch(() => undefined)
    : undefined;
  const relayed = relayStdio(child, tty ? "output" : stdio);
  const joined = record.spec.runtime ? Promise.resolve() : joinEarly(spec.cgroups, child.pid);
  // Signals go to the command: the exec init's child (the init itself only waits for it), or
  // to the runtime, which passes them on.
  const target = record.spec.runtime ? Promise.resolve(child.pid) : commandOf(child);
  const exited = (async () => {
    const status = exitStatus(await child.status);
    await relayed;
    await joined;
    await cleanUp();
    return status;
  })();
  return {
    terminal: pty && terminalSession(pty, exited),
    kill(signal) {
      target.then((pid) => {
        try {
          if (pid !== undefined) Deno.kill(pid, signal);
        } catch {
          // Already ended.
        }
      });
    },
    exited,
  };
}

/**
 * What starts an exec: the exec init in a mount namespace of its own (its
 * request written beside the container), or `RUNTIME exec`.
 */
async function execProgram(
  record: ContainerRecord,
  spec: ExecSpec,
  request: string,
): Promise<string[]> {
  if (record.spec.runtime) {
    return await runtimeExecCommand(record, spec, `${request}.process.json`);
  }
  // The request holds the environment: root's alone, and removed by the init once read.
  await Deno.writeTextFile(`${request}.json`, JSON.stringify(spec), {
    mode: 0o600,
    createNew: true,
  });
  return [
    hostTool("unshare", "util-linux"),
    "--mount",
    "--propagation",
    "private",
    "--",
    ...fromReadOnlyBinary(initCommand("exec", `${request}.json`)),
  ];
}

/**
 * The command an exec init starts: its child, once the shell that started
 * it (after the read-only bind mount) has become the init.
 */
async function commandOf(init: Deno.ChildProcess): Promise<number | undefined> {
  let ended = false;
  init.status.then(() => ended = true);
  const binary = Deno.execPath();
  while (!ended) {
    const exe = await Deno.readLink(`/proc/${init.pid}/exe`).catch(() => "");
    if (exe === binary) {
      const children = await Deno.readTextFile(`/proc/${init.pid}/task/${init.pid}/children`)
        .catch(() => "");
      const child = Number(children.trim().split(" ")[0]);
      if (child > 0) return child;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return undefined;
}

/**
 * The ids a user name has in a running container, read in its mount
 * namespace's own root by a thread of its own (`_user_worker.ts`).
 */
async function lookUpUser(spec: ExecSpec): Promise<UserIds> {
  if (spec.user === "") return { uid: 0, gid: 0, groups: [0] };
  const worker = new Worker(new URL("../runtime/user_worker.ts", import.meta.url), {
    type: "module",
  });
  try {
    const result = await new Promise<UserLookupResult>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(
          new DenockerError(`Cannot look up the user ${spec.user}: ${event.message}`, {
            cause: event.error,
          }),
        );
      };
      worker.postMessage({ pid: spec.pid, start: spec.start, user: spec.user });
    });
    if ("error" in result) throw new InvalidInputError(result.error);
    return result.ids;
  } finally {
    worker.terminate();
  }
}

/**
 * `RUNTIME exec` of a command, with the ids read from the container's
 * `/etc/passwd` inside its root (never through a symlink out of it).
 */
async function runtimeExecCommand(
  record: ContainerRecord,
  spec: ExecSpec,
  processFile: string,
): Promise<string[]> {
  const ids = await lookUpUser(spec);
  const capabilities = spec.security.capabilities;
  const process = {
    terminal: false,
    user: { uid: ids.uid, gid: ids.gid, additionalGids: ids.groups },
    args: spec.args,
    env: spec.env,
    cwd: spec.cwd,
    capabilities: {
      bounding: capabilities,
      effective: ids.uid === 0 ? capabilities : [],
      permitted: ids.uid === 0 ? capabilities : [],
      inheritable: [],
      ambient: [],
    },
    noNewPrivileges: spec.security.noNewPrivileges,
  };
  await Deno.writeTextFile(processFile, JSON.stringify(process), { mode: 0o600, createNew: true });
  return [
    record.spec.runtime!,
    "--root",
    runtimeStateDirectory(record.spec.directory),
    "exec",
    "--process",
    processFile,
    record.id,
  ];
}

/**
 * Runs a command in a running container and waits for it; see
 * {@link startExec}.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param name A container's name or ID (prefix).
 * @param command The command and its arguments.
 * @param options The store, environment, directory, user.
 * @returns The command's exit status (126/127 when it cannot be run or found).
 */
export async function execInContainer(
  name: string,
  command: string[],
  options: ExecOptions = {},
): Promise<number> {
  return await (await startExec(name, command, options)).exited;
}
