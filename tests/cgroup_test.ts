/**
 * The files a container's cgroup is made of, on cgroup v2 (one unified
 * tree, controllers enabled down the path) and v1 (a tree per controller),
 * checked on a directory laid out as each kernel mounts them. Only the
 * hierarchies a limit needs are used. (The machines here have cgroup v1;
 * the run tests check v1 limits against the kernel itself.)
 */

import { join } from "node:path";
import { assertEquals } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { createCgroup } from "../lib/runtime/_cgroup.ts";

async function files(root: string): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  const walk = async (relative: string) => {
    for await (const entry of Deno.readDir(join(root, relative))) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory) await walk(path);
      else found[path] = await Deno.readTextFile(join(root, path));
    }
  };
  await walk("");
  return found;
}

Deno.test("cgroup v2: limits in the unified tree, controllers enabled down the path", async () => {
  const base = await tempDir();
  try {
    await Deno.writeTextFile(join(base.path, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    const made = await createCgroup(
      "abc",
      { memory: 64 * 1024 * 1024, cpus: 1.5, pids: 50 },
      base.path,
    );
    assertEquals(made, [join(base.path, "denocker", "abc")]);
    assertEquals(await files(base.path), {
      "cgroup.controllers": "cpuset cpu io memory pids\n",
      "cgroup.subtree_control": "+memory +cpu +pids",
      "denocker/cgroup.subtree_control": "+memory +cpu +pids",
      "denocker/abc/memory.max": "67108864",
      "denocker/abc/cpu.max": "150000 100000",
      "denocker/abc/pids.max": "50",
    });
    assertEquals(await createCgroup("none", {}, base.path), []);
  } finally {
    await base.remove();
  }
});

Deno.test("cgroup v1: a directory per hierarchy a limit needs", async () => {
  const base = await tempDir();
  try {
    for (const controller of ["memory", "cpu", "pids"]) {
      await Deno.mkdir(join(base.path, controller));
    }
    // The kernel has memory.memsw.* where swap accounting is on; so does this tree.
    await Deno.mkdir(join(base.path, "memory", "denocker", "abc"), { recursive: true });
    await Deno.writeTextFile(
      join(base.path, "memory", "denocker", "abc", "memory.memsw.limit_in_bytes"),
      "",
    );
    const made = await createCgroup("abc", { memory: 16 * 1024 * 1024, cpus: 0.5 }, base.path);
    assertEquals(made, [
      join(base.path, "memory", "denocker", "abc"),
      join(base.path, "cpu", "denocker", "abc"),
    ]);
    assertEquals(await files(base.path), {
      "memory/denocker/abc/memory.limit_in_bytes": "16777216",
      "memory/denocker/abc/memory.memsw.limit_in_bytes": "16777216",
      "cpu/denocker/abc/cpu.cfs_period_us": "100000",
      "cpu/denocker/abc/cpu.cfs_quota_us": "50000",
    });
  } finally {
    await base.remove();
  }
});
