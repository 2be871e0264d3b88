/**
 * Which devices a container may use: docker's default rules. Any device
 * node may be created (`mknod`), but only these may be opened: null, zero,
 * full, random, urandom, tty, console, ptmx and the pseudo-terminals, and
 * tun. A node the container makes for a disk cannot be read or written.
 *
 * cgroup v1 enforces the rules through the `devices` controller's files;
 * cgroup v2 through an eBPF program attached to the container's cgroup,
 * which the kernel asks on every open and mknod of a device.
 *
 * @module
 */

import { bpf, closeRaw, O, openRaw } from "./_libc.ts";

/** One rule: a device type, its numbers (`*` for any), what may be done with it. */
export interface DeviceRule {
  type: "c" | "b";
  major: number | "*";
  minor: number | "*";
  /** Of `r` (read), `w` (write), `m` (mknod). */
  access: string;
}

/** Docker's default device rules (everything else is denied). */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = [
  { type: "c", major: "*", minor: "*", access: "m" },
  { type: "b", major: "*", minor: "*", access: "m" },
  { type: "c", major: 1, minor: 3, access: "rwm" }, // null
  { type: "c", major: 1, minor: 5, access: "rwm" }, // zero
  { type: "c", major: 1, minor: 7, access: "rwm" }, // full
  { type: "c", major: 1, minor: 8, access: "rwm" }, // random
  { type: "c", major: 1, minor: 9, access: "rwm" }, // urandom
  { type: "c", major: 5, minor: 0, access: "rwm" }, // tty
  { type: "c", major: 5, minor: 1, access: "rwm" }, // console
  { type: "c", major: 5, minor: 2, access: "rwm" }, // ptmx
  { type: "c", major: 136, minor: "*", access: "rwm" }, // pts/*
  { type: "c", major: 10, minor: 200, access: "rwm" }, // net/tun
];

/** A rule as cgroup v1's `devices.allow` takes it: `c 1:3 rwm`. */
export function deviceRuleLine(rule: DeviceRule): string {
  return `${rule.type} ${rule.major}:${rule.minor} ${rule.access}`;
}

// eBPF encoding (linux/bpf.h, linux/bpf_common.h).
const BPF_LDX_MEM_W = 0x61;
const BPF_ALU64_MOV_REG = 0xbf;
const BPF_ALU64_MOV_IMM = 0xb7;
const BPF_ALU64_AND_IMM = 0x57;
const BPF_ALU64_RSH_IMM = 0x77;
const BPF_JMP_JNE_IMM = 0x55;
const BPF_JMP_EXIT = 0x95;
const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
const BPF_CGROUP_DEVICE = 6;
const BPF_F_ALLOW_MULTI = 2;
const BPF_PROG_LOAD = 5;
const BPF_PROG_ATTACH = 8;
// struct bpf_cgroup_dev_ctx: access_type (type in the low 16 bits, access above), major, minor.
const DEVICE_TYPE = { b: 1, c: 2 } as const;
const ACCESS_BITS: Record<string, number> = { m: 1, r: 2, w: 4 };

function instruction(code: number, dst: number, src: number, offset: number, imm: number) {
  return { code, registers: (src << 4) | dst, offset, imm };
}

/**
 * The eBPF program that enforces `rules` on cgroup v2: it returns 1
 * (allow) when a rule covers the device and every access asked, else 0.
 *
 * @param rules The rules.
 * @returns The program's instructions, 8 bytes each.
 */
