// deno-lint-ignore-file no-console
/**
 * Benchmark: denocker's pull (download + verify + extract) against the tools
 * a user would otherwise reach for, `skopeo copy` followed by
 * `umoci raw unpack`, on a local registry. Prints medians, our ratio to
 * skopeo+umoci, the re-pull of an unchanged image, and our peak RSS.
 * Then push (ours from the store against `skopeo copy oci:… docker://…`,
 * each to an empty repository of a fresh registry) and save (ours against
 * `skopeo copy oci:… docker-archive:…`), as ratios.
 *
 * Run with `deno task bench`; BENCH_RUNS sets the runs per measurement (default 3).
 * It runs with --allow-all because Deno lets only that read another process's
 * /proc/<pid>/status, where the peak RSS (VmHWM) is.
 */

import { join } from "node:path";
import { DENOCKER_RUN } from "../tests/_cli.ts";
import { OciLayout, run, startRegistry } from "../tests/_real_registry.ts";

const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 3);
const MiB = 1024 * 1024;

/**
 * Flushes dirty data and, where allowed (root), drops the page cache, so that every timed run
 * starts cold and no tool pays for another's writes.
 */
async function sync() {
  await run("sync", []);
  try {
    await Deno.writeTextFile("/proc/sys/vm/drop_caches", "3");
  } catch {
    // Not root: runs start from a synced, but warm, cache.
  }
}

/** Runs a command, returning wall seconds and the peak RSS (VmHWM) seen, in MiB. */
async function measure(
  command: string,
  args: string[],
): Promise<{ seconds: number; peakMiB: number }> {
  const started = performance.now();
  const child = new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).spawn();
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Three layers of real files: copies of /usr/include, /usr/share/doc and /usr/lib/python3. */
async function realisticImage(layout: OciLayout): Promise<string> {
  const tars: string[] = [];
  for (const directory of ["usr/include", "usr/share/doc", "usr/lib/python3"]) {
    const tar = join(layout.dir, `${directory.replaceAll("/", "-")}.tar`);
    await run("tar", ["--numeric-owner", "-C", "/", "-cf", tar, directory]);
    tars.push(tar);
  }
  await layout.image("realistic", tars);
  return "realistic";
}

/** One 512 MiB layer: half random bytes, half text. */
async function largeBlobImage(layout: OciLayout): Promise<string> {
  const dir = join(layout.dir, "large");
  await Deno.mkdir(dir);
  await run("sh", ["-c", `head -c ${256 * MiB} /dev/urandom > "${dir}/random.bin"`]);
  // Text: C headers, repeated until the size is reached (compresses like real text).
  const headers: Uint8Array[] = [];
  for await (const entry of Deno.readDir("/usr/include")) {
    if (entry.isFile && entry.name.endsWith(".h")) {
      headers.push(await Deno.readFile(join("/usr/include", entry.name)));
    }
  }
  const text = await Deno.open(join(dir, "text.txt"), { write: true, create: true });
  for (let written = 0; written < 256 * MiB;) {
    for (const header of headers) {
      const part = header.subarray(0, Math.min(header.byteLength, 256 * MiB - written));
      await text.write(part);
      written += part.byteLength;
    }
  }
  text.close();
  await layout.image("large", [await layout.tarOf(dir, "large")]);
  return "large";
}

interface Figures {
  ours: number[];
  reference: number[];
  repull: number[];
  peakMiB: number[];
}

