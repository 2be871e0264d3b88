/**
 * The fork-and-exec machine code exec's init starts commands with: on this
 * machine through FFI (a child in a session of its own, the program's exit
 * status, a failed exec's errno), and the other architecture's code under
 * qemu, in a small static program assembled around its bytes, so that both
 * are run before they are trusted.
 */

import { join } from "node:path";
import { assertEquals } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { integrationTest, run } from "./_real_registry.ts";
import { forkExecCode } from "../lib/runtime/_fork_exec.ts";

const HERE = Deno.build.arch;

integrationTest(`fork-exec on ${HERE}: the child's own session, its status, exec's errno`, [
  "/bin/busybox",
], async () => {
  // FFI needs --allow-ffi, which the test task does not give: a child deno does the calls.
  const module = new URL("../lib/runtime/_libc.ts", import.meta.url).href;
  const dir = await tempDir();
  const notExecutable = join(dir.path, "data");
  await Deno.writeTextFile(notExecutable, "data", { mode: 0o644 });
  const script = `
    import { openProc, spawn, waitFor } from "${module}";
    const session = spawn("/bin/busybox", ["sh", "-c", "cut -d ' ' -f 1,6 /proc/$$/stat; exit 42"], []);
    console.log("status", waitFor(session));
    try { spawn("/nonexistent", ["x"], []); } catch (error) { console.log(error.message); }
    try { spawn("${notExecutable}", ["x"], []); } catch (error) { console.log(error.message); }
    // As exec's init does it: a file of the host and a pipe held open, neither close-on-exec
    // (as inherited ones are), the host's procfs given: the child gets descriptors 0, 1, 2 only,
    // and this process holds no file of the host and no shared memory any more.
    const raw = Deno.dlopen("libc.so.6", {
      open: { parameters: ["buffer", "i32"], result: "i32" },
      pipe: { parameters: ["buffer"], result: "i32" },
    }).symbols;
    raw.open(new TextEncoder().encode("${notExecutable}\\0"), 0);
    raw.pipe(new Uint8Array(8));
    const listing = "${join(dir.path, "fds")}";
    const lister = spawn("/bin/busybox", ["sh", "-c", "(ls /proc/$$/fd > " + listing + "); true"], [], openProc("/proc"));
    waitFor(lister);
    console.log(Deno.readTextFileSync(listing).trim().split("\\n").join(" "));
    const maps = Deno.readTextFileSync("/proc/self/maps").split("\\n");
    console.log("shared mappings", maps.filter((line) => line.split(" ")[1]?.[3] === "s").length);
    const files = [...Deno.readDirSync("/proc/self/fd")].filter((entry) => Number(entry.name) > 2).map((entry) => {
      try { return Deno.readLinkSync("/proc/self/fd/" + entry.name); } catch { return ""; }
    }).filter((target) => target.startsWith("/") && !target.startsWith("/proc/"));
    console.log("files", JSON.stringify(files));
  `;
  const out = (await run(Deno.execPath(), ["eval", "--allow-all", script])).split("\n");
  await dir.remove();
  const [pid, session] = out[0].split(" ");
  assertEquals(session, pid, "the child leads a session of its own");
  assertEquals(out.slice(1, 7), [
    "status 42",
    "exec /nonexistent failed: ENOENT: no such file or directory",
    `exec ${notExecutable} failed: EACCES: permission denied`,
    "0 1 2",
    "shared mappings 0",
    "files []",
  ]);
});

/**
 * A static aarch64 program that calls the code twice: a failed exec, then
 * busybox (the host's), which exits 42 if it has no descriptor but 0, 1, 2
 * and the one its glob opens (41 if it inherited the pipe the program left
 * open for it).
 */
const HARNESS = (code: Uint8Array) => `
  .global _start
  .text
_start:
  adr x0, fds
  mov x1, #0x80000          // O_CLOEXEC
  mov x8, #59               // pipe2
  svc #0
  adr x10, fds
  ldr w11, [x10, #4]
  adr x9, failing
  str x11, [x9, #24]
  mov x0, x9
  bl forkexec
  mov x19, x0
  bl close_write
  bl read_errno             // x0: bytes read, w1: errno
  cmp x0, #4
  b.ne bad1
  cmp w1, #2                // ENOENT
  b.ne bad2
  mov x0, x19
  bl reap
  adr x0, leak              // a pipe that is not close-on-exec, as an inherited descriptor
  mov x1, #0
  mov x8, #59
  svc #0
  adr x0, fds
  mov x1, #0x80000
  mov x8, #59
  svc #0
  adr x10, fds
  ldr w11, [x10, #4]
  adr x9, working
  str x11, [x9, #24]
  mov x0, x9
  bl forkexec
  mov x19, x0
  bl close_write
  bl read_errno
  cbnz x0, bad3             // the pipe closed at the exec: nothing to read
  mov x0, x19
  bl reap                   // x0: exit status
  cmp x0, #42
  b.ne bad4
  mov x0, #0
  b exit
bad1: mov x0, #1
  b exit
bad2: mov x0, #2
  b exit
bad3: mov x0, #3
  b exit
bad4: mov x0, #4
exit:
  mov x8, #94
  svc #0
close_write:
  adr x10, fds
  ldr w0, [x10, #4]
  mov x8, #57               // close
  svc #0
  ret
read_errno:
  adr x10, fds
  ldr w0, [x10]
  adr x1, buf
  mov x2, #4
  mov x8, #63               // read
  svc #0
  adr x1, buf
  ldr w1, [x1]
  ret
reap:
  mov x1, x0                // waitid(P_PID, pid, &info, WEXITED)
  mov x0, #1
  adr x2, info
  mov x3, #4
  mov x4, #0
  mov x8, #95
  svc #0
  adr x2, info
  ldr w0, [x2, #24]         // si_status
  ret
forkexec:
  .byte ${[...code].join(", ")}
  .data
  .balign 8
fds: .word 0, 0
leak: .word 0, 0
buf: .word 0
  .balign 8
info: .skip 128
missing: .asciz "/nonexistent"
busybox: .asciz "/bin/busybox"
sh: .asciz "sh"
dash_c: .asciz "-c"
script: .asciz "for fd in /proc/$$/fd/*; do [ \${fd##*/} -gt 3 ] && exit 41; done; exit 42"
  .balign 8
no_args: .quad missing, 0
args: .quad sh, dash_c, script, 0
no_env: .quad 0
failing: .quad missing, no_args, no_env, 0, 0
working: .quad busybox, args, no_env, 0, 0
`;

integrationTest(
  "fork-exec on aarch64, under qemu: a failed exec's errno, then a program's status",
  [
    "aarch64-linux-gnu-as",
    "aarch64-linux-gnu-ld",
    "qemu-aarch64-static",
    "/bin/busybox",
  ],
  async () => {
    await using dir = await tempDir();
    await Deno.writeTextFile(join(dir.path, "harness.s"), HARNESS(forkExecCode("aarch64")!));
    await run("aarch64-linux-gnu-as", [
      "-o",
      join(dir.path, "harness.o"),
      join(dir.path, "harness.s"),
    ]);
    await run("aarch64-linux-gnu-ld", [
      "-static",
      "-o",
      join(dir.path, "harness"),
      join(dir.path, "harness.o"),
    ]);
    const result = await new Deno.Command("qemu-aarch64-static", {
      args: [join(dir.path, "harness")],
    }).output();
    assertEquals(result.code, 0, "the harness's failed check (1-4)");
  },
);
