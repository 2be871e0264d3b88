// deno-lint-ignore-file no-console
/**
 * `deno task compile`: builds the standalone `./denocker` with `deno compile`,
 * and when that fails, says in one line what to do instead of showing
 * Deno's backtrace. The usual failure on our machines: `deno compile`
 * downloads its `denort` runtime from Deno's servers, which cannot be
 * reached; `DENORT_BIN` names a runtime binary to use instead.
 *
 * @module
 */

const project = new URL("..", import.meta.url).pathname;
const output = Deno.args[0] ?? "denocker";

const child = new Deno.Command(Deno.execPath(), {
  args: [
    "compile",
    // Every permission: running containers needs them (Deno opens /proc and /sys only so).
    "--allow-all",
    "--include",
    "lib/layer/_extract_worker.ts",
    "--include",
    "lib/runtime/user_worker.ts",
    "--output",
    output,
    "cli.ts",
  ],
  cwd: project,
  env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  stdout: "inherit",
  stderr: "piped",
}).spawn();
const { code, stderr } = await child.output();
const text = new TextDecoder().decode(stderr);
if (code === 0) {
  await Deno.stderr.write(stderr);
  Deno.exit(0);
}
const denortBin = Deno.env.get("DENORT_BIN");
if (!denortBin && /denort|dl\.deno\.land|Setting up base binary/.test(text)) {
  console.error(
    `denocker: cannot compile: deno compile needs Deno's denort runtime and could not download it; ` +
      `set DENORT_BIN to a denort ${Deno.version.deno} binary for this platform and run it again`,
  );
} else {
  const reason = text.split("\n").find((line) => /error/i.test(line))?.replace(/^error: /, "") ??
    `deno compile exited with ${code}`;
  console.error(
    `denocker: cannot compile: ${reason.trim()}${denortBin ? ` (DENORT_BIN=${denortBin})` : ""}`,
  );
}
Deno.exit(1);
