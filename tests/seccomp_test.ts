/**
 * The seccomp filter against its references: the system call numbers are
 * libseccomp's (`scmp_sys_resolver`), and the compiled program decides
 * every call of every architecture (and the arguments docker checks) as
 * docker's own default profile does: moby 20.10's `default.json`, as
 * Debian ships it with the docker.io it packages, read here with docker's
 * rules (capabilities, architectures, argument conditions), but for
 * io_uring, which denocker refuses as moby 25's profile does. The program is
 * run by a classic BPF interpreter; the container tests run it in the
 * kernel.
 */

import { assert, assertEquals } from "./_assert.ts";
import { integrationTest, run } from "./_real_registry.ts";
import { MACHINE_ARCHES, type SeccompAction, seccompFilter } from "../lib/runtime/seccomp.ts";
import { containerFilter } from "../lib/runtime/container_filter.ts";
import { DEFAULT_FILTERS } from "../lib/runtime/_seccomp_default.ts";
import { profileSyscallNames, type SeccompArch } from "../lib/runtime/_seccomp_profile.ts";
import { SYSCALL_NUMBERS } from "../lib/runtime/_syscall_numbers.ts";
import {
  type Capability,
  CAPABILITY_NAMES,
  containerCapabilities,
  DEFAULT_CAPABILITIES,
} from "../lib/runtime/capabilities.ts";

const MOBY_PROFILE = "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json";
const ARCHES: SeccompArch[] = ["x86_64", "x86", "aarch64", "arm"];
const AUDIT_ARCH: Record<SeccompArch, number> = {
  x86_64: 0xc000003e,
  x86: 0x40000003,
  aarch64: 0xc00000b7,
  arm: 0x40000028,
};
/** The machine each ABI's filter is made on, as docker (Go) names it. */
const GOARCH: Record<SeccompArch, string> = {
  x86_64: "amd64",
  x86: "amd64",
  aarch64: "arm64",
  arm: "arm64",
};

/** What a call looks like to the filter. */
interface Call {
  arch: number;
  nr: number;
  args: bigint[];
}

/** Runs a classic BPF seccomp program (the instructions a filter uses) on one call. */
function runFilter(program: Uint8Array, call: Call): number {
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const data = new DataView(new ArrayBuffer(64));
  data.setUint32(0, call.nr, true);
  data.setUint32(4, call.arch, true);
  call.args.forEach((arg, i) => data.setBigUint64(16 + 8 * i, arg, true));
  let a = 0;
  for (let pc = 0, steps = 0; steps < 10_000; steps++) {
    if (pc * 8 >= program.byteLength) throw new Error(`fell off the program at ${pc}`);
    const code = view.getUint16(pc * 8, true);
    const jt = view.getUint8(pc * 8 + 2);
    const jf = view.getUint8(pc * 8 + 3);
    const k = view.getUint32(pc * 8 + 4, true);
    pc++;
    switch (code) {
      case 0x20: // ld [k]
        a = data.getUint32(k, true);
        break;
      case 0x54: // and #k
        a = (a & k) >>> 0;
        break;
      case 0x05: // ja +k
        pc += k;
        break;
      case 0x15: // jeq #k
        pc += a === k ? jt : jf;
        break;
      case 0x35: // jge #k
        pc += a >= k ? jt : jf;
        break;
      case 0x06: // ret #k
        return k;
      default:
        throw new Error(`unknown instruction ${code.toString(16)} at ${pc - 1}`);
    }
  }
  throw new Error("the program loops");
}

function returned(action: SeccompAction): number {
  return "allow" in action ? 0x7fff0000 : 0x00050000 | action.errno;
}

interface MobyRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args: { index: number; value: number; valueTwo?: number; op: string }[] | null;
  includes: { arches?: string[]; caps?: string[]; minKernel?: string };
  excludes: { arches?: string[]; caps?: string[] };
}

