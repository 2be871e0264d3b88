import { join } from "node:path";
import { assertEquals, assertMatch } from "./_assert.ts";
import {
  fakeImage,
  manifestsFor,
  registryHandler,
  startServer,
  tempDir,
} from "./_fake_registry.ts";
import { craftTar } from "./_tar.ts";

// `deno compile` needs a `denort` runtime that Deno downloads from its own servers, which our
// build machines cannot reach. The test runs where DENORT_BIN points at a runtime.
const denort = Deno.env.get("DENORT_BIN");
if (!denort) {
  // deno-lint-ignore no-console
  console.log('ignoring "deno task compile builds a working executable": DENORT_BIN is not set');
}

Deno.test({
  name: "deno task compile builds a working executable",
  ignore: !denort,
  fn: async () => {
    await using out = await tempDir();
    const image = fakeImage([await craftTar([{ name: "hello.txt", body: "hello" }])]);
    await using registry = startServer(
      registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
    );
    const binary = join(out.path, "denocker");
    const compile = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile", binary],
      cwd: new URL("..", import.meta.url).pathname,
      stderr: "piped",
    }).output();
    assertEquals(compile.code, 0, new TextDecoder().decode(compile.stderr));
    const help = await new Deno.Command(binary, { args: ["--help"], stdout: "piped" }).output();
    assertEquals(help.code, 0);
    assertMatch(new TextDecoder().decode(help.stdout), /Usage: {2}denocker/);
    // A real pull: layers are extracted on a worker, which the executable must carry.
    const pulled = await new Deno.Command(binary, {
      args: ["pull", "-q", "--root", join(out.path, "root"), `${registry.host}/team/app`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(pulled.code, 0, new TextDecoder().decode(pulled.stderr));
    assertEquals(new TextDecoder().decode(pulled.stdout), `${image.configDigest}\n`);
    const bad = await new Deno.Command(binary, { args: ["pull", "Bad:Ref"], stderr: "piped" })
      .output();
    assertEquals(bad.code, 2);
  },
});

Deno.test("deno task compile without a reachable denort says what to do in one line", async () => {
  // A proxy on a closed loopback port makes the runtime download fail at once, network or not.
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    HTTPS_PROXY: "http://127.0.0.1:9",
    HTTP_PROXY: "http://127.0.0.1:9",
    RUST_BACKTRACE: "1",
  };
  const denoDir = Deno.env.get("DENO_DIR");
  if (denoDir) env.DENO_DIR = denoDir;
  await using out = await tempDir();
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile", join(out.path, "denocker")],
    cwd: new URL("..", import.meta.url).pathname,
    clearEnv: true,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  assertEquals(result.code, 1, stderr);
  const lines = stderr.trim().split("\n").filter((line) => !line.includes("Task"));
  assertEquals(lines.length, 1, stderr);
  assertMatch(lines[0], /^denocker: cannot compile: .*set DENORT_BIN to a denort/);
  assertEquals(stderr.includes("backtrace"), false);
});
