// deno-lint-ignore-file no-console
/**
 * How costs grow: each case measured at growing sizes, printed with its
 * ratio to the smallest, beside the ratio of the work itself (so that a
 * cost growing faster than the work shows): layers per image, files per
 * layer, the size of one layer (time and peak RSS), tags in `images.json`,
 * concurrent pulls sharing a base (blob bytes the registry sent against
 * what the images hold), and containers started one after another.
 */

import { join } from "node:path";
import { tagImage } from "../mod.ts";
import { DENOCKER_RUN } from "../tests/_cli.ts";
import { type OciLayout, type RealRegistry, run } from "../tests/_real_registry.ts";
import { hugeLayerImage, layerTar, manyFilesImage, manyLayersImage } from "./_images.ts";
import { bytesWritten, measure, median, MiB, RUNS, sync } from "./_measure.ts";
import { denockerRun, timeRun } from "./start_bench.ts";

/** Prints a case's rows: size, figure, its ratio to the first row's and the work's ratio. */
function table(
  title: string,
  unit: string,
  rows: { size: number; label: string; value: number }[],
) {
  console.log(`\n${title}`);
  const [first] = rows;
  for (const row of rows) {
    console.log(
      `  ${row.label.padEnd(22)} ${row.value.toFixed(unit === "ms" ? 0 : 2).padStart(8)} ${unit}` +
        `   x${(row.value / first.value).toFixed(2)} for x${(row.size / first.size).toFixed(0)} ` +
        `the work`,
    );
  }
}

/** Median pull seconds and peak RSS of `tag`, each run into a fresh root, from a cold cache. */
async function pullFigures(registry: RealRegistry, tag: string, work: string) {
  const times: number[] = [];
  const peaks: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const root = join(work, `scale-${tag}-${i}`);
    await sync();
    const pulled = await measure(Deno.execPath(), [
      ...DENOCKER_RUN,
      "pull",
      "-q",
      "--root",
      root,
      `${registry.host}/bench/${tag}:1`,
    ]);
    times.push(pulled.seconds);
    peaks.push(pulled.peakMiB);
    await Deno.remove(root, { recursive: true });
  }
  return { seconds: median(times), peakMiB: Math.max(...peaks) };
}

async function pushed(layout: OciLayout, registry: RealRegistry, tag: string) {
  await layout.push(tag, `${registry.host}/bench/${tag}:1`);
  return tag;
}

/** Median pull seconds of the image `make` builds at each size, a table row each. */
async function pullAtSizes(
  layout: OciLayout,
  registry: RealRegistry,
  work: string,
  counts: number[],
  unit: string,
  make: (count: number) => Promise<string>,
) {
  const rows = [];
  for (const count of counts) {
    const tag = await pushed(layout, registry, await make(count));
    const { seconds } = await pullFigures(registry, tag, work);
    rows.push({ size: count, label: `${count} ${unit}`, value: seconds });
  }
  return rows;
}

/** Layers per image, files per layer, size of a layer. */
async function imageCases(layout: OciLayout, registry: RealRegistry, work: string) {
  table(
    "pull: an image of N small layers",
    "s",
    await pullAtSizes(
      layout,
      registry,
      work,
      [1, 10, 100],
      "layers",
      (count) => manyLayersImage(layout, `layers${count}`, count),
    ),
  );
  table(
    "pull: one layer of N small files",
    "s",
    await pullAtSizes(
      layout,
      registry,
      work,
      [2_000, 20_000, 200_000],
      "files",
      (count) => manyFilesImage(layout, `files${count}`, count),
    ),
  );

  const sizes = [];
  for (const totalMiB of [512, 4096]) {
    const tag = await pushed(
      layout,
      registry,
      await hugeLayerImage(layout, `huge${totalMiB}`, totalMiB),
    );
    sizes.push({ totalMiB, ...(await pullFigures(registry, tag, work)) });
    // The layer's blob and tree are large: gone before the next case.
    await run("umoci", ["rm", "--image", `${layout.layout}:${tag}`]);
    await run("umoci", ["gc", "--layout", layout.layout]);
  }
  table(
    "pull: one layer of N MiB (time)",
    "s",
    sizes.map((s) => ({ size: s.totalMiB, label: `${s.totalMiB} MiB`, value: s.seconds })),
  );
  table(
    "pull: one layer of N MiB (peak RSS; must not grow with the size)",
    "MiB",
    sizes.map((s) => ({ size: s.totalMiB, label: `${s.totalMiB} MiB`, value: s.peakMiB })),
  );
}