/** The syscall numbers of every name docker's profile uses, on one architecture. */
async function resolveAll(arch: SeccompArch, names: string[]): Promise<Map<string, number>> {
  const numbers = new Map<string, number>();
  await Promise.all(names.map(async (name) => {
    const text = (await run("scmp_sys_resolver", ["-a", arch, name])).trim();
    if (Number(text) >= 0) numbers.set(name, Number(text));
  }));
  return numbers;
}

/**
 * What docker's profile does with a call, read as moby's `setupSeccomp`
 * reads it on a machine of `GOARCH[arch]` for a container with
 * `capabilities` (on Linux 6.x, so `minKernel` rules apply).
 */
function mobyDecision(
  rules: MobyRule[],
  numbers: Map<string, number>,
  arch: SeccompArch,
  capabilities: Set<string>,
  call: Call,
): number {
  const goarch = GOARCH[arch];
  const applicable = rules.filter((rule) => {
    if (rule.includes.arches?.length && !rule.includes.arches.includes(goarch)) return false;
    if (rule.includes.caps?.length && !rule.includes.caps.every((cap) => capabilities.has(cap))) {
      return false;
    }
    if (rule.excludes.arches?.includes(goarch)) return false;
    if (rule.excludes.caps?.some((cap) => capabilities.has(cap))) return false;
    return rule.names.some((name) => numbers.get(name) === call.nr);
  });
  const action = (rule: MobyRule) =>
    rule.action === "SCMP_ACT_ALLOW" ? 0x7fff0000 : 0x00050000 | (rule.errnoRet ?? 1);
  const plain = applicable.filter((rule) => !rule.args || rule.args.length === 0);
  if (plain.length > 0) return action(plain[0]);
  for (const rule of applicable) {
    const matches = rule.args!.every((condition) => {
      const value = call.args[condition.index];
      if (condition.op === "SCMP_CMP_EQ") return value === BigInt(condition.value);
      if (condition.op === "SCMP_CMP_MASKED_EQ") {
        return (value & BigInt(condition.value)) === BigInt(condition.valueTwo ?? 0);
      }
      throw new Error(`operator ${condition.op} not read here`);
    });
    if (matches) return action(rule);
  }
  return 0x00050000 | 1;
}

integrationTest("seccomp: syscall numbers are libseccomp's", ["scmp_sys_resolver"], async () => {
  const names = profileSyscallNames();
  for (const arch of ARCHES) {
    const resolved = await resolveAll(arch, names);
    assertEquals(
      Object.fromEntries([...resolved].sort(([a], [b]) => a.localeCompare(b))),
      Object.fromEntries(
        Object.entries(SYSCALL_NUMBERS[arch]).sort(([a], [b]) => a.localeCompare(b)),
      ),
      arch,
    );
  }
});

