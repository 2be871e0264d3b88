/**
 * The files a container's cgroup is made of, on cgroup v2 (one unified
 * tree, controllers enabled down the path) and v1 (a tree per controller),
 * checked on a directory laid out as each kernel mounts them. Only the
 * hierarchies a limit needs are used. (The machines here have cgroup v1;
 * the run tests check v1 limits against the kernel itself.)
 */

import { join } from "node:path";
import { assertEquals, assertRejects } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { createCgroup } from "../lib/runtime/cgroup.ts";

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
  await using base = await tempDir();
  await Deno.writeTextFile(join(base.path, "cgroup.controllers"), "cpuset cpu io memory pids\n");
  const made = await createCgroup(
    "abc",
    { memory: 64 * 1024 * 1024, cpus: 1.5, pids: 50 },
    base.path,
  );
  assertEquals(made, [{
    directory: join(base.path, "denocker", "abc"),
    controller: "",
    path: "/denocker/abc",
    early: false,
  }]);
  assertEquals(await files(base.path), {
    "cgroup.controllers": "cpuset cpu io memory pids\n",
    "cgroup.subtree_control": "+memory +cpu +pids",
    "denocker/cgroup.subtree_control": "+memory +cpu +pids",
    "denocker/abc/memory.max": "67108864",
    "denocker/abc/cpu.max": "150000 100000",
    "denocker/abc/pids.max": "50",
  });
  // Without limits still a cgroup (cp freezes a running container through it), joined as soon as
  // the init exists.
  assertEquals(await createCgroup("none", {}, base.path), [{
    directory: join(base.path, "denocker", "none"),
    controller: "",
    path: "/denocker/none",
    early: true,
  }]);
});

Deno.test("cgroup v1: device rules in their own hierarchy, joined early; none without it", async () => {
  await using base = await tempDir();
  await Deno.mkdir(join(base.path, "devices"));
  const made = await createCgroup(
    "abc",
    { devices: [{ type: "c", major: 1, minor: 3, access: "rwm" }] },
    base.path,
  );
  assertEquals(made, [{
    directory: join(base.path, "devices", "denocker", "abc"),
    controller: "devices",
    path: "/denocker/abc",
    early: true,
  }]);
  // The kernel keeps every rule written; a plain file keeps the last.
  assertEquals(await files(base.path), {
    "devices/denocker/abc/devices.deny": "a",
    "devices/denocker/abc/devices.allow": "c 1:3 rwm",
  });
  await Deno.remove(join(base.path, "devices"), { recursive: true });
  await assertRejects(
    () => createCgroup("abc", { devices: [] }, base.path),
    Error,
    /no devices controller/,
  );
});

Deno.test("cgroup v1: a directory per hierarchy a limit needs", async () => {
  await using base = await tempDir();
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
  assertEquals(made.map((cgroup) => [cgroup.directory, cgroup.controller, cgroup.early]), [
    [join(base.path, "memory", "denocker", "abc"), "memory", false],
    [join(base.path, "cpu", "denocker", "abc"), "cpu", false],
  ]);
  assertEquals(await files(base.path), {
    "memory/denocker/abc/memory.limit_in_bytes": "16777216",
    "memory/denocker/abc/memory.memsw.limit_in_bytes": "16777216",
    "cpu/denocker/abc/cpu.cfs_period_us": "100000",
    "cpu/denocker/abc/cpu.cfs_quota_us": "50000",
  });
});
