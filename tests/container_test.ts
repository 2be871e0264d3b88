/**
 * Containers over real layers and over their lifetime: the root a container
 * sees is what `unpack` writes (whiteouts, opaque directories, hardlinks
 * across layers), writes stay in the container, and nothing is left behind
 * by `--rm`, `stop`, `rm`, a killed `denocker run` or Ctrl-C.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { defer, tempDir } from "./_fake_registry.ts";
import { OciLayout, run } from "./_real_registry.ts";
import { craftTar } from "./_tar.ts";
import { describeTree } from "./_tar_compare.ts";
import { busyboxImage, containerTest, loadImage, runAll, spawnAll } from "./_containers.ts";

/** Whether this machine's cgroup v1 has a freezer hierarchy (every container gets a cgroup there). */
const freezerHierarchy = Deno.build.os === "linux" &&
  // Deno reads /sys only with every permission; the test has --allow-run.
  new Deno.Command("test", { args: ["-d", "/sys/fs/cgroup/freezer"] }).outputSync().success;

/** Lists a root as busybox sees it: entries with mode and owner, files with size and md5. */
const LISTING = [
  "cd /;",
  "find . -xdev -type d -exec stat -c 'dir %n %f %u:%g' {} + ;",
  "find . -xdev ! -type d -exec stat -c 'entry %n %f %u:%g %s' {} + ;",
  "find . -xdev -type f -exec md5sum {} + ;",
  "[ shared/link -ef shared/target ] && echo 'shared/link is shared/target';",
  "[ deep/link -ef deep/target ] && echo 'deep/link is deep/target'",
].join(" ");

/** What only a container has: its mounts and the files it is given. */
const CONTAINER_ONLY =
  /^(dir|entry) \.\/(proc|sys|dev)( |\/)|\.\/etc\/(hostname|hosts|resolv\.conf)\b|^dir \. /;

function normalise(listing: string): string[] {
  return listing.split("\n").filter((line) => line !== "" && !CONTAINER_ONLY.test(line)).sort();
}

containerTest("a container sees what unpack gives; its writes stay its own", async () => {
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  const root = join(dir.path, "store");
  // Lower: files to delete, a directory to make opaque, a directory to delete, link targets.
  const lower = await craftTar([
    { name: "etc/", type: "directory" },
    { name: "etc/gone", body: "gone" },
    { name: "etc/kept", body: "kept" },
    { name: "data/", type: "directory", mode: 0o750 },
    { name: "data/a", body: "a" },
    { name: "data/b", body: "b" },
    { name: "dir/", type: "directory" },
    { name: "dir/sub/", type: "directory" },
    { name: "dir/sub/file", body: "file" },
    { name: "shared/", type: "directory" },
    { name: "shared/target", body: "target", uid: 1000, gid: 1000 },
  ]);
  // Middle: whiteouts, an opaque directory, a hardlink to a lower layer's file, setuid.
  const middle = await craftTar([
    { name: "etc/", type: "directory" },
    { name: "etc/.wh.gone" },
    { name: "data/", type: "directory", mode: 0o700 },
    { name: "data/.wh..wh..opq" },
    { name: "data/new", body: "new" },
    { name: "dir/", type: "directory" },
    { name: "dir/.wh.sub" },
    { name: "shared/", type: "directory" },
    { name: "shared/link", type: "link", linkname: "shared/target" },
    { name: "suid", body: "suid", mode: 0o4755 },
    { name: "deep/", type: "directory" },
    { name: "deep/target", body: "deep" },
  ]);
  // Upper: a directory back where one was deleted, a hardlink to the middle layer's file.
  const upper = await craftTar([
    { name: "dir/", type: "directory" },
    { name: "dir/sub/", type: "directory", mode: 0o711 },
    { name: "dir/sub/again", body: "again" },
    { name: "deep/", type: "directory" },
    { name: "deep/link", type: "link", linkname: "deep/target" },
  ]);
  const tars = [];
  for (const [name, bytes] of [["lower", lower], ["middle", middle], ["upper", upper]] as const) {
    const path = join(layout.dir, `${name}.tar`);
    await Deno.writeFile(path, bytes);
    tars.push(path);
  }
  await busyboxImage(layout, "layered", tars);
  await loadImage(layout, "layered", root, "layered:1");
  const layersBefore = await describeTree(join(root, "layers"));

  // What unpack gives, listed by the same busybox from inside it.
  const unpacked = join(dir.path, "unpacked");
  assertEquals((await runAll(["--root", root, "unpack", "layered:1", unpacked])).code, 0);
  const expected = normalise(await run("chroot", [unpacked, "/bin/sh", "-c", LISTING]));
  assert(expected.includes("shared/link is shared/target"), "unpack keeps the hardlink");
  assert(expected.includes("deep/link is deep/target"));

  const first = await runAll(["--root", root, "run", "--rm", "layered:1", "sh", "-c", LISTING]);
  assertEquals(first.code, 0, first.stderr);
  assertEquals(normalise(first.stdout), expected);

  // Writes: to a lower file, a new file, a deletion; then a second container starts clean.
  const write = await runAll([
    "--root",
    root,
    "run",
    "--rm",
    "layered:1",
    "sh",
    "-c",
    "echo changed > /etc/kept && touch /newfile && rm /data/new /shared/target && cat /etc/kept",
  ]);
  assertEquals([write.code, write.stdout], [0, "changed\n"], write.stderr);
  const second = await runAll(["--root", root, "run", "--rm", "layered:1", "sh", "-c", LISTING]);
  assertEquals(normalise(second.stdout), expected);
  // Where there is no overlayfs: a copy of the image, the same tree.
  const copy = await runAll(
    ["--root", root, "run", "--rm", "--rootfs", "copy", "layered:1", "sh", "-c", LISTING],
  );
  assertEquals(copy.code, 0, copy.stderr);
  assertEquals(normalise(copy.stdout), expected);
  assertEquals(await describeTree(join(root, "layers")), layersBefore);
});

