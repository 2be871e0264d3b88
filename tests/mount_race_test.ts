/**
 * Mount targets against a container that races them (runc's
 * CVE-2021-30465): one container shares a named volume with the next and,
 * in it, swaps a directory with a symlink to a host directory for ever.
 * The next containers mount that volume and then a file, a directory and a
 * tmpfs at paths under the swapped directory, which have to be created.
 * Nothing may ever be created or mounted on the host's directory; the
 * containers still start (their targets end up inside their own root).
 * Run through denocker's own init and through runc, whose own protection
 * makes the same case pass.
 */

import { join } from "node:path";
import { assert, assertEquals } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { OciLayout, run } from "./_real_registry.ts";
import { busyboxImage, containerTest, loadImage, runAll } from "./_containers.ts";

const SWAP = `#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/fs.h>
int main(int argc, char **argv) {
  for (;;) syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE);
}
`;

for (const runtime of [[], ["--runtime", "runc"]]) {
  const engine = runtime.length === 0 ? "denocker" : "denocker --runtime runc";
  containerTest(
    `${engine}: mount targets hold against a container swapping them for host symlinks`,
    async () => {
      await using layout = await OciLayout.create();
      await using dir = await tempDir();
      const root = join(dir.path, "store");
      await busyboxImage(layout, "busybox");
      await loadImage(layout, "busybox", root, "busybox:latest");
      await Deno.writeTextFile(join(dir.path, "swap.c"), SWAP);
      await run("gcc", ["-static", "-O1", "-o", join(dir.path, "swap"), join(dir.path, "swap.c")]);
      const host = join(dir.path, "host");
      await Deno.mkdir(host);
      const file = join(dir.path, "file");
      await Deno.writeTextFile(file, "bound file\n");
      const source = join(dir.path, "source");
      await Deno.mkdir(source);
      await Deno.writeTextFile(join(source, "inside"), "bound directory\n");
      const cli = async (...args: string[]) => {
        const result = await runAll(["--root", root, ...args]);
        if (result.code !== 0) throw new Error(`${args.join(" ")}: ${result.stderr}`);
        return result.stdout;
      };
      try {
        await cli(
          "run",
          "-d",
          "--network",
          "none",
          "--name",
          "racer",
          "-v",
          "shared:/data",
          "busybox",
          "sleep",
          "300",
        );
        await cli("cp", join(dir.path, "swap"), "racer:/bin/swap");
        await cli(
          "exec",
          "racer",
          "sh",
          "-c",
          `mkdir /data/d; ln -s ${host} /data/l; cd /data; (swap d l >/dev/null 2>&1 &); true`,
        );
        let started = 0;
        let failure = "";
        for (let i = 0; i < 20; i++) {
          const result = await runAll([
            "--root",
            root,
            "run",
            ...runtime,
            "--rm",
            "--network",
            "none",
            "-v",
            "shared:/data",
            "-v",
            `${file}:/data/d/f${i}:ro`,
            "-v",
            `${source}:/data/d/new${i}/dir`,
            "--tmpfs",
            `/data/d/t${i}`,
            "busybox",
            "true",
          ]);
          if (result.code === 0) started++;
          else {
            failure = result.stderr;
            assert(!result.stderr.includes("\n    at "), `a stack trace: ${result.stderr}`);
          }
        }
        assertEquals(
          (await Array.fromAsync(Deno.readDir(host))).map((entry) => entry.name),
          [],
          `something was made in the host directory: ${
            [...Deno.readDirSync(host)].map((e) => e.name)
          }`,
        );
        // Each start looks a changed component up again: the neighbour cannot keep it from starting.
        assert(started >= 15, `${started} of 20 started while the volume was raced: ${failure}`);
      } finally {
        await runAll(["--root", root, "rm", "-f", "racer"]);
      }
    },
    ["gcc", "runc"],
  );
}
