// deno-lint-ignore-file no-console
/**
 * The denocker command line's entry point. It loads only what the first
 * argument needs: the version alone, a container's init or monitor (what a
 * compiled denocker re-executes itself as), or the command line.
 *
 * @module
 */

if (import.meta.main) {
  const [first, ...rest] = Deno.args;
  if (first === "--version" && rest.length === 0) {
    const { VERSION } = await import("./lib/version.ts");
    console.log(`denocker version ${VERSION}`);
    Deno.exit(0);
  }
  // A compiled denocker starting a container's first process (see lib/runtime/init.ts).
  if (first === "__container-init") {
    const { containerInit } = await import("./lib/runtime/init.ts");
    Deno.exit(containerInit(rest[0], rest[1]));
  }
  if (first === "__container-monitor") {
    const { monitorContainer } = await import("./lib/runtime/monitor.ts");
    Deno.exit(await monitorContainer(rest[0], rest[1], rest[2] === "--hold"));
  }
  const { main } = await import("./cli/main.ts");
  Deno.exit(await main(Deno.args));
}