async function benchImage(registryHost: string, tag: string, work: string): Promise<Figures> {
  const reference = `${registryHost}/bench/${tag}:1`;
  const figures: Figures = { ours: [], reference: [], repull: [], peakMiB: [] };
  for (let i = 0; i < RUNS; i++) {
    // Alternate the tools and start each from a synced disk, so neither pays for the other's writes.
    const root = join(work, `root-${tag}-${i}`);
    await sync();
    const pullArgs = [...DENOCKER_RUN, "pull", "-q", "--root", root, reference];
    const ours = await measure(Deno.execPath(), pullArgs);
    figures.ours.push(ours.seconds);
    figures.peakMiB.push(ours.peakMiB);
    await sync();
    figures.repull.push((await measure(Deno.execPath(), pullArgs)).seconds);

    const layout = join(work, `skopeo-${tag}-${i}`);
    const rootfs = join(work, `umoci-${tag}-${i}`);
    await sync();
    const copy = await measure("skopeo", [
      "copy",
      "--quiet",
      "--src-tls-verify=false",
      `docker://${reference}`,
      `oci:${layout}:${tag}`,
    ]);
    const unpack = await measure("umoci", ["raw", "unpack", "--image", `${layout}:${tag}`, rootfs]);
    figures.reference.push(copy.seconds + unpack.seconds);
    for (const path of [root, layout, rootfs]) await Deno.remove(path, { recursive: true });
  }
  return figures;
}

/**
 * Resume after a kill: our pull of the large image is SIGKILLed once its
 * partial blob holds half the layer, then pulled again. Reports what was
 * kept, what the re-pull still had to fetch, and how long it took.
 */
