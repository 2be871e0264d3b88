/**
 * `run`: a busybox image as a container. What the command sees (PID 1, its
 * hostname, only `lo`, its own /proc), exit statuses as docker reports
 * them, the image's defaults and the options over them, the limits.
 */

import { dirname, join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { OciLayout, run as run_, startRegistry } from "./_real_registry.ts";
import { busyboxImage, containerTest, loadImage, runAll, spawnAll } from "./_containers.ts";
import { MASKED_PATHS, READONLY_PATHS } from "../lib/runtime/init.ts";

containerTest("run busybox: output, exit statuses, namespaces, defaults and options", async (t) => {
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  const root = join(dir.path, "store");
  const run = (...args: string[]) => runAll(["--root", root, "run", "--rm", ...args]);
  try {
    await busyboxImage(layout, "busybox");
    await loadImage(layout, "busybox", root, "busybox:latest");

    await t.step("the image's Cmd and Env; the hostname is the ID's start", async () => {
      const result = await run("busybox");
      assertEquals(result.code, 0, result.stderr);
      assertMatch(result.stdout, /^hello from [0-9a-f]{12}\n$/);
    });

    await t.step("a relative --root works as an absolute one", async () => {
      const result = await runAll(["--root", "store", "run", "--rm", "busybox", "echo", "hi"], {
        cwd: dir.path,
      });
      assertEquals([result.code, result.stdout, result.stderr], [0, "hi\n", ""]);
    });

    await t.step("options docker refuses are refused before anything runs", async () => {
      const cpus = navigator.hardwareConcurrency;
      const cases: [string[], string][] = [
        [
          ["--cpus", "1000"],
          `range of CPUs is from 0.01 to ${cpus}.00, as there are only ${cpus} CPUs available`,
        ],
        [["--cpus", "0.001"], "range of CPUs is from 0.01"],
        [["-e", "=x"], "invalid environment variable: =x"],
      ];
      for (const [args, message] of cases) {
        const result = await run(...args, "busybox", "true");
        assertEquals(result.code, 125, result.stderr);
        assertEquals(result.stderr.split("\n").length, 2, result.stderr);
        assert(result.stderr.includes(message), result.stderr);
      }
      assertEquals(await Array.fromAsync(Deno.readDir(join(root, "containers"))), []);
    });

    await t.step("every container logs its output; logs prints it, streams apart", async () => {
      const name = "logged";
      const ran = await runAll([
        "--root",
        root,
        "run",
        "--name",
        name,
        "busybox",
        "sh",
        "-c",
        "echo out1; echo err1 >&2; echo out2",
      ]);
      assertEquals([ran.code, ran.stdout], [0, "out1\nout2\n"], ran.stderr);
      const logs = await runAll(["--root", root, "logs", name]);
      assertEquals([logs.code, logs.stdout, logs.stderr], [0, "out1\nout2\n", "err1\n"]);
      const tail = await runAll(["--root", root, "logs", "-t", "--tail", "3", name]);
      assertMatch(tail.stdout, /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z out\d\n){2}$/);
      const last = await runAll(["--root", root, "logs", "--tail", "1", name]);
      assertEquals((last.stdout + last.stderr).split("\n").length, 2, "one line");
      // docker's json-file format, in docker's place.
      const [id] = await Array.fromAsync(Deno.readDir(join(root, "containers")), (e) => e.name);
      const file = join(root, "containers", id, `${id}-json.log`);
      const lines = (await Deno.readTextFile(file)).trim().split("\n").map((line) =>
        JSON.parse(line)
      );
      // Two pipes: each stream's lines in order, the streams interleaved as they came.
      const of = (stream: string) =>
        lines.filter((line) => line.stream === stream).map((line) => line.log);
      assertEquals([of("stdout"), of("stderr"), lines.length], [
        ["out1\n", "out2\n"],
        ["err1\n"],
        3,
      ]);
      for (const line of lines) assertEquals(Object.keys(line), ["log", "stream", "time"]);
      assertEquals((await runAll(["--root", root, "rm", name])).code, 0);
    });

    await t.step("--env-file and --entrypoint as docker reads them", async () => {
      const file = join(dir.path, "env");
      await Deno.writeTextFile(file, "# a comment\n  A=1\n\nB=two words\n");
      const env = await run("--env-file", file, "-e", "A=3", "busybox", "sh", "-c", 'echo "$A|$B"');
      assertEquals([env.code, env.stdout], [0, "3|two words\n"], env.stderr);
      const missing = await run("--env-file", join(dir.path, "nope"), "busybox", "true");
      assertEquals(missing.code, 125);
      assertMatch(missing.stderr, /^denocker: cannot read --env-file .*: no such file\n/);
      const entry = await run("--entrypoint", "echo", "busybox", "hi");
      assertEquals([entry.code, entry.stdout], [0, "hi\n"], entry.stderr);
      const none = await run("--entrypoint", "", "busybox", "echo", "only");
      assertEquals([none.code, none.stdout], [0, "only\n"], none.stderr);
    });

    await t.step("an image not stored is pulled first, as docker does", async () => {
      await using registry = await startRegistry();
      const name = `${registry.host}/team/busybox:1`;
      await layout.push("busybox", name);
      const fresh = join(dir.path, "fresh");
      const result = await runAll(["--root", fresh, "run", "--rm", name]);
      assertEquals(result.code, 0, result.stderr);
      assertMatch(result.stdout, /^hello from [0-9a-f]{12}\n$/);
      assertEquals(result.stderr.split("\n")[0], `Unable to find image '${name}' locally`);
      // Then the pull as `pull` prints it.
      assertMatch(result.stderr, /\nDigest: sha256:[0-9a-f]{64}\n/);
      assert(
        result.stderr.includes(`\nStatus: Downloaded newer image for ${name}\n`),
        result.stderr,
      );
      const images = await runAll(["--root", fresh, "images", "-q"]);
      assertEquals(images.stdout.trim().length, 12);
    });

    await t.step("exit statuses: the command's, 127, 126, 137 when over --memory", async () => {
      assertEquals((await run("busybox", "sh", "-c", "exit 7")).code, 7);
      const missing = await run("busybox", "nosuchcommand");
      assertEquals(
        [missing.code, missing.stderr],
        [127, `denocker: exec: "nosuchcommand": executable file not found in $PATH\n`],
      );
      const notExecutable = await run("busybox", "/etc/passwd");
      assertEquals(notExecutable.code, 126);
      assertMatch(notExecutable.stderr, /^denocker: exec \/etc\/passwd failed: EACCES/);
      // tail keeps what it reads of a file without newlines: PID 1 itself goes over the limit.
      const oom = await run("--memory", "16m", "busybox", "tail", "/dev/zero");
      assertEquals(oom.code, 137, oom.stderr);
      const bad = await runAll(["--root", root, "run", "--memory", "lots", "busybox"]);
      assertEquals(bad.code, 125);
      // A flag's usage error points at run's help, not another command's.
      const zero = await runAll(["--root", root, "run", "--pids-limit", "0", "busybox"]);
      assertEquals(
        [zero.code, zero.stderr],
        [
          125,
          `denocker: --pids-limit needs a whole number of at least 1, got "0"\nSee 'denocker run --help'.\n`,
        ],
      );
    });

    await t.step("PID 1, its own /proc, its hostname, only lo and it is up", async () => {
      const result = await run(
        "--hostname",
        "box",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo $$; hostname; cat /etc/hostname; ls /sys/class/net; ip link show lo; " +
          "ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline | tr '\\0' ' '; echo",
      );
      assertEquals(result.code, 0, result.stderr);
      const lines = result.stdout.split("\n");
      assertEquals(lines.slice(0, 4), ["1", "box", "box", "lo"]);
      assertMatch(lines[4], /^1: lo: <LOOPBACK,UP,LOWER_UP>/);
      // /proc holds the shell and its pipeline, nothing of the host.
      assert(Number(lines.at(-3)) <= 4, `processes seen: ${lines.at(-3)}`);
      assert(lines.at(-2)!.startsWith("sh -c echo $$; hostname;"), lines.at(-2));
    });

    await t.step("its own mounts only; signals as a new program has them", async () => {
      const mounts = await run("busybox", "cut", "-d", " ", "-f", "2", "/proc/mounts");
      // Docker's masked and read-only paths of /proc and /sys, those this kernel has (read
      // through sh: Deno lets only --allow-all read /proc).
      const masks = (await run_("sh", [
        "-c",
        `for p in ${
          [...MASKED_PATHS, ...READONLY_PATHS].join(" ")
        }; do [ -e $p ] && echo $p; done; true`,
      ])).split("\n").filter(Boolean);
      assertEquals(
        mounts.stdout.trim().split("\n").sort(),
        [
          "/",
          "/dev",
          "/dev/mqueue",
          "/dev/pts",
          "/dev/shm",
          "/etc/hostname",
          "/etc/hosts",
          "/etc/resolv.conf",
          "/proc",
          "/sys",
          ...masks,
        ].sort(),
      );
      const devices = await run("busybox", "ls", "/dev");
      assertEquals(
        devices.stdout.trim().split("\n").sort(),
        [
          "fd",
          "full",
          "mqueue",
          "null",
          "ptmx",
          "pts",
          "random",
          "shm",
          "stderr",
          "stdin",
          "stdout",
          "tty",
          "urandom",
          "zero",
        ],
      );
      // Deno ignores SIGPIPE; nothing of that reaches the command.
      const status = await run("busybox", "grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status");
      assertEquals(status.stdout, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
    });

    await t.step("-e, -w, -u over the image's defaults", async () => {
      const result = await run(
        "-e",
        "GREETING=hi",
        "-e",
        "EXTRA=1",
        "-w",
        "/home/app",
        "-u",
        "1000",
        "busybox",
        "sh",
        "-c",
        'echo "$GREETING $EXTRA"; pwd; id -u; id -g; echo $HOSTNAME',
      );
      assertEquals(result.code, 0, result.stderr);
      const lines = result.stdout.trim().split("\n");
      assertEquals(lines.slice(0, 4), ["hi 1", "/home/app", "1000", "1000"]);
      assertMatch(lines[4], /^[0-9a-f]{12}$/);
      const named = await run("-u", "app:root", "busybox", "id");
      assertEquals(named.stdout, "uid=1000(app) gid=0(root) groups=0(root)\n");
    });

    await t.step("--read-only, --pids-limit, --cpus, --network host", async () => {
      const readOnly = await run("--read-only", "busybox", "touch", "/x");
      assertEquals(readOnly.code, 1);
      assertMatch(readOnly.stderr, /Read-only file system/);
      const pids = await run(
        "--pids-limit",
        "4",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6; do sleep 5 & done 2>&1; echo forked",
      );
      assertMatch(pids.stdout + pids.stderr, /can't fork/);
      // The CPU quota, read from the host while the container runs.
      const running = spawnAll([
        "--root",
        root,
        "run",
        "--rm",
        "--cpus",
        "0.5",
        "busybox",
        "sleep",
        "30",
      ]);
      try {
        let quota = "";
        // Until the cgroup is there with its quota: made (-1, or v2's max) comes before set.
        const unset = () => quota === "" || quota === "-1" || quota.startsWith("max");
        for (let i = 0; i < 200 && unset(); i++) {
          await new Promise((resolve) => setTimeout(resolve, 25));
          for (const entry of await Array.fromAsync(Deno.readDir(join(root, "containers")))) {
            const v1 = `/sys/fs/cgroup/cpu/denocker/${entry.name}/cpu.cfs_quota_us`;
            const v2 = `/sys/fs/cgroup/denocker/${entry.name}/cpu.max`;
            // Read by cat: Deno opens /sys only with every permission, and tests have fewer.
            quota =
              (await run_("sh", ["-c", `cat ${v1} 2>/dev/null || cat ${v2} 2>/dev/null; true`]))
                .trim();
          }
        }
        assert(quota === "50000" || quota === "50000 100000", `cpu quota: "${quota}"`);
      } finally {
        running.kill("SIGKILL");
        await running.status;
      }
      const hostname = (await run_("hostname", [])).trim();
      const host = await run("--network", "host", "busybox", "hostname");
      assertEquals(host.stdout, `${hostname}\n`);
    });
  } finally {
    // The next command cleans what a killed `run` left; none is left after this test.
    assertEquals((await runAll(["--root", root, "ps", "-aq"])).stdout, "");
  }
});

containerTest("the README's deno install lines: the -A one runs containers", async () => {
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  const store = join(dir.path, "store");
  const project = new URL("..", import.meta.url).pathname;
  await busyboxImage(layout, "busybox");
  await loadImage(layout, "busybox", store, "busybox:latest");
  const readme = await Deno.readTextFile(join(project, "README.md"));
  const installs = [...readme.replaceAll("\\\n", " ").matchAll(/^deno install .*$/gm)]
    .map((match) => match[0].split(/\s+/));
  assertEquals(installs.length, 2, "the README has two install lines");
  const commands: string[] = [];
  for (const [index, words] of installs.entries()) {
    // Installed into the test's own directory; the rest is the README's line.
    const bin = join(dir.path, `install-${index}`);
    const args = [...words.slice(1, 2), "--root", bin, ...words.slice(2)];
    const installed = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: project,
      stdout: "null",
      stderr: "piped",
    }).output();
    assertEquals(installed.code, 0, new TextDecoder().decode(installed.stderr));
    commands.push(join(bin, "bin", "denocker"));
  }
  const container = (command: string) =>
    new Deno.Command(command, {
      args: ["run", "--rm", "busybox", "echo", "hi"],
      // The installed script runs `deno` from PATH: this one.
      env: {
        DENOCKER_ROOT: store,
        NO_COLOR: "1",
        PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}`,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
  const narrow = await container(commands[0]);
  assertEquals(
    [narrow.code, new TextDecoder().decode(narrow.stderr)],
    [
      125,
      "denocker: Cannot run containers: Deno must be given every permission (--allow-all, -A) for that, as it reads /proc and /sys\n",
    ],
  );
  const all = await container(commands[1]);
  assertEquals(
    [all.code, new TextDecoder().decode(all.stdout), new TextDecoder().decode(all.stderr)],
    [0, "hi\n", ""],
  );
});
