/**
 * Volumes and mounts: `-v HOST:CONTAINER[:ro]`, named volumes (made on
 * first use, filled from the image, kept after the container), anonymous
 * ones (`rm -v`, `--rm`), `--mount`, `--tmpfs`, the `volume` commands, and
 * a target reached through an image's symlink to a host path, which stays
 * inside the container's root.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { OciLayout } from "./_real_registry.ts";
import { craftTar } from "./_tar.ts";
import { busyboxImage, containerTest, loadImage, runAll } from "./_containers.ts";
import { lstatIfExists } from "../lib/io/fs.ts";

containerTest("volumes, bind mounts and tmpfs", async (t) => {
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  const root = join(dir.path, "store");
  const host = join(dir.path, "host");
  await Deno.mkdir(host);
  await Deno.writeTextFile(join(host, "from-host"), "host file\n");
  // An image with files at /srv/app to fill a new volume, and a symlink to a host path.
  const decoy = join(dir.path, "decoy");
  await Deno.mkdir(decoy);
  const upper = await craftTar([
    { name: "srv/", type: "directory" },
    { name: "srv/app/", type: "directory", mode: 0o750, uid: 1000, gid: 1000 },
    { name: "srv/app/config", body: "from the image\n", uid: 1000, gid: 1000 },
    { name: "escape", type: "symlink", linkname: decoy },
  ]);
  const upperPath = join(layout.dir, "srv.tar");
  await Deno.writeFile(upperPath, upper);
  await busyboxImage(layout, "busybox", [upperPath]);
  await loadImage(layout, "busybox", root, "busybox:latest");
  const cli = (...args: string[]) => runAll(["--root", root, ...args]);
  const ok = async (...args: string[]) => {
    const result = await cli(...args);
    assertEquals(result.code, 0, `denocker ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
  const run = (...args: string[]) => ok("run", "--rm", "--network", "none", ...args);

  await t.step("-v HOST:CONTAINER: read and written both ways; :ro refuses writes", async () => {
    assertEquals(
      await run(
        "-v",
        `${host}:/data`,
        "busybox",
        "sh",
        "-c",
        "cat /data/from-host; echo c > /data/c",
      ),
      "host file\n",
    );
    assertEquals(await Deno.readTextFile(join(host, "c")), "c\n");
    const refused = await cli(
      "run",
      "--rm",
      "--network",
      "none",
      "-v",
      `${host}:/data:ro`,
      "busybox",
      "sh",
      "-c",
      "echo x > /data/x",
    );
    assertEquals(refused.code, 1);
    assertMatch(refused.stderr, /Read-only file system/);
    assert(!(await lstatIfExists(join(host, "x"))));
    // A file on a file; a missing host directory is made, as docker's -v does.
    assertEquals(
      await run("-v", `${join(host, "from-host")}:/etc/motd:ro`, "busybox", "cat", "/etc/motd"),
      "host file\n",
    );
    await run("-v", `${join(host, "new")}:/new`, "busybox", "touch", "/new/made");
    assert(await lstatIfExists(join(host, "new", "made")));
    // Through runc too (denocker mounts them in the root it hands over).
    assertEquals(
      await run(
        "--runtime",
        "runc",
        "-v",
        `${host}:/data:ro`,
        "busybox",
        "sh",
        "-c",
        "cat /data/from-host; touch /data/y 2>/dev/null || echo refused",
      ),
      "host file\nrefused\n",
    );
  });

  await t.step("a named volume is filled from the image, kept, and seen by the next", async () => {
    assertEquals(
      await run(
        "-v",
        "appdata:/srv/app",
        "busybox",
        "sh",
        "-c",
        "cat /srv/app/config; echo s > /srv/app/state",
      ),
      "from the image\n",
    );
    const data = join(root, "volumes", "appdata", "_data");
    // Owners and modes as the image has them.
    const info = await Deno.stat(join(data, "config"));
    assertEquals([info.uid, info.gid], [1000, 1000]);
    assertEquals((await Deno.stat(data)).mode! & 0o777, 0o750);
    assertEquals(
      await run("-v", "appdata:/elsewhere", "busybox", "cat", "/elsewhere/state"),
      "s\n",
    );
    // Filled only when new: what the container wrote stays, the image's is not copied again.
    await Deno.remove(join(data, "config"));
    await run("-v", "appdata:/srv/app", "busybox", "true");
    assert(!(await lstatIfExists(join(data, "config"))));
    assertEquals((await ok("volume", "ls", "-q")).trim(), "appdata");
    const inspected = JSON.parse(await ok("volume", "inspect", "appdata"));
    assertEquals(inspected[0].Mountpoint, data);
    assertEquals(inspected[0].Driver, "local");
  });

  await t.step("a volume in use is kept; rm -v and --rm remove anonymous ones", async () => {
    await ok(
      "run",
      "-d",
      "--name",
      "user",
      "--network",
      "none",
      "-v",
      "appdata:/a",
      "-v",
      "/anon",
      "busybox",
      "sleep",
      "60",
    );
    const busy = await cli("volume", "rm", "appdata");
    assertEquals(busy.code, 1);
    assertMatch(busy.stderr, /volume is in use/);
    const mounts = JSON.parse(await ok("inspect", "-f", "{{json .Mounts}}", "user"));
    const anonymous = mounts.find((mount: { Destination: string }) =>
      mount.Destination === "/anon"
    );
    assertEquals(anonymous.Type, "volume");
    assertMatch(anonymous.Name, /^[0-9a-f]{64}$/);
    // A container not made (its name is taken) leaves no anonymous volume behind.
    const before = await ok("volume", "ls", "-q");
    const taken = await cli("run", "--rm", "--name", "user", "-v", "/anon3", "busybox", "true");
    assertEquals(taken.code, 125);
    assertEquals(await ok("volume", "ls", "-q"), before);
    await ok("rm", "-f", "-v", "user");
    assert(!(await lstatIfExists(join(root, "volumes", anonymous.Name))));
    assert(await lstatIfExists(join(root, "volumes", "appdata")));
    await run("-v", "/anon2", "busybox", "touch", "/anon2/x");
    assertEquals((await ok("volume", "ls", "-q")).trim(), "appdata");
    assertEquals((await ok("volume", "rm", "appdata")).trim(), "appdata");
  });

  await t.step("--tmpfs and --mount type=tmpfs: a new tmpfs each time", async () => {
    const mounts = await run(
      "--tmpfs",
      "/scratch",
      "--mount",
      "type=tmpfs,target=/t2,tmpfs-size=1m",
      "busybox",
      "sh",
      "-c",
      "echo x > /scratch/x && grep -E ' /(scratch|t2) ' /proc/mounts",
    );
    assertMatch(mounts, /^tmpfs \/scratch tmpfs rw,nosuid,nodev/m);
    assertMatch(mounts, /^tmpfs \/t2 tmpfs rw,nosuid,nodev,relatime,size=1024k/m);
    assertEquals(await run("--tmpfs", "/scratch", "busybox", "ls", "/scratch"), "");
  });

  await t.step("--mount type=bind needs its source; bad mounts are one-line errors", async () => {
    for (
      const [flag, value, message] of [
        [
          "--mount",
          `type=bind,source=${join(host, "missing")},target=/m`,
          /bind source path does not exist/,
        ],
        ["-v", "relative/path:/x", /neither an absolute path nor a volume name/],
        ["-v", `${host}:/proc/x`, /cannot mount over \/proc\/x/],
        ["-v", `${host}:/`, /cannot mount over \/$/m],
      ] as const
    ) {
      const result = await cli("run", "--rm", "--network", "none", flag, value, "busybox", "true");
      assertEquals(result.code, 125, result.stderr);
      assertMatch(result.stderr, message);
      assertEquals(result.stderr.trim().split("\n").length, 1, result.stderr);
    }
    assertEquals(
      await run(
        "--mount",
        `type=bind,source=${host},target=/b,readonly`,
        "busybox",
        "cat",
        "/b/from-host",
      ),
      "host file\n",
    );
  });

  await t.step("a target through the image's symlink to a host path stays inside", async () => {
    // /escape links to the host's decoy directory: inside the container it is a path of its own.
    await run("-v", `${host}:/escape/mounted`, "busybox", "ls", "/escape/mounted/from-host");
    assertEquals([...Deno.readDirSync(decoy)], []);
  });
}, ["runc"]);
