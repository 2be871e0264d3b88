/**
 * A detached container's monitor (`run -d`, `start`): one process per
 * container, in a session of its own, that is the container's parent while
 * it runs. It writes the container's stdout and stderr to its json-file
 * log, waits for its end and records it (exit status and time), starts it
 * again as its `--restart` policy says (with docker's back-off: 100 ms,
 * doubled at each restart up to a minute, back to 100 ms after a run of
 * 10 s), and at the end removes its cgroups, or the whole container with
 * `--rm`. It tells whoever started it, on its stdout, one JSON line: the
 * container runs, or why it could not start ({@link MonitorReport}).
 *
 * The monitor ignores SIGHUP, SIGINT and SIGTERM: only the container's end
 * ends it. A monitor that is killed leaves a container that the next
 * container command finds orphaned, kills and records as exited.
 *
 * @module
 */

import {
  type ContainerRecord,
  ContainerStore,
  currentProcess,
  type RestartPolicy,
  stopMarkerPath,
} from "./containers.ts";
import { ContainerLogWriter, parseLogLines } from "./container_log.ts";
import { lstatIfExists } from "../io/fs.ts";
import { AttachServer, attachSocketPath } from "./attach.ts";

/** Handlers until the container's first start gives it somewhere to put input. */
const NO_INPUT = { input() {}, resize() {}, inputEnd() {} };
import { endContainer, launchContainer, type MonitorReport, recreateCgroups } from "./launch.ts";

/** Docker's restart back-off: the first delay, its cap, and the run that resets it. */
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;
const RESET_AFTER_MS = 10_000;

/**
 * Whether a policy restarts a command that ended with `status` after
 * `restarts` restarts (a stop that was asked for never restarts).
 */
export function restartWanted(
  policy: RestartPolicy | undefined,
  status: number,
  restarts: number,
): boolean {
  switch (policy?.name ?? "no") {
    case "always":
    case "unless-stopped":
      return true;
    case "on-failure":
      return status !== 0 &&
        (policy!.maximumRetryCount === 0 || restarts < policy!.maximumRetryCount);
    default:
      return false;
  }
}

/** The next back-off delay after a run of `ranMs`, docker's way. */
export function nextDelay(previous: number | undefined, ranMs: number): number {
  if (previous === undefined || ranMs >= RESET_AFTER_MS) return FIRST_DELAY_MS;
  return Math.min(previous * 2, MAX_DELAY_MS);
}

/** Writes the report line to whoever started the monitor (who may be gone). */
async function report(message: MonitorReport): Promise<void> {
  try {
    await Deno.stdout.write(new TextEncoder().encode(`${JSON.stringify(message)}\n`));
  } catch {
    // The caller is gone: the container runs on.
  }
}

/** The last line the container wrote on stderr: the init's message when it could not start. */
async function lastError(logPath: string): Promise<string | undefined> {
  const text = await Deno.readTextFile(logPath).catch(() => "");
  const entries = parseLogLines(text).filter((entry) => entry.stream === "stderr");
  return entries.at(-1)?.log.trim().replace(/^denocker: /, "");
}

/** Reads stdin's first line: whether it is the word to go (at its end: the start was given up). */
async function toldToGo(): Promise<boolean> {
  const buffer = new Uint8Array(16);
  let text = "";
  while (!text.includes("\n")) {
    const n = await Deno.stdin.read(buffer).catch(() => null);
    if (n === null) return false;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text.startsWith("go\n");
}

/** Sleeps up to `ms`, and less when a stop is asked for meanwhile; whether one was. */
async function backOff(ms: number, marker: string): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await lstatIfExists(marker)) return true;
    await new Promise((resolve) => setTimeout(resolve, Math.min(50, deadline - Date.now())));
  }
  return await lstatIfExists(marker) !== undefined;
}

/**
 * Monitors a created (or ended) container until it has ended for good.
 *
 * @param root The store root.
 * @param id The container's ID.
 * @param hold Keep the output for the first client that attaches (`run -it`).
 * @returns This process's exit code (0, or 1 when the container could not start).
 */
export async function monitorContainer(
  root: string,
  id: string,
  hold = false,
): Promise<number> {
  for (const signal of ["SIGHUP", "SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {});
  }
  // Started while the container is being made: its record is there once the word comes.
  if (!(await toldToGo())) return 0;
  const containers = new ContainerStore(root);
  const record = await containers.read(id);
  if (!record) {
    await report({ error: `Cannot start container ${id}: no such container` });
    return 1;
  }
  await Deno.remove(stopMarkerPath(record.spec.directory)).catch(() => {});
  record.owner = await currentProcess();
  record.error = undefined;
  const logPath = containers.logPath(id);
  const log = await ContainerLogWriter.open(logPath, record.log).catch(() => undefined);
  // Clients attach to a container with a terminal or an open stdin (-t, -i), and to one whose
  // starter attaches at once (its output held for it).
  const server = record.spec.tty || record.interactive || hold
    ? await AttachServer.listen(attachSocketPath(id), NO_INPUT, hold).catch(() => undefined)
    : undefined;
  const end = async (status: number) => {
    await log?.close();
    await endContainer(containers, record, status);
    await server?.close(status);
  };
  let delay: number | undefined;
  for (let first = true;; first = false) {
    let launched;
    try {
      // Networks connected or disconnected while it ran are the ones it restarts with.
      if (!first) await containers.refresh(record);
      await recreateCgroups(record);
      launched = await launchContainer(containers, record, "log", log, server);
    } catch (error) {
      const message = (error as Error).message;
      record.error = message;
      // Recorded before it is reported: the starter removes the record once told, and a save
      // after that would bring it back.
      await end(125);
      if (first) await report({ error: message });
      return 1;
    }
    const startedAt = Date.now();
    if (first && launched.started) await report({});
    const status = await launched.ended;
    if (first && !launched.started) {
      // It ended before it was the command: the init's message says why (126, 127), or the
      // command was that quick.
      const error = status >= 125 && status <= 127 ? await lastError(logPath) : undefined;
      if (error !== undefined) {
        record.error = error;
        await end(status);
      }
      await report({ error: error && `Cannot start container ${record.name}: ${error}`, status });
      if (error !== undefined) return 1;
    }
    delay = await restartAfter(containers, record, status, Date.now() - startedAt, delay);
    if (delay === undefined) {
      await end(status);
      return 0;
    }
  }
}

/**
 * After the command ended: whether its policy starts it again (no stop was
 * asked for), recorded as restarting for the back-off, which it waits out.
 *
 * @returns The delay waited; undefined when it is not started again.
 */
async function restartAfter(
  containers: ContainerStore,
  record: ContainerRecord,
  status: number,
  ranMs: number,
  previous: number | undefined,
): Promise<number | undefined> {
  const marker = stopMarkerPath(record.spec.directory);
  const restarts = record.restartCount ?? 0;
  if (await lstatIfExists(marker) || !restartWanted(record.restartPolicy, status, restarts)) {
    return undefined;
  }
  const delay = nextDelay(previous, ranMs);
  Object.assign(record, {
    state: "restarting",
    exitCode: status,
    finished: new Date().toISOString(),
    process: undefined,
    restartCount: restarts + 1,
  });
  await containers.saveState(record);
  return await backOff(delay, marker) ? undefined : delay;
}

if (import.meta.main) {
  Deno.exit(await monitorContainer(Deno.args[0], Deno.args[1], Deno.args[2] === "--hold"));
}
