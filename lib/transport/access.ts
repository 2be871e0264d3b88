/**
 * Registry access, made in one place for every command: credentials
 * (docker's by default), the config file's registries (mirrors and
 * `insecure`, read unless given), `--insecure-registry`, and the transport
 * settings (fetch, retries, timeouts).
 *
 * @module
 */

import { insecureRegistriesOf, mirrorsOf, readConfig, type RegistriesConfig } from "./config.ts";
import { type CredentialLookup, dockerConfigCredentials } from "./credentials.ts";
import { type ImageSource, MirroredRegistry, type MirrorFallback } from "./mirrors.ts";
import {
  RegistryClient,
  type RegistryClientOptions,
  type RetryEvent,
  type RetryOptions,
} from "./registry.ts";

/** How to reach registries: what every command that reaches one takes. */
export interface RemoteOptions {
  /** `HOST[:PORT]` registries reached over plain HTTP besides loopback ones. */
  insecureRegistries?: string[];
  /**
   * Settings by registry, as in denocker's config file: by default the
   * config file's own (`readConfig`); `{}` for none. Registries marked
   * `insecure` are reached over plain HTTP; `pull` asks `mirrors` first.
   */
  registries?: RegistriesConfig;
  /** Credential lookup; docker's `config.json` by default. */
  credentials?: CredentialLookup;
  /** The fetch to use; inject one to test. */
  fetch?: typeof fetch;
  /** How failed requests are retried: 5 attempts, from 0.5 s doubling, by default. */
  retry?: RetryOptions;
  /** Milliseconds to wait for each response's headers; 30 s by default. */
  responseTimeout?: number;
  /** Milliseconds a blob may go without a byte before its transfer is resumed; 30 s by default. */
  stallTimeout?: number;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** What an operation is told while it talks to registries. */
export interface AccessEvents {
  /** Before each retry. */
  onRetry?: (event: RetryEvent) => void;
  /** When a mirror fails and the next source is asked. */
  onFallback?: (fallback: MirrorFallback) => void;
}

/** Registry clients made alike, from one set of options. */
export interface RegistryAccess {
  /**
   * A client of one registry.
   *
   * @param registry `HOST[:PORT]`, or `docker.io`.
   * @returns The client.
   */
  client(registry: string): RegistryClient;
  /**
   * Where to pull from: the registry, behind its configured mirrors when
   * it has any (a mirror is tried once, the registry has the last word).
   *
   * @param registry `HOST[:PORT]`, or `docker.io`.
   * @returns The source.
   */
  source(registry: string): ImageSource;
}

/**
 * Makes registry access from an operation's options, reading the config
 * file when `registries` is not given.
 *
 * Requires `--allow-env` (and `--allow-read` of the config file to read it).
 *
 * @param options The operation's transport options.
 * @param events What to tell the operation.
 * @returns Clients made alike.
 */
export async function registryAccess(
  options: RemoteOptions,
  events: AccessEvents = {},
): Promise<RegistryAccess> {
  const registries = options.registries ?? (await readConfig()).registries;
  const transport: RegistryClientOptions = {
    fetch: options.fetch,
    credentials: options.credentials ?? dockerConfigCredentials(),
    insecureRegistries: [
      ...(options.insecureRegistries ?? []),
      ...insecureRegistriesOf(registries),
    ],
    responseTimeout: options.responseTimeout,
    stallTimeout: options.stallTimeout,
    retry: options.retry,
    onRetry: events.onRetry,
  };
  const client = (registry: string) => new RegistryClient(registry, transport);
  return {
    client,
    source(registry) {
      const direct = client(registry);
      const mirrors = mirrorsOf(registries, registry);
      if (mirrors.length === 0) return direct;
      return new MirroredRegistry(
        direct,
        mirrors.map((url) => ({
          url,
          // A mirror is not retried: the next source is there, and the registry has the last word.
          client: new RegistryClient(new URL(url).host, {
            ...transport,
            baseUrl: url,
            retry: { ...options.retry, attempts: 1 },
          }),
        })),
        { onFallback: events.onFallback },
      );
    },
  };
}