/** `images`, `pull --missing` and `rmi` with 10 and with 1,000 tags in images.json. */
async function tagCases(root: string) {
  const timed = async (args: string[]) => {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      times.push(
        (await measure(Deno.execPath(), [...DENOCKER_RUN, "--root", root, ...args]))
          .seconds * 1000,
      );
    }
    return median(times);
  };
  const rows: Record<string, { size: number; label: string; value: number }[]> = {
    images: [],
    "pull --missing": [],
    rmi: [],
  };
  let made = 0;
  for (const count of [10, 1_000]) {
    // Tags made through the library, in this process: making them is not what is measured.
    for (; made < count; made++) await tagImage("busybox", `bench/tag${made}:t`, { root });
    const label = `${count} tags`;
    rows.images.push({ size: count, label, value: await timed(["images"]) });
    rows["pull --missing"].push({
      size: count,
      label,
      value: await timed(["pull", "-q", "--missing", "busybox"]),
    });
    const rmiTimes: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await tagImage("busybox", "bench/removed:t", { root });
      rmiTimes.push(
        (await measure(Deno.execPath(), [
          ...DENOCKER_RUN,
          "--root",
          root,
          "rmi",
          "bench/removed:t",
        ]))
          .seconds * 1000,
      );
    }
    rows.rmi.push({ size: count, label, value: median(rmiTimes) });
  }
  for (const [name, list] of Object.entries(rows)) {
    table(`${name} with N tags in images.json`, "ms", list);
  }
}

/**
 * 20 pulls at once into one root of images that share a base: the wall
 * time against one pull, and the blob bytes the registry sent against the
 * bytes of the distinct blobs (none fetched twice).
 */
async function concurrentPulls(layout: OciLayout, registry: RealRegistry, work: string) {
  const count = 20;
  const baseTar = await layerTar(
    layout,
    "shared-base",
    (dir) => run("sh", ["-c", `cp -a /usr/include "${dir}/include"`]).then(() => {}),
  );
  let distinct = 0;
  for (let i = 0; i < count; i++) {
    const ownTar = await layerTar(
      layout,
      `own-${i}`,
      (dir) => Deno.writeTextFile(join(dir, "which"), `image ${i}\n`),
    );
    await layout.image(`shared${i}`, [baseTar, ownTar]);
    await Deno.remove(ownTar);
    await layout.push(`shared${i}`, `${registry.host}/bench/shared${i}:1`);
    const manifest = await layout.manifest(`shared${i}`);
    if (i === 0) distinct += manifest.layers[0].size;
    distinct += manifest.layers[1].size + manifest.config.size;
  }
  await Deno.remove(baseTar);
  const pullArgs = (root: string, i: number) => [
    ...DENOCKER_RUN,
    "pull",
    "-q",
    "--root",
    root,
    `${registry.host}/bench/shared${i}:1`,
  ];
  const one: number[] = [];
  const all: number[] = [];
  const sent: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const single = join(work, `single-${r}`);
    await sync();
    one.push((await measure(Deno.execPath(), pullArgs(single, 0))).seconds);
    await Deno.remove(single, { recursive: true });
    const shared = join(work, `shared-${r}`);
    await sync();
    const before = await bytesWritten(registry.pid);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: count }, (_, i) => measure(Deno.execPath(), pullArgs(shared, i))),
    );
    all.push((performance.now() - started) / 1000);
    sent.push((await bytesWritten(registry.pid)) - before);
    await Deno.remove(shared, { recursive: true });
  }
  console.log(`\n${count} concurrent pulls into one root, images sharing a base layer`);
  console.log(
    `  one pull ${median(one).toFixed(2)} s; ${count} at once ${median(all).toFixed(2)} s ` +
      `(x${(median(all) / median(one)).toFixed(2)} for x${count} the images)`,
  );
  console.log(
    `  registry sent ${(Math.max(...sent) / MiB).toFixed(1)} MiB for ` +
      `${(distinct / MiB).toFixed(1)} MiB of distinct blobs (manifests and HTTP on top)`,
  );
}

/** 50 detached containers started one after another: the 50th start against the first. */
async function containerStarts(root: string) {
  const count = 50;
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const [, end] = await timeRun(
      Deno.execPath(),
      denockerRun(root, ["run", "-d", "--network", "none", "busybox", "sleep", "600"]),
    );
    times.push(end);
  }
  const ids = (await run(Deno.execPath(), denockerRun(root, ["ps", "-q"])))
    .trim().split("\n").filter(Boolean);
  await run(Deno.execPath(), denockerRun(root, ["rm", "-f", ...ids]));
  const firstFive = median(times.slice(0, 5));
  const lastFive = median(times.slice(-5));
  table(`${count} containers started one after another (run -d; medians of 5)`, "ms", [
    { size: 1, label: "starts 1-5", value: firstFive },
    { size: 1, label: `starts ${count - 4}-${count}`, value: lastFive },
  ]);
}

/** Every scaling case; `root` holds `busybox`. */
export async function scalingSection(
  layout: OciLayout,
  registry: RealRegistry,
  root: string,
  work: string,
): Promise<void> {
  await imageCases(layout, registry, work);
  await concurrentPulls(layout, registry, work);
  await tagCases(root);
  await containerStarts(root);
}
