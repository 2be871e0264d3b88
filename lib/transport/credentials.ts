/**
 * Registry credentials from docker's `config.json`: `auths` entries and
 * credential helpers (`credHelpers`, `credsStore`).
 *
 * @module
 */

import { dirname, join } from "../io/path.ts";
import { writeFileAtomic } from "../io/atomic_file.ts";
import { permissionGranted } from "../permissions.ts";
import { DOCKER_HUB } from "../model/reference.ts";
import { DenockerError, InvalidInputError } from "../errors.ts";

/** A username and secret for one registry. */
export interface Credentials {
  /** User name; `<token>` when the secret is an identity token. */
  username: string;
  /** Password, token or identity token. Never printed. */
  secret: string;
}

/** The user name docker records with an identity token (an OAuth2 refresh token). */
export const IDENTITY_TOKEN_USER = "<token>";

/** Looks up credentials for a registry name (e.g. `docker.io`, `localhost:5000`). */
export type CredentialLookup = (registry: string) => Promise<Credentials | undefined>;

/** Options for {@link dockerConfigCredentials}. */
export interface DockerConfigOptions {
  /** Environment to read `DOCKER_CONFIG` and `HOME` from; `Deno.env` by default. */
  env?: (name: string) => string | undefined;
}

interface DockerConfigFile {
  auths?: Record<
    string,
    { auth?: string; username?: string; password?: string; identitytoken?: string }
  >;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** Keys docker itself uses for Docker Hub in `auths` and helpers. */
const DOCKER_HUB_KEYS = [
  "https://index.docker.io/v1/",
  "index.docker.io",
  "docker.io",
  "registry-1.docker.io",
];

function keyHost(key: string): string {
  return key.replace(/^[a-z]+:\/\//, "").replace(/\/.*$/, "");
}

function matches(key: string, registry: string): boolean {
  if (registry === DOCKER_HUB) {
    return DOCKER_HUB_KEYS.includes(key) || DOCKER_HUB_KEYS.includes(keyHost(key));
  }
  return keyHost(key) === registry;
}

function configPath(env: (name: string) => string | undefined): string | undefined {
  const dir = env("DOCKER_CONFIG");
  if (dir) return join(dir, "config.json");
  const home = env("HOME");
  return home ? join(home, ".docker", "config.json") : undefined;
}

async function readConfig(path: string): Promise<DockerConfigFile> {
  // Narrow permissions (--allow-read=ROOT) leave docker's config unread: anonymous pulls,
  // rather than a permission prompt in the middle of a pull.
  if (!permissionGranted({ name: "read", path })) return {};
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new InvalidInputError(`Cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    const parsed = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null) throw new InvalidInputError("not an object");
    return parsed;
  } catch {
    throw new InvalidInputError(`Cannot read ${path}: not a valid JSON object`);
  }
}

function decodeAuth(
  entry: NonNullable<DockerConfigFile["auths"]>[string],
  path: string,
): Credentials | undefined {
  if (entry.identitytoken) return { username: IDENTITY_TOKEN_USER, secret: entry.identitytoken };
  if (entry.auth) {
    let decoded: string;
    try {
      decoded = atob(entry.auth);
    } catch {
      throw new InvalidInputError(`Cannot read ${path}: an "auth" value is not base64`);
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) {
      throw new InvalidInputError(`Cannot read ${path}: an "auth" value is not user:password`);
    }
    return { username: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
  }
  if (entry.username && entry.password) return { username: entry.username, secret: entry.password };
  return undefined;
}

/** Runs `docker-credential-HELPER ACTION` with `input` on stdin. */
async function callHelper(helper: string, action: "get" | "store" | "erase", input: string) {
  const program = `docker-credential-${helper}`;
  // Without --allow-run Deno would prompt on a terminal; say what is needed instead.
  if (!permissionGranted({ name: "run", command: program })) {
    throw new DenockerError(
      `Cannot run credential helper ${program}: it needs --allow-run (named in docker's config)`,
    );
  }
  const command = new Deno.Command(program, {
    args: [action],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  });
  let child: Deno.ChildProcess;
  try {
    child = command.spawn();
  } catch {
    throw new DenockerError(`Cannot run credential helper ${program}: not found`);
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const output = await child.output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  const said = `${stdout}\n${new TextDecoder().decode(output.stderr)}`;
  return { program, success: output.success, code: output.code, stdout, said };
}

const notFound = (said: string) => /credentials not found/i.test(said);

async function runHelper(helper: string, server: string): Promise<Credentials | undefined> {
  const output = await callHelper(helper, "get", server);
  if (!output.success) {
    if (notFound(output.said)) return undefined;
    throw new DenockerError(
      `Cannot get credentials from ${output.program}: it exited with ${output.code}`,
    );
  }
  try {
    const { Username, Secret } = JSON.parse(output.stdout);
    if (typeof Secret !== "string" || Secret === "") return undefined;
    return { username: typeof Username === "string" ? Username : "", secret: Secret };
  } catch {
    throw new DenockerError(
      `Cannot get credentials from ${output.program}: its answer is not JSON`,
    );
  }
}

/** The helper that keeps a registry's credentials, when the config names one. */
function helperFor(config: DockerConfigFile, registry: string): string | undefined {
  const key = Object.keys(config.credHelpers ?? {}).find((key) => matches(key, registry));
  return key === undefined ? config.credsStore || undefined : config.credHelpers![key];
}

/** The server name helpers and `auths` know a registry by. */
function serverName(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_KEYS[0] : registry;
}

/**
 * A credential lookup backed by `$DOCKER_CONFIG/config.json` (or
 * `~/.docker/config.json`). The file is read on each lookup, so a login
 * between two pulls is seen.
 *
 * Requires `--allow-env`, `--allow-read`, and `--allow-run` when helpers are configured.
 *
 * @example
 * ```ts
 * import { dockerConfigCredentials } from "@denocker/denocker";
 * const lookup = dockerConfigCredentials();
 * const credentials = await lookup("ghcr.io");
 * ```
 *
 * @param options Where to read the environment from.
 * @returns The lookup function.
 */
export function dockerConfigCredentials(options: DockerConfigOptions = {}): CredentialLookup {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  return async (registry) => {
    const path = configPath(env);
    if (path === undefined) return undefined;
    const config = await readConfig(path);
    const helperKey = Object.keys(config.credHelpers ?? {}).find((key) => matches(key, registry));
    if (helperKey !== undefined) {
      return runHelper(config.credHelpers![helperKey], serverName(registry));
    }
    const authKey = Object.keys(config.auths ?? {}).find((key) => matches(key, registry));
    const fromAuths = authKey === undefined ? undefined : decodeAuth(config.auths![authKey], path);
    if (fromAuths) return fromAuths;
    if (config.credsStore) return runHelper(config.credsStore, serverName(registry));
    return undefined;
  };
}

/**
 * Saves credentials for a registry as `docker login` does: in the
 * credential helper docker's `config.json` names for it (`credHelpers`,
 * else `credsStore`: `docker-credential-NAME store`, with an empty `auths`
 * entry kept as docker keeps it), else in `auths` (base64 `user:password`).
 * Every other entry is kept; the file is written atomically with mode 0600.
 *
 * Requires `--allow-read`, `--allow-write`, `--allow-env` (and `--allow-run` for a helper).
 *
 * @param registry Registry name from a reference (`docker.io` for Docker Hub).
 * @param credentials User and password.
 * @param options Where to read the environment from.
 * @returns Where the credentials went: the helper's program name or the config file's path.
 */
export async function saveDockerCredentials(
  registry: string,
  credentials: { username: string; secret: string },
  options: DockerConfigOptions = {},
): Promise<string> {
  const { path, config } = await editableConfig(options);
  const key = serverName(registry);
  const auths = { ...(config.auths ?? {}) };
  for (const existing of Object.keys(auths)) {
    if (matches(existing, registry)) delete auths[existing];
  }
  const helper = helperFor(config, registry);
  if (helper !== undefined) {
    const output = await callHelper(
      helper,
      "store",
      JSON.stringify({
        ServerURL: key,
        Username: credentials.username,
        Secret: credentials.secret,
      }),
    );
    if (!output.success) {
      throw new DenockerError(
        `Cannot save credentials for ${registry} in ${output.program}: it exited with ${output.code}`,
      );
    }
    auths[key] = {};
    await writeConfig(path, { ...config, auths });
    return output.program;
  }
  auths[key] = { auth: btoa(`${credentials.username}:${credentials.secret}`) };
  await writeConfig(path, { ...config, auths });
  return path;
}

/**
 * Removes a registry's credentials as `docker logout` does: from its
 * credential helper (`erase`) when the config names one, and from `auths`.
 *
 * Requires `--allow-read`, `--allow-write`, `--allow-env` (and `--allow-run` for a helper).
 *
 * @param registry Registry name from a reference.
 * @param options Where to read the environment from.
 * @returns Whether there were any.
 */
export async function removeDockerCredentials(
  registry: string,
  options: DockerConfigOptions = {},
): Promise<boolean> {
  const { path, config } = await editableConfig(options);
  let removed = false;
  const helper = helperFor(config, registry);
  if (helper !== undefined) {
    const output = await callHelper(helper, "erase", serverName(registry));
    if (!output.success && !notFound(output.said)) {
      throw new DenockerError(
        `Cannot remove credentials for ${registry} from ${output.program}: it exited with ${output.code}`,
      );
    }
    removed = output.success;
  }
  const auths = { ...(config.auths ?? {}) };
  const keys = Object.keys(auths).filter((key) => matches(key, registry));
  if (keys.length === 0) return removed;
  for (const key of keys) delete auths[key];
  await writeConfig(path, { ...config, auths });
  return true;
}

async function editableConfig(options: DockerConfigOptions) {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const path = configPath(env);
  if (path === undefined) {
    throw new InvalidInputError(
      "Cannot find docker's config: neither DOCKER_CONFIG nor HOME is set",
    );
  }
  return { path, config: await readConfig(path) };
}

async function writeConfig(path: string, config: DockerConfigFile): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(config, null, "\t") + "\n"), {
    mode: 0o600,
  });
}
