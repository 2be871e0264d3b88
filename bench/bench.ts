// deno-lint-ignore-file no-console
/**
 * The benchmark: every figure of denocker next to its peer's from the same
 * run, then a line per goal (met / not met). Sections: `pull` (against
 * docker pull and skopeo + umoci, re-pull, resume, push, save), `start`
 * (--version, run), `scaling` (how costs grow). BENCH_SECTIONS picks some
 * (`pull,start`); BENCH_RUNS sets the runs per pull figure (default 3),
 * RUN_BENCH_RUNS per start-up figure (default 10).
 *
 * Needs root, dockerd, docker-registry, skopeo, umoci, busybox-static and
 * debootstrap (the Debian image is built once, then cached in BENCH_CACHE).
 * It runs with --allow-all because Deno lets only that read another
 * process's /proc/<pid>/status, where the peak RSS (VmHWM) is.
 */

import { join } from "node:path";
import { OciLayout, startRegistry } from "../tests/_real_registry.ts";
import { busyboxImage, loadImage } from "../tests/_containers.ts";
import { startDocker } from "../tests/_docker.ts";
import { debianImage, largeBlobImage, realisticImage } from "./_images.ts";
import { printGoals } from "./_measure.ts";
import { pullSection } from "./pull_bench.ts";
import { startSection } from "./start_bench.ts";
import { scalingSection } from "./scaling_bench.ts";

const sections = new Set(
  (Deno.env.get("BENCH_SECTIONS") ?? "pull,start,scaling").split(",").map((s) => s.trim()),
);

await using registry = await startRegistry();
await using layout = await OciLayout.create();
await using daemon = await startDocker();
const work = await Deno.makeTempDir({ prefix: "denocker-bench-" });
try {
  console.log("building the images…");
  const root = join(work, "store");
  await busyboxImage(layout, "busybox");
  await loadImage(layout, "busybox", root, "busybox:latest");
  await daemon.docker("load", "-i", join(layout.dir, "busybox.tar"));
  if (sections.has("pull")) {
    const images = [
      { tag: await realisticImage(layout), name: "realistic (3 layers of real files)" },
      { tag: await largeBlobImage(layout, "large", 512), name: "large blob (one 512 MiB layer)" },
      { tag: await debianImage(layout), name: "Debian rootfs (debootstrap minbase)" },
    ];
    await pullSection(registry, daemon, layout, images, work);
  }
  if (sections.has("start")) await startSection(daemon, root);
  if (sections.has("scaling")) await scalingSection(layout, registry, root, work);
  printGoals();
} finally {
  await Deno.remove(work, { recursive: true });
}
