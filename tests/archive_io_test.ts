/**
 * `save`, `export` and `load` with the files and streams users give them:
 * a missing directory, a directory, garbage, an empty pipe, a terminal, a
 * reader that goes away, a signal while waiting. Each says what is wrong in
 * one line of words, exits non-zero and leaves nothing behind.
 */

import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { assert, assertEquals } from "./_assert.ts";
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
import { integrationTest } from "./_real_registry.ts";

const decoder = new TextDecoder();

/** Runs the CLI with `input` on its stdin. */
async function withStdin(args: string[], input: Uint8Array) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...DENOCKER_RUN, ...args],
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input).catch(() => {});
  await writer.close().catch(() => {});
  const output = await child.output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * A store holding `app`, an image over 64 KiB (more than a pipe holds), in a scratch dir that
 * `await using` removes at the end of the scope.
 */
async function storeWithImage() {
  const image = fakeImage([
    await craftTar([
      { name: "bin/", type: "directory" },
      { name: "bin/tool", body: "x".repeat(1024 * 1024), mode: 0o755 },
      { name: "bin/link", type: "symlink", linkname: "tool" },
    ]),
  ]);
  const server = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  const scratch = await tempDir();
  const root = join(scratch.path, "root");
  const app = `${server.host}/team/app:latest`;
  const pulled = await runCli(["pull", "-q", "--root", root, app]);
  await server.close();
  assertEquals(pulled.code, 0, pulled.stderr);
  return { scratch, root, app, [Symbol.asyncDispose]: () => scratch[Symbol.asyncDispose]() };
}

Deno.test("save, export and load name what is wrong with their files, in words", async (t) => {
  await using store = await storeWithImage();
  const { scratch, root, app } = store;
  await t.step("export -o into a directory that does not exist", async () => {
    const missing = join(scratch.path, "nonexist", "x.tar");
    const result = await runCli(["export", "--root", root, "-o", missing, app]);
    assertEquals([result.code, result.stderr], [
      1,
      `denocker: Cannot export to ${missing}: the directory ${
        join(scratch.path, "nonexist")
      } does not exist\n`,
    ]);
  });

  await t.step("save -o a directory", async () => {
    const directory = join(scratch.path, "adir");
    await Deno.mkdir(directory);
    const result = await runCli(["save", "--root", root, "-o", directory, app]);
    assertEquals([result.code, result.stderr], [
      1,
      `denocker: Cannot save to ${directory}: it is a directory\n`,
    ]);
    assertEquals(await listFiles(directory), []);
  });

  await t.step("a failed save leaves the file that was there, and no temporary", async () => {
    const existing = join(scratch.path, "keep", "old.tar");
    await Deno.mkdir(join(scratch.path, "keep"));
    await Deno.writeTextFile(existing, "the old archive");
    const result = await runCli(["save", "--root", root, "-o", existing, app, "nosuch:image"]);
    assertEquals(result.code, 1, result.stderr);
    assertEquals(await Deno.readTextFile(existing), "the old archive");
    assertEquals(await listFiles(join(scratch.path, "keep")), ["old.tar"]);
    const saved = await runCli(["save", "--root", root, "-o", existing, app]);
    assertEquals([saved.code, saved.stderr], [0, ""]);
    assertEquals(await listFiles(join(scratch.path, "keep")), ["old.tar"]);
    assert((await Deno.stat(existing)).size > 1024 * 1024);
  });

  await t.step("load -i a directory, a missing file", async () => {
    const directory = join(scratch.path, "adir");
    const fromDirectory = await runCli(["load", "--root", root, "-i", directory]);
    assertEquals([fromDirectory.code, fromDirectory.stderr], [
      1,
      `denocker: Cannot load ${directory}: it is a directory, not an archive\n`,
    ]);
    const missing = join(scratch.path, "nonexist.tar");
    const fromMissing = await runCli(["load", "--root", root, "-i", missing]);
    assertEquals([fromMissing.code, fromMissing.stderr], [
      1,
      `denocker: Cannot load ${missing}: no such file\n`,
    ]);
  });

  await t.step("load of garbage, of nothing, of a tar of something else", async () => {
    const fresh = join(scratch.path, "fresh");
    const cases: [Uint8Array, string][] = [
      [new TextEncoder().encode("garbage\n"), "stdin is not a docker or OCI archive"],
      [crypto.getRandomValues(new Uint8Array(4096)), "stdin is not a docker or OCI archive"],
      [new Uint8Array(0), "stdin is empty"],
      [
        await craftTar([{ name: "readme", body: "hi" }]),
        "stdin is not a docker or OCI archive (a tar with neither manifest.json, as docker saves, nor index.json, as an OCI layout)",
      ],
    ];
    for (const [input, message] of cases) {
      const result = await withStdin(["load", "--root", fresh], input);
      assertEquals([result.code, result.stderr], [1, `denocker: Cannot load: ${message}\n`]);
      for (const directory of ["layers", "blobs", "images", "tmp"]) {
        assertEquals(await listFiles(fresh, directory), [], directory);
      }
    }
  });

  await t.step(
    "load of a gzipped save, as docker load reads it; a cut one is refused",
    async () => {
      const saved = await runCli([
        "save",
        "--root",
        root,
        "-o",
        join(scratch.path, "a.tar"),
        app,
      ]);
      assertEquals(saved.code, 0, saved.stderr);
      const gzipped = gzipSync(await Deno.readFile(join(scratch.path, "a.tar")));
      const other = join(scratch.path, "other");
      const cut = await withStdin(
        ["load", "--root", other],
        gzipped.subarray(0, gzipped.byteLength >> 1),
      );
      assertEquals([cut.code, cut.stderr], [
        1,
        "denocker: Cannot load: stdin is not valid gzip (unexpected end of file)\n",
      ]);
      const loaded = await withStdin(["load", "--root", other], gzipped);
      assertEquals([loaded.code, loaded.stdout], [0, `Loaded image: ${app}\n`], loaded.stderr);
    },
  );

  for (const command of ["save", "export"]) {
    await t.step(`${command} to a pipe closed early: quiet, as docker is`, async () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [...DENOCKER_RUN, command, "--root", root, app],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.getReader();
      await reader.read();
      await reader.cancel();
      const stderr = await new Response(child.stderr).text();
      // 141: what a shell reports for docker, which SIGPIPE ends.
      assertEquals([(await child.status).code, stderr], [141, ""]);
    });
  }
});

