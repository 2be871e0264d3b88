/**
 * Linux capabilities of a container's process: their names and numbers,
 * docker's default set, and `--cap-add` / `--cap-drop` / `--privileged`
 * over it.
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";

/** Every capability Linux 6.x knows, by number (`CAP_CHOWN` is 0). */
export const CAPABILITY_NAMES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
] as const;

/** A capability's name, `CAP_` included. */
export type Capability = typeof CAPABILITY_NAMES[number];

/** What docker gives a container's process unless told otherwise. */
export const DEFAULT_CAPABILITIES: readonly Capability[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** A capability's number. */
export function capabilityNumber(name: Capability): number {
  return CAPABILITY_NAMES.indexOf(name);
}

/**
 * A capability as docker's flags accept it: any case, with or without
 * `CAP_`, or `ALL`.
 *
 * @param text What the user wrote.
 * @returns The name, or "ALL".
 * @throws {InvalidInputError} For an unknown capability.
 */
export function parseCapability(text: string): Capability | "ALL" {
  const upper = text.trim().toUpperCase();
  if (upper === "ALL") return "ALL";
  const name = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!(CAPABILITY_NAMES as readonly string[]).includes(name)) {
    throw new InvalidInputError(`unknown capability "${text}"`);
  }
  return name as Capability;
}

/** What changes a container's capabilities. */
export interface CapabilityOptions {
  /** Capabilities added to the default set (`ALL` for every one). */
  add?: string[];
  /** Capabilities taken away (`ALL` for every one; then `add` puts some back, as docker). */
  drop?: string[];
  /** Every capability. */
  privileged?: boolean;
}

/**
 * The capabilities a container's process gets, as docker computes them:
 * with `privileged` every one; with `add` holding `ALL` every one but
 * those dropped; with `drop` holding `ALL` only those added; else the
 * default set without those dropped, with those added.
 *
 * @param options The flags.
 * @returns Capability names, in number order.
 * @throws {InvalidInputError} For an unknown capability.
 */
export function containerCapabilities(options: CapabilityOptions): Capability[] {
  const add = (options.add ?? []).map(parseCapability);
  const drop = (options.drop ?? []).map(parseCapability);
  if (options.privileged) return [...CAPABILITY_NAMES];
  let set: Set<Capability | "ALL">;
  if (add.includes("ALL")) {
    set = new Set(CAPABILITY_NAMES.filter((name) => !drop.includes(name)));
  } else if (drop.includes("ALL")) {
    set = new Set(add);
  } else {
    set = new Set([...DEFAULT_CAPABILITIES.filter((name) => !drop.includes(name)), ...add]);
  }
  return CAPABILITY_NAMES.filter((name) => set.has(name));
}

/**
 * The two 32-bit words of a capability set, as `capset(2)` takes them.
 *
 * @param names The capabilities.
 * @returns Bits 0-31 and 32-63.
 */
export function capabilityWords(names: readonly Capability[]): [number, number] {
  const words: [number, number] = [0, 0];
  for (const name of names) {
    const bit = capabilityNumber(name);
    words[bit >> 5] = (words[bit >> 5] | (1 << (bit & 31))) >>> 0;
  }
  return words;
}
