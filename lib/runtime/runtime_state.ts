/**
 * Where an OCI runtime (`--runtime`) keeps its state of a container: a
 * module of its own, so that the code that finds it (removal, exec) does
 * not load the init's.
 *
 * @module
 */

import { join } from "../io/path.ts";

/**
 * The OCI runtime's state directory of a container.
 *
 * @param directory The container's directory.
 * @returns `DIRECTORY/runtime`.
 */
export function runtimeStateDirectory(directory: string): string {
  return join(directory, "runtime");
}
