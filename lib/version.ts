/**
 * denocker's version, as `denocker --version` prints it. It must equal
 * `version` in `deno.json` (a test checks); it is a module rather than a
 * JSON import so that `cli.ts` also runs when imported from a URL, where a
 * server may not label `deno.json` as JSON.
 *
 * @module
 */

/** The version of this denocker. */
export const VERSION = "0.1.0";
