// deno-lint-ignore-file no-console
/**
 * Benchmark: container start time, denocker against Debian's Docker daemon
 * on the same busybox image (Debian's static busybox, built with umoci):
 * from starting `run` to the command's first output, and to its end, as
 * medians of RUN_BENCH_RUNS runs (10 by default). Then what one running
 * container costs: its directory on disk, and the memory of the processes
 * that keep it (beyond the command itself). Needs root, dockerd, skopeo,
 * umoci and busybox-static: `deno task bench:run`.
 */

import { join } from "node:path";
import { OciLayout, run } from "../tests/_real_registry.ts";
import { busyboxImage, loadImage } from "../tests/_containers.ts";
import { DOCKER_CLIENT, startDocker } from "../tests/_docker.ts";
import { median } from "./_measure.ts";
import { timeRun } from "./start_bench.ts";

const RUNS = Number(Deno.env.get("RUN_BENCH_RUNS") ?? 10);
const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** A process's memory in KiB: resident (VmRSS), its proportional share (Pss), and anonymous. */
async function memoryKiB(pid: number): Promise<{ rss: number; pss: number; anon: number }> {
  const rollup = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+([0-9]+)`, "m").exec(rollup)?.[1] ?? 0);
  return { rss: field("Rss"), pss: field("Pss"), anon: field("Anonymous") };
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

/** Resident memory of a process in KiB (VmRSS). */
async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+([0-9]+)/.exec(status)?.[1] ?? 0);
}

async function children(pid: number): Promise<number[]> {
  const text = await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`).catch(() => "");
  return text.trim().split(" ").filter(Boolean).map(Number);
}

function report(name: string, ours: number[][], theirs: number[][], theirName: string) {
  const [oursFirst, oursEnd] = [median(ours.map((r) => r[0])), median(ours.map((r) => r[1]))];
  const [theirsFirst, theirsEnd] = [
    median(theirs.map((r) => r[0])),
    median(theirs.map((r) => r[1])),
  ];
  console.log(`\n${name} (${RUNS} runs, medians)`);
  console.log(
    `  denocker run: first output ${oursFirst.toFixed(0)} ms, end ${oursEnd.toFixed(0)} ms`,
  );
  console.log(
    `  ${theirName}: first output ${theirsFirst.toFixed(0)} ms, end ${theirsEnd.toFixed(0)} ms`,
  );
  console.log(
    `  ratio denocker / docker: first output ${(oursFirst / theirsFirst).toFixed(2)}, end ${
      (oursEnd / theirsEnd).toFixed(2)
    }`,
  );
}

