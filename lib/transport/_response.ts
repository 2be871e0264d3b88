/**
 * Reading a registry's answers: bodies read whole up to a size cap, and an
 * error response turned into a `RegistryError` with the distribution
 * error codes, the status and any `Retry-After`.
 *
 * @module
 */

import { AuthenticationError, InvalidInputError, RegistryError } from "../errors.ts";
import { withRetryAfter } from "./_retry.ts";

const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * Reads a body whole, refusing one over `cap` bytes (announced or sent).
 *
 * @param response The response.
 * @param cap Bytes allowed.
 * @param what Names the body in messages.
 * @returns The bytes.
 */
export async function readCapped(
  response: Response,
  cap: number,
  what: string,
): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > cap) {
    await response.body?.cancel();
    throw new InvalidInputError(
      `Cannot fetch ${what}: ${declared} bytes is over the ${cap}-byte limit`,
    );
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body) {
    for await (const chunk of response.body) {
      total += chunk.byteLength;
      if (total > cap) {
        throw new InvalidInputError(`Cannot fetch ${what}: more than the ${cap}-byte limit`);
      }
      chunks.push(chunk);
    }
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * The error an error response means: its distribution error codes and
 * message, the HTTP status, and `Retry-After`; 401 and 403 are an
 * `AuthenticationError`.
 *
 * @param response The response (its body is read).
 * @param action What failed, e.g. "fetch manifest …".
 * @returns The error to throw.
 */
export async function errorFrom(response: Response, action: string): Promise<RegistryError> {
  let detail = "";
  const codes: string[] = [];
  try {
    const text = new TextDecoder().decode(
      await readCapped(response, MAX_ERROR_BODY_BYTES, "error body"),
    );
    const body = JSON.parse(text);
    for (const error of body.errors ?? []) {
      if (typeof error.code === "string") codes.push(error.code);
      if (typeof error.message === "string" && detail === "") detail = error.message;
    }
  } catch {
    // A body that is not a distribution error says nothing more than the status.
  }
  const reason = codes.length > 0
    ? `${codes.join(", ")}${detail ? ` (${detail})` : ""}`
    : response.statusText || "request failed";
  const ErrorClass = response.status === 401 || response.status === 403
    ? AuthenticationError
    : RegistryError;
  return withRetryAfter(
    new ErrorClass(`Cannot ${action}: ${reason} (HTTP ${response.status})`, {
      status: response.status,
      codes,
    }),
    response,
  );
}
