/** How tests and the benchmark run the CLI: as a user would, with narrow permissions. */

import { join } from "node:path";

const PROJECT = new URL("..", import.meta.url).pathname;

import { DENOCKER_PERMISSIONS } from "../tools/permissions.ts";

export { DENOCKER_PERMISSIONS };

/** `deno` arguments that run cli.ts with the permissions of the `denocker` task. */
export const DENOCKER_RUN: readonly string[] = [
  "run",
  ...DENOCKER_PERMISSIONS,
  join(PROJECT, "cli.ts"),
];

/** What a CLI run printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a user would, with the task's permissions (or `permissions`), piped. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; permissions?: string[] } = {},
): Promise<CliResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...(options.permissions ?? DENOCKER_PERMISSIONS),
      join(PROJECT, "cli.ts"),
      ...args,
    ],
    env: { NO_COLOR: "1", ...options.env },
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** Starts the CLI in the background (its output dropped), for tests that kill it midway. */
export function spawnCli(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [...DENOCKER_RUN, ...args],
    stdout: "null",
    stderr: "null",
  }).spawn();
}