export function deviceProgram(rules: readonly DeviceRule[]): Uint8Array<ArrayBuffer> {
  // r2 = type, r3 = access asked, r4 = major, r5 = minor; r1 holds the context.
  const code = [
    instruction(BPF_LDX_MEM_W, 2, 1, 0, 0),
    instruction(BPF_ALU64_MOV_REG, 3, 2, 0, 0),
    instruction(BPF_ALU64_AND_IMM, 2, 0, 0, 0xffff),
    instruction(BPF_ALU64_RSH_IMM, 3, 0, 0, 16),
    instruction(BPF_LDX_MEM_W, 4, 1, 4, 0),
    instruction(BPF_LDX_MEM_W, 5, 1, 8, 0),
  ];
  for (const rule of rules) {
    const allowed = [...rule.access].reduce((bits, letter) => bits | ACCESS_BITS[letter], 0);
    const checks: ReturnType<typeof instruction>[] = [];
    checks.push(instruction(BPF_JMP_JNE_IMM, 2, 0, 0, DEVICE_TYPE[rule.type]));
    if (allowed !== 7) {
      // Every access asked must be allowed: (asked & ~allowed) == 0.
      checks.push(instruction(BPF_ALU64_MOV_REG, 6, 3, 0, 0));
      checks.push(instruction(BPF_ALU64_AND_IMM, 6, 0, 0, ~allowed & 7));
      checks.push(instruction(BPF_JMP_JNE_IMM, 6, 0, 0, 0));
    }
    if (rule.major !== "*") checks.push(instruction(BPF_JMP_JNE_IMM, 4, 0, 0, rule.major));
    if (rule.minor !== "*") checks.push(instruction(BPF_JMP_JNE_IMM, 5, 0, 0, rule.minor));
    // A failed check jumps past the rest of this rule and its "return 1".
    checks.forEach((check, i) => {
      if (check.code === BPF_JMP_JNE_IMM) check.offset = checks.length - i - 1 + 2;
    });
    code.push(...checks);
    code.push(instruction(BPF_ALU64_MOV_IMM, 0, 0, 0, 1), instruction(BPF_JMP_EXIT, 0, 0, 0, 0));
  }
  code.push(instruction(BPF_ALU64_MOV_IMM, 0, 0, 0, 0), instruction(BPF_JMP_EXIT, 0, 0, 0, 0));
  const bytes = new Uint8Array(code.length * 8);
  const view = new DataView(bytes.buffer);
  code.forEach((insn, i) => {
    view.setUint8(i * 8, insn.code);
    view.setUint8(i * 8 + 1, insn.registers);
    view.setInt16(i * 8 + 2, insn.offset, true);
    view.setInt32(i * 8 + 4, insn.imm, true);
  });
  return bytes;
}

/**
 * Loads the device program for `rules` and attaches it to a cgroup v2
 * directory: from then on its processes may use only those devices.
 *
 * @param cgroup The cgroup's directory (on cgroup2).
 * @param rules The rules.
 */
export function attachDeviceProgram(cgroup: string, rules: readonly DeviceRule[]): void {
  const program = deviceProgram(rules);
  const license = new TextEncoder().encode("Apache-2.0\0");
  // union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level,
  // log_size, log_buf, kern_version, prog_flags, prog_name[16], prog_ifindex,
  // expected_attach_type (offset 68).
  const load = new Uint8Array(128);
  const view = new DataView(load.buffer);
  view.setUint32(0, BPF_PROG_TYPE_CGROUP_DEVICE, true);
  view.setUint32(4, program.byteLength / 8, true);
  view.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(program))), true);
  view.setBigUint64(16, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(license))), true);
  view.setUint32(68, BPF_CGROUP_DEVICE, true);
  const programFd = bpf(BPF_PROG_LOAD, load);
  const cgroupFd = openRaw(cgroup, O.RDONLY | O.DIRECTORY);
  try {
    // BPF_PROG_ATTACH: target_fd, attach_bpf_fd, attach_type, attach_flags.
    const attach = new Uint8Array(
      new Uint32Array([
        cgroupFd,
        programFd,
        BPF_CGROUP_DEVICE,
        BPF_F_ALLOW_MULTI,
      ]).buffer,
    );
    bpf(BPF_PROG_ATTACH, attach);
  } finally {
    closeRaw(cgroupFd);
    // The attachment holds the program; the descriptor is no longer needed.
    closeRaw(programFd);
  }
}
