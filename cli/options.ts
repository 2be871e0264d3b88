/**
 * Option values several commands read as docker does: sizes and signals.
 *
 * @module
 */

import { UsageError } from "./command.ts";
import { parseSignal } from "../lib/runtime/containers.ts";

/**
 * A size as docker reads it: bytes, or a number with b, k, m or g (powers of 1024).
 *
 * @param text What the user typed.
 * @param flag The option, for the error.
 * @param command The command, for the error.
 * @returns Bytes.
 */
export function parseByteSize(text: string, flag: string, command: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)([bkmg]?)b?$/i.exec(text.trim());
  if (!match) {
    throw new UsageError(`${flag} needs a size such as 512m or 1g, got "${text}"`, command);
  }
  const unit = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2].toLowerCase()]!;
  return Math.floor(Number(match[1]) * unit);
}

/** A signal name (with or without SIG) or number; a usage error when it is none. */
export function signalOption(text: string, flag: string, command: string): Deno.Signal {
  try {
    return parseSignal(text);
  } catch {
    throw new UsageError(`${flag}: invalid signal "${text}"`, command);
  }
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * A time as docker's `--since` and `--until` take it: an RFC 3339 time
 * (or a date), a Unix time in seconds, or a Go duration back from now
 * (`10m`, `1h30m`).
 *
 * @param text What the user typed.
 * @param flag The option, for the error.
 * @param command The command, for the error.
 * @param now The time a duration counts back from.
 * @returns The time.
 */
export function timeOption(text: string, flag: string, command: string, now = Date.now()): Date {
  if (/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) {
    let ms = 0;
    for (const [, value, , unit] of text.matchAll(/([0-9]+(\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) {
      ms += Number(value) * DURATION_UNITS[unit];
    }
    return new Date(now - ms);
  }
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) return new Date(Number(text) * 1000);
  const time = /^[0-9]{4}-[0-9]{2}-[0-9]{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(time)) {
    throw new UsageError(
      `${flag} needs a time (2026-12-01T10:00:00Z), a Unix time or a duration (10m), got "${text}"`,
      command,
    );
  }
  return new Date(time);
}

/**
 * `--label KEY=VALUE` entries (`KEY` alone: an empty value), as docker
 * reads them; undefined when there are none.
 */
export function labelOption(
  entries: string[],
  command: string,
): Record<string, string> | undefined {
  if (entries.length === 0) return undefined;
  const result: Record<string, string> = {};
  for (const entry of entries) {
    const at = entry.indexOf("=");
    const key = at < 0 ? entry : entry.slice(0, at);
    if (key === "") throw new UsageError(`invalid label "${entry}": no key`, command);
    result[key] = at < 0 ? "" : entry.slice(at + 1);
  }
  return result;
}
