// deno-lint-ignore-file no-console
/**
 * Pull: denocker's pull (download + verify + extract) against `docker pull`
 * and against `skopeo copy` followed by `umoci raw unpack`, on a local
 * registry, the three in turned order run after run, each from a cold page
 * cache, every tree kept until all runs are done. Then the
 * re-pull of an unchanged tag (its time and the blob bytes the registry
 * sent), our peak RSS, resume after a kill, and push and save against
 * skopeo's.
 */

import { join } from "node:path";
import { DENOCKER_RUN } from "../tests/_cli.ts";
import type { DockerDaemon } from "../tests/_docker.ts";
import { type OciLayout, type RealRegistry, run, startRegistry } from "../tests/_real_registry.ts";
import { bytesWritten, goal, measure, median, MiB, RUNS, seconds, sync } from "./_measure.ts";

interface PullFigures {
  ours: number[];
  docker: number[];
  reference: number[];
  repull: number[];
  repullSent: number[];
  peakMiB: number[];
}

async function benchPull(
  registry: RealRegistry,
  daemon: DockerDaemon,
  tag: string,
  work: string,
): Promise<PullFigures> {
  const reference = `${registry.host}/bench/${tag}:1`;
  const figures: PullFigures = {
    ours: [],
    docker: [],
    reference: [],
    repull: [],
    repullSent: [],
    peakMiB: [],
  };
  // Trees are removed only once every run is done: ext4 makes a file creation that follows
  // the deletion of many files pay a scan of the recently deleted inodes (about 30 s), which
  // would fall on whichever tool runs next. Docker's own `rmi` cannot wait; the order of the
  // three tools turns with each run, so that no tool always follows it.
  const leftovers: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const root = join(work, `root-${tag}-${i}`);
    const layout = join(work, `skopeo-${tag}-${i}`);
    const rootfs = join(work, `umoci-${tag}-${i}`);
    leftovers.push(root, layout, rootfs);
    const ours = async () => {
      await sync();
      const pullArgs = [...DENOCKER_RUN, "pull", "-q", "--root", root, reference];
      const pulled = await measure(Deno.execPath(), pullArgs);
      figures.ours.push(pulled.seconds);
      figures.peakMiB.push(pulled.peakMiB);
      await sync();
      const sentBefore = await bytesWritten(registry.pid);
      figures.repull.push((await measure(Deno.execPath(), pullArgs)).seconds);
      figures.repullSent.push((await bytesWritten(registry.pid)) - sentBefore);
    };
    const docker = async () => {
      await sync();
      const pulled = await measure("/usr/bin/docker", [
        "-H",
        `unix://${daemon.socket}`,
        "pull",
        "-q",
        reference,
      ]);
      figures.docker.push(pulled.seconds);
      await daemon.docker("rmi", reference);
    };
    const skopeoUmoci = async () => {
      await sync();
      const copy = await measure("skopeo", [
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        `docker://${reference}`,
        `oci:${layout}:${tag}`,
      ]);
      const unpack = await measure("umoci", [
        "raw",
        "unpack",
        "--image",
        `${layout}:${tag}`,
        rootfs,
      ]);
      figures.reference.push(copy.seconds + unpack.seconds);
    };
    const tools = [ours, docker, skopeoUmoci];
    for (let k = 0; k < tools.length; k++) await tools[(i + k) % tools.length]();
  }
  for (const path of leftovers) await Deno.remove(path, { recursive: true });
  return figures;
}

/**
 * @param smallestBlob The size of the image's smallest blob (its config): a re-pull that fetched
 *   any blob made the registry send at least that much.
 */
