/**
 * `login` and `logout`: credentials checked against a registry, then kept
 * in docker's `config.json`, where pulls (and docker) find them.
 *
 * @module
 */

import { AuthenticationError, InvalidInputError } from "../errors.ts";
import { DOCKER_HUB } from "../model/reference.ts";
import {
  type DockerConfigOptions,
  removeDockerCredentials,
  saveDockerCredentials,
} from "../transport/credentials.ts";
import { parseInsecureRegistry } from "../transport/endpoint.ts";
import { registryAccess, type RemoteOptions } from "../transport/access.ts";

/** Options for {@link login} and {@link logout}. */
export interface LoginOptions extends Omit<RemoteOptions, "credentials">, DockerConfigOptions {}

/** The registry name a user typed, as references name it (`docker.io` for Docker Hub). */
function registryName(text: string): string {
  const host = parseInsecureRegistry(text);
  return ["docker.io", "index.docker.io", "registry-1.docker.io"].includes(host)
    ? DOCKER_HUB
    : host;
}

/**
 * Checks credentials against a registry (its Basic or Bearer token flow on
 * `/v2/`) and, when they work, saves them as `docker login` does: in the
 * credential helper docker's `config.json` names, else in its `auths`.
 * Wrong credentials save nothing and throw an `AuthenticationError`.
 *
 * Requires `--allow-net`, `--allow-read`, `--allow-write` and `--allow-env`
 * (and `--allow-run` for a credential helper).
 *
 * @example
 * ```ts
 * import { login } from "@denocker/denocker";
 * await login("registry.lan:5000", { username: "ci", password: "secret" });
 * ```
 *
 * @param registry `HOST[:PORT]`, e.g. `ghcr.io` or `localhost:5000`.
 * @param credentials User and password.
 * @param options Transport options, and the environment that locates `config.json`.
 * @returns Where they went: the helper's program name or the config file's path.
 */
export async function login(
  registry: string,
  credentials: { username: string; password: string },
  options: LoginOptions = {},
): Promise<string> {
  if (credentials.username === "" || credentials.password === "") {
    throw new InvalidInputError(`Cannot log in to ${registry}: a user and a password are needed`);
  }
  const name = registryName(registry);
  // The credentials being checked, not those stored.
  const client = (await registryAccess({
    ...options,
    credentials: () =>
      Promise.resolve({ username: credentials.username, secret: credentials.password }),
  })).client(name);
  try {
    await client.ping({ signal: options.signal });
  } catch (error) {
    if (!(error instanceof AuthenticationError)) throw error;
    throw new AuthenticationError(
      `Cannot log in to ${name}: the registry refused the user or password (HTTP ${
        error.status ?? 401
      })`,
      { status: error.status, cause: error },
    );
  }
  return saveDockerCredentials(
    name,
    { username: credentials.username, secret: credentials.password },
    options,
  );
}

/**
 * Removes a registry's credentials as `docker logout` does: from its
 * credential helper and from docker's `config.json`.
 *
 * Requires `--allow-read`, `--allow-write` and `--allow-env` (and
 * `--allow-run` for a credential helper).
 *
 * @param registry `HOST[:PORT]`.
 * @param options The environment that locates `config.json`.
 * @returns Whether there were any.
 */
export function logout(registry: string, options: DockerConfigOptions = {}): Promise<boolean> {
  return removeDockerCredentials(registryName(registry), options);
}
