// deno-lint-ignore-file no-console
/**
 * `denocker container prune [-f]`: remove every ended container.
 *
 * @module
 */

import { type Command, none } from "../command.ts";
import { formatBytes } from "../format.ts";
import { pruneContainers } from "../../lib/operations/lifecycle.ts";

/** Asks on stderr and reads the answer from stdin: whether it is yes. */
async function confirmed(question: string): Promise<boolean> {
  await Deno.stderr.write(new TextEncoder().encode(`${question} [y/N] `));
  const buffer = new Uint8Array(256);
  const n = await Deno.stdin.read(buffer);
  const answer = n === null ? "" : new TextDecoder().decode(buffer.subarray(0, n)).trim();
  return /^y(es)?$/i.test(answer);
}

export const command: Command = {
  usage: "container prune [OPTIONS]",
  summary: "Remove every ended container",
  options: {
    force: { type: "boolean", short: "f", help: "Do not ask for a confirmation" },
  },
  examples: ["denocker container prune -f"],
  arguments: none,
  async run({ values, root }) {
    if (
      !values.force &&
      !(await confirmed(
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
      ))
    ) {
      return 0;
    }
    const { removed, reclaimed } = await pruneContainers({ root: root() });
    if (removed.length > 0) console.log(`Deleted Containers:\n${removed.join("\n")}\n`);
    console.log(`Total reclaimed space: ${formatBytes(reclaimed)}`);
    return 0;
  },
};
