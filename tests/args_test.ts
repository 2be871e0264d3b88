/**
 * The CLI reads flags as node:util's strict parseArgs does (what it read
 * before), and tells mistakes in docker's words.
 */

import { parseArgs } from "node:util";
import { parseCommandLine } from "../cli/args.ts";
import type { OptionSpec } from "../cli/command.ts";
import { assertEquals, assertThrows } from "./_assert.ts";

const OPTIONS: Record<string, OptionSpec> = {
  interactive: { type: "boolean", short: "i", help: "" },
  tty: { type: "boolean", short: "t", help: "" },
  detach: { type: "boolean", short: "d", help: "" },
  rm: { type: "boolean", help: "" },
  env: { type: "string", short: "e", multiple: true, help: "" },
  publish: { type: "string", short: "p", multiple: true, help: "" },
  name: { type: "string", help: "" },
  root: { type: "string", help: "" },
};

const VALID = [
  [],
  ["busybox"],
  ["--rm", "busybox", "echo", "hi"],
  ["-it", "busybox"],
  ["-ti", "-d", "busybox"],
  ["-itp8080:80", "busybox"],
  ["-p", "8080:80", "-p80", "--publish=1:2", "--publish", "3:4", "x"],
  ["-e", "A=1", "--env", "B=2", "--env=C=3=4", "-eD="],
  ["--name", "web", "--name=other", "x"],
  ["--name=", "x"],
  ["--root", "/r", "-", "x"],
  ["x", "--", "-i", "--rm", "--bogus"],
  ["--", "--rm"],
  ["a", "b", "-i", "c"],
  ["--name", "-"],
];

Deno.test("flags and positionals as node:util's parseArgs reads them", () => {
  const config = Object.fromEntries(
    Object.entries(OPTIONS).map(([name, spec]) => [
      name,
      { type: spec.type, ...(spec.short ? { short: spec.short } : {}), multiple: !!spec.multiple },
    ]),
  );
  for (const args of VALID) {
    const theirs = parseArgs({ args, options: config, allowPositionals: true, strict: true });
    const ours = parseCommandLine(args, OPTIONS, "run");
    assertEquals(ours.values, { ...theirs.values }, args.join(" "));
    assertEquals(ours.positionals, theirs.positionals, args.join(" "));
  }
});

Deno.test("mistakes in docker's words, pointing at the command's help", () => {
  const cases: [string[], string][] = [
    [["--bogus"], "unknown flag: --bogus"],
    [["--bogus=1"], "unknown flag: --bogus"],
    [["-x"], "unknown flag: -x"],
    [["-ix"], "unknown flag: -x"],
    [["--name"], "flag needs an argument: --name"],
    [["-e"], "flag needs an argument: -e"],
    [["--name", "--rm"], "flag needs an argument: --name"],
    [["--rm=yes"], "flag takes no value: --rm"],
  ];
  for (const [args, message] of cases) {
    const error = assertThrows(() => parseCommandLine(args, OPTIONS, "run"));
    assertEquals([(error as Error).message, (error as { command?: string }).command], [
      message,
      "run",
    ]);
  }
});
