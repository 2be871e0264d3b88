// deno-lint-ignore-file no-console
/**
 * Start-up: `denocker --version` against `deno eval 0` (what loading the
 * CLI costs beyond Deno's own start), and `run --rm busybox echo hi`
 * against `docker run --rm` of the same image, both without a network (the
 * daemon here has no bridge), from spawning to the first output and to the
 * end.
 */

import { DENOCKER_RUN } from "../tests/_cli.ts";
import { DOCKER_CLIENT, type DockerDaemon } from "../tests/_docker.ts";
import { goal, median, milliseconds } from "./_measure.ts";

/** Runs per start-up figure (RUN_BENCH_RUNS, default 10): each is short. */
export const START_RUNS = Number(Deno.env.get("RUN_BENCH_RUNS") ?? 10);

/** Milliseconds from spawning to the first byte on stdout, and to the end. */
export async function timeRun(command: string, args: string[]): Promise<[number, number]> {
  const started = performance.now();
  const child = new Deno.Command(command, { args, stdout: "piped", stderr: "inherit" }).spawn();
  const reader = child.stdout.getReader();
  const first = await reader.read();
  const firstOutput = performance.now() - started;
  if (first.done) throw new Error(`${command} printed nothing`);
  while (!(await reader.read()).done) { /* drain */ }
  const status = await child.status;
  if (!status.success) throw new Error(`${command} ${args.join(" ")} failed`);
  return [firstOutput, performance.now() - started];
}

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** denocker's arguments for `deno`, as the README runs it (`-A`: containers need FFI). */
export function denockerRun(root: string, args: string[]): string[] {
  return ["run", "--allow-all", CLI, "--root", root, ...args];
}

/** Times `a` and `b` alternated, `START_RUNS` times each after one warm-up of each. */
async function alternate(a: [string, string[]], b: [string, string[]]) {
  await timeRun(...a);
  await timeRun(...b);
  const ours: [number, number][] = [];
  const theirs: [number, number][] = [];
  for (let i = 0; i < START_RUNS; i++) {
    ours.push(await timeRun(...a));
    theirs.push(await timeRun(...b));
  }
  return { ours, theirs };
}

/** The start-up figures, with `busybox` stored in `root` and loaded into `daemon`. */
export async function startSection(daemon: DockerDaemon, root: string): Promise<void> {
  const version = await alternate(
    [Deno.execPath(), [...DENOCKER_RUN, "--version"]],
    [Deno.execPath(), ["eval", "console.log(0)"]],
  );
  const versionMs = version.ours.map((run) => run[1]);
  const evalMs = version.theirs.map((run) => run[1]);
  const versionRatio = median(versionMs) / median(evalMs);
  console.log(`\nstart-up (${START_RUNS} runs, medians)`);
  console.log(
    `  denocker --version ${milliseconds(versionMs)}, deno eval ${milliseconds(evalMs)}, ` +
      `ratio ${versionRatio.toFixed(2)}`,
  );
  goal("--version <= 1.5x deno eval 0", versionRatio, 1.5, versionRatio.toFixed(2));

  const command = ["run", "--rm", "--network", "none", "busybox", "echo", "hi"];
  const runs = await alternate(
    [Deno.execPath(), denockerRun(root, command)],
    [DOCKER_CLIENT, ["-H", `unix://${daemon.socket}`, ...command]],
  );
  const first = (list: [number, number][]) => median(list.map((run) => run[0]));
  const end = (list: [number, number][]) => median(list.map((run) => run[1]));
  const ratio = end(runs.ours) / end(runs.theirs);
  console.log(
    `  run --rm busybox echo hi: denocker first output ${first(runs.ours).toFixed(0)} ms, ` +
      `end ${milliseconds(runs.ours.map((run) => run[1]))}`,
  );
  console.log(
    `  docker run --rm:          docker first output ${first(runs.theirs).toFixed(0)} ms, ` +
      `end ${milliseconds(runs.theirs.map((run) => run[1]))}`,
  );
  console.log(`  ratio denocker / docker (end): ${ratio.toFixed(2)}`);
  goal("run --rm busybox echo hi <= 0.5 of docker run --rm", ratio, 0.5, ratio.toFixed(2));
}