function reportPull(name: string, figures: PullFigures, smallestBlob: number) {
  const ours = median(figures.ours);
  const docker = median(figures.docker);
  const reference = median(figures.reference);
  const peak = Math.max(...figures.peakMiB);
  const repull = median(figures.repull);
  const sent = Math.max(...figures.repullSent);
  console.log(`\npull: ${name} (${RUNS} runs, medians)`);
  console.log(`  denocker pull:              ${seconds(figures.ours)}`);
  console.log(`  docker pull:                ${seconds(figures.docker)}`);
  console.log(`  skopeo copy + umoci unpack: ${seconds(figures.reference)}`);
  console.log(
    `  ratio denocker / docker: ${(ours / docker).toFixed(2)}, ` +
      `denocker / skopeo+umoci: ${(ours / reference).toFixed(2)}`,
  );
  console.log(
    `  re-pull (unchanged): ${seconds(figures.repull)}, registry sent ${sent} bytes ` +
      `(the smallest blob is ${smallestBlob} bytes)`,
  );
  console.log(`  denocker peak RSS: ${peak.toFixed(0)} MiB`);
  goal(
    `pull ${name} <= 0.4 of docker pull`,
    ours / docker,
    0.4,
    `${(ours / docker).toFixed(2)}`,
  );
  goal(
    `pull ${name} <= 0.5 of skopeo+umoci`,
    ours / reference,
    0.5,
    `${(ours / reference).toFixed(2)}`,
  );
  // Fewer bytes than the smallest blob: the registry cannot have sent one.
  goal(
    `re-pull ${name} <= 0.3 s, no blob`,
    sent < smallestBlob ? repull : Infinity,
    0.3,
    `${repull.toFixed(2)} s, ${sent} bytes sent (smallest blob: ${smallestBlob} bytes)`,
  );
  goal(`pull ${name} peak RSS < 128 MiB`, peak, 127.99, `${peak.toFixed(0)} MiB`);
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
  while ((await partialSize().catch(() => 0)) < layerBytes / 2) {
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
async function benchPush(layout: OciLayout, tag: string, root: string): Promise<Pair> {
  const pair: Pair = { ours: [], theirs: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const tool of ["ours", "theirs"] as const) {
      await using target = await startRegistry();
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
    }
  }
  return pair;
}

/** Save: our docker-archive of the stored image against skopeo's from the OCI layout. */
async function benchSave(layout: OciLayout, tag: string, root: string, work: string) {
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
  const ratio = median(pair.ours) / median(pair.theirs);
  console.log(
    `  ${name}: denocker ${seconds(pair.ours)}, ${theirName} ${seconds(pair.theirs)}, ` +
      `ratio ${ratio.toFixed(2)}`,
  );
  return ratio;
}

/** The pull figures of every image, then resume, push and save. */
export async function pullSection(
  registry: RealRegistry,
  daemon: DockerDaemon,
  layout: OciLayout,
  images: { tag: string; name: string }[],
  work: string,
): Promise<void> {
  for (const { tag } of images) await layout.push(tag, `${registry.host}/bench/${tag}:1`);
  for (const { tag, name } of images) {
    const manifest = await layout.manifest(tag);
    const smallestBlob = Math.min(
      manifest.config.size,
      ...manifest.layers.map((layer: { size: number }) => layer.size),
    );
    reportPull(name, await benchPull(registry, daemon, tag, work), smallestBlob);
  }
  const largeLayer = (await layout.manifest("large")).layers[0].size;
  await benchResume(registry.host, "large", work, largeLayer);
  for (const { tag } of images.filter((image) => image.tag !== "debian")) {
    // The image stored once, under its short name, for push and save to start from.
    const root = join(work, `root-store-${tag}`);
    const remote = `${registry.host}/bench/${tag}:1`;
    await run(Deno.execPath(), [...DENOCKER_RUN, "pull", "-q", "--root", root, remote]);
    await run(Deno.execPath(), [...DENOCKER_RUN, "tag", "--root", root, remote, tag]);
    console.log(`\npush and save, ${tag} image (${RUNS} runs, medians)`);
    const push = reportPair(
      "push",
      "skopeo copy oci: docker://",
      await benchPush(layout, tag, root),
    );
    const save = reportPair(
      "save",
      "skopeo copy oci: docker-archive:",
      await benchSave(layout, tag, root, work),
    );
    goal(`push ${tag} <= 0.8 of skopeo`, push, 0.8, push.toFixed(2));
    goal(`save ${tag} <= 0.8 of skopeo`, save, 0.8, save.toFixed(2));
    await Deno.remove(root, { recursive: true });
  }
}
