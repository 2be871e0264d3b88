/**
 * denocker's own configuration file: per-registry mirrors (pull-through
 * caches) and plain-HTTP registries, and the default network's address
 * (`bip`, as docker's `daemon.json`: the bridge's address and prefix).
 *
 * ```json
 * {
 *   "registries": {
 *     "docker.io": { "mirrors": ["https://cache.lan:5000"] },
 *     "registry.lan:5000": { "insecure": true }
 *   },
 *   "bip": "10.77.0.1/16"
 * }
 * ```
 *
 * @module
 */

import { join } from "../io/path.ts";
import { InvalidInputError } from "../errors.ts";
import { DOCKER_HUB } from "../model/reference.ts";
import { permissionGranted } from "../permissions.ts";
import { parseInsecureRegistry } from "./endpoint.ts";

/** What the config says of one registry. */
export interface RegistrySettings {
  /**
   * Base URLs (`http://` or `https://`, host and port, no path) of mirrors
   * asked first, in order, for the same repository paths.
   */
  mirrors?: string[];
  /** Reach the registry itself over plain HTTP (as `--insecure-registry`). */
  insecure?: boolean;
}

/** Settings by registry name (`docker.io` for Docker Hub, else `HOST[:PORT]`). */
export type RegistriesConfig = Record<string, RegistrySettings>;

/** The config file's content, checked. */
export interface DenockerConfig {
  /** Settings by registry name. */
  registries: RegistriesConfig;
  /**
   * The default network's bridge address and prefix (`10.77.0.1/16`: the
   * gateway, in subnet 10.77.0.0/16); 172.29.0.1/16 when not set.
   */
  bip?: string;
}

/** Options for {@link readConfig}. */
export interface ReadConfigOptions {
  /** Environment to read `DENOCKER_CONFIG`, `XDG_CONFIG_HOME` and `HOME` from; `Deno.env` by default. */
  env?: (name: string) => string | undefined;
}

/** Other names of Docker Hub, folded into `docker.io` as references fold them. */
const DOCKER_HUB_ALIASES = new Set(["index.docker.io", "registry-1.docker.io"]);

/**
 * Where the config file is: `$DENOCKER_CONFIG`, else
 * `$XDG_CONFIG_HOME/denocker/config.json`, else `~/.config/denocker/config.json`.
 *
 * @param options Where to read the environment.
 * @returns The path, and whether the user named it (`DENOCKER_CONFIG`), or undefined without `HOME`.
 */
export function configPath(
  options: ReadConfigOptions = {},
): { path: string; explicit: boolean } | undefined {
  const env = options.env ??
    ((name: string) =>
      permissionGranted({ name: "env", variable: name }) ? Deno.env.get(name) : undefined);
  const named = env("DENOCKER_CONFIG");
  if (named) return { path: named, explicit: true };
  const xdg = env("XDG_CONFIG_HOME");
  if (xdg) return { path: join(xdg, "denocker", "config.json"), explicit: false };
  const home = env("HOME");
  return home
    ? { path: join(home, ".config", "denocker", "config.json"), explicit: false }
    : undefined;
}

/** A registry name as references spell it: lower case, Docker Hub as `docker.io`. */
function registryKey(name: string): string {
  const key = name.toLowerCase();
  return DOCKER_HUB_ALIASES.has(key) ? DOCKER_HUB : key;
}

/**
 * Checks a mirror's URL: `http://` or `https://`, a host, no path, query,
 * fragment or credentials.
 *
 * @param value The URL as written.
 * @returns The URL's origin, e.g. `http://127.0.0.1:5001`.
 * @throws {InvalidInputError} When it is not such a URL.
 */
export function parseMirrorUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidInputError(`"${value}" is not a URL; expected http(s)://HOST[:PORT]`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidInputError(
      `"${value}": the scheme ${url.protocol}// is not HTTP; expected http(s)://HOST[:PORT]`,
    );
  }
  if (url.username || url.password) {
    throw new InvalidInputError(
      `"${value}": credentials do not belong in a mirror's URL; use denocker login`,
    );
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    throw new InvalidInputError(
      `"${value}": a mirror is asked for the same paths as the registry, so its URL takes no path, query or fragment`,
    );
  }
  return url.origin;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The keys a config document may have, and those of one registry's settings. */
const TOP_KEYS = ["registries", "bip"];
const REGISTRY_KEYS = ["mirrors", "insecure"];

/** Levenshtein distance: how many letters to add, drop or change to get from `a` to `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j] + 1,
        row[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length];
}

/**
 * Fails on the first key not in `known`: a typo (`"mirror":`) would
 * otherwise be a setting silently not applied.
 */
function refuseUnknownKeys(object: Record<string, unknown>, known: string[], where: string) {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const close = known.find((name) => editDistance(key, name) <= Math.max(2, name.length / 3));
    const hint = close ? `; did you mean "${close}"?` : `; known keys: ${known.join(", ")}`;
    throw new InvalidInputError(`unknown key "${key}"${where ? ` in ${where}` : ""}${hint}`);
  }
}

