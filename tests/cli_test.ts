/**
 * The command line as a docker user expects it: global options anywhere,
 * per-command help, errors in words, partial results kept, interruptions
 * cleaned up, and a word when another command holds the store.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { DENOCKER_RUN, runCli } from "./_cli.ts";
import {
  fakeImage,
  listFiles,
  manifestsFor,
  registryHandler,
  startServer,
  tempDir,
} from "./_fake_registry.ts";
import { craftTar } from "./_tar.ts";
import { withLock } from "../lib/io/lock.ts";
import { RegistryClient } from "../lib/transport/registry.ts";

/**
 * A store with one small image pulled as `app`; `await using` closes its registry and removes
 * the store at the end of the scope.
 */
async function storeWithImage(layers?: Uint8Array[]) {
  const image = fakeImage(layers ?? [await craftTar([{ name: "hello.txt", body: "hello" }])]);
  const server = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  const root = await tempDir();
  const app = `${server.host}/team/app`;
  const pulled = await runCli(["pull", "-q", "--root", root.path, app]);
  assertEquals(pulled.code, 0, pulled.stderr);
  return {
    image,
    app,
    root: root.path,
    async [Symbol.asyncDispose]() {
      await server.close();
      await root[Symbol.asyncDispose]();
    },
  };
}

Deno.test("global options, version and help", async (t) => {
  await using store = await storeWithImage();
  await t.step("--root works before the command as after it", async () => {
    const before = await runCli(["--root", store.root, "images", "-q"]);
    const after = await runCli(["images", "-q", "--root", store.root]);
    assertEquals(before, after);
    assertEquals(before.stdout, `${store.image.configDigest.slice(7, 19)}\n`);
    assertEquals((await runCli([`--root=${store.root}`, "images", "-q"])).stdout, before.stdout);
  });

  await t.step("--version", async () => {
    const result = await runCli(["--version"]);
    assertEquals(result.code, 0);
    const { version } = JSON.parse(
      await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
    );
    assertEquals(result.stdout, `denocker version ${version}\n`);
  });

  await t.step("help CMD and CMD --help print that command's usage only", async () => {
    const help = await runCli(["help", "unpack"]);
    const flag = await runCli(["unpack", "--help"]);
    assertEquals(help, flag);
    assertEquals(help.code, 0);
    assertMatch(help.stdout, /^Usage: {2}denocker unpack IMAGE\|ID DIR\n/);
    assertMatch(help.stdout, /\nExample:\n {2}denocker unpack alpine:3\.20 \.\/alpine-rootfs\n/);
    assertEquals(help.stdout.includes("--platform"), false, "another command's flags shown");
    const pullHelp = await runCli(["pull", "-h"]);
    assertMatch(pullHelp.stdout, /--platform OS\/ARCH\[\/VARIANT\]/);
    const all = await runCli(["--help"]);
    assertMatch(all.stdout, /Commands:\n {2}pull/);
  });
});

Deno.test("paths are described in words", async (t) => {
  await using store = await storeWithImage();
  await using scratch = await tempDir();
  const file = join(scratch.path, "a-file");
  await Deno.writeTextFile(file, "x");
  const cases: [string, string[], string][] = [
    [
      "--root naming a file",
      ["images", "--root", file],
      `Cannot use store root ${file}: it is not a directory`,
    ],
    [
      "--root under a file",
      ["pull", "--root", join(file, "store"), "alpine"],
      `Cannot use store root ${join(file, "store")}: ${file} is not a directory`,
    ],
    [
      "unpack into a missing parent",
      ["unpack", "--root", store.root, store.app, join(scratch.path, "no", "such", "dir")],
      `Cannot unpack into ${join(scratch.path, "no", "such", "dir")}: its parent ${
        join(scratch.path, "no", "such")
      } does not exist`,
    ],
    [
      "unpack under a file",
      ["unpack", "--root", store.root, store.app, join(file, "dir")],
      `Cannot unpack into ${join(file, "dir")}: ${file} is not a directory`,
    ],
    [
      "unpack onto a file",
      ["unpack", "--root", store.root, store.app, file],
      `Cannot unpack into ${file}: it exists and is not a directory`,
    ],
  ];
  for (const [name, args, message] of cases) {
    await t.step(name, async () => {
      const result = await runCli(args);
      assertEquals([result.code, result.stderr], [1, `denocker: ${message}\n`]);
    });
  }

  await t.step("unpack fills an existing empty directory, refuses a non-empty one", async () => {
    const empty = join(scratch.path, "empty");
    await Deno.mkdir(empty);
    const result = await runCli(["unpack", "--root", store.root, store.app, empty]);
    assertEquals(result.code, 0, result.stderr);
    assertEquals(await Deno.readTextFile(join(empty, "hello.txt")), "hello");
    const again = await runCli(["unpack", "--root", store.root, store.app, empty]);
    assertEquals(again.stderr, `denocker: Cannot unpack into ${empty}: it is not empty\n`);
    assertEquals(await listFiles(empty), ["hello.txt"]);
  });
});

Deno.test("inspect prints what it found and an error for each name it did not", async () => {
  await using store = await storeWithImage();
  const result = await runCli(["inspect", "--root", store.root, store.app, "missing:tag", "abc"]);
  assertEquals(result.code, 1);
  const printed = JSON.parse(result.stdout);
  assertEquals(printed.map((image: { Id: string }) => image.Id), [store.image.configDigest]);
  assertEquals(result.stderr.split("\n"), [
    `denocker: Cannot find image "missing:tag": no such image in the store`,
    `denocker: Cannot find image "abc": no such image, and an image ID prefix needs at least 4 hex digits`,
    "",
  ]);
});

