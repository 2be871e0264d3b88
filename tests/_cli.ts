/** How tests and the benchmark run the CLI: as a user would, with narrow permissions. */

import { join } from "node:path";

const PROJECT = new URL("..", import.meta.url).pathname;

/** The permissions of the `denocker` and `compile` tasks. */
export const DENOCKER_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys=uid,gid",
  "--allow-run",
];

/** `deno` arguments that run cli.ts with the permissions of the `denocker` task. */
export const DENOCKER_RUN: readonly string[] = [
  "run",
  ...DENOCKER_PERMISSIONS,
  join(PROJECT, "cli.ts"),
];
