/**
 * A container's seccomp filter: the profile's rules, for the capabilities
 * the container holds, compiled to a classic BPF program the kernel runs
 * on every system call (and written as the OCI runtime spec's `seccomp`
 * section, for runc and crun, which compile it with libseccomp).
 *
 * The program checks the architecture first (the native one and its
 * 32-bit compat ABI each have their own numbers; x32 calls and unknown
 * architectures fail), then finds the call's number by binary search over
 * ranges of numbers with the same action, so a call costs a handful of
 * comparisons.
 *
 * @module
 */

import type { Capability } from "./capabilities.ts";
import {
  type ArgumentCondition,
  DEFAULT_PROFILE,
  type SeccompArch,
  type SeccompMachine,
  type SyscallRule,
} from "./_seccomp_profile.ts";
import { SYSCALL_NUMBERS } from "./_syscall_numbers.ts";

/** What the filter does with a call. */
export type SeccompAction = { allow: true } | { errno: number };

const EPERM = 1;
const DEFAULT_ACTION: SeccompAction = { errno: EPERM };

/** AUDIT_ARCH_* values the kernel reports in `seccomp_data.arch`. */
const AUDIT_ARCH: Record<SeccompArch, number> = {
  x86_64: 0xc000003e,
  x86: 0x40000003,
  aarch64: 0xc00000b7,
  arm: 0x40000028,
};

/** The architectures a 64-bit machine runs: its own and its 32-bit compat one. */
export const MACHINE_ARCHES: Record<string, readonly SeccompArch[]> = {
  x86_64: ["x86_64", "x86"],
  aarch64: ["aarch64", "arm"],
};

/** x32 system calls are x86_64 numbers with this bit; docker's profile is not made for them. */
const X32_SYSCALL_BIT = 0x40000000;

/** What a call does: one action, or the first of several whose arguments match. */
type Decision =
  | { action: SeccompAction }
  | { cases: { args: readonly ArgumentCondition[]; action: SeccompAction }[] };

function actionOf(rule: SyscallRule): SeccompAction {
  return rule.action === "allow" ? { allow: true } : { errno: rule.action.errno };
}

/** The machine an ABI belongs to. */
const MACHINE_OF: Record<SeccompArch, SeccompMachine> = {
  x86_64: "x86_64",
  x86: "x86_64",
  aarch64: "aarch64",
  arm: "aarch64",
};

function applies(rule: SyscallRule, arch: SeccompArch, capabilities: Set<Capability>): boolean {
  if (rule.machines && !rule.machines.includes(MACHINE_OF[arch])) return false;
  if (rule.withCapability && !capabilities.has(rule.withCapability)) return false;
  if (rule.withoutCapability && capabilities.has(rule.withoutCapability)) return false;
  return true;
}

/**
 * What the profile decides for each call number of one architecture.
 *
 * @param arch The architecture.
 * @param capabilities What the container holds.
 * @param profile The rules; docker's default by default.
 * @returns Number -> decision, for the calls not left to the default (EPERM).
 */
export function seccompDecisions(
  arch: SeccompArch,
  capabilities: readonly Capability[],
  profile: readonly SyscallRule[] = DEFAULT_PROFILE,
): Map<number, Decision> {
  const held = new Set(capabilities);
  const numbers = SYSCALL_NUMBERS[arch];
  const rules = new Map<number, SyscallRule[]>();
  for (const rule of profile) {
    if (!applies(rule, arch, held)) continue;
    for (const name of rule.names) {
      const number = numbers[name];
      if (number === undefined) continue;
      const list = rules.get(number);
      if (list) list.push(rule);
      else rules.set(number, [rule]);
    }
  }
  const decisions = new Map<number, Decision>();
  for (const [number, list] of rules) {
    const plain = list.find((rule) => !rule.args || rule.args.length === 0);
    decisions.set(
      number,
      plain
        ? { action: actionOf(plain) }
        : { cases: list.map((rule) => ({ args: rule.args!, action: actionOf(rule) })) },
    );
  }
  return decisions;
}

// Classic BPF opcodes (linux/filter.h).
const BPF_LD_W_ABS = 0x20;
const BPF_ALU_AND_K = 0x54;
const BPF_JMP_JA = 0x05;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGE_K = 0x35;
const BPF_RET_K = 0x06;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
// Offsets in struct seccomp_data.
const DATA_NR = 0;
const DATA_ARCH = 4;
const DATA_ARGS = 16;

interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A program being written, with jumps to labels resolved at the end. */
class Program {
  readonly instructions: Instruction[] = [];
  readonly #fixups: { at: number; label: symbol }[] = [];
  readonly #labels = new Map<symbol, number>();

  emit(code: number, k: number, jt = 0, jf = 0): void {
    this.instructions.push({ code, jt, jf, k: k >>> 0 });
  }

  ret(action: SeccompAction): void {
    this.emit(
      BPF_RET_K,
      "allow" in action ? SECCOMP_RET_ALLOW : SECCOMP_RET_ERRNO | (action.errno & 0xffff),
    );
  }

  /** An unconditional jump (32-bit offset) to a label placed later. */
  jump(label: symbol): void {
    this.#fixups.push({ at: this.instructions.length, label });
    this.emit(BPF_JMP_JA, 0);
  }

  place(label: symbol): void {
    this.#labels.set(label, this.instructions.length);
  }

  bytes(): Uint8Array<ArrayBuffer> {
    for (const { at, label } of this.#fixups) {
      this.instructions[at].k = this.#labels.get(label)! - at - 1;
    }
    const bytes = new Uint8Array(this.instructions.length * 8);
    const view = new DataView(bytes.buffer);
    this.instructions.forEach((instruction, i) => {
      view.setUint16(i * 8, instruction.code, true);
      view.setUint8(i * 8 + 2, instruction.jt);
      view.setUint8(i * 8 + 3, instruction.jf);
      view.setUint32(i * 8 + 4, instruction.k, true);
    });
    return bytes;
  }
}

/** One 32-bit half of an argument to compare: `(word & mask) === value`. */
interface WordCheck {
  offset: number;
  mask: number;
  value: number;
}

/** The word checks of a condition (its high half only where it can be non-zero). */
function wordChecks(condition: ArgumentCondition): WordCheck[] {
  const offset = DATA_ARGS + 8 * condition.index;
  const high = (n: number) => Math.floor(n / 2 ** 32) >>> 0;
  // Without a mask every bit counts; a mask that covers only the low half leaves the high one
  // free, as libseccomp's masked comparison does.
  const lowMask = condition.mask === undefined ? 0xffffffff : condition.mask >>> 0;
  const highMask = condition.mask === undefined ? 0xffffffff : high(condition.mask);
  const checks = [{ offset, mask: lowMask, value: condition.value >>> 0 }];
  if (highMask !== 0) {
    checks.push({ offset: offset + 4, mask: highMask, value: high(condition.value) });
  }
  return checks;
}

/** The checks of one call's cases, in order, then the default; every path returns. */
function emitCases(
  program: Program,
  cases: { args: readonly ArgumentCondition[]; action: SeccompAction }[],
): void {
  for (const { args, action } of cases) {
    const checks = args.flatMap(wordChecks);
    const sizes = checks.map((check) => check.mask === 0xffffffff ? 2 : 3);
    // The case's length: its checks and its return. A mismatch jumps to the next case.
    let left = sizes.reduce((sum, size) => sum + size, 0) + 1;
    checks.forEach((check, i) => {
      program.emit(BPF_LD_W_ABS, check.offset);
      if (check.mask !== 0xffffffff) program.emit(BPF_ALU_AND_K, check.mask);
      left -= sizes[i];
      program.emit(BPF_JMP_JEQ_K, check.value, 0, left);
    });
    program.ret(action);
  }
  program.ret(DEFAULT_ACTION);
}

/** A range of call numbers, from `start` to the next range's start, with one decision. */
interface Range {
  start: number;
  /** Undefined: the default action. */
  decision?: Decision;
}

/** Sorted ranges covering 0 to 2^32 - 1; neighbours with one plain action are one range. */
function ranges(decisions: Map<number, Decision>): Range[] {
  const key = (decision?: Decision) =>
    decision === undefined
      ? "default"
      : "action" in decision
      ? ("allow" in decision.action ? "allow" : `errno ${decision.action.errno}`)
      : undefined;
  const result: Range[] = [];
  const add = (start: number, decision?: Decision) => {
    const last = result.at(-1);
    if (last && key(decision) !== undefined && key(decision) === key(last.decision)) return;
    result.push({ start, decision });
  };
  let next = 0;
  for (const number of [...decisions.keys()].sort((a, b) => a - b)) {
    if (number > next) add(next);
    add(number, decisions.get(number));
    next = number + 1;
  }
  add(next);
  return result;
}