Deno.test("--insecure-registry takes HOST[:PORT] with or without http://", async () => {
  for (
    const entry of ["registry.lan:5000", "http://registry.lan:5000", "HTTPS://registry.lan:5000/"]
  ) {
    const client = new RegistryClient("registry.lan:5000", { insecureRegistries: [entry] });
    assertEquals(client.baseUrl, "http://registry.lan:5000", entry);
  }
  assertEquals(new RegistryClient("registry.lan:5000").baseUrl, "https://registry.lan:5000");
  await using store = await storeWithImage();
  const result = await runCli([
    "pull",
    "-q",
    "--root",
    store.root,
    "--insecure-registry",
    `http://${store.app.split("/")[0]}`,
    store.app,
  ]);
  assertEquals([result.code, result.stdout], [0, `${store.image.configDigest}\n`]);
});

Deno.test("a command waiting for another's lock says so", async () => {
  await using store = await storeWithImage();
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const lockTaken = new Promise<void>((resolve) => (locked = resolve));
  const holder = withLock(join(store.root, "store.lock"), { exclusive: true }, () => {
    locked();
    return held;
  });
  await lockTaken;
  const prune = new Deno.Command(Deno.execPath(), {
    args: [...DENOCKER_RUN, "prune", "--root", store.root],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // The lock is let go once prune says it waits, not after a guess at how long it takes
  // (or after 30 s, should it never say so, which then fails below).
  const giveUp = setTimeout(() => release(), 30_000);
  let stderr = "";
  const decoder = new TextDecoder();
  const reader = prune.stderr.getReader();
  while (!stderr.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) break;
    stderr += decoder.decode(value, { stream: true });
  }
  clearTimeout(giveUp);
  release();
  await holder;
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    stderr += decoder.decode(chunk.value, { stream: true });
  }
  const { code } = await prune.status;
  await prune.stdout.cancel();
  assertEquals(code, 0, stderr);
  assertEquals(stderr, `Waiting for another denocker command using ${store.root}…\n`);
});

Deno.test("an interrupted unpack removes what it wrote", async (t) => {
  // Enough files that unpacking takes a while, so the signal lands midway.
  const entries = [];
  for (let directory = 0; directory < 30; directory++) {
    entries.push({ name: `d${directory}/`, type: "directory" as const });
    for (let file = 0; file < 1000; file++) {
      entries.push({ name: `d${directory}/f${file}`, body: `${directory}/${file}` });
    }
  }
  await using store = await storeWithImage([await craftTar(entries)]);
  await using scratch = await tempDir();
  for (const existing of [false, true]) {
    await t.step(
      existing ? "into an existing empty directory" : "into a new directory",
      async () => {
        const target = join(scratch.path, `rootfs-${existing}`);
        if (existing) await Deno.mkdir(target);
        const child = new Deno.Command(Deno.execPath(), {
          args: [...DENOCKER_RUN, "unpack", "--root", store.root, store.app, target],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        // Wait until the unpack has written something, then interrupt it as Ctrl-C would.
        for (let i = 0; i < 400; i++) {
          const written = await listFiles(target).catch(() => []);
          if (written.length > 10) break;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        child.kill("SIGINT");
        const output = await child.output();
        assertEquals(output.code, 130, new TextDecoder().decode(output.stderr));
        assertEquals(
          new TextDecoder().decode(output.stderr),
          "denocker: interrupted\n",
        );
        if (existing) assertEquals(await listFiles(target), []);
        else {assert(
            !(await Deno.stat(target).then(() => true, () => false)),
            "partial directory left",
          );}
      },
    );
  }
});

Deno.test("an interrupted pull, or run's pull, removes its staging and records nothing", async () => {
  const image = fakeImage([await craftTar([{ name: "slow.txt", body: "slow" }])]);
  const handler = registryHandler({ manifests: manifestsFor(image), blobs: image.blobs });
  let blobAsked!: () => void;
  let midway = new Promise<void>((resolve) => (blobAsked = resolve));
  await using server = startServer(async (request, url) => {
    // Blobs hang until the client goes away, so the pull is surely midway when interrupted.
    if (url.pathname.includes("/blobs/")) {
      blobAsked();
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
    return handler(request, url);
  });
  const CLI = new URL("../cli.ts", import.meta.url).pathname;
  // run pulls an image it does not have; Ctrl-C then is an interrupted pull too, not a failure
  // of run's own (125), as with docker.
  const commands = [
    { args: [...DENOCKER_RUN, "pull"], signal: "SIGTERM", code: 143 },
    { args: ["run", "--allow-all", CLI, "run"], signal: "SIGINT", code: 130 },
  ] as const;
  for (const { args, signal, code } of commands) {
    await using root = await tempDir();
    const asked = midway;
    const child = new Deno.Command(Deno.execPath(), {
      args: [...args, "--root", root.path, `${server.host}/team/app`],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await asked; // Staging exists and a layer is being fetched.
    child.kill(signal);
    const output = await child.output();
    assertEquals(output.code, code, new TextDecoder().decode(output.stderr));
    assertMatch(new TextDecoder().decode(output.stderr), /\ndenocker: interrupted\n$/);
    assertEquals(await listFiles(root.path, "tmp"), []);
    assertEquals(await listFiles(root.path, "images"), []);
    midway = new Promise<void>((resolve) => (blobAsked = resolve));
  }
});
