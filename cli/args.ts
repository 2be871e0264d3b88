/**
 * A command line's flags and positionals, read as `node:util`'s strict
 * `parseArgs` reads them (long `--name`, `--name=value` and `--name value`;
 * short `-n`, `-nVALUE`, `-n VALUE` and groups `-it`; `--` ending the
 * flags; repeated flags collected when they may be given several times),
 * with mistakes told in docker's words. Here so that a command's start does
 * not load Node's compatibility layer for it (about 8 ms).
 *
 * @module
 */

import { type OptionSpec, UsageError } from "./command.ts";

/** What a command line holds. */
export interface ParsedArgs {
  // deno-lint-ignore no-explicit-any
  values: Record<string, any>;
  positionals: string[];
}

/** Whether a value read from the next argument looks like a flag instead (`-x`, `--x`). */
function looksLikeFlag(value: string): boolean {
  return value.length > 1 && value.startsWith("-");
}

/**
 * Reads `args` against `options`.
 *
 * @param args The arguments.
 * @param options The flags they may hold, by long name.
 * @param command The command, for the usage error's pointer to its help.
 * @returns Flag values by long name, and the positionals in order.
 * @throws UsageError for an unknown flag, a missing value, or a value given to a switch.
 */
export function parseCommandLine(
  args: readonly string[],
  options: Record<string, OptionSpec>,
  command: string | undefined,
): ParsedArgs {
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(options)) {
    if (spec.short) byShort.set(spec.short, name);
  }
  const set = (name: string, value: string | boolean) => {
    if (options[name].multiple) {
      ((values[name] ??= []) as (string | boolean)[]).push(value);
    } else {
      values[name] = value;
    }
  };
  const pending = [...args];
  while (pending.length > 0) {
    const arg = pending.shift()!;
    if (arg === "--") {
      positionals.push(...pending);
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let flag: string;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const equals = arg.indexOf("=");
      name = equals === -1 ? arg.slice(2) : arg.slice(2, equals);
      inline = equals === -1 ? undefined : arg.slice(equals + 1);
      flag = `--${name}`;
      if (!Object.hasOwn(options, name)) throw new UsageError(`unknown flag: ${flag}`, command);
    } else {
      const short = arg[1];
      flag = `-${short}`;
      const long = byShort.get(short);
      if (long === undefined) throw new UsageError(`unknown flag: ${flag}`, command);
      name = long;
      if (arg.length > 2) {
        if (options[name].type === "string") {
          inline = arg.slice(2); // -p8080:80
        } else {
          // A group (-it): each letter in turn; a flag taking a value takes the rest (-itp80).
          pending.unshift(`-${arg.slice(2)}`);
        }
      }
    }
    if (options[name].type === "boolean") {
      if (inline !== undefined) throw new UsageError(`flag takes no value: ${flag}`, command);
      set(name, true);
      continue;
    }
    if (inline === undefined) {
      const next = pending[0];
      if (next === undefined || looksLikeFlag(next)) {
        throw new UsageError(`flag needs an argument: ${flag}`, command);
      }
      inline = pending.shift()!;
    }
    set(name, inline);
  }
  return { values, positionals };
}
