// deno-lint-ignore-file no-console
/**
 * A pull printed as docker prints it (pull and run share it).
 *
 * @module
 */

import { writeError } from "./command.ts";
import { useColor } from "./format.ts";
import { progressRenderer } from "./progress.ts";
import { familiarReference } from "../lib/model/reference.ts";
import type { PullEvent, PullResult } from "../lib/operations/pull.ts";

/**
 * Prints a pull as docker does, on stderr: `Using default tag:` when the
 * reference named none, the progress, then `Digest:` and `Status:`. Quiet
 * keeps only warnings (a warning is never lost).
 */
export function pullPrinter(quiet: boolean, defaultTag?: string) {
  const terminal = Deno.stderr.isTerminal();
  const renderer = progressRenderer({
    write: writeError,
    terminal,
    color: useColor(terminal, (name) => Deno.env.get(name)),
    columns: terminal ? Deno.consoleSize().columns : undefined,
  });
  return {
    onProgress: quiet
      ? (event: PullEvent) => event.type === "warning" && renderer.onEvent(event)
      : (event: PullEvent) => {
        // Said once the registry is asked, so a store that cannot be opened fails in one line.
        if (event.type === "pulling" && defaultTag) {
          writeError(
            `Using default tag: ${defaultTag}\n`,
          );
        }
        renderer.onEvent(event);
      },
    done(result: PullResult) {
      if (quiet) return;
      renderer.finish();
      const name = familiarReference(result.reference);
      console.error(`Digest: ${result.digest}`);
      console.error(
        result.cached
          ? `Status: Image is up to date for ${name}`
          : `Status: Downloaded newer image for ${name}`,
      );
    },
  };
}