async function benchResume(registryHost: string, tag: string, work: string, layerBytes: number) {
  const reference = `${registryHost}/bench/${tag}:1`;
  const root = join(work, `root-resume-${tag}`);
  const pullArgs = [...DENOCKER_RUN, "pull", "-q", "--root", root, reference];
  await sync();
  const child = new Deno.Command(Deno.execPath(), {
    args: pullArgs,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const partials = join(root, "partial", "sha256");
  const partialSize = async () => {
    let size = 0;
    for (const entry of await Array.fromAsync(Deno.readDir(partials)).catch(() => [])) {
      if (entry.name.endsWith(".lock")) continue;
      const info = await Deno.stat(join(partials, entry.name)).catch(() => undefined);
      size = Math.max(size, info?.size ?? 0);
    }
    return size;
  };
  const half = layerBytes / 2;
  while ((await partialSize().catch(() => 0)) < half) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  child.kill("SIGKILL");
  await child.status;
  const kept = await partialSize();
  await sync();
  const repull = await measure(Deno.execPath(), pullArgs);
  await Deno.remove(root, { recursive: true });
  console.log(`\nresume after a kill (${tag} image)`);
  console.log(
    `  killed with ${(kept / MiB).toFixed(0)} MiB of the ${(layerBytes / MiB).toFixed(0)} MiB ` +
      `layer blob kept; the re-pull fetched the other ${
        ((layerBytes - kept) / MiB).toFixed(0)
      } MiB (a full re-download: ${(layerBytes / MiB).toFixed(0)} MiB)`,
  );
  console.log(`  re-pull after the kill: ${repull.seconds.toFixed(2)} s`);
}

/** Seconds of each run of `ours` and `theirs`, alternated, each from a synced disk. */
interface Pair {
  ours: number[];
  theirs: number[];
}

/**
 * Push: our push of the stored image against skopeo's copy of the same OCI
 * layout, each to an empty repository of its own fresh registry (so that
 * neither can mount or skip a blob the other sent).
 */
async function benchPush(tag: string, root: string): Promise<Pair> {
  const pair: Pair = { ours: [], theirs: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const tool of ["ours", "theirs"] as const) {
      const target = await startRegistry();
      try {
        const name = `${target.host}/bench/${tag}:1`;
        await sync();
        if (tool === "ours") {
          await run(Deno.execPath(), [...DENOCKER_RUN, "tag", "--root", root, tag, name]);
          const pushed = await measure(Deno.execPath(), [
            ...DENOCKER_RUN,
            "push",
            "--root",
            root,
            name,
          ]);
          pair.ours.push(pushed.seconds);
          await run(Deno.execPath(), [...DENOCKER_RUN, "rmi", "--root", root, name]);
        } else {
          const copied = await measure("skopeo", [
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            `oci:${layout.layout}:${tag}`,
            `docker://${name}`,
          ]);
          pair.theirs.push(copied.seconds);
        }
      } finally {
        await target.close();
      }
    }
  }
  return pair;
}

/** Save: our docker-archive of the stored image against skopeo's from the OCI layout. */
async function benchSave(tag: string, root: string, work: string): Promise<Pair> {
  const pair: Pair = { ours: [], theirs: [] };
  const ours = join(work, "ours.tar");
  const theirs = join(work, "theirs.tar");
  for (let i = 0; i < RUNS; i++) {
    await sync();
    const saved = await measure(Deno.execPath(), [
      ...DENOCKER_RUN,
      "save",
      "--root",
      root,
      "-o",
      ours,
      tag,
    ]);
    pair.ours.push(saved.seconds);
    await sync();
    const copied = await measure("skopeo", [
      "copy",
      "--quiet",
      `oci:${layout.layout}:${tag}`,
      `docker-archive:${theirs}:bench/${tag}:1`,
    ]);
    pair.theirs.push(copied.seconds);
    for (const path of [ours, theirs]) await Deno.remove(path);
  }
  return pair;
}

function reportPair(name: string, theirName: string, pair: Pair) {
  const ours = median(pair.ours);
  const theirs = median(pair.theirs);
  const runs = (values: number[]) => values.map((s) => s.toFixed(2)).join(", ");
  console.log(
    `  ${name}: denocker ${ours.toFixed(2)} s (runs: ${runs(pair.ours)}), ` +
      `${theirName} ${theirs.toFixed(2)} s (runs: ${runs(pair.theirs)}), ratio ${
        (ours / theirs).toFixed(2)
      }`,
  );
}

function report(name: string, figures: Figures) {
  const ours = median(figures.ours);
  const reference = median(figures.reference);
  console.log(`\n${name} (${RUNS} runs, medians)`);
  console.log(
    `  denocker pull:              ${ours.toFixed(2)} s   (runs: ${
      figures.ours.map((s) => s.toFixed(2)).join(", ")
    })`,
  );
  console.log(
    `  skopeo copy + umoci unpack: ${reference.toFixed(2)} s   (runs: ${
      figures.reference.map((s) => s.toFixed(2)).join(", ")
    })`,
  );
  console.log(`  ratio denocker / skopeo+umoci: ${(ours / reference).toFixed(2)}`);
  console.log(`  denocker re-pull (unchanged): ${median(figures.repull).toFixed(2)} s`);
  console.log(`  denocker peak RSS: ${Math.max(...figures.peakMiB).toFixed(0)} MiB`);
}

const registry = await startRegistry();
const layout = await OciLayout.create();
const work = await Deno.makeTempDir({ prefix: "denocker-bench-" });
try {
  console.log("building and pushing the images…");
  const images = [await realisticImage(layout), await largeBlobImage(layout)];
  for (const tag of images) await layout.push(tag, `${registry.host}/bench/${tag}:1`);
  for (const tag of images) {
    report(
      tag === "realistic"
        ? "realistic image (3 layers of real files)"
        : "large-blob image (one 512 MiB layer)",
      await benchImage(registry.host, tag, work),
    );
  }
  const largeLayer = (await layout.manifest("large")).layers[0].size;
  await benchResume(registry.host, "large", work, largeLayer);
  for (const tag of images) {
    // The image stored once, under its short name, for push and save to start from.
    const root = join(work, `root-store-${tag}`);
    await run(Deno.execPath(), [
      ...DENOCKER_RUN,
      "pull",
      "-q",
      "--root",
      root,
      `${registry.host}/bench/${tag}:1`,
    ]);
    await run(Deno.execPath(), [
      ...DENOCKER_RUN,
      "tag",
      "--root",
      root,
      `${registry.host}/bench/${tag}:1`,
      tag,
    ]);
    console.log(`\npush and save, ${tag} image (${RUNS} runs, medians)`);
    reportPair("push", "skopeo copy oci: docker://", await benchPush(tag, root));
    reportPair("save", "skopeo copy oci: docker-archive:", await benchSave(tag, root, work));
    await Deno.remove(root, { recursive: true });
  }
} finally {
  await Deno.remove(work, { recursive: true });
  await layout.remove();
  await registry.close();
}
