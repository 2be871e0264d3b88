/**
 * The host programs containers are run with (util-linux `unshare` and
 * `nsenter`, coreutils `timeout`, an OCI runtime), found at absolute paths
 * in the system's own directories, and the fixed environment they run
 * with: nothing from an image or a container may choose what runs on the
 * host.
 *
 * @module
 */

import { DenockerError } from "../errors.ts";

/** Where host programs are looked for, in order; also their PATH. */
export const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The variables a Deno-run init needs from denocker's own environment (its cache). */
const DENO_VARIABLES = ["HOME", "DENO_DIR", "XDG_CACHE_HOME", "DENO_NO_UPDATE_CHECK", "NO_COLOR"];

const found = new Map<string, string>();

/**
 * The absolute path of a host program.
 *
 * @param name The program (`unshare`), or an absolute path.
 * @param from What provides it, for the error (`util-linux`).
 * @returns Its path.
 * @throws {DenockerError} When it is not installed.
 */
export function hostTool(name: string, from: string): string {
  if (name.startsWith("/")) {
    if (isExecutable(name)) return name;
    throw new DenockerError(`Cannot run containers: ${name} is not an executable file`);
  }
  const cached = found.get(name);
  if (cached) return cached;
  for (const directory of HOST_PATH.split(":")) {
    const path = `${directory}/${name}`;
    if (isExecutable(path)) {
      found.set(name, path);
      return path;
    }
  }
  throw new DenockerError(`Cannot run containers: ${from} ${name} is not installed`);
}

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * The environment host helpers run with: a fixed PATH, and where Deno keeps
 * its cache (from denocker's own environment, which the user chose).
 *
 * @returns Variables.
 */
export function hostEnvironment(): Record<string, string> {
  const env: Record<string, string> = { PATH: HOST_PATH };
  for (const name of DENO_VARIABLES) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}