/** Binary search over the ranges; A holds the call number on entry. */
function emitSearch(program: Program, list: Range[]): void {
  if (list.length === 1) {
    const { decision } = list[0];
    if (!decision) program.ret(DEFAULT_ACTION);
    else if ("action" in decision) program.ret(decision.action);
    else emitCases(program, decision.cases);
    return;
  }
  const middle = list.length >> 1;
  const upper = Symbol("upper");
  // A >= start of the upper half: take the jump below; else skip it into the lower half.
  program.emit(BPF_JMP_JGE_K, list[middle].start, 0, 1);
  program.jump(upper);
  emitSearch(program, list.slice(0, middle));
  program.place(upper);
  emitSearch(program, list.slice(middle));
}

/**
 * The seccomp filter of a container, as the bytes of a `sock_filter`
 * array for `PR_SET_SECCOMP`.
 *
 * @param machine The machine's architecture (`Deno.build.arch`).
 * @param capabilities What the container holds (some calls follow them).
 * @param profile The rules; docker's default by default.
 * @returns The program.
 */
export function seccompFilter(
  machine: string,
  capabilities: readonly Capability[],
  profile: readonly SyscallRule[] = DEFAULT_PROFILE,
): Uint8Array<ArrayBuffer> {
  const arches = MACHINE_ARCHES[machine];
  if (!arches) throw new Error(`no seccomp filter for the ${machine} architecture`);
  const program = new Program();
  const labels = arches.map(() => Symbol("arch"));
  program.emit(BPF_LD_W_ABS, DATA_ARCH);
  arches.forEach((arch, i) => {
    program.emit(BPF_JMP_JEQ_K, AUDIT_ARCH[arch], 0, 1);
    program.jump(labels[i]);
  });
  program.ret(DEFAULT_ACTION);
  arches.forEach((arch, i) => {
    program.place(labels[i]);
    program.emit(BPF_LD_W_ABS, DATA_NR);
    if (arch === "x86_64") {
      program.emit(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1);
      program.ret(DEFAULT_ACTION);
    }
    emitSearch(program, ranges(seccompDecisions(arch, capabilities, profile)));
  });
  return program.bytes();
}

/** The OCI runtime spec's names of our architectures. */
const OCI_ARCH: Record<SeccompArch, string> = {
  x86_64: "SCMP_ARCH_X86_64",
  x86: "SCMP_ARCH_X86",
  aarch64: "SCMP_ARCH_AARCH64",
  arm: "SCMP_ARCH_ARM",
};

/** The `linux.seccomp` section of an OCI runtime spec. */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: {
    names: string[];
    action: string;
    errnoRet?: number;
    args?: { index: number; value: number; valueTwo: number; op: string }[];
  }[];
}

/**
 * The same filter as the OCI runtime spec writes it: the profile's rules
 * for these capabilities and this machine, names and all.
 *
 * @param machine The machine's architecture.
 * @param capabilities What the container holds.
 * @returns The `linux.seccomp` section.
 */
export function ociSeccomp(machine: string, capabilities: readonly Capability[]): OciSeccomp {
  const arches = MACHINE_ARCHES[machine] ?? [];
  const held = new Set(capabilities);
  const syscalls: OciSeccomp["syscalls"] = [];
  for (const rule of DEFAULT_PROFILE) {
    if (!arches.some((arch) => applies(rule, arch, held))) continue;
    syscalls.push({
      names: [...rule.names],
      action: rule.action === "allow" ? "SCMP_ACT_ALLOW" : "SCMP_ACT_ERRNO",
      ...(rule.action === "allow" ? {} : { errnoRet: rule.action.errno }),
      ...(rule.args
        ? {
          args: rule.args.map((condition) => ({
            index: condition.index,
            value: condition.mask === undefined ? condition.value : condition.mask,
            valueTwo: condition.mask === undefined ? 0 : condition.value,
            op: condition.mask === undefined ? "SCMP_CMP_EQ" : "SCMP_CMP_MASKED_EQ",
          })),
        }
        : {}),
    });
  }
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: EPERM,
    architectures: arches.map((arch) => OCI_ARCH[arch]),
    syscalls,
  };
}
