/**
 * Attaching to a running container (`attach`, `run -it`, `start -a`):
 * through its monitor's socket when it has a terminal or an open stdin,
 * else to its output as its log follows it.
 *
 * @module
 */

import { DenockerError } from "../errors.ts";
import type { StoreOptions } from "../store/store.ts";
import {
  type AttachedContainer,
  attachHeld,
  type AttachSession,
  attachSocketPath,
  connectAttach,
} from "../runtime/attach.ts";
import { startStoppedContainer } from "./lifecycle.ts";
import { findContainer, running } from "./_container_lookup.ts";
import { containerLogs } from "./logs.ts";

export type { AttachedContainer, AttachSession };

/**
 * Attaches to a running container: its output as it comes, and, with `-i`
 * or `-t`, its input and window size. Closing the session detaches (it
 * runs on).
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @example
 * ```ts
 * import { attachContainer } from "@denocker/denocker";
 * const session = await attachContainer("web", { root: "/var/lib/denocker" });
 * for await (const { data } of session.output) await Deno.stdout.write(data);
 * ```
 *
 * @param name A container's name or ID (prefix).
 * @param options The store; `since`: for a container without `-i` or `-t`, its output from
 *   then on (by default from now).
 * @returns The session.
 * @throws {DenockerError} When it is not running.
 */
export async function attachContainer(
  name: string,
  options: StoreOptions & { since?: Date } = {},
): Promise<AttachedContainer> {
  const { containers, record } = await findContainer(name, options);
  if (!(await running(record)) && record.state !== "restarting") {
    throw new DenockerError(
      `Cannot attach to container ${name}: it is not running; start it first`,
    );
  }
  const tty = record.spec.tty === true;
  const interactive = tty || record.interactive === true;
  if (interactive) {
    try {
      return { ...await connectAttach(attachSocketPath(record.id)), tty, interactive };
    } catch (error) {
      throw new DenockerError(
        `Cannot attach to container ${name}: its monitor does not answer (${
          (error as Error).message
        })`,
      );
    }
  }
  // Output only: what its log gets from now on.
  const abort = new AbortController();
  const since = options.since ?? new Date();
  async function* output(): AsyncGenerator<{ stream: "stdout" | "stderr"; data: Uint8Array }> {
    const encoder = new TextEncoder();
    for await (
      const entry of containerLogs(record.id, {
        ...options,
        since,
        follow: true,
        signal: abort.signal,
      })
    ) {
      yield { stream: entry.stream, data: encoder.encode(entry.log) };
    }
  }
  const exited = containers.ended(record.id, abort.signal).catch(() => undefined);
  return {
    output: output(),
    exited,
    write: () => Promise.resolve(),
    resize: () => Promise.resolve(),
    endInput: () => Promise.resolve(),
    close: () => abort.abort(),
    tty,
    interactive,
  };
}

/**
 * Starts an ended (or created) container again and attaches to it from
 * its first output (`start -a`), however soon it ends.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param name A container's name or ID (prefix).
 * @param options The store.
 * @returns The session.
 */
export async function startAttached(
  name: string,
  options: StoreOptions = {},
): Promise<AttachedContainer> {
  const { record } = await findContainer(name, options);
  await startStoppedContainer(record.id, { ...options, holdOutput: true });
  return await attachHeld(record.id, record.spec.tty === true, record.interactive === true);
}
