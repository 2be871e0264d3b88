/**
 * Where a registry's API is: which hosts are reached over plain HTTP
 * (loopback hosts, and those named `--insecure-registry`), and the API's
 * origin for a registry name.
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";
import { registryApiHost } from "../model/reference.ts";

/**
 * Whether a registry host is a loopback address, reached over plain HTTP.
 *
 * @param host Host with optional port.
 * @returns True for `localhost`, `127.0.0.0/8` and `::1`.
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return name === "localhost" || name === "[::1]" || /^127(\.[0-9]{1,3}){3}$/.test(name);
}

/**
 * Reads an `--insecure-registry` entry as docker does: `HOST[:PORT]`, with
 * an `http://` or `https://` prefix stripped (it says nothing: the entry
 * always means plain HTTP). Other schemes, paths and malformed hosts are
 * refused with an `InvalidInputError` naming the entry.
 *
 * @example
 * ```ts
 * import { parseInsecureRegistry } from "@denocker/denocker";
 * parseInsecureRegistry("http://registry.lan:5000"); // "registry.lan:5000"
 * ```
 *
 * @param entry The entry as given.
 * @returns `HOST[:PORT]`.
 */
export function parseInsecureRegistry(entry: string): string {
  const fail = (reason: string) =>
    new InvalidInputError(
      `Cannot use insecure registry "${entry}": ${reason}; expected HOST[:PORT]`,
    );
  let host = entry.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(host);
  if (scheme) {
    if (!/^https?$/i.test(scheme[1])) throw fail(`the scheme ${scheme[1]}:// is not HTTP`);
    host = host.slice(scheme[0].length);
  }
  host = host.replace(/\/$/, "");
  if (host === "") throw fail("no host");
  if (host.includes("/")) throw fail("it names a path, not just a host");
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]+))?$/.exec(host);
  if (!match || (match[2] !== undefined && (Number(match[2]) < 1 || Number(match[2]) > 65535))) {
    throw fail("not a host name with an optional port");
  }
  return host.toLowerCase();
}

/**
 * The API origin of a registry: `https://HOST`, or `http://HOST` for a
 * loopback host or one of `insecureRegistries` (with or without its port).
 *
 * @param registry Registry name from a reference, e.g. `docker.io`.
 * @param insecureRegistries `--insecure-registry` entries.
 * @returns The origin, e.g. `https://registry-1.docker.io`.
 */
export function registryOrigin(registry: string, insecureRegistries: string[] = []): string {
  const host = registryApiHost(registry);
  const name = host.toLowerCase();
  const insecure = isLoopbackHost(host) ||
    insecureRegistries.map(parseInsecureRegistry).some((entry) =>
      entry === name || entry === name.replace(/:[0-9]+$/, "")
    );
  return `${insecure ? "http" : "https"}://${host}`;
}
