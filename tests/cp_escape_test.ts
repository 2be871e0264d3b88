/**
 * `cp` against a container that fights it: a chain of processes that fork
 * their successor and SIGCONT everything (so no list-then-SIGSTOP holds
 * them), and one that swaps a directory with a symlink to a host directory
 * for ever (so a path checked once is another by the time it is used).
 * While `cp` runs the container is frozen: no copy reads or writes the
 * host's directory. Both programs are built static with gcc.
 */

import { join } from "node:path";
import { assert, assertEquals } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { OciLayout, run } from "./_real_registry.ts";
import { busyboxImage, containerTest, loadImage, runAll } from "./_containers.ts";

const EVADE = `#include <signal.h>
#include <unistd.h>
int main(void) {
  for (;;) {
    kill(-1, SIGCONT);
    if (fork() != 0) _exit(0);
  }
}
`;

const SWAP = `#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/fs.h>
int main(int argc, char **argv) {
  for (;;) syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE);
}
`;

containerTest("cp holds against a container that outruns SIGSTOP and swaps paths", async () => {
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  const root = join(dir.path, "store");
  await busyboxImage(layout, "busybox");
  await loadImage(layout, "busybox", root, "busybox:latest");
  for (const [name, source] of [["evade", EVADE], ["swap", SWAP]]) {
    await Deno.writeTextFile(join(dir.path, `${name}.c`), source);
    await run("gcc", ["-static", "-O1", "-o", join(dir.path, name), join(dir.path, `${name}.c`)]);
  }
  const host = join(dir.path, "host");
  await Deno.mkdir(host);
  await Deno.writeTextFile(join(host, "secret"), "HOST SECRET\n");
  await Deno.writeTextFile(join(dir.path, "payload"), "payload\n");
  const cli = async (...args: string[]) => {
    const result = await runAll(["--root", root, ...args]);
    if (result.code !== 0) throw new Error(`${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
  try {
    await cli("run", "-d", "--name", "fighter", "busybox", "sleep", "300");
    await cli("cp", join(dir.path, "evade"), "fighter:/bin/evade");
    await cli("cp", join(dir.path, "swap"), "fighter:/bin/swap");
    await cli(
      "exec",
      "fighter",
      "sh",
      "-c",
      `mkdir /tmp/d; echo container-file > /tmp/d/secret; ln -s ${host} /tmp/l; ` +
        "cd /tmp; (swap d l >/dev/null 2>&1 &); (evade >/dev/null 2>&1 &); true",
    );
    const seen = new Set<string>();
    for (let i = 0; i < 25; i++) {
      const out = join(dir.path, `out${i}`);
      const read = await runAll(["--root", root, "cp", "fighter:/tmp/d/secret", out]);
      const text = read.code === 0 ? await Deno.readTextFile(out) : "refused";
      seen.add(text.trim());
      await runAll(["--root", root, "cp", join(dir.path, "payload"), "fighter:/tmp/d/payload"]);
    }
    assert(!seen.has("HOST SECRET"), `a copy read the host's file: ${[...seen]}`);
    assert(seen.has("container-file"), `no copy read the container's file: ${[...seen]}`);
    assertEquals(
      (await Array.fromAsync(Deno.readDir(host))).map((entry) => entry.name),
      ["secret"],
    );
    // A file of the container's never replaces a host directory, as docker refuses it.
    await cli("exec", "fighter", "sh", "-c", "mkdir /m; echo file > /m/keep");
    const merge = join(dir.path, "merge");
    await Deno.mkdir(join(merge, "keep"), { recursive: true });
    await Deno.writeTextFile(join(merge, "keep", "data"), "precious\n");
    const refused = await runAll(["--root", root, "cp", "fighter:/m/.", merge]);
    assertEquals(refused.code, 1);
    assertEquals(await Deno.readTextFile(join(merge, "keep", "data")), "precious\n");
  } finally {
    await runAll(["--root", root, "rm", "-f", "fighter"]);
  }
}, ["gcc"]);
