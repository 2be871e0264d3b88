/**
 * The line an init writes on its stdout to hand a container's terminal
 * over: `denocker-terminal <descriptor>`.
 *
 * @module
 */

/** The line's first word. */
export const TERMINAL_MARK = "denocker-terminal";