const layout = await OciLayout.create();
const work = await Deno.makeTempDir({ prefix: "denocker-run-bench-" });
const root = join(work, "store");
const daemon = await startDocker();
try {
  await busyboxImage(layout, "busybox");
  await loadImage(layout, "busybox", root, "busybox:latest");
  const archive = join(layout.dir, "busybox.tar");
  await daemon.docker("load", "-i", archive);
  const socket =
    (await daemon.docker("context", "inspect", "--format", "{{.Endpoints.docker.Host}}"))
      .trim();
  // Both without a network (the daemon here has no bridge): what a start costs on its own.
  const ours = [
    "run",
    "--allow-all",
    CLI,
    "--root",
    root,
    "run",
    "--rm",
    "--network",
    "none",
    "busybox",
    "echo",
    "hi",
  ];
  const theirs = ["-H", socket, "run", "--rm", "--network", "none", "busybox", "echo", "hi"];
  // One of each first: caches warm for both.
  await timeRun(Deno.execPath(), ours);
  await timeRun(DOCKER_CLIENT, theirs);
  const oursRuns: number[][] = [];
  const theirRuns: number[][] = [];
  for (let i = 0; i < RUNS; i++) {
    oursRuns.push(await timeRun(Deno.execPath(), ours));
    theirRuns.push(await timeRun(DOCKER_CLIENT, theirs));
  }
  report("start: run --rm busybox echo hi", oursRuns, theirRuns, "docker run");

  // The whole of `run --rm busybox true`, the figure docker users know.
  const total = async (command: string, args: string[]) => {
    const started = performance.now();
    const status = await new Deno.Command(command, { args, stdout: "null", stderr: "inherit" })
      .output();
    if (!status.success) throw new Error(`${command} ${args.join(" ")} failed`);
    return performance.now() - started;
  };
  const oursTrue: number[] = [];
  const theirsTrue: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    oursTrue.push(await total(Deno.execPath(), [...ours.slice(0, -2), "true"]));
    theirsTrue.push(await total(DOCKER_CLIENT, [...theirs.slice(0, -2), "true"]));
  }
  console.log(`\nrun --rm busybox true, start to end (${RUNS} runs, medians)`);
  console.log(
    `  denocker ${median(oursTrue).toFixed(0)} ms, docker ${median(theirsTrue).toFixed(0)} ms, ` +
      `ratio ${(median(oursTrue) / median(theirsTrue)).toFixed(2)}`,
  );

  // What a running container costs, beyond its command.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      CLI,
      "--root",
      root,
      "run",
      "--rm",
      "--network",
      "none",
      "busybox",
      "sleep",
      "60",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  let keeper: number[] = [];
  for (let i = 0; i < 400 && keeper.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    keeper = await children(child.pid); // timeout, whose child is the container's PID 1
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const [container] = await Array.fromAsync(Deno.readDir(join(root, "containers")));
  const disk = (await run("du", ["-sk", join(root, "containers", container.name)])).split("\t")[0];
  const prepared = (await run("du", ["-sk", join(root, "overlay")]).catch(() =>
    "0"
  )).split("\t")[0];
  const denockerRss = await rssKiB(child.pid);
  const timeoutRss = keeper.length > 0 ? await rssKiB(keeper[0]) : 0;
  console.log("\ncost of one running container (busybox sleep 60)");
  console.log(
    `  disk: ${disk} KiB in containers/<id>/ (upper, work, links, hosts files), ` +
      `plus ${prepared} KiB once per layer stack in overlay/`,
  );
  console.log(
    `  memory besides the command: denocker run ${(denockerRss / 1024).toFixed(1)} MiB RSS ` +
      `(waits in the foreground, as the docker CLI does), timeout ${
        (timeoutRss / 1024).toFixed(1)
      } MiB`,
  );
  child.kill("SIGINT");
  child.kill("SIGINT");
  await child.status;

  // The same for docker: the attached CLI, and the shim containerd keeps per container.
  const dockerChild = new Deno.Command(DOCKER_CLIENT, {
    args: ["-H", socket, "run", "--rm", "--network", "none", "busybox", "sleep", "60"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 400 && (await daemon.docker("ps", "-q")).trim() === ""; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  // The newest shim is the running container's (the ones before it served the timed runs).
  const shim = (await run("pgrep", ["-n", "-f", "containerd-shim"]).catch(() => "")).trim();
  const cliRss = await rssKiB(dockerChild.pid);
  const shimRss = shim ? await rssKiB(Number(shim)) : 0;
  console.log(
    `  docker: the docker CLI ${(cliRss / 1024).toFixed(1)} MiB RSS, containerd-shim ${
      (shimRss / 1024).toFixed(1)
    } MiB (and the daemons dockerd and containerd, shared by all containers)`,
  );
  await daemon.docker("kill", (await daemon.docker("ps", "-q")).trim());
  await dockerChild.status;

  // Detached: from `run -d` to its return (the container runs), and what keeps it.
  const detachedRuns: number[][] = [];
  const dockerDetached: number[][] = [];
  const oursDetached = [
    "run",
    "--allow-all",
    CLI,
    "--root",
    root,
    "run",
    "-d",
    "--network",
    "none",
    "busybox",
    "sleep",
    "60",
  ];
  const theirsDetached = ["-H", socket, "run", "-d", "--network", "none", "busybox", "sleep", "60"];
  for (let i = 0; i < RUNS; i++) {
    detachedRuns.push(await timeRun(Deno.execPath(), oursDetached));
    dockerDetached.push(await timeRun(DOCKER_CLIENT, theirsDetached));
  }
  report("run -d busybox sleep 60, to its return", detachedRuns, dockerDetached, "docker run -d");
  await new Promise((resolve) => setTimeout(resolve, 500));
  const records = await Array.fromAsync(Deno.readDir(join(root, "containers")));
  const owners: number[] = [];
  for (const entry of records) {
    const record = JSON.parse(
      await Deno.readTextFile(join(root, "containers", entry.name, "container.json")).catch(() =>
        "{}"
      ),
    );
    // Running ones only: the foreground container before these may still be on record.
    if (record.state === "running" && record.owner?.pid) owners.push(record.owner.pid);
  }
  const monitors = await Promise.all(owners.map(memoryKiB));
  const shims = (await run("pgrep", ["-f", "containerd-shim"]).catch(() => "")).trim().split("\n")
    .filter(Boolean).map(Number);
  const shimMemory = await Promise.all(shims.map(memoryKiB));
  const average = (
    list: { rss: number; pss: number; anon: number }[],
    key: "rss" | "pss" | "anon",
  ) => list.reduce((total, item) => total + item[key], 0) / Math.max(1, list.length);
  console.log(`\nwhat keeps one detached container (${owners.length} running; averages)`);
  console.log(
    `  denocker's monitor: ${mib(average(monitors, "rss"))} MiB RSS, ${
      mib(average(monitors, "pss"))
    } MiB PSS, ${mib(average(monitors, "anon"))} MiB anonymous`,
  );
  console.log(
    `  docker's containerd-shim (${shims.length}): ${mib(average(shimMemory, "rss"))} MiB RSS, ${
      mib(average(shimMemory, "pss"))
    } MiB PSS, ${mib(average(shimMemory, "anon"))} MiB anonymous`,
  );
  await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", CLI, "--root", root, "rm", "-f", ...records.map((e) => e.name)],
    stdout: "null",
  }).output();
  const running = (await daemon.docker("ps", "-q")).trim().split("\n").filter(Boolean);
  if (running.length > 0) await daemon.docker("rm", "-f", ...running);
} finally {
  await daemon.close();
  await layout.remove();
  await Deno.remove(work, { recursive: true });
}
