/**
 * SIGINT and SIGTERM: an abort for most commands, passed on to the
 * container by run and exec.
 *
 * @module
 */

/**
 * Starts what signals are to go to (a container, an exec'd command), passes
 * on the signals that arrive, those before it exists too (`beforeStart`
 * hears of them then), and waits for its exit status.
 *
 * @param start Starts it.
 * @param beforeStart Told of each signal that arrives before it exists.
 * @returns Its exit status.
 */
export async function whileForwardingSignals(
  start: () => Promise<{ kill(signal: Deno.Signal): void; exited: Promise<number> }>,
  beforeStart: (signal: Deno.Signal) => void = () => {},
): Promise<number> {
  let started: { kill(signal: Deno.Signal): void } | undefined;
  const pending: Deno.Signal[] = [];
  const stop = forwardSignals({
    kill(signal) {
      if (started) return started.kill(signal);
      pending.push(signal);
      beforeStart(signal);
    },
  });
  try {
    const process = await start();
    started = process;
    for (const signal of pending) process.kill(signal);
    return await process.exited;
  } finally {
    stop();
  }
}

/** Signals `run` and `exec` pass on; a second SIGINT or SIGTERM kills. */
export function forwardSignals(target: { kill(signal: Deno.Signal): void }): () => void {
  const names = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;
  let interrupts = 0;
  const listeners = names.map((name) => {
    const listener = () => {
      if (name === "SIGINT" || name === "SIGTERM") interrupts++;
      target.kill(interrupts > 1 ? "SIGKILL" : name);
    };
    Deno.addSignalListener(name, listener);
    return [name, listener] as const;
  });
  return () => {
    for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
  };
}

/** Turns SIGINT and SIGTERM into an abort, so commands clean up; a second signal exits at once. */
export function abortOnSignals(): {
  signal: AbortSignal;
  exitCode(): number | undefined;
  stop(): void;
} {
  const controller = new AbortController();
  let received: Deno.Signal | undefined;
  const listeners: [Deno.Signal, () => void][] = [];
  for (const name of ["SIGINT", "SIGTERM"] as const) {
    const listener = () => {
      if (received) Deno.exit(name === "SIGINT" ? 130 : 143);
      received = name;
      controller.abort(new Error("interrupted"));
    };
    try {
      Deno.addSignalListener(name, listener);
      listeners.push([name, listener]);
    } catch {
      // Not every platform has every signal (Windows has no SIGTERM).
    }
  }
  return {
    signal: controller.signal,
    exitCode: () => received === undefined ? undefined : received === "SIGINT" ? 130 : 143,
    stop: () => {
      for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
    },
  };
}
