/**
 * The escape suite: a hostile image or a container's root must never reach
 * the host. One crafted image or situation per class of escape, each run
 * three ways: denocker's own init, denocker through runc (`--runtime
 * runc`), and the Docker daemon the tests start, whose result is the
 * reference (and proves the probe can pass). Each asserts what the process
 * sees and that the host is untouched: canary files and directories under
 * the test's temp dir, the host's sysctls and loopback addresses read
 * before and after.
 *
 * A probe does no harm when the boundary fails: it reads, or writes under
 * the test's temp dir, and the one that adds an address to the host's `lo`
 * (where a boundary that failed would let it) removes it at once.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { defer, tempDir } from "./_fake_registry.ts";
import { integrationTest, OciLayout, run } from "./_real_registry.ts";
import { craftTar } from "./_tar.ts";
import { describeTree } from "./_tar_compare.ts";
import type { CliResult } from "./_cli.ts";
import { busyboxImage, busyboxTree, loadImage, runAll, spawnAll } from "./_containers.ts";
import { DOCKER_CLIENT, startDocker } from "./_docker.ts";

const TOOLS = [
  "umoci",
  "skopeo",
  "unshare",
  "nsenter",
  "timeout",
  "script",
  "setpriv",
  "runc",
  "dockerd",
  DOCKER_CLIENT,
  "/bin/busybox",
];

/** docker's default capabilities, as /proc/PID/status shows them. */
const DEFAULT_CAPS = "00000000a80425fb";

/** One way of running a container. */
interface Engine {
  name: string;
  /** The command line of `run --rm [flags] IMAGE COMMAND...` (or of `exec ...`). */
  command(verb: "run" | "exec", args: string[]): string[];
  /** Starts `IMAGE COMMAND...` as a named container in the background. */
  start(name: string, args: string[]): Promise<void>;
  remove(name: string): Promise<void>;
}

/** Runs an engine's command, optionally under a wrapper (`sh -c '…; exec "$@"' sh`, `script`). */
function runWith(engine: Engine, verb: "run" | "exec", args: string[], wrapper: string[] = []) {
  const command = [...wrapper, ...engine.command(verb, args)];
  return output(command[0], command.slice(1));
}

async function output(command: string, args: string[]): Promise<CliResult> {
  const result = await new Deno.Command(command, {
    args,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: result.code,
    stdout: new TextDecoder().decode(result.stdout),
    stderr: new TextDecoder().decode(result.stderr),
  };
}

/** Arguments as one line for sh -c. */
function shellQuote(args: string[]): string {
  return args.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(" ");
}

/** What sh -c reads of the host (Deno lets only --allow-all read /proc directly). */
function sh(script: string): Promise<string> {
  return run("sh", ["-c", script]);
}

/** The host settings a probe might touch (and only those: other programs may change others). */
async function hostSettings(): Promise<string> {
  return await sh("cat /proc/sys/kernel/printk_ratelimit; ip -o addr show dev lo");
}

/** Waits until `check` holds, up to 20 s. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/**
 * A tiny x86_64 ELF program (position-independent, no libc): chmod
 * /proc/self/exe to 0755 (the mode the binaries concerned have), then exit
 * with the error number (0 when the chmod succeeded).
 */
function chmodSelfInterpreter(): Uint8Array {
  const path = new TextEncoder().encode("/proc/self/exe\0");
  const after = [
    ...[0xbe, 0xed, 0x01, 0x00, 0x00], // mov esi, 0755
    ...[0xb8, 90, 0, 0, 0], // mov eax, SYS_chmod
    ...[0x0f, 0x05], // syscall
    ...[0xf7, 0xd8], // neg eax
    ...[0x89, 0xc7], // mov edi, eax
    ...[0xb8, 60, 0, 0, 0], // mov eax, SYS_exit
    ...[0x0f, 0x05], // syscall
  ];
  const code = [0x48, 0x8d, 0x3d, after.length, 0, 0, 0, ...after, ...path]; // lea rdi, [path]
  const headers = 64 + 56;
  const elf = new Uint8Array(headers + code.length);
  const view = new DataView(elf.buffer);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]); // ELF, 64-bit, little-endian
  view.setUint16(16, 3, true); // ET_DYN
  view.setUint16(18, 0x3e, true); // x86_64
  view.setUint32(20, 1, true);
  view.setBigUint64(24, BigInt(headers), true); // entry
  view.setBigUint64(32, 64n, true); // program headers
  view.setUint16(52, 64, true);
  view.setUint16(54, 56, true);
  view.setUint16(56, 1, true);
  view.setUint32(64, 1, true); // PT_LOAD
  view.setUint32(68, 5, true); // R + X
  view.setBigUint64(96, BigInt(elf.byteLength), true);
  view.setBigUint64(104, BigInt(elf.byteLength), true);
  view.setBigUint64(112, 0x1000n, true);
  elf.set(code, headers);
  return elf;
}

/** Registers a test that cannot run here as ignored (the reason is printed above). */
function ignored(name: string): void {
  Deno.test({ name, ignore: true, fn: () => {} });
}

/** The status lines of capabilities and privileges. */
const STATUS = "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status";

