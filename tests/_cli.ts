/** How tests and the benchmark run the CLI: as a user would, with narrow permissions. */

import { join } from "node:path";

const PROJECT = new URL("..", import.meta.url).pathname;

/** `deno` arguments that run cli.ts with the permissions of the `denocker` task. */
export const DENOCKER_RUN: readonly string[] = [
  "run",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys=uid,gid",
  "--allow-run",
  join(PROJECT, "cli.ts"),
];
