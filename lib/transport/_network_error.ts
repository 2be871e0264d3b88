/**
 * Why a request never got an answer, in words: connection refused, host
 * not found, TLS failure (with the `--insecure-registry` hint when the
 * server speaks plain HTTP), reset, timed out. `fetch` says only
 * "fetch failed"; the reason is in its `cause` chain.
 *
 * @module
 */

import { NetworkError } from "../errors.ts";
import { permanent } from "./_retry.ts";

/** The messages of an error and its causes, outermost first. */
function messages(error: unknown): string[] {
  const found: string[] = [];
  for (let current = error, depth = 0; current !== undefined && depth < 8; depth++) {
    if (current instanceof Error) {
      found.push(current.message);
      current = current.cause;
    } else {
      found.push(String(current));
      break;
    }
  }
  return found;
}

/** Why a request got no answer, and whether another attempt could change it. */
interface Diagnosis {
  /** In a few words, e.g. "connection refused". */
  reason: string;
  /**
   * No retry can help, so none is made, as docker makes none: nothing
   * listens there, DNS does not know the host, Deno refuses the port, or TLS
   * is misconfigured (a plain-HTTP registry, an untrusted certificate).
   * Resets, timeouts and broken bodies are retried.
   */
  final: boolean;
}

/**
 * Diagnoses a failed request from its cause.
 *
 * @param error What `fetch` threw.
 * @param host The host (and port) the request went to.
 * @returns The reason and whether it is final.
 */
function diagnose(error: unknown, host: string): Diagnosis {
  const retryable = (reason: string) => ({ reason, final: false });
  const final = (reason: string) => ({ reason, final: true });
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return retryable(error.message);
  }
  const chain = messages(error);
  const all = chain.join(" | ");
  const name = host.replace(/:[0-9]+$/, "");
  if (/connection refused|os error 111|ECONNREFUSED/i.test(all)) return final("connection refused");
  const blocked = /Requests to port ([0-9]+) are blocked/.exec(all);
  if (blocked) {
    return final(`port ${blocked[1]} is one Deno never connects to (a port browsers block too)`);
  }
  if (/dns error|failed to lookup address|ENOTFOUND|name resolution|not known/i.test(all)) {
    return final(`host not found (DNS lookup of ${name} failed)`);
  }
  if (
    /InvalidContentType|corrupt message|wrong version number|http request to an https/i.test(all)
  ) {
    return final(
      `TLS handshake failed: ${host} does not speak HTTPS; if it is a plain-HTTP registry, ` +
        `use --insecure-registry ${host}`,
    );
  }
  if (/certificate|UnknownIssuer|NotValidForName|CertExpired/i.test(all)) {
    const detail = chain[chain.length - 1].replace(/^.*client error \(Connect\): /, "");
    return final(`TLS certificate not accepted: ${detail}`);
  }
  if (/tls|handshake/i.test(all)) {
    return final(`TLS handshake failed: ${chain[chain.length - 1].replace(/^.*: /, "")}`);
  }
  if (/timed out|os error 110|ETIMEDOUT/i.test(all)) return retryable("connection timed out");
  if (/connection reset|os error 104|ECONNRESET/i.test(all)) {
    return retryable("connection reset by the server");
  }
  if (
    /error reading a body|connection closed before message completed|IncompleteMessage/i.test(all)
  ) {
    return retryable("the connection broke off while the body was read");
  }
  if (/network is unreachable|os error 101|ENETUNREACH/i.test(all)) {
    return retryable("network unreachable");
  }
  // Deno's own wording is better than nothing; drop the URL it repeats.
  return retryable(
    chain[chain.length - 1].replace(/^error sending request for url \([^)]*\): /, ""),
  );
}

/**
 * The error for a request that got no answer: a {@link NetworkError} whose
 * message names the action, the host and the reason, with the original
 * error as its `cause`; marked final where no retry can help.
 *
 * @param error What `fetch` threw.
 * @param action What was being done, e.g. "fetch manifest …".
 * @param host The host (and port) the request went to.
 * @returns The error to throw.
 */
export function networkError(error: unknown, action: string, host: string): NetworkError {
  if (error instanceof Deno.errors.NotCapable) {
    return permanent(
      new NetworkError(
        `Cannot ${action}: Deno was not given network access to ${host} (--allow-net=${host})`,
        { cause: error },
      ),
    );
  }
  const { reason, final } = diagnose(error, host);
  const failure = new NetworkError(`Cannot ${action}: cannot reach ${host}: ${reason}`, {
    cause: error,
  });
  return final ? permanent(failure) : failure;
}

/**
 * Runs a `fetch` that must answer (send its headers) within `timeout`
 * milliseconds; the body may take longer. A late answer fails with a
 * `TimeoutError` naming the limit.
 *
 * @param fetcher The fetch to use.
 * @param url Where to.
 * @param init The request; its signal still aborts it.
 * @param timeout Milliseconds to wait for the response headers.
 * @returns The response.
 */
export async function fetchWithTimeout(
  fetcher: typeof fetch,
  url: URL,
  init: RequestInit,
  timeout: number,
): Promise<Response> {
  const timer = new AbortController();
  const id = setTimeout(() => {
    timer.abort(
      new DOMException(`timed out: no answer within ${timeout / 1000} s`, "TimeoutError"),
    );
  }, timeout);
  try {
    const signal = init.signal ? AbortSignal.any([init.signal, timer.signal]) : timer.signal;
    return await fetcher(url, { ...init, signal });
  } catch (error) {
    if (timer.signal.aborted && !init.signal?.aborted) throw timer.signal.reason;
    throw error;
  } finally {
    clearTimeout(id);
  }
}