const NAME = "escape suite: a hostile image never reaches the host";
const ROOT = Deno.build.os === "linux" && Deno.uid() === 0;
if (!ROOT && Deno.env.get("CI") !== "true") {
  // deno-lint-ignore no-console
  console.log(`ignoring "${NAME}": running containers needs Linux and root`);
}
(ROOT || Deno.env.get("CI") === "true" ? integrationTest : ignored)(NAME, TOOLS, async (t) => {
  if (!ROOT) throw new Error("running containers needs root, and CI runs as root");
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  // Other users may pass through the test's directory: the store's own modes must hold them.
  await Deno.chmod(dir.path, 0o755);
  const root = join(dir.path, "store");
  const host = join(dir.path, "host");
  await using daemon = await startDocker();
  const started: { engine: Engine; name: string }[] = [];
  await using _removeContainers = defer(async () => {
    for (const { engine, name } of started) await engine.remove(name).catch(() => {});
  });
  // Canaries: what a failed boundary would write to, read, or link to.
  for (const sub of ["etc-target", "proc-target", "dev-target", "work-target", "bin"]) {
    await Deno.mkdir(join(host, sub), { recursive: true });
  }
  await Deno.writeTextFile(join(host, "secret"), "host secret\n");
  await Deno.writeTextFile(join(host, "passwd"), "evil:x:4242:4242:evil:/:/bin/sh\n");
  for (const tool of ["nsenter", "unshare", "timeout", "sh", "runc", "deno"]) {
    await Deno.writeTextFile(join(host, "bin", tool), `#!/bin/sh\necho ${tool} > ${host}/ran\n`);
    await Deno.chmod(join(host, "bin", tool), 0o755);
  }
  const canariesBefore = await describeTree(host);
  const settingsBefore = await hostSettings();

  // The images, each a busybox with the hostile layer on top.
  const images: Record<string, string> = {};
  const image = async (
    name: string,
    layers: Parameters<typeof craftTar>[0][],
    config: string[] = [],
  ) => {
    const tars = [];
    for (const [i, entries] of layers.entries()) {
      const path = join(layout.dir, `${name}-${i}.tar`);
      await Deno.writeFile(path, await craftTar(entries));
      tars.push(path);
    }
    await busyboxImage(layout, name, tars);
    if (config.length > 0) {
      await run("umoci", ["config", "--image", `${layout.layout}:${name}`, ...config]);
    }
    images[name] = `escape/${name}:1`;
    await loadImage(layout, name, root, images[name]);
  };
  await image("plain", []);
  // A setuid-root busybox, and a root whose password is empty: `su` as another user.
  const suid = join(layout.dir, "suid-tree");
  await Deno.mkdir(join(suid, "suid"), { recursive: true });
  await Deno.mkdir(join(suid, "etc"), { recursive: true });
  await Deno.copyFile("/bin/busybox", join(suid, "suid", "busybox"));
  await Deno.chmod(join(suid, "suid", "busybox"), 0o4755);
  await Deno.writeTextFile(
    join(suid, "etc", "passwd"),
    "root::0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
  );
  await busyboxImage(layout, "setuid", [await layout.tarOf(suid, "suid-tree")]);
  images.setuid = "escape/setuid:1";
  await loadImage(layout, "setuid", root, images.setuid);
  await image("etc-link", [[
    { name: "etc", type: "symlink", linkname: join(host, "etc-target") },
  ]]);
  await image("system-links", [[
    { name: "proc", type: "symlink", linkname: join(host, "proc-target") },
    { name: "dev", type: "symlink", linkname: join(host, "dev-target") },
    { name: "sys", body: "not a directory" },
    { name: "etc/", type: "directory" },
    { name: "etc/resolv.conf", type: "symlink", linkname: join(host, "resolv-made") },
    { name: "etc/hosts", type: "symlink", linkname: join(host, "secret") },
  ]]);
  await image("workdir", [[
    { name: "work", type: "symlink", linkname: join(host, "work-target") },
  ]], ["--config.workingdir", "/work/made"]);
  await image("workdir-dots", [], [
    "--config.workingdir",
    `/../../../../../../..${join(host, "work-target")}/dots`,
  ]);
  await image("passwd-link", [[
    { name: "etc/", type: "directory" },
    { name: "etc/passwd", type: "symlink", linkname: join(host, "passwd") },
  ]]);
  await image("passwd-zero", [[
    { name: "etc/", type: "directory" },
    { name: "etc/passwd", type: "symlink", linkname: "/dev/zero" },
  ]]);
  await image("hostile-env", [[
    { name: "hostlink", type: "symlink", linkname: join(host, "work-target") },
  ]], [
    "--config.env",
    `PATH=${join(host, "bin")}:/bin`,
    "--config.env",
    `LD_PRELOAD=${join(host, "evil.so")}`,
  ]);
  await image("workdir-fd", [], ["--config.workingdir", "/proc/self/fd/3"]);
  // Every PATH entry a chain of 40 symlinks, each through 400 `d/..`: seconds to look through.
  const hops = Array(400).fill("d/..").join("/");
  await image("slow-path", [[
    { name: "z/", type: "directory" },
    { name: "z/d/", type: "directory" },
    ...Array.from({ length: 40 }, (_, i) => ({
      name: `z/L${i}`,
      type: "symlink" as const,
      linkname: `${hops}/L${i + 1}`,
    })),
    { name: "p/", type: "directory" },
    { name: "p/sleep", type: "symlink", linkname: "../z/L0" },
  ]], ["--config.env", `PATH=${"/p:".repeat(1000)}/bin`]);
  // An ELF interpreter of the image's own (see the step that uses it).
  await image("exe", [[
    { name: "lib64/", type: "directory" },
    { name: "lib64/ld-linux-x86-64.so.2", mode: 0o755, bytes: chmodSelfInterpreter() },
  ]]);
  // A hardlink whose target lies under a lower layer's symlink to the host.
  await image("link-through-symlink", [
    [{ name: "dir", type: "symlink", linkname: host }],
    [{ name: "stolen", type: "link", linkname: "dir/secret" }],
  ]);
  // Docker gets every image by docker load of our save.
  for (const name of Object.values(images)) {
    const archive = join(layout.dir, "for-docker.tar");
    const saved = await runAll(["--root", root, "save", "-o", archive, name]);
    assertEquals(saved.code, 0, saved.stderr);
    await daemon.docker("load", "-i", archive).catch((error) => {
      // Docker refuses the hardlink through a symlink when it applies the layer.
      if (!name.includes("link-through-symlink")) throw error;
    });
  }

  const cli = (...args: string[]) => runAll(["--root", root, ...args]);
  const denocker = [
    Deno.execPath(),
    "run",
    "--allow-all",
    new URL("../cli.ts", import.meta.url).pathname,
    "--root",
    root,
  ];
  const ours = (runtime: string[]): Engine => ({
    name: runtime.length === 0 ? "denocker" : "denocker --runtime runc",
    command: (verb, args) =>
      verb === "run"
        ? [...denocker, "run", "--rm", ...runtime, ...args]
        : [...denocker, "exec", ...args],
    start: async (name, args) => {
      spawnAll(["--root", root, "run", "--rm", "--name", name, ...runtime, ...args]);
      await until(`${name} runs`, async () => (await cli("ps")).stdout.includes(` ${name}\n`));
    },
    remove: async (name) => void await cli("rm", "-f", name),
  });
  const socket = `unix://${daemon.socket}`;
  const dockerCommand = [DOCKER_CLIENT, "-H", socket];
  // The daemon has no bridge (and may pull nothing): containers get no network but lo.
  const dockerRun = (args: string[]) => [
    "--pull",
    "never",
    ...(args.some((arg) => arg.startsWith("--network")) ? [] : ["--network", "none"]),
    ...args,
  ];
  const docker: Engine = {
    name: "docker",
    command: (verb, args) =>
      verb === "run"
        ? [...dockerCommand, "run", "--rm", ...dockerRun(args)]
        : [...dockerCommand, "exec", ...args],
    start: async (name, args) => {
      const result = await output(DOCKER_CLIENT, [
        "-H",
        socket,
        "run",
        "-d",
        "--name",
        name,
        ...dockerRun(args),
      ]);
      assertEquals(result.code, 0, result.stderr);
    },
    remove: async (name) => void await output(DOCKER_CLIENT, ["-H", socket, "rm", "-f", name]),
  };
  const engines = [ours([]), ours(["--runtime", "runc"]), docker];
  // Docker's --privileged asks for every capability Linux knows, and fails where the host
  // itself lacks one (a sandbox): then the host's own set is the reference.
  const tryPrivileged = await runWith(docker, "run", ["--privileged", images.plain, "true"]);
  const dockerPrivileged = tryPrivileged.code === 0;
  if (!dockerPrivileged) {
    // deno-lint-ignore no-console
    console.log(`docker --privileged cannot run here: ${tryPrivileged.stderr.trim()}`);
  }
  /** Runs a probe through every engine; the results by engine name. */
  const each = async (fn: (engine: Engine) => Promise<CliResult>) => {
    const results: Record<string, CliResult> = {};
    for (const engine of engines) results[engine.name] = await fn(engine);
    return results;
  };
  /** `run --rm ARGS` through every engine. */
  const runEach = (args: string[]) => each((engine) => runWith(engine, "run", args));
  /** Asserts `check` of every engine's result, naming the engine that fails it. */
  const every = (results: Record<string, CliResult>, check: (result: CliResult) => void) => {
    for (const [name, result] of Object.entries(results)) {
      try {
        check(result);
      } catch (error) {
        throw new Error(
          `${name}: ${
            (error as Error).message
          }\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
        );
      }
    }
  };
  /** Asserts every engine printed what docker printed. */
  const sameAsDocker = (
    results: Record<string, CliResult>,
    normalise = (text: string) => text,
  ) => {
    const reference = normalise(results.docker.stdout);
    every(results, (result) => assertEquals(normalise(result.stdout), reference));
  };

  await t.step(
    "capabilities: docker's set, none for another user, no more via setuid",
    async () => {
      const rootStatus = await each((engine) =>
        runWith(engine, "run", [images.plain, "sh", "-c", STATUS])
      );
      sameAsDocker(rootStatus);
      assertMatch(rootStatus.docker.stdout, new RegExp(`CapEff:\\t${DEFAULT_CAPS}\n`));
      assertMatch(rootStatus.docker.stdout, new RegExp(`CapBnd:\\t${DEFAULT_CAPS}\n`));
      assertMatch(rootStatus.docker.stdout, /CapInh:\t0{16}\nCapPrm/);
      const user = await each((engine) =>
        runWith(engine, "run", ["-u", "1000", images.plain, "sh", "-c", STATUS])
      );
      sameAsDocker(user);
      assertMatch(user.docker.stdout, /CapEff:\t0{16}\n/);
      // A setuid-root program run by another user: root again, with no more than the set.
      const su = await each((engine) =>
        runWith(engine, "run", [
          "-u",
          "1000",
          images.setuid,
          "/suid/busybox",
          "su",
          "-c",
          `id -u; ${STATUS}`,
          "root",
        ])
      );
      sameAsDocker(su);
      assertMatch(su.docker.stdout, new RegExp(`^0\n[^]*CapEff:\\t${DEFAULT_CAPS}\n`));
      // no-new-privileges: the setuid bit gives nothing.
      const noNew = await each((engine) =>
        runWith(engine, "run", [
          "-u",
          "1000",
          "--security-opt",
          "no-new-privileges",
          images.setuid,
          "sh",
          "-c",
          `${STATUS}; /suid/busybox su -c 'id -u' root || echo refused`,
        ])
      );
      sameAsDocker(noNew);
      assertMatch(noNew.docker.stdout, /NoNewPrivs:\t1\n[^]*refused\n$/);
      for (
        const flags of [
          ["--cap-drop", "ALL"],
          ["--cap-drop", "ALL", "--cap-add", "CHOWN", "--cap-add", "net_raw"],
          ["--cap-add", "SYS_ADMIN", "--cap-drop", "MKNOD"],
        ]
      ) {
        sameAsDocker(await runEach([...flags, images.plain, "sh", "-c", STATUS]));
      }
      // --privileged: every capability the host has, no seccomp filter.
      const privileged = await runEach(["--privileged", images.plain, "sh", "-c", STATUS]);
      if (dockerPrivileged) sameAsDocker(privileged);
      const hostBounding = /CapBnd:\t([0-9a-f]+)/.exec(await sh("cat /proc/self/status"))![1];
      every(privileged, (result) => {
        if (result === privileged.docker && !dockerPrivileged) return;
        assertMatch(result.stdout, new RegExp(`CapEff:\\t${hostBounding}\\n[^]*Seccomp:\\t0\\n`));
      });
    },
  );

  await t.step("seccomp: docker's filter; unconfined only when asked", async () => {
    const probe = "grep '^Seccomp:' /proc/self/status; unshare -U true && echo user-ns; " +
      "unshare -m true && echo mount-ns; mount -t tmpfs none /tmp && echo mounted; true";
    const confined = await each((engine) =>
      runWith(engine, "run", [images.plain, "sh", "-c", probe])
    );
    sameAsDocker(confined);
    assertEquals(confined.docker.stdout, "Seccomp:\t2\n");
    // With CAP_SYS_ADMIN docker's profile opens mount and unshare (inside the container).
    const admin = await each((engine) =>
      runWith(engine, "run", ["--cap-add", "SYS_ADMIN", images.plain, "sh", "-c", probe])
    );
    sameAsDocker(admin);
    assertEquals(admin.docker.stdout, "Seccomp:\t2\nuser-ns\nmount-ns\nmounted\n");
    const unconfined = await each((engine) =>
      runWith(engine, "run", [
        "--security-opt",
        "seccomp=unconfined",
        images.plain,
        "grep",
        "^Seccomp:",
        "/proc/self/status",
      ])
    );
    sameAsDocker(unconfined);
    assertEquals(unconfined.docker.stdout, "Seccomp:\t0\n");
  });

  // FUSE's and loop's control devices, which root on the host may open without a capability
  // more (a sandbox may refuse even root the disk), are what the probe can tell by: it only
  // opens them.
  await t.step("devices: nodes made for the host's devices cannot be opened", async () => {
    const [major, minor] =
      (await sh("stat -c '%t %T' \"$(findmnt -no SOURCE /)\" 2>/dev/null || echo 8 0"))
        .trim().split(" ").map((hex) => parseInt(hex, 16));
    const probe = `mknod /tmp/disk b ${major} ${minor} && echo made; ` +
      "head -c 1 /tmp/disk > /dev/null && echo read-disk; " +
      "mknod /tmp/fuse c 10 229 && (exec 3< /tmp/fuse) 2>/dev/null && echo opened-fuse; " +
      "mknod /tmp/loop-control c 10 237 && (exec 3< /tmp/loop-control) 2>/dev/null && " +
      "echo opened-loop-control; " +
      "echo x > /dev/null && head -c 1 /dev/urandom | wc -c";
    const results = await each((engine) =>
      runWith(engine, "run", [images.plain, "sh", "-c", probe])
    );
    sameAsDocker(results);
    assertEquals(results.docker.stdout, "made\n1\n");
  });

  await t.step("/proc and /sys as docker masks them; --read-only holds", async () => {
    // Docker also mounts the container's cgroups at /sys/fs/cgroup; denocker does not.
    const mounts = "cut -d ' ' -f 2,4 /proc/mounts | grep -Ev '^/(etc/|sys/fs/cgroup)' | " +
      "sed -E 's/,(size|mode|gid|ptmxmode|uuid|lowerdir|upperdir|workdir)=[^ ,]*//g' | sort";
    const normalise = (text: string) => text.replace(/^\/ [^\n]*/m, "/ root");
    sameAsDocker(
      await each((engine) => runWith(engine, "run", [images.plain, "sh", "-c", mounts])),
      normalise,
    );
    // --privileged: nothing masked, /sys writable.
    const privileged = await runEach(["--privileged", images.plain, "sh", "-c", mounts]);
    if (dockerPrivileged) sameAsDocker(privileged, normalise);
    every(privileged, (result) => {
      if (result === privileged.docker && !dockerPrivileged) return;
      assert(!/^\/proc\/(keys|sys) /m.test(result.stdout), "masked under --privileged");
      assertMatch(result.stdout, /^\/sys rw,/m);
    });
    const probe = "wc -c < /proc/keys; ls /sys/firmware | wc -l; " +
      "v=$(cat /proc/sys/kernel/printk_ratelimit); " +
      "(echo $v > /proc/sys/kernel/printk_ratelimit) 2>/dev/null && echo wrote-sysctl; " +
      "mount -o remount,rw / 2>/dev/null && echo remounted; touch /x 2>/dev/null && echo wrote; true";
    const results = await each((engine) =>
      runWith(engine, "run", ["--read-only", images.plain, "sh", "-c", probe])
    );
    sameAsDocker(results);
    assertEquals(results.docker.stdout, "0\n0\n");
  });

  await t.step(
    "paths resolve inside the root: /etc, /proc, /dev, /sys, workdir, passwd",
    async () => {
      const etc = await each((engine) =>
        runWith(engine, "run", [
          "--hostname",
          "boxed",
          images["etc-link"],
          "cat",
          "/etc/hostname",
        ])
      );
      sameAsDocker(etc);
      assertEquals(etc.docker.stdout, "boxed\n");
      const system = await each((engine) =>
        runWith(engine, "run", [
          images["system-links"],
          "sh",
          "-c",
          "grep -c '^Name:' /proc/self/status; [ -c /dev/null ] && echo dev; [ -d /sys/kernel ] && echo sys",
        ])
      );
      sameAsDocker(system);
      assertEquals(system.docker.stdout, "1\ndev\nsys\n");
      for (const name of ["workdir", "workdir-dots"]) {
        const results = await runEach([images[name], "pwd"]);
        sameAsDocker(results);
        assertMatch(results.docker.stdout, /work-target\/(made|dots)\n$/);
      }
      // A user named only in a host file, reached through the image's symlink, is not found.
      const evil = await each((engine) =>
        runWith(engine, "run", ["-u", "evil", images["passwd-link"], "id"])
      );
      every(evil, (result) => {
        assertEquals(result.code, 125);
        assertMatch(result.stderr, /unable to find user evil/);
      });
      // /etc/passwd leading to /dev/zero: refused at once, not read forever.
      const zero = await each((engine) =>
        runWith(engine, "run", ["-u", "app", images["passwd-zero"], "id"])
      );
      every(zero, (result) => {
        assertEquals(result.code, 125);
        assert(!result.stdout.includes("uid="));
      });
    },
  );

  await t.step(
    "exec: nothing of the image on the host, the container's limits inside",
    async () => {
      for (const engine of engines) {
        const name = `hostile-${engine.name.replace(/[^a-z]/g, "")}`;
        const label = engine.name;
        await engine.start(name, [
          "--cap-drop",
          "ALL",
          "--cap-add",
          "CHOWN",
          "--security-opt",
          "no-new-privileges",
          images["hostile-env"],
          "sleep",
          "1000",
        ]);
        started.push({ engine, name });
        const inside = await runWith(engine, "exec", [
          name,
          "sh",
          "-c",
          `echo in; ${STATUS}; cat /proc/1/status`,
        ]);
        assertEquals(inside.code, 0, `${label}: ${inside.stderr}`);
        assert(!inside.stderr.includes("LD_PRELOAD"), `${label}: ${inside.stderr}`);
        const [own, first] = inside.stdout.split("Name:");
        const firstStatus = first.split("\n").filter((line) =>
          /^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):/.test(line)
        );
        assertEquals(own.split("\n").slice(1).filter(Boolean), firstStatus, label);
        assert(own.includes("CapEff:\t0000000000000001\n"), `${label}: ${own}`);
        // The first process's cgroups (its device rules among them), no descriptor of the
        // caller's, no terminal of the caller's.
        const cgroups = await runWith(engine, "exec", [
          name,
          "sh",
          "-c",
          "cat /proc/self/cgroup; echo; cat /proc/1/cgroup",
        ]);
        const [execCgroups, firstCgroups] = cgroups.stdout.split("\n\n");
        assertEquals(execCgroups.trim(), firstCgroups.trim(), label);
        const command = shellQuote(engine.command("exec", [
          name,
          "sh",
          "-c",
          "(ls /proc/$$/fd > /tmp/fds); echo $(cat /tmp/fds); " +
          "(exec 3</dev/tty) 2>/dev/null && echo has-tty; true",
        ]));
        // On a terminal (script), with a directory of the host open as descriptor 3.
        const fds = await output("sh", [
          "-c",
          `exec 3<${host}; exec script -qec "$1" /dev/null`,
          "sh",
          command,
        ]);
        assert(/^0 1 2\r?\n$/.test(fds.stdout), `${label}: ${fds.stdout} ${fds.stderr}`);
        // A working directory through the image's symlink is the container's path, not the host's.
        const wd = await runWith(engine, "exec", ["-w", "/hostlink", name, "pwd"]);
        assert(wd.code !== 0, `${label}: -w /hostlink ran in ${wd.stdout}`);
        // /etc/passwd made a FIFO: denocker refuses it at once. runc opens it itself, and so
        // does docker's daemon, and block (bounded here): a weakness of theirs.
        const made = await runWith(engine, "exec", [
          name,
          "sh",
          "-c",
          "rm /etc/passwd && mkfifo /etc/passwd",
        ]);
        assertEquals(made.code, 0, `${label}: ${made.stderr}`);
        const fifo = await runWith(engine, "exec", ["-u", "app", name, "id"], [
          "timeout",
          "-k",
          "5",
          "10",
        ]);
        assert(!fifo.stdout.includes("uid="), `${label}: ${fifo.stdout}`);
        if (engine.name === "denocker") {
          assertEquals(fifo.code, 125, `${label}: ${fifo.stderr}`);
          assertMatch(fifo.stderr, /\/etc\/passwd: it is not a regular file/);
        }
        await engine.remove(name);
      }
      assertEquals(
        await Deno.lstat(join(host, "ran")).then(() => "ran", () => "not run"),
        "not run",
      );
    },
  );

  await t.step(
    "exec after the first process chroots: the container's root, its limits",
    async () => {
      // PID 1 moves itself into a fake root that claims no capability exists to drop.
      const fake = "mkdir -p /fake/bin /fake/proc/sys/kernel /fake/etc && " +
        "cp /bin/busybox /fake/bin/ && ln -s busybox /fake/bin/sh && ln -s busybox /fake/bin/grep && " +
        "echo 0 > /fake/proc/sys/kernel/cap_last_cap && echo 'app:x:0:0::/:/bin/sh' > /fake/etc/passwd && " +
        "exec chroot /fake /bin/busybox sleep 1000";
      const probe = `[ -d /fake ] && echo real-root; ${STATUS}`;
      const results: Record<string, CliResult> = {};
      for (const engine of engines) {
        const name = `chrooted-${engine.name.replace(/[^a-z]/g, "")}`;
        await engine.start(name, [images.plain, "sh", "-c", fake]);
        started.push({ engine, name });
        results[engine.name] = await runWith(engine, "exec", [
          "-u",
          "app",
          name,
          "sh",
          "-c",
          probe,
        ]);
        await engine.remove(name);
      }
      sameAsDocker(results);
      assertMatch(results.docker.stdout, /^real-root\n[^]*CapEff:\t0{16}\n/);
    },
  );

  await t.step("an exec as soon as the container is recorded runs inside it", async () => {
    // A program using the library execs the moment startContainer returns, before the first
    // process could have pivoted into its root if startContainer did not wait for it.
    const module = new URL("../mod.ts", import.meta.url).href;
    const script = `
        import { execInContainer, removeContainers, startContainer } from "${module}";
        const options = { root: ${JSON.stringify(root)}, stdio: "null" };
        for (let i = 0; i < 10; i++) {
          const container = await startContainer(${
      JSON.stringify(images.plain)
    }, ["sleep", "100"], options);
          const status = await execInContainer(container.id, [
            "sh", "-c", 'test "$(cat /etc/hostname)" = "$HOSTNAME"',
          ], options);
          console.log(status);
          await removeContainers([container.id], { ...options, force: true });
        }
      `;
    const out = await run(Deno.execPath(), ["eval", "--allow-all", script]);
    // The container's /etc/hostname is its HOSTNAME; in the host's root it is the host's name.
    assertEquals(out.trim().split("\n"), Array(10).fill("0"));
  });

  await t.step("no exec while the first process is still denocker's init", async () => {
    // An image that makes its init slow to find the command (every PATH entry a long chain
    // of symlinks): until the command runs, the init holds the host's files and, on some of
    // its threads, the host's privileges, so nothing may join the container.
    const name = "slow-start";
    spawnAll([
      "--root",
      root,
      "run",
      "--rm",
      "--name",
      name,
      images["slow-path"],
      "sleep",
      "100",
    ]);
    started.push({ engine: engines[0], name });
    await until(
      `${name} is created`,
      async () => (await cli("ps", "-a")).stdout.includes(` ${name}\n`),
    );
    const early = await cli("exec", name, "true");
    assertEquals([early.code, early.stderr], [
      125,
      `denocker: Cannot exec in container ${name}: it is not running\n`,
    ]);
    await until(`${name} runs`, async () => (await cli("ps")).stdout.includes(` ${name}\n`));
    assertEquals((await cli("exec", name, "true")).code, 0);
    await cli("rm", "-f", name);
  });

  await t.step("exec's init refuses a first process whose root is still the host's", async () => {
    // As a container's first process is before its pivot_root: a mount namespace of its own
    // whose root is the host's. The race above is rare; this is its losing side, made sure.
    const early = new Deno.Command("unshare", { args: ["--mount", "sleep", "100"] }).spawn();
    try {
      // Until unshare has made the namespace and become sleep.
      const ours = await sh("readlink /proc/self/ns/mnt");
      await until(
        "the process has its own mount namespace",
        async () =>
          (await sh(`readlink /proc/${early.pid}/ns/mnt; cat /proc/${early.pid}/comm`)) !==
            `${ours}unshare\n` &&
          (await sh(`cat /proc/${early.pid}/comm`)).trim() === "sleep",
      );
      const stat = await sh(`cat /proc/${early.pid}/stat`);
      const spec = join(dir.path, "exec-request.json");
      await Deno.writeTextFile(
        spec,
        JSON.stringify({
          pid: early.pid,
          start: stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19],
          joinNetwork: false,
          env: ["PATH=/usr/bin:/bin"],
          args: ["touch", join(host, "ran-on-host")],
          cwd: "/",
          user: "",
          cgroups: [],
          security: {
            capabilities: ["CAP_CHOWN"],
            noNewPrivileges: true,
            privileged: false,
            rootNodev: false,
          },
        }),
      );
      const result = await output(Deno.execPath(), [
        "run",
        "--allow-all",
        new URL("../lib/runtime/init.ts", import.meta.url).pathname,
        "exec",
        spec,
      ]);
      assertEquals(
        [result.code, result.stderr],
        [125, "denocker: the container is still starting; try again\n"],
      );
    } finally {
      early.kill("SIGKILL");
      await early.status;
    }
  });

  await t.step("with CAP_SYS_PTRACE, an exec's helpers are never within reach", async () => {
    // The container watches for new processes and looks through their roots for the host.
    const watch = `while :; do for p in /proc/[0-9]*; do ` +
      `[ -e $p/root${host}/secret ] && echo $p > /tmp/found; done; done`;
    for (const engine of engines) {
      const name = `tracer-${engine.name.replace(/[^a-z]/g, "")}`;
      await engine.start(name, ["--cap-add", "SYS_PTRACE", images.plain, "sh", "-c", watch]);
      started.push({ engine, name });
      for (let i = 0; i < 5; i++) await runWith(engine, "exec", [name, "true"]);
      const found = await runWith(engine, "exec", [name, "cat", "/tmp/found"]);
      assert(found.code !== 0, `${engine.name}: the host's root was seen from ${found.stdout}`);
      await engine.remove(name);
    }
  });

  await t.step(
    "denocker's own binary, reached through /proc/self/exe, stays read-only",
    async () => {
      if (Deno.build.arch !== "x86_64") {
        // deno-lint-ignore no-console
        console.log("skipped: the hostile ELF interpreter is x86_64 code");
        return;
      }
      // The image's ELF interpreter runs as that of whatever dynamic program is exec'd: through
      // /proc/self/exe, the binary of the process that execs. It chmods that binary to the mode
      // it has (harmless if it succeeds) and exits with the errno: 0 would be the host's binary
      // open to it. denocker runs from a copy of Deno here, so nothing real is at stake.
      const copy = join(dir.path, "deno-copy");
      await Deno.copyFile(Deno.execPath(), copy);
      await Deno.chmod(copy, 0o755);
      const before = await sh(`stat -c '%a %Z' ${copy} /usr/sbin/runc`);
      const results: Record<string, CliResult> = {};
      for (const engine of engines) {
        const command = engine.command("run", [images.exe, "/proc/self/exe"]);
        if (engine !== docker) command[0] = copy;
        results[engine.name] = await output(command[0], command.slice(1));
      }
      every(results, (result) => assertEquals(result.code, 30, "EROFS"));
      // The same through exec, where the command is started by denocker's exec init.
      const name = "own-binary";
      spawnAll(["--root", root, "run", "--rm", "--name", name, images.exe, "sleep", "1000"]);
      started.push({ engine: engines[0], name });
      await until(`${name} runs`, async () => (await cli("ps")).stdout.includes(` ${name}\n`));
      const exec = await output(copy, [...denocker.slice(1), "exec", name, "/proc/self/exe"]);
      assertEquals(exec.code, 30, exec.stderr);
      await cli("rm", "-f", name);
      assertEquals(await sh(`stat -c '%a %Z' ${copy} /usr/sbin/runc`), before);
    },
  );

  await t.step("no descriptor of the caller, no terminal of the caller", async () => {
    // The shell's descriptors (listed by ls in a subshell, into a file, so that no descriptor
    // of the listing itself shows), then what 0, 1 and 2 are, then whether /dev/tty opens.
    const probe =
      "(ls /proc/$$/fd > /tmp/fds); echo $(cat /tmp/fds); for n in 0 1 2; do echo $n $(readlink /proc/$$/fd/$n); done; " +
      "(exec 3</dev/tty) 2>/dev/null && echo has-tty; true";
    // The kind of each descriptor: a pipe, /dev/null, or (never) something of the host's.
    const normalise = (text: string) =>
      text.replace(/pipe:\[[0-9]+\]/g, "pipe").replace(/\/dev\/pts\/[0-9]+/g, "PTS");
    const fds = await each((engine) =>
      runWith(engine, "run", [images.plain, "sh", "-c", probe], [
        "sh",
        "-c",
        `exec 3<${host} 4>>${dir.path}/fd-canary; exec "$@"`,
        "sh",
      ])
    );
    every(fds, (result) => {
      assertEquals(result.code, 0);
      assertEquals(result.stdout.split("\n")[0], "0 1 2");
      assert(!result.stdout.includes(dir.path));
    });
    // A working directory through a descriptor the caller left open leads nowhere.
    const leak = ["sh", "-c", `exec 3<${host}; exec "$@"`, "sh"];
    const workdir = await each((engine) =>
      runWith(engine, "run", [images["workdir-fd"], "sh", "-c", "pwd; ls"], leak)
    );
    every(workdir, (result) => {
      assert(result.code !== 0, "the command ran");
      assert(!result.stdout.includes("secret"));
    });
    const name = "fd-exec";
    spawnAll(["--root", root, "run", "--rm", "--name", name, images.plain, "sleep", "1000"]);
    started.push({ engine: engines[0], name });
    await until(`${name} runs`, async () => (await cli("ps")).stdout.includes(` ${name}\n`));
    const execLeak = await runWith(engines[0], "exec", [
      "-w",
      "/proc/self/fd/3",
      name,
      "ls",
    ], leak);
    assert(execLeak.code !== 0 && !execLeak.stdout.includes("secret"), execLeak.stdout);
    await cli("rm", "-f", name);
    // On a terminal: the container gets pipes (stdin: nothing), /dev/tty opens nothing.
    const terminal = await each((engine) =>
      output("script", [
        "-qec",
        shellQuote(engine.command("run", [images.plain, "sh", "-c", probe])),
        "/dev/null",
      ])
    );
    every(terminal, (result) => {
      const text = normalise(result.stdout);
      assert(!text.includes("PTS"), "a descriptor is the caller's terminal");
      assert(!text.includes("has-tty"), "/dev/tty opened the caller's terminal");
      // stdin reads nothing: /dev/null (runc: a pipe it feeds from /dev/null).
      assertMatch(text, /^0 1 2\r?\n0 (\/dev\/null|pipe)\r?\n1 pipe\r?\n2 pipe\r?\n$/);
    });
  });

  await t.step("overlay links never through a layer's symlink", async () => {
    const result = await cli("run", "--rm", images["link-through-symlink"], "cat", "/stolen");
    assertEquals(result.code, 125);
    assertMatch(result.stderr, /does not lie under real directories/);
    const runc = await cli(
      "run",
      "--rm",
      "--runtime",
      "runc",
      images["link-through-symlink"],
      "cat",
      "/stolen",
    );
    assertEquals(runc.code, 125);
    // Docker refused to load it (above); the host file has its one link.
    assertEquals((await sh(`stat -c %h ${host}/secret`)).trim(), "1");
  });

  await t.step("--network host: the host's interfaces cannot be changed", async () => {
    const probe = "ip addr add 127.0.0.77/8 dev lo 2>/dev/null && " +
      "ip addr del 127.0.0.77/8 dev lo && echo changed; true";
    const results = await each((engine) =>
      runWith(engine, "run", ["--network", "host", images.plain, "sh", "-c", probe])
    );
    sameAsDocker(results);
    assertEquals(results.docker.stdout, "");
  });

  await t.step(
    "the store is root's: records and setuid files out of other users' reach",
    async () => {
      const kept = await cli(
        "run",
        "--name",
        "kept",
        "-e",
        "SECRET=hunter2",
        images.plain,
        "sh",
        "-c",
        "mkdir /s && cp /bin/busybox /s/busybox && chmod 4755 /s/busybox",
      );
      assertEquals(kept.code, 0, kept.stderr);
      const id = (await sh(`ls ${root}/containers`)).trim().split("\n").find((name) =>
        /^[0-9a-f]{64}$/.test(name)
      )!;
      const modes = await sh(
        `stat -c '%a %n' ${root} ${root}/containers ${root}/containers/${id} ` +
          `${root}/containers/${id}/container.json ${root}/overlay`,
      );
      assertEquals(modes.split("\n").filter(Boolean).map((line) => line.split(" ")[0]), [
        "700",
        "700",
        "700",
        "600",
        "700",
      ]);
      const asNobody = (command: string) =>
        output("setpriv", [
          "--reuid",
          "65534",
          "--regid",
          "65534",
          "--clear-groups",
          "sh",
          "-c",
          command,
        ]);
      for (
        const probe of [
          `cat ${root}/containers/${id}/container.json`,
          `${root}/containers/${id}/upper/s/busybox id -u`,
          `ls ${root}/layers`,
        ]
      ) {
        const result = await asNobody(probe);
        assert(
          result.code !== 0 && !result.stdout.includes("hunter2"),
          `${probe}: ${result.stdout}`,
        );
      }
      // The same probe reaches a root left wide open, of which denocker warns.
      const wide = join(dir.path, "wide");
      await Deno.mkdir(wide, { mode: 0o755 });
      await Deno.chmod(wide, 0o755);
      const images_ = await runAll(["--root", wide, "images"]);
      assertMatch(
        images_.stderr,
        /^warning: the store root .* is open to other users \(mode 0755\)/,
      );
      assertEquals((await asNobody(`ls ${wide}`)).code, 0);
      // Docker's data root is closed to other users too.
      assert((await asNobody(`ls ${daemon.dataRoot}/containers`)).code !== 0);
      await cli("rm", "kept");
    },
  );

  await t.step("a docker-built image with USER 1000: / is 0755, as docker gives it", async () => {
    const context = join(dir.path, "build");
    await busyboxTree(join(context, "rootfs"));
    await Deno.writeTextFile(
      join(context, "Dockerfile"),
      'FROM scratch\nCOPY rootfs/ /\nUSER 1000\nCMD ["sh", "-c", "stat -c \'%a %u\' / /tmp; id -u"]\n',
    );
    const built = await output("sh", [
      "-c",
      `DOCKER_BUILDKIT=0 ${DOCKER_CLIENT} -H ${socket} build --network none -q -t escape/built:1 ${context}`,
    ]);
    assertEquals(built.code, 0, built.stderr);
    const archive = join(layout.dir, "built.tar");
    await daemon.docker("save", "-o", archive, "escape/built:1");
    const loaded = await cli("load", "-i", archive);
    assertEquals(loaded.code, 0, loaded.stderr);
    const results = await each((engine) => runWith(engine, "run", ["escape/built:1"]));
    sameAsDocker(results);
    assertEquals(results.docker.stdout, "755 0\n1777 0\n1000\n");
  });

  // Nothing of the host changed.
  assertEquals(await describeTree(host), canariesBefore);
  assertEquals(await hostSettings(), settingsBefore);
});
