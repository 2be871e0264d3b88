/**
 * Container tests: a busybox image built from Debian's static busybox with
 * umoci, loaded into a store, and the conditions they need (Linux, root,
 * the tools).
 */

import { join } from "node:path";
import { integrationTest, type OciLayout, run } from "./_real_registry.ts";
import { runCli } from "./_cli.ts";

const BUSYBOX = "/bin/busybox";

/**
 * Registers a test that runs containers: it needs root and the tools; in
 * CI a missing one fails the test, elsewhere it is ignored with the reason.
 */
export function containerTest(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
  tools: string[] = [],
): void {
  const root = Deno.build.os === "linux" && Deno.uid() === 0;
  if (!root && Deno.env.get("CI") !== "true") {
    // deno-lint-ignore no-console
    console.log(`ignoring "${name}": running containers needs Linux and root`);
    Deno.test({ name, ignore: true, fn: () => {} });
    return;
  }
  integrationTest(
    name,
    ["umoci", "skopeo", "docker-registry", "unshare", "nsenter", "timeout", BUSYBOX, ...tools],
    async (t) => {
      if (!root) throw new Error("running containers needs Linux and root, and CI runs as root");
      if (await inMachineNetwork()) {
        throw new Error(
          "containers get a bridge, veth pairs and firewall rules: run the tests with " +
            "`deno task test`, which gives them a network namespace of their own",
        );
      }
      await fn(t);
    },
  );
}

/**
 * Whether this process is in a network namespace with interfaces of the
 * machine's (anything but `lo` and denocker's own bridge and veths), not in
 * one made for the tests.
 */
async function inMachineNetwork(): Promise<boolean> {
  const listed = await new Deno.Command("ip", { args: ["-o", "link", "show"] }).output();
  const names = new TextDecoder().decode(listed.stdout).trim().split("\n")
    .map((line) => line.split(": ")[1]?.split("@")[0] ?? "");
  return names.some((name) => name !== "lo" && !/^(denocker|vd)/.test(name));
}

/** Writes a busybox root: the binary, its applets as symlinks, users and groups. */
export async function busyboxTree(directory: string): Promise<void> {
  for (const sub of ["bin", "etc", "tmp", "home/app"]) {
    await Deno.mkdir(join(directory, sub), { recursive: true });
  }
  await Deno.chmod(join(directory, "tmp"), 0o1777);
  await Deno.copyFile(BUSYBOX, join(directory, "bin", "busybox"));
  await Deno.chmod(join(directory, "bin", "busybox"), 0o755);
  const applets = (await run(BUSYBOX, ["--list"])).split("\n").filter(Boolean);
  for (const applet of applets) {
    if (applet !== "busybox") await Deno.symlink("busybox", join(directory, "bin", applet));
  }
  await Deno.writeTextFile(
    join(directory, "etc", "passwd"),
    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
  );
  await Deno.writeTextFile(join(directory, "etc", "group"), "root:x:0:\napp:x:1000:\n");
}

/**
 * Builds image `tag` in `layout` from layer tars over a busybox layer, with
 * busybox's defaults: `Cmd` prints `$GREETING from $(hostname)`, `Env` sets
 * `GREETING=hello` and `PATH=/bin`.
 */
export async function busyboxImage(
  layout: OciLayout,
  tag: string,
  upperTars: string[] = [],
): Promise<void> {
  const tree = join(layout.dir, `${tag}-busybox`);
  await busyboxTree(tree);
  await layout.image(tag, [await layout.tarOf(tree, `${tag}-busybox`), ...upperTars]);
  await run("umoci", [
    "config",
    "--image",
    `${layout.layout}:${tag}`,
    "--config.cmd",
    "sh",
    "--config.cmd",
    "-c",
    "--config.cmd",
    "echo $GREETING from $(hostname)",
    "--config.env",
    "GREETING=hello",
    "--config.env",
    "PATH=/bin",
  ]);
}

/** Loads `tag` of `layout` into the store at `root` under `name`. */
export async function loadImage(layout: OciLayout, tag: string, root: string, name: string) {
  const archive = join(layout.dir, `${tag}.tar`);
  await run("skopeo", [
    "copy",
    "--quiet",
    `oci:${layout.layout}:${tag}`,
    `docker-archive:${archive}:${name}`,
  ]);
  const loaded = await runCli(["--root", root, "load", "-i", archive]);
  if (loaded.code !== 0) throw new Error(`load failed: ${loaded.stderr}`);
}

/** Runs the CLI as `deno run -A cli.ts`: container commands need every permission. */
export function runAll(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): ReturnType<typeof runCli> {
  return runCli(args, { ...options, permissions: ["--allow-all"] });
}

/** Starts the CLI with every permission in the background, its output dropped. */
export function spawnAll(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("../cli.ts", import.meta.url).pathname, ...args],
    stdout: "null",
    stderr: "null",
  }).spawn();
}
