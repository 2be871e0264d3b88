/**
 * Containers that live on their own: `run -d` and its monitor (survives
 * the caller's terminal and the caller), `logs -f` across rotation,
 * `wait`, `--restart` policies, `kill`, `start`, `restart`, `rename`,
 * `ps`/`inspect` formats, `container prune`; and the same cases through a
 * real Docker daemon, whose output is the reference.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { integrationTest, OciLayout, run } from "./_real_registry.ts";
import { craftTar } from "./_tar.ts";
import { busyboxImage, containerTest, loadImage, runAll } from "./_containers.ts";
import { startDocker } from "./_docker.ts";
import { lstatIfExists } from "../lib/io/fs.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** Polls `check` until it is true (up to `ms`); whether it became true. */
async function until(check: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return await check();
}

/** The store's CLI, as root runs it; its stdout when it succeeds, else it throws. */
function storeCli(root: string) {
  const cli = async (...args: string[]) => {
    const result = await runAll(["--root", root, ...args]);
    if (result.code !== 0) {
      throw new Error(`denocker ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
    }
    return result.stdout;
  };
  const status = async (name: string) =>
    (await cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)).trim();
  return { cli, status };
}

/**
 * A command run under a new pseudo-terminal of its own (util-linux
 * `script`, as a user's terminal): what it prints is waited for, keys are
 * typed into it.
 */
class Terminal {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #output = "";
  #seen = 0;
  readonly #reading: Promise<void>;

  constructor(command: string, size = { rows: 30, columns: 100 }) {
    const child = new Deno.Command("script", {
      args: ["-qfec", `stty rows ${size.rows} cols ${size.columns}; ${command}`, "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#reading = (async () => {
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
        this.#output += text;
      }
    })();
  }

  /** Waits until `pattern` shows after what was waited for before; the text up to it. */
  async expect(pattern: RegExp, ms = 15_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const rest = this.#output.slice(this.#seen);
      const match = pattern.exec(rest);
      if (match) {
        this.#seen += match.index + match[0].length;
        return rest.slice(0, match.index + match[0].length);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`the terminal never showed ${pattern}; it shows:\n${this.#output}`);
  }

  /** Types into it. */
  async type(text: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(text));
  }

  /** Its exit status (script passes on the command's). */
  async status(): Promise<number> {
    await this.#writer.close().catch(() => {});
    const status = await this.#child.status;
    await this.#reading;
    return status.code;
  }
}

/** Whether a host process is alive. */
function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

containerTest("detached containers live on their own, as docker's do", async (t) => {
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  const root = join(dir.path, "store");
  // Two layers: busybox, and one over it with a file the container changes.
  const upper = await craftTar([
    { name: "data/", type: "directory" },
    { name: "data/state", body: "image\n" },
  ]);
  const upperPath = join(layout.dir, "data.tar");
  await Deno.writeFile(upperPath, upper);
  await busyboxImage(layout, "busybox", [upperPath]);
  await loadImage(layout, "busybox", root, "busybox:latest");
  const { cli, status } = storeCli(root);
  try {
    await t.step("run -d survives its terminal's hang-up and the caller's SIGKILL", async () => {
      // The caller runs in a terminal of its own (util-linux script makes the pty), starts the
      // container, and waits; then the terminal goes (script is killed: SIGHUP to its session).
      const caller = new Deno.Command("script", {
        args: [
          "-qfec",
          `${Deno.execPath()} run -A ${CLI} --root ${root} run -d --name web busybox sh -c ` +
          `'while true; do echo tick; sleep 0.1; done' && exec sleep 60.25`,
          "/dev/null",
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const output = caller.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let printed = "";
      while (!/[0-9a-f]{64}/.test(printed)) {
        const { value, done } = await output.read();
        if (done) break;
        printed += value;
      }
      assertMatch(printed, /[0-9a-f]{64}/);
      const pid = Number((await cli("inspect", "-f", "{{.State.Pid}}", "web")).trim());
      const waiting = Number(
        (await run("pgrep", ["-f", "^sleep 60.25$"])).trim().split("\n")[0],
      );
      assert(waiting > 0 && pid > 0);
      caller.kill("SIGKILL");
      await caller.status;
      output.cancel().catch(() => {});
      // The hang-up reached the caller's session (its shell's sleep is gone), not the container.
      assert(
        await until(() => Promise.resolve(!alive(waiting))),
        "the terminal's session got no hang-up",
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      assertEquals(await status("web"), "running 0");
      assert(alive(pid));
      const before = (await cli("logs", "web")).split("\n").length;
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert((await cli("logs", "web")).split("\n").length > before, "the log stopped");
    });

    await t.step("kill -s, kill, start, restart and rename, as docker has them", async () => {
      await cli("kill", "-s", "TERM", "web");
      await new Promise((resolve) => setTimeout(resolve, 200));
      // A PID 1 without a handler ignores SIGTERM, in docker too.
      assertEquals(await status("web"), "running 0");
      assertEquals((await cli("kill", "web")).trim(), "web");
      assertEquals(await status("web"), "exited 137");
      const killedAgain = await runAll(["--root", root, "kill", "web"]);
      assertEquals(killedAgain.code, 1);
      assertMatch(killedAgain.stderr, /is not running/);
      await cli("start", "web");
      assertEquals(await status("web"), "running 0");
      const started = (await cli("inspect", "-f", "{{.State.StartedAt}}", "web")).trim();
      await cli("restart", "-t", "0", "web");
      assertEquals(await status("web"), "running 0");
      assert((await cli("inspect", "-f", "{{.State.StartedAt}}", "web")).trim() > started);
      await cli("rename", "web", "site");
      assertEquals(
        (await cli("container", "ls", "--filter", "name=sit", "--format", "{{.Names}} {{.State}}"))
          .trim(),
        "site running",
      );
      assertEquals((await cli("stop", "-t", "0", "site")).trim(), "site");
      assertEquals(await status("site"), "exited 137");
    });

    await t.step("a started container keeps its files; writes stay in its layer", async () => {
      await cli(
        "run",
        "-d",
        "--name",
        "keeper",
        "busybox",
        "sh",
        "-c",
        "cat /data/state; echo run >> /data/state",
      );
      assertEquals(await cli("wait", "keeper"), "0\n");
      await cli("start", "-a", "keeper");
      assertEquals(await cli("logs", "keeper"), "image\nimage\nrun\n");
      const fresh = await runAll(["--root", root, "run", "--rm", "busybox", "cat", "/data/state"]);
      assertEquals(fresh.stdout, "image\n");
    });

    await t.step(
      "logs -f sees each line as written, across rotation, and ends with it",
      async () => {
        await cli(
          "run",
          "-d",
          "--name",
          "counter",
          "--log-opt",
          "max-size=1k",
          "--log-opt",
          "max-file=3",
          "busybox",
          "sh",
          "-c",
          "sleep 0.5; i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); " +
            "[ $((i % 4)) = 0 ] && sleep 0.02; done; echo done >&2",
        );
        const followed = await runAll(["--root", root, "logs", "-f", "counter"]);
        assertEquals(followed.code, 0);
        const expected = Array.from({ length: 200 }, (_, i) => `line ${i}`).join("\n");
        assertEquals(followed.stdout, `${expected}\n`);
        assertEquals(followed.stderr, "done\n");
        // Rotated: only the newest files are kept, so a later logs has only the end.
        const id = (await cli("inspect", "-f", "{{.Id}}", "counter")).trim();
        const log = join(root, "containers", id, `${id}-json.log`);
        assert((await Deno.stat(`${log}.2`)).size > 0);
        const kept = (await cli("logs", "counter")).split("\n").filter(Boolean);
        assert(kept.length < 200 && kept.at(-1) === "line 199", `kept ${kept.length} lines`);
        // The last two lines: one of each stream.
        const tail = await runAll(["--root", root, "logs", "--tail", "2", "counter"]);
        assertEquals([tail.stdout, tail.stderr], ["line 199\n", "done\n"]);
        // --since and --until: times and durations.
        assertEquals(await cli("logs", "--until", "2000-01-01T00:00:00Z", "counter"), "");
        assertEquals(await cli("logs", "--since", "2100-01-01T00:00:00Z", "counter"), "");
        assertEquals(
          (await cli("logs", "--since", "1h", "--until", "0s", "counter")).split("\n").length,
          kept.length + 1,
        );
      },
    );

    await t.step("--stop-signal and --stop-timeout are what stop uses", async () => {
      await cli(
        "run",
        "-d",
        "--name",
        "trapper",
        "--stop-signal",
        "USR1",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 9' USR1; touch /ready; while :; do sleep 0.05; done",
      );
      await cli("run", "-d", "--name", "stubborn", "--stop-timeout", "1", "busybox", "sleep", "60");
      assert(
        await until(async () =>
          (await runAll(["--root", root, "exec", "trapper", "test", "-e", "/ready"])).code === 0
        ),
      );
      assertEquals(
        await cli(
          "inspect",
          "-f",
          "{{.Config.StopSignal}} {{.Config.StopTimeout}}",
          "trapper",
          "stubborn",
        ),
        "SIGUSR1 <nil>\n 1\n",
      );
      await cli("stop", "trapper");
      assertEquals(await status("trapper"), "exited 9");
      // sleep as PID 1 ignores SIGTERM: SIGKILL after its 1 s, not the default 10.
      const started = Date.now();
      await cli("stop", "stubborn");
      const took = Date.now() - started;
      assert(took >= 900 && took < 5000, `stop took ${took} ms`);
      assertEquals(await status("stubborn"), "exited 137");
    });

    await t.step("ps -n/-l, images REPO/--filter/--format, the image forms", async () => {
      assertEquals((await cli("ps", "-l", "--format", "{{.Names}}")).trim(), "stubborn");
      assertEquals(
        (await cli("ps", "-n", "2", "--format", "{{.Names}}")).trim(),
        "stubborn\ntrapper",
      );
      assertEquals((await cli("ps", "-l", "-q", "--no-trunc")).trim().length, 64);
      await cli("tag", "busybox", "team/tool:1.0");
      assertEquals(
        (await cli("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")).trim().split("\n")
          .sort(),
        ["busybox:latest", "team/tool:1.0"],
      );
      assertEquals(
        (await cli("images", "team/*", "--format", "{{.Repository}} {{.Tag}}")).trim(),
        "team/tool 1.0",
      );
      assertEquals((await cli("images", "--filter", "dangling=true", "-q")).trim(), "");
      assertEquals(
        (await cli("images", "--filter", "reference=busybox:latest", "--format", "{{.Tag}}"))
          .trim(),
        "latest",
      );
      await cli("image", "rm", "team/tool:1.0");
      assertEquals((await cli("images", "team/tool")).trim().split("\n").length, 1);
    });

    await t.step("wait prints the exit status; inspect -f reads the state", async () => {
      await cli(
        "run",
        "-d",
        "--name",
        "three",
        "-l",
        "team=core",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3; exit 3",
      );
      assertEquals(await cli("wait", "three"), "3\n");
      assertEquals(
        (await cli(
          "inspect",
          "-f",
          "{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{json .Config.Labels}} {{.Config.Labels.team}}",
          "three",
        )).trim(),
        'exited 3 /three {"team":"core"} core',
      );
      assertEquals(
        (await cli("ps", "-a", "--filter", "label=team=core", "--format", "{{.Names}}")).trim(),
        "three",
      );
    });

    await t.step("--restart: on-failure:N retries N times, always until stopped", async () => {
      await cli(
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
      );
      assert(await until(async () => (await status("flaky")) === "exited 1"));
      assertEquals(await cli("logs", "flaky"), "run\nrun\nrun\n");
      assertEquals((await cli("inspect", "-f", "{{.RestartCount}}", "flaky")).trim(), "2");
      await cli(
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "echo up; sleep 0.1",
      );
      assert(
        await until(async () =>
          Number((await cli("inspect", "-f", "{{.RestartCount}}", "always")).trim()) >= 2
        ),
      );
      await cli("stop", "always");
      assertEquals(await status("always"), "exited 0");
      const count = (await cli("inspect", "-f", "{{.RestartCount}}", "always")).trim();
      await new Promise((resolve) => setTimeout(resolve, 500));
      // Stopped by the user: never started again.
      assertEquals(await status("always"), "exited 0");
      assertEquals((await cli("inspect", "-f", "{{.RestartCount}}", "always")).trim(), count);
      const refused = await runAll([
        "--root",
        root,
        "run",
        "--rm",
        "-d",
        "--restart",
        "always",
        "busybox",
        "true",
      ]);
      assertEquals(refused.code, 125);
      assertMatch(refused.stderr, /conflicting options: --restart and --rm/);
      // A foreground one that ends at once is still attached to (its output held for run).
      for (let i = 0; i < 3; i++) {
        const quick = await runAll([
          "--root",
          root,
          "run",
          "--restart",
          "on-failure:1",
          "busybox",
          "echo",
          "quick",
        ]);
        assertEquals([quick.code, quick.stdout], [0, "quick\n"]);
      }
      // In the foreground: every run's output, and the last status.
      const foreground = await runAll([
        "--root",
        root,
        "run",
        "--name",
        "again",
        "--restart",
        "on-failure:1",
        "busybox",
        "sh",
        "-c",
        "echo go; exit 4",
      ]);
      assertEquals([foreground.code, foreground.stdout], [4, "go\ngo\n"]);
    });

    await t.step("run -d of a missing command fails as docker's does", async () => {
      const missing = await runAll(["--root", root, "run", "-d", "busybox", "nosuch"]);
      assertEquals(missing.code, 127);
      assertMatch(missing.stderr, /exec: "nosuch": executable file not found in \$PATH/);
      const relative = await runAll(["--root", root, "run", "-w", "tmp", "busybox", "pwd"]);
      assertEquals(relative.code, 125);
      assertMatch(relative.stderr, /needs to be an absolute path/);
    });

    await t.step(
      "-it: a terminal of its own, its size, ctrl-c, detach keys, attach, exec -it",
      async () => {
        const denocker = `${Deno.execPath()} run -A ${CLI} --root ${root}`;
        const shell = new Terminal(`${denocker} run -it --name tty busybox sh`);
        await shell.expect(/# /);
        await shell.type("tty; stty size\n");
        // The container's own devpts, never the caller's terminal; the caller's window size.
        await shell.expect(/\/dev\/pts\/0\r*\n30 100\r*\n/);
        // The caller's terminal is resized: SIGWINCH, and the container's terminal follows.
        // The caller is the process of that command line whose stdin is a terminal (script and
        // its shell have the same line, on pipes).
        let callerTerminal = "";
        for (const pid of (await run("pgrep", ["-f", "run -it --name tty"])).trim().split("\n")) {
          const link = (await run("readlink", [`/proc/${pid}/fd/0`]).catch(() => "")).trim();
          if (link.startsWith("/dev/pts/")) callerTerminal = link;
        }
        assert(callerTerminal !== "", "the caller has no terminal");
        await run("stty", ["-F", callerTerminal, "rows", "40", "cols", "120"]);
        await new Promise((resolve) => setTimeout(resolve, 300));
        await shell.type("stty size\n");
        await shell.expect(/40 120\r*\n/);
        await shell.type("sleep 30\n");
        await new Promise((resolve) => setTimeout(resolve, 300));
        await shell.type("\x03");
        await shell.type("echo status $?\n");
        await shell.expect(/status 130/);
        // ctrl-p ctrl-q: detached, it runs on.
        await shell.type("\x10\x11");
        await shell.expect(/read escape sequence/);
        assertEquals(await shell.status(), 0);
        assertEquals(await status("tty"), "running 0");
        const inside = new Terminal(`${denocker} exec -it -u 1000 tty sh`, {
          rows: 12,
          columns: 40,
        });
        await inside.expect(/\$ /);
        await inside.type("id -u; stty size; exit 4\n");
        await inside.expect(/1000\r*\n12 40\r*\n/);
        assertEquals(await inside.status(), 4);
        const again = new Terminal(`${denocker} attach tty`, { rows: 20, columns: 60 });
        await new Promise((resolve) => setTimeout(resolve, 500));
        await again.type("stty size; exit 7\n");
        await again.expect(/20 60\r*\n/);
        assertEquals(await again.status(), 7);
        assertEquals(await status("tty"), "exited 7");
        // The terminal's output is logged, as docker logs it: one stream.
        assertMatch(await cli("logs", "tty"), /status 130/);
      },
    );

    await t.step("create makes a container that start runs (-a, -ai with a terminal)", async () => {
      await cli("create", "--name", "later", "busybox", "sh", "-c", "echo ran; exit 6");
      assertEquals(await status("later"), "created 0");
      assertEquals(
        (await cli("ps", "-a", "--filter", "name=later", "--format", "{{.Status}}")).trim(),
        "Created",
      );
      const attached = await runAll(["--root", root, "start", "-a", "later"]);
      assertEquals([attached.code, attached.stdout], [6, "ran\n"]);
      await cli("create", "-it", "--name", "shell", "busybox", "sh");
      const denocker = `${Deno.execPath()} run -A ${CLI} --root ${root}`;
      const terminal = new Terminal(`${denocker} start -ai shell`);
      // The shell's first prompt is kept for the client start attaches.
      await terminal.expect(/# /);
      await terminal.type("tty; exit 5\n");
      await terminal.expect(/\/dev\/pts\/0/);
      assertEquals(await terminal.status(), 5);
      // Other detach keys: ctrl-p is then the shell's, ctrl-x y detaches.
      await cli("create", "-it", "--name", "keys", "busybox", "sh");
      const keys = new Terminal(`${denocker} start -ai --detach-keys ctrl-x,y keys`);
      await keys.expect(/# /);
      await keys.type("\x10\x18y");
      await keys.expect(/read escape sequence/);
      assertEquals(await keys.status(), 0);
      assertEquals(await status("keys"), "running 0");
      await cli("rm", "-f", "later", "shell", "keys");
    });

    await t.step("-i without -t: stdin piped in, stdout and stderr apart", async () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          CLI,
          "--root",
          root,
          "run",
          "-i",
          "--rm",
          "busybox",
          "sh",
          "-c",
          "cat; echo err >&2; exit 3",
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("one\ntwo\n"));
      await writer.close();
      const { code, stdout, stderr } = await child.output();
      assertEquals(
        [code, new TextDecoder().decode(stdout), new TextDecoder().decode(stderr)],
        [3, "one\ntwo\n", "err\n"],
      );
    });

    await t.step("cp: both ways, running or stopped, never through a symlink out", async () => {
      // A host directory the container's symlinks name, by absolute and by relative path.
      const host = join(dir.path, "host");
      await Deno.mkdir(host);
      await Deno.writeTextFile(join(host, "secret"), "host secret\n");
      const up = `${"../".repeat(12)}${host.slice(1)}`;
      await cli(
        "run",
        "-d",
        "--name",
        "files",
        "busybox",
        "sh",
        "-c",
        // The same path exists inside, empty: what the links name there is the container's.
        `mkdir -p /srv/sub ${host}; echo inside > /srv/sub/file; ln -s ${host} /srv/abs; ` +
          `ln -s ${up} /srv/rel; touch /ready; exec sleep 60`,
      );
      assert(
        await until(async () =>
          (await runAll(["--root", root, "exec", "files", "test", "-e", "/ready"])).code === 0
        ),
      );
      const out = join(dir.path, "out");
      await Deno.mkdir(out);
      await cli("cp", "files:/srv", out);
      assertEquals(await Deno.readTextFile(join(out, "srv", "sub", "file")), "inside\n");
      // Links come as links, not as what they name.
      assertEquals(await Deno.readLink(join(out, "srv", "abs")), host);
      // To "-": a tar of it, as GNU tar lists it.
      const archived = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLI, "--root", root, "cp", "files:/srv", "-"],
        stdout: "piped",
        stderr: "null",
      }).output();
      assertEquals(archived.code, 0);
      await Deno.writeFile(join(out, "srv.tar"), archived.stdout);
      assertEquals(
        (await run("tar", ["-tf", join(out, "srv.tar")])).trim().split("\n").sort(),
        ["srv/", "srv/abs", "srv/rel", "srv/sub/", "srv/sub/file"],
      );
      for (const link of ["abs", "rel"]) {
        const read = await runAll([
          "--root",
          root,
          "cp",
          `files:/srv/${link}/secret`,
          join(out, link),
        ]);
        assertEquals(read.code, 1, `cp through /srv/${link} read ${read.stdout}`);
        assertMatch(read.stderr, /no such file in files/);
        assertEquals(await lstatIfExists(join(out, link)), undefined);
        // Into the container: through its links, it lands inside its root, never on the host.
        await cli("cp", join(host, "secret"), `files:/srv/${link}/planted-${link}`);
        assertEquals(await lstatIfExists(join(host, `planted-${link}`)), undefined);
        assertEquals(
          await cli("exec", "files", "cat", `${host}/planted-${link}`),
          "host secret\n",
        );
      }
      // From "-": a tar's entries into a directory inside.
      const tarball = await new Deno.Command("tar", {
        args: ["-C", host, "-c", "secret"],
        stdout: "piped",
      }).output();
      const untar = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLI, "--root", root, "cp", "-", "files:/srv/rel"],
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const input = untar.stdin.getWriter();
      await input.write(tarball.stdout);
      await input.close();
      assertEquals((await untar.output()).code, 0);
      assertEquals(await cli("exec", "files", "cat", `${host}/secret`), "host secret\n");
      await cli("stop", "-t", "0", "files");
      await cli("cp", join(host, "secret"), "files:/srv/sub/");
      await cli("cp", "files:/srv/sub/secret", join(out, "copied"));
      assertEquals(await Deno.readTextFile(join(out, "copied")), "host secret\n");
      const missing = await runAll([
        "--root",
        root,
        "cp",
        join(host, "secret"),
        "files:/nowhere/x",
      ]);
      assertEquals(missing.code, 1);
      assertMatch(missing.stderr, /no such directory/);
      await cli("rm", "files");
    });

    await t.step("--init: tini as PID 1 passes stop's signal on and reaps orphans", async () => {
      await cli("run", "-d", "--init", "--name", "inited", "busybox", "sh", "-c", "sleep 50");
      assert(await until(async () => (await cli("top", "inited")).includes("sleep 50")));
      assertMatch(await cli("top", "inited"), /\/dev\/init -- \/bin\/sh -c sleep 50/);
      // sh is not PID 1 under the init: SIGTERM ends it at once (143), no 10 s SIGKILL wait.
      const started = Date.now();
      await cli("stop", "inited");
      assert(Date.now() - started < 5000);
      assertEquals(await status("inited"), "exited 143");
      // An orphan is reaped by PID 1: no zombie is left.
      const reaped = await cli(
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "(sleep 0.1 &); sleep 0.5; ps -o stat,args",
      );
      assert(!/^Z/m.test(reaped), reaped);
      assertMatch(reaped.split("\n")[1], /\/dev\/init/);
    });

    await t.step("--platform: a stored image of that platform runs as it is", async () => {
      const arch = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
      const ran = await runAll([
        "--root",
        root,
        "run",
        "--rm",
        "--platform",
        `linux/${arch}`,
        "busybox",
        "true",
      ]);
      assertEquals([ran.code, ran.stderr], [0, ""]);
      const bad = await runAll([
        "--root",
        root,
        "run",
        "--rm",
        "--platform",
        "nonsense//",
        "busybox",
        "true",
      ]);
      assertEquals(bad.code, 125);
      // An image of another platform runs (where the kernel can) with a warning.
      const other = arch === "amd64" ? "arm64" : "amd64";
      await run("umoci", [
        "config",
        "--image",
        `${layout.layout}:busybox`,
        "--tag",
        "other",
        "--architecture",
        other,
      ]);
      await loadImage(layout, "other", root, "otherbox:latest");
      const warned = await runAll(["--root", root, "run", "--rm", "otherbox", "true"]);
      assertEquals(warned.code, 0);
      assertMatch(
        warned.stderr,
        new RegExp(`warning: the image's platform \\(linux/${other}\\) does not match`),
      );
    });

    await t.step("top lists the container's processes from the host's ps", async () => {
      await cli("run", "-d", "--name", "busy", "busybox", "sh", "-c", "sleep 41 & sleep 42");
      assert(await until(async () => (await cli("top", "busy")).includes("sleep 41")));
      const top = (await cli("top", "busy")).split("\n");
      assertMatch(top[0], /^UID +PID +PPID/);
      assert(top.some((line) => line.endsWith("sleep 42")));
      assertEquals(top.filter(Boolean).length, 3);
      await cli("rm", "-f", "busy");
    });

    await t.step(
      "a killed monitor leaves nothing running; attach follows a plain one",
      async () => {
        await cli("run", "-d", "--name", "orphan", "busybox", "sh", "-c", "echo up; sleep 60");
        const monitor = JSON.parse(
          await runAll(["--root", root, "inspect", "--type", "container", "orphan"]).then((r) =>
            r.stdout
          ),
        )[0];
        const pid = monitor.State.Pid;
        const record = JSON.parse(
          await Deno.readTextFile(join(root, "containers", monitor.Id, "container.json")),
        );
        Deno.kill(record.owner.pid, "SIGKILL");
        // The next container command finds it orphaned: killed, and recorded as exited.
        assert(await until(async () => (await status("orphan")) === "exited 137"));
        assert(!alive(pid));
        // attach to a container without -i or -t: its output from now on, and its status.
        await cli(
          "run",
          "-d",
          "--name",
          "plain",
          "busybox",
          "sh",
          "-c",
          "sleep 0.5; echo late; exit 2",
        );
        const attached = await runAll(["--root", root, "attach", "plain"]);
        assertEquals([attached.code, attached.stdout], [2, "late\n"]);
      },
    );

    await t.step("container prune removes the ended ones", async () => {
      await cli("run", "-d", "--name", "stays", "busybox", "sleep", "30");
      const pruned = await cli("container", "prune", "-f");
      assertMatch(pruned, /Deleted Containers:\n/);
      assertMatch(pruned, /Total reclaimed space: /);
      assertEquals((await cli("ps", "-a", "--format", "{{.Names}}")).trim(), "stays");
    });
  } finally {
    const ids = (await runAll(["--root", root, "ps", "-aq"])).stdout.split("\n").filter(Boolean);
    if (ids.length > 0) await runAll(["--root", root, "rm", "-f", ...ids]);
  }
}, ["script", "setsid", "ps", "pgrep", "tini-static"]);

integrationTest(
  "a detached container's inspect, ps, logs and cp through symlinks read as docker's",
  ["dockerd", "docker", "umoci", "skopeo", "unshare", "runc"],
  async () => {
    await using layout = await OciLayout.create();
    await using dir = await tempDir();
    const root = join(dir.path, "store");
    await busyboxImage(layout, "busybox");
    await loadImage(layout, "busybox", root, "busybox:latest");
    await using daemon = await startDocker();
    await daemon.docker("load", "-i", join(layout.dir, "busybox.tar"));
    const { cli } = storeCli(root);
    const command = ["busybox:latest", "sh", "-c", "echo run; echo oops >&2; exit 1"];
    await daemon.docker(
      "run",
      "-d",
      "--network",
      "none",
      "--name",
      "flaky",
      "--restart",
      "on-failure:2",
      "-l",
      "a=b",
      ...command,
    );
    await cli("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "-l", "a=b", ...command);
    const format = [
      "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}} {{.State.Pid}}",
      "{{.RestartCount}} {{.HostConfig.RestartPolicy.Name}}",
      "{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.Name}} {{.Path}} {{json .Args}}",
      "{{json .Config.Cmd}} {{json .Config.Entrypoint}} {{.Config.Image}} {{.Image}}",
      "{{json .Config.Labels}} {{.HostConfig.AutoRemove}}",
    ].join(" ");
    const inspect = {
      docker: () => daemon.docker("inspect", "-f", format, "flaky"),
      ours: () => cli("inspect", "-f", format, "flaky"),
    };
    assert(await until(async () => (await inspect.docker()).startsWith("exited 1 false 0 2 ")));
    assert(await until(async () => (await inspect.ours()).startsWith("exited 1 false 0 2 ")));
    assertEquals(await inspect.ours(), await inspect.docker());
    const psFormat = "{{.Names}}|{{.State}}|{{.Command}}|{{.Image}}|{{.Labels}}";
    assertEquals(
      await cli("ps", "-a", "--format", psFormat),
      await daemon.docker("ps", "-a", "--format", psFormat),
    );
    // stdout and stderr kept apart, three runs of each.
    const ours = await runAll(["--root", root, "logs", "flaky"]);
    const theirs = await new Deno.Command("docker", {
      args: ["-H", `unix://${daemon.socket}`, "logs", "flaky"],
    }).output();
    assertEquals(ours.stdout, new TextDecoder().decode(theirs.stdout));
    assertEquals(ours.stderr, new TextDecoder().decode(theirs.stderr));
    assertEquals(ours.stdout, "run\nrun\nrun\n");
    await daemon.docker("rm", "-f", "flaky");
    await cli("rm", "-f", "flaky");

    // cp through the container's symlinks to a host directory, absolute and relative: docker
    // refuses to read through them and writes inside the container; so does denocker.
    const host = join(dir.path, "host");
    await Deno.mkdir(host);
    await Deno.writeTextFile(join(host, "secret"), "host secret\n");
    const links = `mkdir -p /srv ${host}; ln -s ${host} /srv/abs; ` +
      `ln -s ${"../".repeat(12)}${host.slice(1)} /srv/rel; exec sleep 60`;
    await daemon.docker(
      "run",
      "-d",
      "--network",
      "none",
      "--name",
      "links",
      "busybox:latest",
      "sh",
      "-c",
      links,
    );
    await cli("run", "-d", "--name", "links", "busybox:latest", "sh", "-c", links);
    const dockerCode = (...args: string[]) =>
      new Deno.Command("docker", { args: ["-H", `unix://${daemon.socket}`, ...args] }).output()
        .then((output) => output.code);
    const ourCode = (...args: string[]) => runAll(["--root", root, ...args]).then((r) => r.code);
    const out = join(dir.path, "out");
    await Deno.mkdir(out);
    for (const link of ["abs", "rel"]) {
      const [theirRead, ourRead] = [
        await dockerCode("cp", `links:/srv/${link}/secret`, join(out, `docker-${link}`)),
        await ourCode("cp", `links:/srv/${link}/secret`, join(out, `ours-${link}`)),
      ];
      assertEquals([ourRead, theirRead], [1, 1]);
      assertEquals(await Array.fromAsync(Deno.readDir(out)), []);
      assertEquals(
        await dockerCode("cp", join(host, "secret"), `links:/srv/${link}/docker-${link}`),
        0,
      );
      assertEquals(await ourCode("cp", join(host, "secret"), `links:/srv/${link}/ours-${link}`), 0);
    }
    assertEquals((await Array.fromAsync(Deno.readDir(host))).map((entry) => entry.name), [
      "secret",
    ]);
    assertEquals(
      (await daemon.docker("exec", "links", "ls", host)).trim().split("\n"),
      ["docker-abs", "docker-rel"],
    );
    assertEquals((await cli("exec", "links", "ls", host)).trim().split("\n"), [
      "ours-abs",
      "ours-rel",
    ]);
    await daemon.docker("rm", "-f", "links");
    await cli("rm", "-f", "links");
  },
  { root: true },
);
