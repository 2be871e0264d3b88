/**
 * When and how long to retry a registry request: connection failures,
 * resets, truncated or stalled bodies, and HTTP 408, 429, 500, 502, 503,
 * 504 are retried a bounded number of times with exponential backoff and
 * jitter, honouring `Retry-After`; anything else fails at once.
 *
 * @module
 */

import { DenockerError, NetworkError, RegistryError } from "../errors.ts";

/** How requests are retried. */
export interface RetryOptions {
  /** Attempts in all, the first included; 5 by default. */
  attempts?: number;
  /** Delay before the second attempt in milliseconds, doubled each time; 500 by default. */
  baseDelay?: number;
  /** Longest delay, also the cap on `Retry-After`, in milliseconds; 30 s by default. */
  maxDelay?: number;
}

/** A retry about to happen, for progress. */
export interface RetryEvent {
  /** What is retried, e.g. "fetch blob sha256:… of registry/repo". */
  action: string;
  /** The attempt about to be made (2 for the first retry). */
  attempt: number;
  /** Attempts in all. */
  attempts: number;
  /** Milliseconds until it is made. */
  delay: number;
  /** Why the previous attempt failed. */
  reason: string;
}

/** HTTP statuses worth another attempt. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** Network errors no retry can fix (a TLS handshake with a plain-HTTP server, a bad certificate). */
const permanentErrors = new WeakSet<Error>();

/**
 * Marks an error as not worth another attempt.
 *
 * @param error The error.
 * @returns The error.
 */
export function permanent<E extends Error>(error: E): E {
  permanentErrors.add(error);
  return error;
}

/** `Retry-After` values by error, kept out of the public error type. */
const retryAfter = new WeakMap<Error, string>();

/**
 * Marks a registry error with the response's `Retry-After`.
 *
 * @param error The error made from the response.
 * @param response The response.
 * @returns The error.
 */
export function withRetryAfter<E extends Error>(error: E, response: Response): E {
  const value = response.headers.get("retry-after");
  if (value !== null) retryAfter.set(error, value);
  return error;
}

/**
 * Whether another attempt may succeed where this error failed.
 *
 * @param error What the attempt threw.
 * @returns True for network failures and retryable statuses.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof NetworkError) return !permanentErrors.has(error);
  return error instanceof RegistryError && error.status !== undefined &&
    RETRYABLE_STATUSES.has(error.status);
}

/** Milliseconds to wait before attempt `attempt + 1`. */
function delayFor(attempt: number, options: Required<RetryOptions>, error: unknown): number {
  const header = error instanceof Error ? retryAfter.get(error) : undefined;
  if (header !== undefined) {
    const seconds = Number(header);
    const until = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
    if (Number.isFinite(until)) return Math.min(Math.max(0, until), options.maxDelay);
  }
  const exponential = options.baseDelay * 2 ** (attempt - 1);
  // Jitter: between half and all of the exponential delay, so clients do not retry in step.
  return Math.min(options.maxDelay, exponential * (0.5 + Math.random() / 2));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const id = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(id);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The final error: the last cause, with the number of attempts made. */
function exhausted(error: unknown, attempts: number): unknown {
  if (!(error instanceof DenockerError) || attempts < 2) return error;
  const message = `${error.message} (after ${attempts} attempts)`;
  const options = { cause: error.cause ?? error };
  if (error instanceof RegistryError) {
    const Class = error.constructor as typeof RegistryError;
    return new Class(message, { ...options, status: error.status, codes: error.codes });
  }
  return new (error.constructor as typeof DenockerError)(message, options);
}

/** Runs attempts of one request; see the module doc. */
export class Retrier {
  readonly #options: Required<RetryOptions>;
  readonly #onRetry?: (event: RetryEvent) => void;

  /**
   * Creates a retrier.
   *
   * @param options Attempts and delays.
   * @param onRetry Told before each retry.
   */
  constructor(options: RetryOptions = {}, onRetry?: (event: RetryEvent) => void) {
    this.#options = {
      attempts: Math.max(1, options.attempts ?? 5),
      baseDelay: options.baseDelay ?? 500,
      maxDelay: options.maxDelay ?? 30_000,
    };
    this.#onRetry = onRetry;
  }

  /** Attempts in all. */
  get attempts(): number {
    return this.#options.attempts;
  }

  /**
   * Runs `attempt` until it succeeds, fails for good, or runs out of attempts.
   *
   * @param action What is done, for progress.
   * @param attempt One attempt.
   * @param signal Stops waiting and attempting.
   * @returns What the successful attempt returned.
   */
  async run<T>(action: string, attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let made = 1;; made++) {
      try {
        return await attempt();
      } catch (error) {
        if (signal?.aborted || !isRetryable(error)) throw error;
        await this.pause(action, made, error, signal);
      }
    }
  }

  /**
   * Waits before the next attempt, or throws the final error when none is left.
   *
   * @param action What is done.
   * @param made Attempts made so far.
   * @param error Why the last one failed.
   * @param signal Stops the wait.
   */
  async pause(action: string, made: number, error: unknown, signal?: AbortSignal): Promise<void> {
    if (made >= this.#options.attempts) throw exhausted(error, made);
    const delay = delayFor(made, this.#options, error);
    this.#onRetry?.({
      action,
      attempt: made + 1,
      attempts: this.#options.attempts,
      delay,
      reason: error instanceof Error ? error.message : String(error),
    });
    await sleep(delay, signal);
  }
}