/**
 * Checks a config document. Every key must be one denocker knows (a typo
 * is an error naming it), with the right shape.
 *
 * @param document The parsed JSON.
 * @returns The config, registry names folded as references fold them.
 * @throws {InvalidInputError} Naming the first wrong entry.
 */
export function parseConfig(document: unknown): DenockerConfig {
  if (!isObject(document)) throw new InvalidInputError("it is not a JSON object");
  refuseUnknownKeys(document, TOP_KEYS, "");
  const registries: RegistriesConfig = {};
  const given = document.registries ?? {};
  if (!isObject(given)) throw new InvalidInputError(`"registries" is not an object`);
  for (const [name, settings] of Object.entries(given)) {
    const where = `registries["${name}"]`;
    let key: string;
    try {
      key = registryKey(parseInsecureRegistry(name));
    } catch (error) {
      throw new InvalidInputError(`${where}: ${(error as Error).message}`, { cause: error });
    }
    if (!isObject(settings)) throw new InvalidInputError(`${where} is not an object`);
    refuseUnknownKeys(settings, REGISTRY_KEYS, where);
    const entry: RegistrySettings = {};
    if (settings.mirrors !== undefined) {
      if (!Array.isArray(settings.mirrors)) {
        throw new InvalidInputError(`${where}.mirrors is not an array of URLs`);
      }
      entry.mirrors = settings.mirrors.map((mirror, i) => {
        if (typeof mirror !== "string") {
          throw new InvalidInputError(`${where}.mirrors[${i}] is not a string`);
        }
        try {
          return parseMirrorUrl(mirror);
        } catch (error) {
          throw new InvalidInputError(`${where}.mirrors[${i}]: ${(error as Error).message}`, {
            cause: error,
          });
        }
      });
    }
    if (settings.insecure !== undefined) {
      if (typeof settings.insecure !== "boolean") {
        throw new InvalidInputError(`${where}.insecure is not true or false`);
      }
      entry.insecure = settings.insecure;
    }
    registries[key] = entry;
  }
  if (document.bip === undefined) return { registries };
  return { registries, bip: parseBip(document.bip) };
}

/**
 * Checks a `bip`: an IPv4 address with a prefix of 8 to 30 bits that is
 * neither the subnet's first nor its last address.
 */
function parseBip(value: unknown): string {
  const match = typeof value === "string"
    ? /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value)
    : null;
  const octets = match?.slice(1, 5).map(Number) ?? [];
  const prefix = Number(match?.[5]);
  if (!match || octets.some((octet) => octet > 255) || prefix < 8 || prefix > 30) {
    throw new InvalidInputError(
      `"bip": ${
        JSON.stringify(value)
      } is not ADDRESS/PREFIX (an IPv4 address, a prefix of 8 to 30)`,
    );
  }
  const address = octets.reduce((sum, octet) => sum * 256 + octet, 0);
  const size = 2 ** (32 - prefix);
  if (address % size === 0 || address % size === size - 1) {
    throw new InvalidInputError(
      `"bip": ${value} is its subnet's network or broadcast address; give the bridge's own`,
    );
  }
  return value as string;
}

/**
 * Reads the config file ({@link configPath}). A missing file at the
 * default place is an empty config; a missing file named by
 * `DENOCKER_CONFIG`, unreadable JSON or a wrong entry is an error.
 *
 * Requires `--allow-env` and `--allow-read` of the file (without the
 * latter, the config is empty).
 *
 * @example
 * ```ts
 * import { readConfig } from "@denocker/denocker";
 * const { registries } = await readConfig();
 * console.log(registries["docker.io"]?.mirrors ?? []);
 * ```
 *
 * @param options Where to read the environment.
 * @returns The config.
 * @throws {InvalidInputError} Naming the file and what is wrong in it.
 */
export async function readConfig(options: ReadConfigOptions = {}): Promise<DenockerConfig> {
  const location = configPath(options);
  if (location === undefined) return { registries: {} };
  const { path, explicit } = location;
  if (!explicit && !permissionGranted({ name: "read", path })) return { registries: {} };
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && !explicit) return { registries: {} };
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file (named by DENOCKER_CONFIG)"
      : (error as Error).message;
    throw new InvalidInputError(`Cannot read config ${path}: ${reason}`, { cause: error });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(
      `Cannot read config ${path}: it is not JSON (${(error as Error).message})`,
      { cause: error },
    );
  }
  try {
    return parseConfig(document);
  } catch (error) {
    throw new InvalidInputError(`Cannot read config ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * The mirrors of a registry, in the order to ask them.
 *
 * @param registries The config's registries.
 * @param registry A registry name as in references.
 * @returns Mirror base URLs; empty when none.
 */
export function mirrorsOf(registries: RegistriesConfig | undefined, registry: string): string[] {
  return registries?.[registryKey(registry)]?.mirrors ?? [];
}

/**
 * The registries the config marks `insecure`.
 *
 * @param registries The config's registries.
 * @returns Their names, as `--insecure-registry` takes them.
 */
export function insecureRegistriesOf(registries: RegistriesConfig | undefined): string[] {
  return Object.entries(registries ?? {}).filter(([, settings]) => settings.insecure).map((
    [name],
  ) => name);
}
