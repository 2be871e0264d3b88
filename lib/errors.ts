/**
 * Error classes for conditions a caller is expected to tell apart.
 *
 * Everything else is reported with the built-in classes (`TypeError` for
 * malformed input, `RangeError` for limits) and a message shaped
 * "Cannot <action>: <reason>".
 *
 * @module
 */

/** A registry answered with an error status or broke the distribution protocol. */
export class RegistryError extends Error {
  /** HTTP status of the failing response, when there was one. */
  readonly status?: number;
  /** Distribution error codes from the response body, e.g. `MANIFEST_UNKNOWN`. */
  readonly codes: string[];

  /**
   * Creates the error.
   *
   * @param message Human-readable, one line, never containing credentials.
   * @param options HTTP status, distribution error codes, and the underlying
   *   error (a network failure) as `cause`.
   */
  constructor(
    message: string,
    options: { status?: number; codes?: string[]; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RegistryError";
    this.status = options.status;
    this.codes = options.codes ?? [];
  }
}

/** Content did not match the digest or size it was announced with. */
export class VerificationError extends Error {
  /**
   * Creates the error.
   *
   * @param message Names the content and what did not match.
   */
  constructor(message: string) {
    super(message);
    this.name = "VerificationError";
  }
}

/** A layer archive breaks a safety rule or is not a well-formed layer. */
export class MalformedLayerError extends Error {
  /**
   * Creates the error.
   *
   * @param message Names the entry and the rule it breaks.
   */
  constructor(message: string) {
    super(message);
    this.name = "MalformedLayerError";
  }
}

/** A reference or image ID matched nothing in the local store. */
export class ImageNotFoundError extends Error {
  /**
   * Creates the error.
   *
   * @param message Names what was looked up.
   */
  constructor(message: string) {
    super(message);
    this.name = "ImageNotFoundError";
  }
}