integrationTest("save, export and load refuse a terminal; a signal ends a load waiting on stdin", [
  "script",
], async (t) => {
  await using store = await storeWithImage();
  const { scratch, root, app } = store;
  const quoted = (args: string[]) => args.map((arg) => `'${arg}'`).join(" ");
  // util-linux's script gives the command a terminal for stdin and stdout.
  const inTerminal = async (args: string[]) => {
    const output = await new Deno.Command("script", {
      args: ["-qec", quoted([Deno.execPath(), ...DENOCKER_RUN, ...args]), "/dev/null"],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: output.code, text: decoder.decode(output.stdout).replaceAll("\r\n", "\n") };
  };
  for (const command of ["save", "export"]) {
    await t.step(`${command} to a terminal`, async () => {
      const result = await inTerminal([command, "--root", root, app]);
      assertEquals([result.code, result.text], [
        1,
        "denocker: cowardly refusing to save to a terminal. Use the -o flag or redirect\n",
      ]);
    });
  }

  await t.step("load from a terminal", async () => {
    const result = await inTerminal(["load", "--root", root]);
    assertEquals([result.code, result.text], [
      1,
      "denocker: requested load from stdin, but stdin is a terminal; use -i FILE or a pipe\n",
    ]);
  });

  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    await t.step(`${signal} while load waits on stdin`, async () => {
      const fresh = join(scratch.path, `waiting-${signal}`);
      const child = new Deno.Command(Deno.execPath(), {
        args: [...DENOCKER_RUN, "load", "--root", fresh],
        env: { NO_COLOR: "1" },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      try {
        // The staging directory is made before stdin is read: then it is waiting.
        while ((await listFiles(fresh, "tmp").catch(() => [])).length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        child.kill(signal);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const ended = await Promise.race([
          child.output(),
          new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), 20_000)),
        ]);
        clearTimeout(timer);
        assert(ended, `load did not end on ${signal} while stdin stayed open`);
        assertEquals([ended.code, decoder.decode(ended.stderr)], [
          code,
          "denocker: interrupted\n",
        ]);
        assertEquals(await listFiles(fresh, "tmp"), []);
      } finally {
        await child.stdin.close().catch(() => {});
        await child.status;
      }
    });
  }
});
