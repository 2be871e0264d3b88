/**
 * Where denocker keeps its data.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { permissionGranted } from "../permissions.ts";
import { InvalidInputError } from "../errors.ts";

/** Options for {@link defaultRoot}. */
export interface DefaultRootOptions {
  /** Environment lookup; `Deno.env` by default. */
  env?: (name: string) => string | undefined;
  /** The user ID; `Deno.uid()` by default. */
  uid?: number | null;
}

/**
 * The store root when none is given: `DENOCKER_ROOT`, else
 * `/var/lib/denocker` for root, else `$XDG_DATA_HOME/denocker` or
 * `~/.local/share/denocker`.
 *
 * Requires `--allow-env` and `--allow-sys=uid`.
 *
 * @example
 * ```ts
 * import { defaultRoot } from "@denocker/denocker";
 * defaultRoot({ env: () => undefined, uid: 0 }); // "/var/lib/denocker"
 * ```
 *
 * @param options Environment and user ID, for tests.
 * @returns An absolute directory path.
 */
export function defaultRoot(options: DefaultRootOptions = {}): string {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const fromEnv = env("DENOCKER_ROOT");
  if (fromEnv) return fromEnv;
  const uid = options.uid === undefined ? (runningAsRoot() ? 0 : undefined) : options.uid;
  if (uid === 0) return "/var/lib/denocker";
  const dataHome = env("XDG_DATA_HOME");
  if (dataHome) return join(dataHome, "denocker");
  const home = env("HOME");
  if (!home) {
    throw new InvalidInputError("Cannot choose a store root: HOME is not set; pass --root");
  }
  return join(home, ".local", "share", "denocker");
}

/**
 * Whether this process runs as root, so that file owners from layers can be
 * applied. False where the user ID may not be read (no `--allow-sys=uid`;
 * Deno is not asked, so it never prompts).
 *
 * @returns True for uid 0.
 */
export function runningAsRoot(): boolean {
  if (!permissionGranted({ name: "sys", kind: "uid" })) return false;
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}

/**
 * What is wrong with an existing store root's mode, if anything: a root
 * that other local users may enter lets them reach the setuid files of
 * layers and containers and read container records. Nothing is said of a
 * root that does not exist (it will be made 0700) or that belongs to
 * another user.
 *
 * Requires `--allow-read` and `--allow-sys=uid`.
 *
 * @example
 * ```ts
 * import { storeRootWarning } from "@denocker/denocker";
 * const warning = storeRootWarning("/var/lib/denocker");
 * if (warning) console.error(`warning: ${warning}`);
 * ```
 *
 * @param root The store root.
 * @returns A one-line warning, or undefined.
 */
export function storeRootWarning(root: string): string | undefined {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(root);
  } catch {
    return undefined;
  }
  const mode = (info.mode ?? 0) & 0o777;
  if (!info.isDirectory || (mode & 0o077) === 0) return undefined;
  if (!permissionGranted({ name: "sys", kind: "uid" }) || info.uid !== Deno.uid()) {
    return undefined;
  }
  return `the store root ${root} is open to other users (mode ${
    mode.toString(8).padStart(4, "0")
  }): they can reach its setuid files and container records; chmod 700 ${root}`;
}
