/**
 * A container's seccomp filter: docker's default capabilities get the
 * filter compiled ahead (`_seccomp_default.ts`), any other set the one
 * `seccomp.ts` compiles then. Compiling takes a start about 7 ms, and
 * loading the compiler with the profile and the system call tables more.
 *
 * @module
 */

import { type Capability, DEFAULT_CAPABILITIES } from "./capabilities.ts";
import { DEFAULT_FILTERS } from "./_seccomp_default.ts";

/** Whether two capability lists hold the same capabilities. */
function sameCapabilities(a: readonly Capability[], b: readonly Capability[]): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((name) => set.has(name));
}

/**
 * The seccomp filter (a `sock_filter` array) of a container holding
 * `capabilities`, with docker's default profile, for this machine.
 *
 * @param machine The machine's architecture (`Deno.build.arch`).
 * @param capabilities What the container holds.
 * @returns The program's bytes.
 */
export async function containerFilter(
  machine: string,
  capabilities: readonly Capability[],
): Promise<Uint8Array<ArrayBuffer>> {
  const compiled = DEFAULT_FILTERS[machine];
  if (compiled !== undefined && sameCapabilities(capabilities, DEFAULT_CAPABILITIES)) {
    return Uint8Array.fromBase64(compiled) as Uint8Array<ArrayBuffer>;
  }
  const { seccompFilter } = await import("./seccomp.ts");
  return seccompFilter(machine, capabilities);
}
