/**
 * The benchmark's images, built with umoci into one OCI layout: real files
 * (three layers of the host's /usr), one large blob, a Debian rootfs
 * (debootstrap, kept in a cache between runs), and the scaling cases (many
 * layers, many files, a 4 GiB layer).
 */

import { join } from "node:path";
import { type OciLayout, run } from "../tests/_real_registry.ts";
import { MiB } from "./_measure.ts";

/** Where built inputs that are slow to make (the Debian rootfs) are kept between runs. */
const CACHE = Deno.env.get("BENCH_CACHE") ??
  join(Deno.env.get("HOME") ?? "/tmp", ".cache", "denocker-bench");

/** Three layers of real files: copies of /usr/include, /usr/share/doc and /usr/lib/python3. */
export async function realisticImage(layout: OciLayout): Promise<string> {
  const tars: string[] = [];
  for (const directory of ["usr/include", "usr/share/doc", "usr/lib/python3"]) {
    const tar = join(layout.dir, `${directory.replaceAll("/", "-")}.tar`);
    await run("tar", ["--numeric-owner", "-C", "/", "-cf", tar, directory]);
    tars.push(tar);
  }
  return await imageOf(layout, "realistic", tars);
}

/** Writes `bytes` of text (the host's C headers, repeated) to `path`: compresses like real text. */
async function textFile(path: string, bytes: number) {
  const headers: Uint8Array[] = [];
  for await (const entry of Deno.readDir("/usr/include")) {
    if (entry.isFile && entry.name.endsWith(".h")) {
      headers.push(await Deno.readFile(join("/usr/include", entry.name)));
    }
  }
  using text = await Deno.open(path, { write: true, create: true });
  for (let written = 0; written < bytes;) {
    for (const header of headers) {
      const part = header.subarray(0, Math.min(header.byteLength, bytes - written));
      await text.write(part);
      written += part.byteLength;
    }
  }
}

/** A tar of the directory `fill` makes (the directory is gone after). */
export async function layerTar(
  layout: OciLayout,
  name: string,
  fill: (dir: string) => Promise<void>,
): Promise<string> {
  const dir = join(layout.dir, name);
  await Deno.mkdir(dir, { recursive: true });
  await fill(dir);
  const tar = await layout.tarOf(dir, name);
  await Deno.remove(dir, { recursive: true });
  return tar;
}

/** Image `tag` of these layer tars, which are removed once it is made. */
async function imageOf(layout: OciLayout, tag: string, tars: string[]): Promise<string> {
  await layout.image(tag, tars);
  for (const tar of tars) await Deno.remove(tar);
  return tag;
}

/** One layer of `totalMiB`: half random bytes, half text. */
export async function largeBlobImage(layout: OciLayout, tag: string, totalMiB: number) {
  const half = (totalMiB / 2) * MiB;
  const tar = await layerTar(layout, tag, async (dir) => {
    await run("sh", ["-c", `head -c ${half} /dev/urandom > "${dir}/random.bin"`]);
    await textFile(join(dir, "text.txt"), half);
  });
  return await imageOf(layout, tag, [tar]);
}

/**
 * A Debian bookworm rootfs (debootstrap's minbase variant, from Debian's
 * mirror) as one layer: dpkg's tree, hardlinks, setuid files, device nodes.
 * The rootfs tar is cached under BENCH_CACHE.
 */
export async function debianImage(layout: OciLayout): Promise<string> {
  const cached = join(CACHE, "debian-bookworm-minbase.tar");
  if (!(await Deno.stat(cached).catch(() => undefined))) {
    await Deno.mkdir(CACHE, { recursive: true });
    const rootfs = join(layout.dir, "debian-rootfs");
    await run("debootstrap", [
      "--variant=minbase",
      "bookworm",
      rootfs,
      "http://deb.debian.org/debian",
    ]);
    const partial = `${cached}.partial`;
    await run("tar", ["--numeric-owner", "--xattrs", "-C", rootfs, "-cf", partial, "."]);
    await Deno.rename(partial, cached);
    await Deno.remove(rootfs, { recursive: true });
  }
  await layout.image("debian", [cached]);
  return "debian";
}

/** `count` layers of one small file each, over nothing. */
export async function manyLayersImage(layout: OciLayout, tag: string, count: number) {
  const tars: string[] = [];
  for (let i = 0; i < count; i++) {
    tars.push(
      await layerTar(layout, `${tag}-${i}`, async (dir) => {
        await Deno.mkdir(join(dir, "layers"));
        await Deno.writeTextFile(join(dir, "layers", `${i}.txt`), `layer ${i}\n`.repeat(100));
      }),
    );
  }
  return await imageOf(layout, tag, tars);
}

/** One layer of `count` small files (100 to a directory), each a few hundred bytes. */
export async function manyFilesImage(layout: OciLayout, tag: string, count: number) {
  // One shell loop instead of `count` calls from here: making the files is not what is measured.
  const tar = await layerTar(layout, tag, async (dir) => {
    await run("sh", [
      "-c",
      `cd "${dir}" && i=0; while [ $i -lt ${Math.ceil(count / 100)} ]; do mkdir d$i; ` +
      `j=0; while [ $j -lt 100 ]; do echo "file $i/$j of the many-files layer" > d$i/f$j; ` +
      `j=$((j+1)); done; i=$((i+1)); done`,
    ]);
  });
  return await imageOf(layout, tag, [tar]);
}

/**
 * One layer of one file of `totalMiB`, mostly zeros with text every MiB:
 * big to extract, quick to compress, so that only size grows.
 */
export async function hugeLayerImage(layout: OciLayout, tag: string, totalMiB: number) {
  const tar = await layerTar(layout, tag, async (dir) => {
    await run("sh", [
      "-c",
      `i=0; while [ $i -lt ${totalMiB} ]; do echo "MiB $i"; head -c 1048000 /dev/zero; ` +
      `i=$((i+1)); done > "${dir}/huge.bin"`,
    ]);
  });
  return await imageOf(layout, tag, [tar]);
}
