/**
 * denocker under the narrowest permissions the README documents, from a
 * checkout and imported by URL, and on a store it may only read.
 */

import { dirname, join } from "node:path";
import { assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_cli.ts";
import {
  defer,
  fakeImage,
  listFiles,
  manifestsFor,
  registryHandler,
  startServer,
  tempDir,
} from "./_fake_registry.ts";
import { busyboxLikeLayers, craftTar } from "./_tar.ts";

const PROJECT = new URL("..", import.meta.url).pathname;

/**
 * An image as real ones are: a multi-call binary with its applets as
 * symlinks (busybox's layout), a hardlink, and a whiteout in the layer over it. `await using`
 * closes its registry.
 */
async function imageRegistry() {
  const image = fakeImage(await busyboxLikeLayers());
  const server = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  return {
    image,
    server,
    app: `${server.host}/team/app`,
    [Symbol.asyncDispose]: () => server.close(),
  };
}

/** What unpacking the image gives: links made, the whiteout applied. */
const UNPACKED = ["app", "bin/ash", "bin/busybox", "bin/ls", "bin/sh", "etc/motd"];

/**
 * The minimal permission sets, as the README lists them. Making a layer's
 * symlinks needs unscoped --allow-read and --allow-write: Deno refuses
 * `symlink` under path-scoped grants.
 */
function minimal(root: string, host: string, archive: string) {
  return {
    pull: [`--allow-net=${host}`, "--allow-read", "--allow-write", "--allow-env", "--allow-sys"],
    images: [`--allow-read=${root}`, "--allow-env", "--allow-sys"],
    unpack: ["--allow-read", "--allow-write", "--allow-env", "--allow-sys"],
    // The archive is made beside its path and renamed into place, as docker writes it.
    save: [
      `--allow-read=${root},${dirname(archive)}`,
      `--allow-write=${dirname(archive)}`,
      "--allow-env",
      "--allow-sys",
    ],
    load: ["--allow-read", "--allow-write", "--allow-env", "--allow-sys"],
  };
}

Deno.test("pull, images, unpack, save and load work under the minimal permissions", async (t) => {
  await using registry = await imageRegistry();
  const { image, server, app } = registry;
  await using scratch = await tempDir();
  const root = join(scratch.path, "root");
  const out = join(scratch.path, "out");
  const archive = join(scratch.path, "archives", "app.tar");
  await Deno.mkdir(dirname(archive));
  const permissions = minimal(root, server.host, archive);
  await t.step("from a checkout", async () => {
    const pulled = await runCli(["pull", "-q", "--root", root, app], {
      permissions: permissions.pull,
    });
    assertEquals([pulled.code, pulled.stderr, pulled.stdout], [0, "", `${image.configDigest}\n`]);
    const images = await runCli(["images", "--root", root], { permissions: permissions.images });
    assertEquals(images.code, 0, images.stderr);
    assertMatch(
      images.stdout,
      new RegExp(`\n${app}\\s+latest\\s+${image.configDigest.slice(7, 19)}`),
    );
    const unpacked = await runCli(["unpack", "--root", root, app, out], {
      permissions: permissions.unpack,
    });
    assertEquals(unpacked.code, 0, unpacked.stderr);
    assertEquals(await listFiles(out), UNPACKED);
    const saved = await runCli(["save", "--root", root, "-o", archive, app], {
      permissions: permissions.save,
    });
    assertEquals([saved.code, saved.stderr], [0, ""]);
    const other = join(scratch.path, "loaded");
    const loaded = await runCli(["load", "--root", other, "-i", archive], {
      permissions: permissions.load,
    });
    assertEquals([loaded.code, loaded.stderr], [0, ""]);
    assertEquals(loaded.stdout, `Loaded image: ${app}:latest\n`);
  });

  await t.step("path-scoped read and write: one line saying why", async () => {
    const scoped = join(scratch.path, "scoped");
    const pulled = await runCli(["pull", "-q", "--root", scoped, app], {
      permissions: [
        `--allow-net=${server.host}`,
        `--allow-read=${scoped}`,
        `--allow-write=${scoped}`,
        "--allow-env",
        "--allow-sys",
      ],
    });
    assertEquals(pulled.code, 1);
    assertEquals(
      pulled.stderr,
      `denocker: Cannot create layer entry "bin/sh": it is a symlink, and Deno creates symlinks only with unscoped --allow-read and --allow-write (a path-scoped grant cannot confine where a link points)\n`,
    );
    const listed = await runCli(["images", "-q", "--root", scoped]);
    assertEquals([listed.code, listed.stdout], [0, ""]);
  });

  await t.step("imported by URL", async () => {
    // The project served over HTTP, as a user imports mod.ts or runs cli.ts from a URL.
    await using files = startServer(async (_request, url) => {
      try {
        return new Response(await Deno.readFile(join(PROJECT, url.pathname)), {
          headers: {
            "content-type": url.pathname.endsWith(".json")
              ? "application/json"
              : "application/typescript",
          },
        });
      } catch {
        return new Response("not found", { status: 404 });
      }
    });
    const remoteRoot = join(scratch.path, "remote-root");
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--allow-import=${files.host}`,
        ...permissions.pull,
        `${files.origin}/cli.ts`,
        "pull",
        "-q",
        "--root",
        remoteRoot,
        app,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assertEquals(output.code, 0, stderr);
    assertEquals(new TextDecoder().decode(output.stdout), `${image.configDigest}\n`);

    // mod.ts's own tour, run by a program outside the repository whose deno.json maps the
    // package's name (as its JSDoc examples import it) to the URL it is served from.
    const doc = (await Deno.readTextFile(join(PROJECT, "mod.ts"))).split("*/")[0];
    const tour = /```ts\n([^]*?)```/.exec(doc)![1].replace(/^ \* ?/gm, "")
      .replaceAll("localhost:5000/team/app:1.0", app)
      .replaceAll("/tmp/denocker", join(scratch.path, "tour-root"))
      .replaceAll("/tmp/app-rootfs", join(scratch.path, "tour-rootfs"));
    const outside = join(scratch.path, "outside");
    await Deno.mkdir(outside);
    await Deno.writeTextFile(join(outside, "main.ts"), tour);
    await Deno.writeTextFile(
      join(outside, "deno.json"),
      JSON.stringify({ imports: { "@denocker/denocker": `${files.origin}/mod.ts` } }),
    );
    const program = await new Deno.Command(Deno.execPath(), {
      args: ["run", `--allow-import=${files.host}`, ...permissions.pull, "main.ts"],
      cwd: outside,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(program.code, 0, new TextDecoder().decode(program.stderr));
    assertEquals(
      await Deno.readTextFile(join(scratch.path, "tour-rootfs", "app")),
      "app",
    );
  });
});

async function run(command: string, args: string[]) {
  const output = await new Deno.Command(command, { args, stderr: "piped" }).output();
  if (!output.success) {
    throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
}

// A read-only mount needs root; CI runs as root.
const asRoot = Deno.build.os === "linux" && Deno.uid() === 0;
Deno.test({
  name: "a read-only store serves images, inspect, unpack and pull --missing",
  ignore: !asRoot && Deno.env.get("CI") !== "true",
  fn: async () => {
    await using registry = await imageRegistry();
    const { image, server, app } = registry;
    await using scratch = await tempDir();
    const root = join(scratch.path, "root");
    const readOnly = join(scratch.path, "read-only");
    assertEquals((await runCli(["pull", "-q", "--root", root, app])).code, 0);
    await Deno.mkdir(readOnly);
    await run("mount", ["--bind", root, readOnly]);
    await using _unmount = defer(() => run("umount", [readOnly]));
    await run("mount", ["-o", "remount,bind,ro", readOnly]);
    const images = await runCli(["images", "-q", "--root", readOnly]);
    assertEquals([images.code, images.stdout], [0, `${image.configDigest.slice(7, 19)}\n`]);
    const inspect = await runCli(["inspect", "--root", readOnly, app]);
    assertEquals(inspect.code, 0, inspect.stderr);
    const out = join(scratch.path, "out");
    const unpacked = await runCli(["unpack", "--root", readOnly, app, out]);
    assertEquals([unpacked.code, unpacked.stderr], [0, ""]);
    assertEquals(await listFiles(out), UNPACKED);
    await server.close();
    const missing = await runCli(["pull", "--missing", "-q", "--root", readOnly, app]);
    assertEquals([missing.code, missing.stdout], [0, `${image.configDigest}\n`]);
  },
});

Deno.test("a credential helper without --allow-run is named, not prompted for", async () => {
  const image = fakeImage([await craftTar([{ name: "a", body: "a" }])]);
  await using server = startServer(registryHandler({
    manifests: manifestsFor(image),
    blobs: image.blobs,
    gate: () =>
      new Response(null, { status: 401, headers: { "www-authenticate": 'Basic realm="fake"' } }),
  }));
  await using scratch = await tempDir();
  const root = join(scratch.path, "root");
  await Deno.writeTextFile(
    join(scratch.path, "config.json"),
    JSON.stringify({ credHelpers: { [server.host]: "denocker-test" } }),
  );
  const result = await runCli(["pull", "-q", "--root", root, `${server.host}/team/app`], {
    env: { DOCKER_CONFIG: scratch.path },
    permissions: [
      `--allow-net=${server.host}`,
      `--allow-read=${scratch.path}`,
      `--allow-write=${root}`,
      "--allow-env",
      "--allow-sys",
    ],
  });
  assertEquals(result.code, 1);
  assertMatch(
    result.stderr,
    /^denocker: .*Cannot run credential helper docker-credential-denocker-test: it needs --allow-run/,
  );
});
