// deno-lint-ignore-file no-console
/**
 * `deno task test [FILES…]`: runs the tests (all of `tests/` by default) in
 * a network namespace of their own, with only `lo`, so that the bridges,
 * veth pairs, addresses and nftables rules that containers get (their
 * default network is `bridge`) are made there and never in the machine's
 * own. Needs root, as containers do; without root (or where no namespace
 * can be made) the tests run as they are, and those that need root say so.
 *
 * @module
 */

const PERMISSIONS = [
  "--allow-net=127.0.0.1,localhost",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys=uid,gid",
  "--allow-run",
];

const files = Deno.args.length > 0 ? Deno.args : ["tests/"];
const test = [Deno.execPath(), "test", ...PERMISSIONS, ...files];
const root = Deno.uid() === 0;
const command = root
  ? [
    "unshare",
    "--net",
    "--",
    "sh",
    "-c",
    'ip link set lo up && exec "$@"',
    "sh",
    ...test,
  ]
  : test;
if (!root) {
  console.error("tests: not root: running in this network namespace (container tests need root)");
}
const child = new Deno.Command(command[0], {
  args: command.slice(1),
  cwd: new URL("..", import.meta.url).pathname,
}).spawn();
Deno.exit((await child.status).code);
