/**
 * The registry authentication flow: parsing `WWW-Authenticate` challenges,
 * fetching Bearer tokens (cached per scope until they expire) and Basic
 * credentials.
 *
 * @module
 */

import { type CredentialLookup, type Credentials, IDENTITY_TOKEN_USER } from "./credentials.ts";
import { AuthenticationError } from "../errors.ts";
import { networkError } from "./_network_error.ts";

/** One challenge of a `WWW-Authenticate` header. */
export interface Challenge {
  /** Lowercase scheme, e.g. `bearer`, `basic`. */
  scheme: string;
  /** Parameters such as `realm`, `service`, `scope`. */
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header into its challenges.
 *
 * @example
 * ```ts
 * import { parseChallenges } from "./_auth.ts";
 * parseChallenges('Bearer realm="https://auth.example/token",service="registry"')[0].params.realm;
 * ```
 *
 * @param header The header value.
 * @returns The challenges in order.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const readToken = (): string => {
    const start = i;
    while (i < header.length && !/[\s,=]/.test(header[i])) i++;
    return header.slice(start, i);
  };
  const skipSpaces = () => {
    while (i < header.length && /\s/.test(header[i])) i++;
  };
  while (i < header.length) {
    while (i < header.length && /[\s,]/.test(header[i])) i++;
    const token = readToken();
    if (token === "") {
      i++;
      continue;
    }
    skipSpaces();
    if (header[i] !== "=") {
      challenges.push({ scheme: token.toLowerCase(), params: {} });
      continue;
    }
    i++;
    skipSpaces();
    let value = "";
    if (header[i] === '"') {
      i++;
      while (i < header.length && header[i] !== '"') {
        if (header[i] === "\\" && i + 1 < header.length) i++;
        value += header[i++];
      }
      i++;
    } else {
      const start = i;
      while (i < header.length && header[i] !== ",") i++;
      value = header.slice(start, i).trim();
    }
    const current = challenges.at(-1);
    if (current) current.params[token.toLowerCase()] = value;
  }
  return challenges;
}

/** Options for an {@link Authenticator}. */
export interface AuthenticatorOptions {
  /** The fetch used for token requests. */
  fetch: typeof fetch;
  /** Where credentials come from. */
  credentials?: CredentialLookup;
  /** Whether the token realm may be plain HTTP (only for plain-HTTP registries). */
  allowHttpRealm: boolean;
}

interface CachedToken {
  header: string;
  expiresAt: number;
}

/** Holds the authorization state for one registry. */
export class Authenticator {
  readonly #registry: string;
  readonly #options: AuthenticatorOptions;
  readonly #tokens = new Map<string, CachedToken>();
  #basic: string | undefined;
  #credentials: Promise<Credentials | undefined> | undefined;

  /**
   * Creates the state for one registry.
   *
   * @param registry Registry name used to look up credentials.
   * @param options Fetch, credentials, and realm policy.
   */
  constructor(registry: string, options: AuthenticatorOptions) {
    this.#registry = registry;
    this.#options = options;
  }

  /**
   * The `Authorization` header to send for a scope, if one is known.
   *
   * @param scope A token scope such as `repository:library/alpine:pull`.
   * @returns The header value, or undefined.
   */
  authorization(scope: string): string | undefined {
    const token = this.#tokens.get(scope);
    if (token && token.expiresAt > Date.now()) return token.header;
    return this.#basic;
  }