integrationTest(
  "seccomp: the filter decides every call as docker's default profile",
  ["scmp_sys_resolver", MOBY_PROFILE],
  async (t) => {
    const moby = JSON.parse(await Deno.readTextFile(MOBY_PROFILE));
    assertEquals([moby.defaultAction, moby.defaultErrnoRet ?? 1], ["SCMP_ACT_ERRNO", 1]);
    // moby 25 took io_uring out of the profile; denocker does too.
    const IO_URING = ["io_uring_setup", "io_uring_enter", "io_uring_register"];
    const rules = (moby.syscalls as MobyRule[]).map((rule) => ({
      ...rule,
      names: rule.names.filter((name) => !IO_URING.includes(name)),
    }));
    const names = [...new Set(rules.flatMap((rule) => rule.names))];
    const capabilitySets: [string, Capability[]][] = [
      ["docker's default capabilities", [...DEFAULT_CAPABILITIES]],
      ["--cap-add SYS_ADMIN", containerCapabilities({ add: ["SYS_ADMIN"] })],
      [
        "--cap-add SYS_PTRACE --cap-add SYS_TIME",
        containerCapabilities({
          add: ["SYS_PTRACE", "SYS_TIME"],
        }),
      ],
      ["--cap-drop ALL", []],
      ["every capability", [...CAPABILITY_NAMES]],
    ];
    // Arguments docker's conditions look at: personality's domains, clone's namespace flags.
    const argumentCases = [
      0n,
      8n,
      0x20000n,
      0x20008n,
      0xffffffffn,
      1n,
      0x1_0000_0000n,
      0x3d0f00n, // clone flags of a new thread
      0x10000000n, // CLONE_NEWUSER
      0x20000n | 0x3d0f00n, // CLONE_NEWNS with thread flags
      0x40000000n, // CLONE_NEWNET
    ];
    for (const machine of ["x86_64", "aarch64"] as const) {
      const abis = ARCHES.filter((arch) => GOARCH[arch] === GOARCH[machine]);
      const numbers = new Map<SeccompArch, Map<string, number>>();
      for (const arch of abis) numbers.set(arch, await resolveAll(arch, names));
      for (const [label, capabilities] of capabilitySets) {
        await t.step(`${machine}, ${label}`, () => {
          const program = seccompFilter(machine, capabilities);
          const held = new Set<string>(capabilities);
          let checked = 0;
          for (const arch of abis) {
            const table = numbers.get(arch)!;
            // Every number of the usual range and past it, and around each named call (ARM's
            // private calls are numbered from 0xf0000).
            const calls = new Set<number>();
            for (let nr = 0; nr < 1100; nr++) calls.add(nr);
            for (const nr of table.values()) for (let d = -2; d <= 2; d++) calls.add(nr + d);
            for (const nr of calls) {
              for (const first of argumentCases) {
                const call = { arch: AUDIT_ARCH[arch], nr, args: [first, 0n, 0n, 0n, 0n, 0n] };
                const expected = mobyDecision(rules, table, arch, held, call);
                const actual = runFilter(program, call);
                if (actual !== expected) {
                  throw new Error(
                    `${arch} call ${nr} (${
                      [...table].find(([, n]) => n === nr)?.[0] ?? "?"
                    }) with ${first.toString(16)}: ours ${actual.toString(16)}, docker's ${
                      expected.toString(16)
                    }`,
                  );
                }
                checked++;
              }
            }
          }
          assert(checked > 4000, `only ${checked} calls checked`);
          // What docker's filter cannot say: x32 calls and foreign architectures are refused.
          const eperm = returned({ errno: 1 });
          if (machine === "x86_64") {
            assertEquals(
              runFilter(program, { arch: AUDIT_ARCH.x86_64, nr: 0x40000000, args: [] }),
              eperm,
            );
          }
          assertEquals(runFilter(program, { arch: 0xc0000015, nr: 0, args: [] }), eperm);
        });
      }
    }
  },
);

Deno.test("seccomp: the filters compiled ahead are what the compiler makes today", async () => {
  // Stale after a change to the profile, the compiler or the default capabilities: run
  // `deno run --allow-write tools/seccomp_default.ts`.
  for (const machine of Object.keys(MACHINE_ARCHES)) {
    assertEquals(
      Uint8Array.fromBase64(DEFAULT_FILTERS[machine]),
      seccompFilter(machine, DEFAULT_CAPABILITIES),
      `lib/runtime/_seccomp_default.ts is stale for ${machine}`,
    );
    // Any other set of capabilities is compiled when the container is made.
    const fewer = DEFAULT_CAPABILITIES.filter((name) => name !== "CAP_CHOWN");
    const more = [...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN" as const];
    for (const capabilities of [fewer, more, [...DEFAULT_CAPABILITIES].reverse()]) {
      assertEquals(
        await containerFilter(machine, capabilities),
        seccompFilter(machine, capabilities),
      );
    }
  }
  // The capabilities matter (CAP_SYS_ADMIN allows more calls): a default filter for every set
  // would be wrong.
  assert(
    Uint8Array.fromBase64(DEFAULT_FILTERS.x86_64).toBase64() !==
      seccompFilter("x86_64", [...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"]).toBase64(),
  );
});
