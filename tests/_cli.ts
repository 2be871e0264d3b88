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
