/**
 * How one request reaches a registry, as layers around `fetch` (as
 * go-containerregistry composes its transports): a response timeout on
 * each hop, redirects followed by hand (bounded, relative `Location`s
 * resolved, no HTTPS to HTTP downgrade, the registry's `Authorization`
 * never sent to another origin), and an auth challenge (401) answered
 * once. Retries are another layer, above (`_retry.ts`).
 *
 * @module
 */

import { RegistryError } from "../errors.ts";
import type { Authenticator } from "./_auth.ts";
import { fetchWithTimeout, networkError } from "./_network_error.ts";

/** One request to a registry's API. */
export interface RegistryRequest {
  /** HTTP method. */
  method: string;
  /** `Accept`. */
  accept?: string;
  /** The token scope it needs, e.g. `repository:team/app:pull`; "" for none. */
  scope: string;
  /** Ends it. */
  signal?: AbortSignal;
  /** Asks for the bytes from this offset on (`Range: bytes=N-`). */
  range?: number;
  /** The body sent. */
  body?: BodyInit;
  /** `Content-Type` of the body. */
  contentType?: string;
  /** `Content-Range` of the body (a chunk of an upload). */
  contentRange?: string;
}

/** Sends a request to a path or URL of the registry; `action` names it in errors. */
export type Send = (path: string, request: RegistryRequest, action: string) => Promise<Response>;

/** What the policy needs. */
export interface HttpPolicyOptions {
  /** The API's origin; relative paths are resolved against it. */
  baseUrl: string;
  /** The fetch under it (a {@link timedFetch}). */
  fetch: typeof fetch;
  /** Redirect hops allowed. */
  maxRedirects: number;
  /** Answers auth challenges and holds the tokens. */
  auth: Authenticator;
}

/**
 * A fetch with a response timeout: the first layer, also used for the
 * token service.
 *
 * @param base The fetch under it.
 * @param timeout Milliseconds to wait for the response headers.
 * @returns The timed fetch.
 */
export function timedFetch(base: typeof fetch, timeout: number): typeof fetch {
  return (input, init) =>
    fetchWithTimeout(base, new URL(input instanceof Request ? input.url : input), {
      ...init,
    }, timeout);
}

/**
 * The registry's send: auth and redirects over `options.fetch`.
 *
 * @param options Origin, fetch, limits, authenticator.
 * @returns The send function.
 */
export function httpPolicy(options: HttpPolicyOptions): Send {
  const { baseUrl, auth, maxRedirects } = options;
  const fetcher = options.fetch;
  const origin = new URL(baseUrl).origin;
  return async (path, request, action) => {
    let answeredChallenge = false;
    let url = new URL(path, baseUrl);
    for (let hop = 0;;) {
      const authorization = url.origin === origin ? auth.authorization(request.scope) : undefined;
      let response: Response;
      try {
        response = await fetcher(url, {
          method: request.method,
          headers: headersOf(request, authorization),
          body: request.body,
          redirect: "manual",
          signal: request.signal,
        });
      } catch (error) {
        if (request.signal?.aborted) throw request.signal.reason;
        throw networkError(error, action, url.host);
      }
      if (response.status === 401 && url.origin === origin && !answeredChallenge) {
        await response.body?.cancel();
        answeredChallenge = true;
        await auth.answer(response.headers.get("www-authenticate"), request.scope);
        continue;
      }
      if (!isRedirect(response)) return response;
      await response.body?.cancel();
      if (++hop > maxRedirects) {
        throw new RegistryError(`Cannot ${action}: more than ${maxRedirects} redirects`);
      }
      url = redirectTarget(response, url, action);
    }
  };
}

/** The request's headers; `authorization` only when sent to the registry's own origin. */
function headersOf(request: RegistryRequest, authorization: string | undefined): Headers {
  const headers = new Headers();
  if (request.accept) headers.set("Accept", request.accept);
  if (request.range) headers.set("Range", `bytes=${request.range}-`);
  if (request.contentType) headers.set("Content-Type", request.contentType);
  if (request.contentRange) headers.set("Content-Range", request.contentRange);
  if (authorization) headers.set("Authorization", authorization);
  return headers;
}

/** Whether a response is a redirect to follow. */
function isRedirect(response: Response): boolean {
  return response.status >= 300 && response.status < 400 && response.headers.has("location");
}

/**
 * Where a redirect points, resolved against `url`. A downgrade to HTTP and
 * a scheme other than HTTP(S) are refused.
 */
function redirectTarget(response: Response, url: URL, action: string): URL {
  const next = new URL(response.headers.get("location")!, url);
  if (url.protocol === "https:" && next.protocol !== "https:") {
    throw new RegistryError(
      `Cannot ${action}: refusing redirect from HTTPS to ${
        next.protocol.slice(0, -1)
      } (${next.host})`,
    );
  }
  if (next.protocol !== "https:" && next.protocol !== "http:") {
    throw new RegistryError(`Cannot ${action}: refusing redirect to ${next.protocol} URL`);
  }
  return next;
}
