// deno-lint-ignore-file no-console
/**
 * What every benchmark section shares: timing a whole command with its
 * peak memory, medians, a cold page cache between runs, and the goals'
 * summary printed at the end.
 */

import { run } from "../tests/_real_registry.ts";

/** Runs per measurement (BENCH_RUNS, default 3). */
export const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 3);

export const MiB = 1024 * 1024;

/**
 * Flushes dirty data and, where allowed (root), drops the page cache, so that every timed run
 * starts cold and no tool pays for another's writes.
 */
export async function sync(): Promise<void> {
  await run("sync", []);
  try {
    await Deno.writeTextFile("/proc/sys/vm/drop_caches", "3");
  } catch {
    // Not root: runs start from a synced, but warm, cache.
  }
}

/** Wall seconds of a command and the peak RSS (VmHWM) of its process, in MiB. */
export interface Measured {
  seconds: number;
  peakMiB: number;
}

/** Runs a command, returning wall seconds and the peak RSS (VmHWM) seen, in MiB. */
export async function measure(
  command: string,
  args: string[],
  options: { env?: Record<string, string> } = {},
): Promise<Measured> {
  const started = performance.now();
  const child = new Deno.Command(command, {
    args,
    stdout: "null",
    stderr: "piped",
    env: options.env,
  }).spawn();
  let peakKiB = 0;
  const poll = setInterval(() => {
    try {
      const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      const match = /VmHWM:\s+([0-9]+) kB/.exec(status);
      if (match) peakKiB = Math.max(peakKiB, Number(match[1]));
    } catch (error) {
      // NotFound: the process has just exited; anything else would make the figure a lie.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }, 10);
  const output = await child.output();
  clearInterval(poll);
  const seconds = (performance.now() - started) / 1000;
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return { seconds, peakMiB: peakKiB / 1024 };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** `1.23 s (runs: 1.20, 1.23, 1.30)`. */
export function seconds(values: number[]): string {
  return `${median(values).toFixed(2)} s (runs: ${values.map((s) => s.toFixed(2)).join(", ")})`;
}

/** `95 ms (runs: …)`, for figures kept in milliseconds. */
export function milliseconds(values: number[]): string {
  return `${median(values).toFixed(0)} ms (runs: ${values.map((s) => s.toFixed(0)).join(", ")})`;
}

/** One figure held against its goal, for the summary. */
interface GoalLine {
  goal: string;
  figure: string;
  met: boolean;
}

const goals: GoalLine[] = [];

/**
 * Records a goal's outcome: `value <= limit` is met. Printed by
 * {@link printGoals} at the end, one line per goal.
 */
export function goal(goalText: string, value: number, limit: number, figure: string): void {
  goals.push({ goal: goalText, figure, met: value <= limit });
}

/** Prints one line per goal: met or not met, and the figure it was decided on. */
export function printGoals(): void {
  console.log("\ngoals");
  for (const line of goals) {
    console.log(`  ${line.met ? "met    " : "NOT MET"}  ${line.goal}: ${line.figure}`);
  }
}

/** Bytes a process has written (sockets included), from /proc/PID/io: what a server sent. */
export async function bytesWritten(pid: number): Promise<number> {
  const io = await Deno.readTextFile(`/proc/${pid}/io`);
  return Number(/^wchar:\s+([0-9]+)/m.exec(io)?.[1] ?? NaN);
}
