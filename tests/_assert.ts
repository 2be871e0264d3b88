/**
 * The few assertions the tests need. `jsr:@std/assert` cannot be reached
 * from our build machines, and `node:assert` gives poor diffs for our use.
 */

import { deepStrictEqual } from "node:assert";

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

export function assertMatch(actual: string, pattern: RegExp): void {
  if (!pattern.test(actual)) throw new Error(`"${actual}" does not match ${pattern}`);
}

export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  errorClass: new (...args: any[]) => E = Error as any,
): E {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof errorClass)) {
      throw new Error(`expected ${errorClass.name}, got ${(error as Error)?.name}: ${error}`);
    }
    return error;
  }
  throw new Error("expected a throw, none happened");
}

export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  errorClass: new (...args: any[]) => E = Error as any,
  pattern?: RegExp,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    if (!(error instanceof errorClass)) {
      throw new Error(`expected ${errorClass.name}, got ${(error as Error)?.name}: ${error}`);
    }
    if (pattern && !pattern.test(error.message)) {
      throw new Error(`message "${error.message}" does not match ${pattern}`);
    }
    return error;
  }
  throw new Error("expected a rejection, none happened");
}