/**
 * What of the host a test's containers could leave behind: the mounts under
 * the test's directory, and the cgroup directories of the given containers
 * (by ID). Nothing else on the machine counts: other programs may mount and
 * make cgroups meanwhile. (Read by `sh`: Deno lets only a fully permitted
 * process read /proc and /sys, and the tests run with the tasks' narrower
 * permissions.)
 */
async function hostState(
  under: string,
  ids: Iterable<string>,
): Promise<{ mounts: string[]; cgroups: string[] }> {
  const mounts = (await run("cat", ["/proc/self/mountinfo"])).split("\n")
    .map((line) => line.split(" ").slice(3, 5).join(" "))
    .filter((entry) => entry.split(" ")[1]?.startsWith(under)).sort();
  const wanted = new Set(ids);
  const cgroups = (await run("sh", [
    "-c",
    'for d in /sys/fs/cgroup/denocker/*/ /sys/fs/cgroup/*/denocker/*/; do [ -d "$d" ] && echo "$d"; done; true',
  ])).split("\n").filter((path) => wanted.has(path.split("/").at(-2) ?? "")).sort();
  return { mounts, cgroups };
}

/** A process's status, or a failure (and the process killed) when it runs on for 30 s. */
async function exitOf(child: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("denocker run did not end within 30 s"));
    }, 30_000);
  });
  try {
    return await Promise.race([child.status, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(what: string, test: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await test()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting until ${what}`);
}

containerTest("ps, exec, stop, rm; two at once; nothing left behind", async (t) => {
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  const root = join(dir.path, "store");
  const cli = (...args: string[]) => runAll(["--root", root, ...args]);
  // Every container this test makes, by ID (its directory's name), for the check at the end.
  const ids = new Set<string>();
  const watch = setInterval(() => {
    try {
      for (const entry of Deno.readDirSync(join(root, "containers"))) {
        if (/^[0-9a-f]{64}$/.test(entry.name)) ids.add(entry.name);
      }
    } catch {
      // Not made yet.
    }
  }, 5);
  await using _cleanUp = defer(async () => {
    clearInterval(watch);
    // After a failure: no container outlives the test.
    const left = (await cli("ps", "-aq")).stdout.split("\n").filter(Boolean);
    if (left.length > 0) await cli("rm", "-f", ...left);
  });
  const names = async (...flags: string[]) =>
    (await cli("ps", ...flags)).stdout.split("\n").slice(1).filter(Boolean).map((line) =>
      line.split(/\s+/).at(-1)!
    );
  /** Starts `run --name NAME …` in the background. */
  const start = (name: string, ...args: string[]) =>
    spawnAll(["--root", root, "run", "--name", name, ...args]);
  /** A shell that exits 3 on SIGTERM, and says when its trap is set. */
  const TRAPPED = [
    "busybox",
    "sh",
    "-c",
    "trap 'exit 3' TERM; touch /ready; while true; do sleep 0.1; done",
  ];
  /** A PID 1 with no handler at all. */
  const SLEEPING = ["busybox", "sleep", "1000"];
  const untilRunning = (name: string) =>
    until(`${name} runs`, async () => (await names()).includes(name));
  // A signal before the shell has set its trap would be ignored, as by any PID 1.
  const untilTrapped = (name: string) =>
    until(
      `${name}'s trap is set`,
      async () => (await cli("exec", name, "test", "-e", "/ready")).code === 0,
    );
  await busyboxImage(layout, "busybox");
  await loadImage(layout, "busybox", root, "busybox:latest");
  const first = await cli("run", "--rm", "busybox", "true");
  assertEquals(first.code, 0, first.stderr);
  const before = await hostState(dir.path, ids);
  const containersBefore = await Array.fromAsync(Deno.readDir(join(root, "containers")));
  assertEquals(containersBefore, []);

  let one: Deno.ChildProcess | undefined;
  let two: Deno.ChildProcess | undefined;
  await t.step("two containers at once: ps, exec", async () => {
    one = start("one", "--memory", "64m", ...TRAPPED);
    two = start("two", "--rm", "--pids-limit", "50", ...SLEEPING);
    await until("both run", async () => (await names()).sort().join() === "one,two");
    await untilTrapped("one");
    // Each has a cgroup for its device rules, its freezer (for cp) and one for its limit while
    // it runs (on cgroup v1: where the machine has a freezer hierarchy).
    const cgroups = (await hostState(dir.path, ids)).cgroups;
    assertEquals(
      cgroups.map((path) => path.split("/")[4]).sort(),
      [
        "devices",
        "devices",
        ...(freezerHierarchy ? ["freezer", "freezer"] : []),
        "memory",
        "pids",
      ],
    );
    const ps = await cli("ps");
    assertMatch(ps.stdout, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+NAMES\n/);
    assertMatch(ps.stdout, /[0-9a-f]{12}\s+busybox\s+"sleep 1000"\s+.*\s+Up .*\s+two\n/);
    const hostname = await cli("exec", "one", "cat", "/etc/hostname");
    assertEquals(hostname.code, 0, hostname.stderr);
    const id = hostname.stdout.trim();
    assertEquals((await cli("ps", "-q")).stdout.split("\n").includes(id), true);
    const exec = await cli(
      "exec",
      "-w",
      "/tmp",
      "-u",
      "1000",
      "-e",
      "X=y",
      "one",
      "sh",
      "-c",
      "echo $$ $(pwd) $(id -u) $X; ps -o pid | wc -l",
    );
    assertEquals(exec.code, 0, exec.stderr);
    const [pid, cwd, uid, x, count] = exec.stdout.trim().split(/\s+/);
    assert(pid !== "1", "exec runs beside PID 1");
    assertEquals([cwd, uid, x], ["/tmp", "1000", "y"]);
    assert(Number(count) <= 6, `exec sees the container's processes only (${count})`);
    assertEquals((await cli("exec", "one", "nosuch")).code, 127);
    const named = await cli("exec", "-u", "app", "one", "id");
    // As docker exec -u app gives it.
    assertEquals(
      [named.code, named.stdout],
      [0, "uid=1000(app) gid=1000(app) groups=1000(app)\n"],
      named.stderr,
    );
    const ghost = await cli("exec", "-u", "ghost", "one", "id");
    assertEquals([ghost.code, ghost.stderr], [
      125,
      "denocker: unable to find user ghost: no matching entries in passwd file\n",
    ]);
  });

  await t.step("stop: SIGTERM, the container's exit status, ps -a; wait prints it", async () => {
    const waiting = cli("wait", "one");
    const stopped = await cli("stop", "one");
    assertEquals([stopped.code, stopped.stdout], [0, "one\n"], stopped.stderr);
    assertEquals((await exitOf(one!)).code, 3);
    const waited = await waiting;
    assertEquals([waited.code, waited.stdout], [0, "3\n"], waited.stderr);
    assertEquals((await cli("wait", "one")).stdout, "3\n");
    assertEquals(await names(), ["two"]);
    assertMatch((await cli("ps", "-a")).stdout, /Exited \(3\) .*\s+one\n/);
    // An image a container uses is not removed.
    const rmi = await cli("rmi", "busybox");
    assertEquals(rmi.code, 1);
    assertMatch(
      rmi.stderr,
      /^denocker: Cannot remove image busybox: container [0-9a-f]{12} \((one|two)\) uses it/,
    );
  });

  await t.step(
    "rmi of one of an in-use image's names untags; -f keeps the image, unnamed",
    async () => {
      // As docker: a container stops only the removal of the image's last name.
      assertEquals((await cli("tag", "busybox", "other:1")).code, 0);
      const untag = await cli("rmi", "busybox");
      assertEquals([untag.code, untag.stdout], [0, "Untagged: busybox:latest\n"], untag.stderr);
      assertEquals((await cli("rmi", "other:1")).code, 1);
      const forced = await cli("rmi", "-f", "other:1");
      assertEquals([forced.code, forced.stdout], [0, "Untagged: other:1\n"], forced.stderr);
      const [id] = (await cli("images", "-q")).stdout.split("\n");
      assertMatch(id, /^[0-9a-f]{12}$/);
      assertEquals((await cli("tag", id, "busybox")).code, 0);
    },
  );

  await t.step("rm: refused while running, forced, then by name", async () => {
    const refused = await cli("rm", "two");
    assertEquals(refused.code, 1);
    assertMatch(refused.stderr, /it is running; stop it or use --force/);
    assertEquals((await cli("rm", "-f", "two")).code, 0);
    assertEquals((await exitOf(two!)).code, 137);
    assertEquals((await cli("rm", "one")).stdout, "one\n");
    assertEquals(await names("-a"), []);
  });

  await t.step("Ctrl-C twice: the container is killed, --rm cleans", async () => {
    const child = start("int", "--rm", "--cpus", "1", ...SLEEPING);
    await untilRunning("int");
    child.kill("SIGINT");
    await new Promise((resolve) => setTimeout(resolve, 200));
    assertEquals(
      await names(),
      ["int"],
      "PID 1 without a handler ignores one SIGINT, as in docker",
    );
    child.kill("SIGINT");
    assertEquals((await exitOf(child)).code, 137);
    assertEquals(await names("-a"), []);
  });

  await t.step("SIGTERM to denocker reaches the container, whose status is run's", async () => {
    const child = start("term", "--rm", ...TRAPPED);
    await untilTrapped("term");
    child.kill("SIGTERM");
    assertEquals((await exitOf(child)).code, 3);
    assertEquals(await names("-a"), []);
  });

  await t.step(
    "SIGTERM to denocker exec reaches the command, whose status is exec's",
    async () => {
      const container = start("host", "--rm", ...SLEEPING);
      await untilRunning("host");
      const exec = spawnAll([
        "--root",
        root,
        "exec",
        "host",
        "sh",
        "-c",
        "trap 'exit 4' TERM; touch /exec-ready; while true; do sleep 0.1; done",
      ]);
      await until(
        "the exec's trap is set",
        async () => (await cli("exec", "host", "test", "-e", "/exec-ready")).code === 0,
      );
      exec.kill("SIGTERM");
      assertEquals((await exitOf(exec)).code, 4);
      assertEquals((await cli("rm", "-f", "host")).code, 0);
      await exitOf(container);
    },
  );

  await t.step(
    "stop: SIGKILL after the grace period for a PID 1 that ignores SIGTERM",
    async () => {
      const child = start("deaf", "--rm", ...SLEEPING);
      await untilRunning("deaf");
      const started = Date.now();
      assertEquals((await cli("stop", "-t", "1", "deaf")).code, 0);
      assert(Date.now() - started >= 1000, "stop waited for the grace period");
      assertEquals((await exitOf(child)).code, 137);
      assertEquals(await names("-a"), []);
    },
  );

  await t.step("a container directory a crash left without a record is removed", async () => {
    const stray = join(root, "containers", "f".repeat(64));
    await Deno.mkdir(join(stray, "upper"), { recursive: true });
    const old = new Date(Date.now() - 5 * 60_000);
    await Deno.utime(stray, old, old);
    assertEquals((await cli("ps", "-a")).code, 0);
    assertEquals(await Deno.stat(stray).then(() => true, () => false), false);
  });

  await t.step("denocker killed during a run: the next command cleans up", async () => {
    const child = start("orphan", "--rm", ...SLEEPING);
    await untilRunning("orphan");
    const record = JSON.parse(
      await Deno.readTextFile(
        join(
          root,
          "containers",
          (await Array.fromAsync(Deno.readDir(join(root, "containers"))))[0].name,
          "container.json",
        ),
      ),
    );
    child.kill("SIGKILL");
    await child.status;
    assertEquals(await names("-a"), []);
    assertEquals(
      (await run("sh", ["-c", `[ -e /proc/${record.process.pid} ] && echo alive; true`])) ===
        "alive\n",
      false,
    );
  });

  await t.step(
    "overlay directories go with the last image and container of their layers",
    async () => {
      const overlays = () => Array.fromAsync(Deno.readDir(join(root, "overlay")), (e) => e.name);
      assertEquals((await cli("run", "--name", "kept", "busybox", "true")).code, 0);
      const prepared = await overlays();
      assert(prepared.length > 0, "a run prepares its layers' overlay directories");
      // The exited container still holds the image, and so its overlays.
      assertEquals((await cli("rmi", "busybox")).code, 1);
      assertEquals((await cli("prune")).code, 0);
      assertEquals(await overlays(), prepared);
      assertEquals((await cli("rm", "kept")).code, 0);
      const removed = await cli("rmi", "busybox");
      assertEquals(removed.code, 0, removed.stderr);
      assertEquals(await overlays(), []);
    },
  );

  // The containers' mounts lived in their own namespaces; their cgroups went with them.
  assertEquals(await hostState(dir.path, ids), before);
  assert(ids.size >= 9, `the test saw ${ids.size} containers`);
  assertEquals(await Array.fromAsync(Deno.readDir(join(root, "containers"))), []);
});
