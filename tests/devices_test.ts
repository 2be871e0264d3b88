/**
 * Device rules on cgroup v2: the eBPF program denocker attaches to a
 * container's cgroup lets its processes create any node but open only the
 * devices docker allows. Checked against the kernel on a cgroup2 mount
 * (`/sys/fs/cgroup` on a v2 machine, `/sys/fs/cgroup/unified` on a hybrid
 * one such as those here); the same probe in a cgroup without the program
 * opens what the program refuses, so the probe can tell. (cgroup v1's
 * `devices.allow` lines are checked by the container tests.)
 */

import { join } from "node:path";
import { assertEquals } from "./_assert.ts";
import { defer, tempDir } from "./_fake_registry.ts";
import { run } from "./_real_registry.ts";

/** Where cgroup2 is mounted here, if anywhere (read through sh: Deno reads /proc only with -A). */
async function cgroup2(): Promise<string | undefined> {
  const mounts = await run("sh", ["-c", "cat /proc/self/mounts"]);
  return mounts.split("\n").map((line) => line.split(" ")).find((fields) => fields[2] === "cgroup2")
    ?.[1];
}

const root = Deno.build.os === "linux" && Deno.uid() === 0;
const mount = root ? await cgroup2() : undefined;
if (!mount && Deno.env.get("CI") !== "true") {
  // deno-lint-ignore no-console
  console.log("ignoring the cgroup v2 device program test: it needs root and a cgroup2 mount");
}

Deno.test({
  name: "cgroup v2 device program: any node made, only docker's devices opened",
  ignore: !mount && Deno.env.get("CI") !== "true",
  async fn() {
    if (!mount) throw new Error("CI machines have a cgroup2 mount (v2, or hybrid's unified)");
    await using dir = await tempDir();
    const guarded = join(mount, `denocker-test-${crypto.randomUUID()}`);
    const open = join(mount, `denocker-test-${crypto.randomUUID()}`);
    // In the cgroup, then: mknod a null, a kernel log and a loop device node, and open each
    // (nothing is read).
    const probe = (cgroup: string) =>
      run("sh", [
        "-c",
        `echo $$ > ${cgroup}/cgroup.procs; cd ${dir.path}; ` +
        "mknod null c 1 3 && mknod kmsg c 1 11 && mknod loop b 7 0 && echo made; " +
        "for node in null kmsg loop; do (exec 3< $node) 2>/dev/null && echo opened $node; done; " +
        "rm -f null kmsg loop",
      ]);
    await using _removeCgroups = defer(() =>
      run("sh", ["-c", `rmdir ${guarded} ${open} 2>/dev/null; true`])
    );
    await run("mkdir", [guarded, open]);
    // Deno lets only --allow-all (and FFI) at /sys: denocker runs so, the test task does not.
    const module = new URL("../lib/runtime/devices.ts", import.meta.url).href;
    await run(Deno.execPath(), [
      "eval",
      `import { attachDeviceProgram, DEFAULT_DEVICE_RULES } from "${module}";` +
      `attachDeviceProgram(${JSON.stringify(guarded)}, DEFAULT_DEVICE_RULES);`,
    ]);
    assertEquals(await probe(guarded), "made\nopened null\n");
    // Without the program the same nodes open (the loop device exists on few machines).
    const unguarded = await probe(open);
    assertEquals(unguarded.split("\n").slice(0, 3), ["made", "opened null", "opened kmsg"]);
  },
});