  #lookupCredentials(): Promise<Credentials | undefined> {
    this.#credentials ??= this.#options.credentials?.(this.#registry) ?? Promise.resolve(undefined);
    return this.#credentials;
  }

  /**
   * Answers a 401 challenge, so that the next {@link authorization} call
   * returns a header for the scope.
   *
   * @param header The `WWW-Authenticate` header of the 401 response.
   * @param scope The scope of the request that was refused.
   */
  async answer(header: string | null, scope: string): Promise<void> {
    const challenges = parseChallenges(header ?? "");
    const bearer = challenges.find((challenge) => challenge.scheme === "bearer");
    const basic = challenges.find((challenge) => challenge.scheme === "basic");
    if (bearer) return this.#fetchToken(bearer, scope);
    if (basic) {
      const credentials = await this.#lookupCredentials();
      if (!credentials) {
        throw new AuthenticationError(
          `Cannot authenticate to ${this.#registry}: it needs a login`,
          {
            status: 401,
          },
        );
      }
      this.#basic = basicHeader(credentials);
      return;
    }
    throw new AuthenticationError(
      `Cannot authenticate to ${this.#registry}: unsupported challenge "${header ?? ""}"`,
      { status: 401 },
    );
  }

  async #fetchToken(challenge: Challenge, scope: string): Promise<void> {
    const { url, init } = await this.#tokenRequest(challenge, scope);
    let response: Response;
    try {
      response = await this.#options.fetch(url, init);
    } catch (error) {
      throw networkError(error, `authenticate to ${this.#registry}`, url.host);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new AuthenticationError(
        `Cannot authenticate to ${this.#registry}: token service answered ${response.status}${
          response.status === 401 ? " (wrong or missing credentials)" : ""
        }`,
        { status: response.status },
      );
    }
    this.#tokens.set(scope, await this.#tokenOf(response));
  }

  /**
   * The token request a challenge asks for: its realm (HTTPS, or HTTP where
   * allowed), service and scope; with credentials, basic auth, or an
   * identity token exchanged as an OAuth2 refresh token (as docker does).
   */
  async #tokenRequest(
    challenge: Challenge,
    scope: string,
  ): Promise<{ url: URL; init: RequestInit }> {
    let url: URL;
    try {
      url = new URL(challenge.params.realm);
    } catch {
      throw new AuthenticationError(
        `Cannot authenticate to ${this.#registry}: invalid token realm`,
      );
    }
    if (url.protocol !== "https:" && !(url.protocol === "http:" && this.#options.allowHttpRealm)) {
      throw new AuthenticationError(
        `Cannot authenticate to ${this.#registry}: token realm ${url.origin} is not HTTPS`,
      );
    }
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    const tokenScope = challenge.params.scope ?? scope;
    if (tokenScope) url.searchParams.set("scope", tokenScope);
    const headers = new Headers({ Accept: "application/json" });
    const credentials = await this.#lookupCredentials();
    const init: RequestInit = { headers, redirect: "error" };
    if (credentials?.username === IDENTITY_TOKEN_USER) {
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: credentials.secret,
        client_id: "denocker",
      });
      for (const key of ["service", "scope"]) {
        const value = url.searchParams.get(key);
        if (value) form.set(key, value);
      }
      url.search = "";
      return { url, init: { ...init, method: "POST", body: form } };
    }
    if (credentials) headers.set("Authorization", basicHeader(credentials));
    return { url, init };
  }

  /** The token in a token service's answer, and when to renew it. */
  async #tokenOf(response: Response): Promise<{ header: string; expiresAt: number }> {
    let body: Record<string, unknown>;
    try {
      body = await response.json();
    } catch {
      throw new AuthenticationError(
        `Cannot authenticate to ${this.#registry}: token answer is not JSON`,
      );
    }
    const token = typeof body.token === "string" && body.token !== ""
      ? body.token
      : typeof body.access_token === "string"
      ? body.access_token
      : undefined;
    if (!token) {
      throw new AuthenticationError(
        `Cannot authenticate to ${this.#registry}: token answer has no token`,
      );
    }
    const lifetime = typeof body.expires_in === "number" && body.expires_in > 0
      ? body.expires_in
      : 60;
    const issuedAt = typeof body.issued_at === "string" ? Date.parse(body.issued_at) : NaN;
    const start = Number.isNaN(issuedAt) ? Date.now() : Math.min(issuedAt, Date.now());
    // Renew a little early so a token never expires mid-request.
    return { header: `Bearer ${token}`, expiresAt: start + lifetime * 1000 - 5000 };
  }
}

function basicHeader(credentials: Credentials): string {
  const bytes = new TextEncoder().encode(`${credentials.username}:${credentials.secret}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}
