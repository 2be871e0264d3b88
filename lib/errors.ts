/**
 * denocker's errors: one family. Every failure denocker reports is a
 * {@link DenockerError}; the subclasses name the conditions callers handle
 * differently. Messages are one line, shaped "Cannot <action>: <reason>",
 * and never contain credentials; an underlying error is kept as `cause`.
 *
 * ```
 * DenockerError
 * ├── InvalidInputError        a reference, platform, path, document or layer is malformed
 * │   └── MalformedLayerError  a layer archive breaks a safety rule or is not a layer
 * ├── ImageNotFoundError       no stored image, tag or platform matches
 * ├── ImageInUseError          an image cannot be removed without --force
 * ├── VerificationError        content does not match its digest or size
 * └── RegistryError            a registry answered with an error or broke the protocol
 *     ├── AuthenticationError  it needs (other) credentials
 *     └── NetworkError         it could not be reached (refused, DNS, TLS, timed out)
 * ```
 *
 * @module
 */

/** Options every denocker error takes. */
export interface DenockerErrorOptions {
  /** The underlying error, e.g. what `fetch` or the file system threw. */
  cause?: unknown;
}

/** Any failure denocker reports. Catch this to catch them all. */
export class DenockerError extends Error {
  /**
   * Creates the error.
   *
   * @param message One line, "Cannot <action>: <reason>".
   * @param options The underlying error as `cause`.
   */
  constructor(message: string, options: DenockerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** Something given to denocker is malformed: a reference, platform, path, document or flag. */
export class InvalidInputError extends DenockerError {}

/** A reference (`name[:tag][@digest]`) is malformed, or names what the call cannot take. */
export class InvalidReferenceError extends InvalidInputError {}

/** A layer archive breaks a safety rule or is not a well-formed layer. */
export class MalformedLayerError extends InvalidInputError {}

/** A reference or image ID matched nothing in the store, or an image has no such platform. */
export class ImageNotFoundError extends DenockerError {}

/** An image cannot be removed as asked (several repositories tag it; `force` removes it). */
export class ImageInUseError extends DenockerError {}

/** Content did not match the digest or size it was announced with. */
export class VerificationError extends DenockerError {}

/**
 * A container's command could not be started (not found, not executable,
 * or its set-up failed): `status` is the exit status docker gives it
 * (127, 126, 125).
 */
export class ContainerStartError extends DenockerError {
  /** 127: not found; 126: cannot be run; 125: the container could not be set up. */
  readonly status: number;

  /**
   * Creates the error.
   *
   * @param message One line.
   * @param status The exit status.
   */
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

/** Options of a {@link RegistryError}. */
export interface RegistryErrorOptions extends DenockerErrorOptions {
  /** HTTP status of the failing response, when there was one. */
  status?: number;
  /** Distribution error codes from the response body, e.g. `MANIFEST_UNKNOWN`. */
  codes?: string[];
}

/** A registry answered with an error status or broke the distribution protocol. */
export class RegistryError extends DenockerError {
  /** HTTP status of the failing response, when there was one. */
  readonly status?: number;
  /** Distribution error codes from the response body, e.g. `MANIFEST_UNKNOWN`. */
  readonly codes: string[];

  /**
   * Creates the error.
   *
   * @param message One line, never containing credentials.
   * @param options HTTP status, distribution error codes, and `cause`.
   */
  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, options);
    this.status = options.status;
    this.codes = options.codes ?? [];
  }
}

/** A registry (or its token service) wants credentials it did not get, or refused them. */
export class AuthenticationError extends RegistryError {}

/** A registry could not be reached: refused, host not found, TLS failure, timed out. */
export class NetworkError extends RegistryError {}

/**
 * The error classes by name, so that an error that crossed a worker
 * boundary (where only its name and message travel) keeps its class.
 */
export const ERROR_CLASSES: Readonly<
  Record<string, new (message: string, options?: RegistryErrorOptions) => DenockerError>
> = {
  DenockerError,
  InvalidInputError,
  InvalidReferenceError,
  MalformedLayerError,
  ImageNotFoundError,
  ImageInUseError,
  VerificationError,
  RegistryError,
  AuthenticationError,
  NetworkError,
};
