// deno-lint-ignore-file no-console
/**
 * What every command is made of: its options, its arguments' checks, what
 * it is given to run, and the helpers commands share.
 *
 * @module
 */

import type { DenockerConfig, RegistriesConfig } from "../lib/transport/config.ts";
import { parseInsecureRegistry } from "../lib/transport/endpoint.ts";

/** A mistake in how the command was called: exit code 2, with a pointer to the help. */
export class UsageError extends Error {
  /** The command whose help to point at, if any. */
  readonly command?: string;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

/** One option of a command, as parseArgs takes it plus what help shows. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** The value's name in help, for string options. */
  value?: string;
  help: string;
}

/** What a command gets: its flags, positionals, the store root and an abort signal. */
export interface Invocation {
  // deno-lint-ignore no-explicit-any
  values: Record<string, any>;
  positionals: string[];
  /** The store root, resolved only when the command needs it. */
  root(): string;
  /** denocker's config file, read and checked before the command runs. */
  config(): Promise<DenockerConfig>;
  signal: AbortSignal;
}

export interface Command {
  usage: string;
  summary: string;
  options: Record<string, OptionSpec>;
  examples: string[];
  /** Checks the positionals; a message for the usage error when they are wrong. */
  arguments(positionals: string[]): string | undefined;
  /**
   * Options end at this positional: what follows it is passed on verbatim
   * (`run IMAGE COMMAND -x`, `exec CONTAINER COMMAND -x`).
   */
  optionsEndAfter?: number;
  /** The command handles SIGINT and SIGTERM itself (`run` passes them to the container). */
  ownsSignals?: boolean;
  /** Exit code of its own failures and usage errors (`run` and `exec`: 125, as docker). */
  failureCode?: number;
  run(invocation: Invocation): Promise<number>;
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  root: {
    type: "string",
    value: "DIR",
    help: "Store root (default: $DENOCKER_ROOT, else /var/lib/denocker as root, " +
      "else ~/.local/share/denocker)",
  },
  help: { type: "boolean", short: "h", help: "Show this help" },
};

/** `--insecure-registry`, as every command that reaches a registry takes it. */
export const INSECURE_REGISTRY: OptionSpec = {
  type: "string",
  multiple: true,
  value: "HOST[:PORT]",
  help: "Use plain HTTP for this registry (repeatable)",
};

export const encoder = new TextEncoder();
export const writeError = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
export const waitingFor = (event: { root: string }) =>
  console.error(`Waiting for another denocker command using ${event.root}…`);

export const exactly = (count: number, what: string) => (positionals: string[]) =>
  positionals.length === count
    ? undefined
    : `requires exactly ${count} argument${count > 1 ? "s" : ""} (${what})`;
export const atLeastOne = (positionals: string[]) =>
  positionals.length > 0 ? undefined : "requires at least 1 argument";
export const none = (positionals: string[]) =>
  positionals.length === 0 ? undefined : `accepts no arguments, got "${positionals[0]}"`;

/**
 * The transport options of a command that reaches registries: its
 * `--insecure-registry` entries, checked (a bad one is a usage error), and
 * the config file's registries, which the library applies (mirrors, the
 * registries marked `insecure`).
 */
export async function remoteOptions(
  { values, config }: Pick<Invocation, "values" | "config">,
  command: string,
): Promise<{ insecureRegistries: string[]; registries: RegistriesConfig }> {
  let insecureRegistries: string[];
  try {
    insecureRegistries = (values["insecure-registry"] as string[] | undefined ?? []).map(
      parseInsecureRegistry,
    );
  } catch (error) {
    throw new UsageError((error as Error).message, command);
  }
  return { insecureRegistries, registries: (await config()).registries };
}

export function positiveInteger(text: string, flag: string, command: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new UsageError(`${flag} needs a whole number of at least 1, got "${text}"`, command);
  }
  return value;
}

/** The first line of an error's message. */
export function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}

/**
 * Runs `fn` for each container named, as docker's stop, start, kill and
 * restart do: each name printed once done, each failure as a line on
 * stderr, and exit code 1 when any failed.
 */
export async function forEachName(
  names: string[],
  fn: (name: string) => Promise<unknown>,
): Promise<number> {
  let failed = false;
  for (const name of names) {
    try {
      await fn(name);
      console.log(name);
    } catch (error) {
      failed = true;
      console.error(`denocker: ${oneLine(error)}`);
    }
  }
  return failed ? 1 : 0;
}
