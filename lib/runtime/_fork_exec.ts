/**
 * Starting a program from a process with several threads, the way `fork`
 * and `execve` do it, without running anything of Deno in the child: a
 * few instructions of machine code make the child with `clone(SIGCHLD)`,
 * so that it has a copy of the memory, not the memory itself, close every
 * descriptor from 3 on but the error pipe, and execve the program at once
 * (after `setsid`, so that it shares not even a process group with its
 * parent, and a terminal on its stdin becomes its controlling terminal). posix_spawn shares the memory with its
 * child until the exec (`CLONE_VM`); a container with CAP_SYS_PTRACE could
 * write through that child into the exec init, whose other threads keep
 * the host's privileges.
 *
 * The code is per architecture (x86_64, aarch64), and called through FFI
 * with one pointer to a {@link ForkExecRequest}: path, argv, envp (C
 * pointers), a pipe's write end (close-on-exec) on which a failed exec
 * writes its errno, and room for it. It returns the child's PID, or minus
 * the errno of clone.
 *
 * @module
 */

/** x86_64: called with the request in rdi; clobbers what the C ABI lets it. */
function x86_64(): number[] {
  const child = [
    // Every descriptor from 3 on closed but the pipe: close_range(3, pipe - 1), then
    // close_range(pipe + 1, ~0).
    ...[0xbf, 3, 0, 0, 0], // mov edi, 3
    ...[0x41, 0x8b, 0x70, 0x18], // mov esi, [r8+24]
    ...[0xff, 0xce], // dec esi
    ...[0x31, 0xd2], // xor edx, edx
    ...[0xb8, 0xb4, 0x01, 0, 0], // mov eax, SYS_close_range
    ...[0x0f, 0x05], // syscall
    ...[0x41, 0x8b, 0x78, 0x18], // mov edi, [r8+24]
    ...[0xff, 0xc7], // inc edi
    ...[0xbe, 0xff, 0xff, 0xff, 0xff], // mov esi, ~0
    ...[0x31, 0xd2], // xor edx, edx
    ...[0xb8, 0xb4, 0x01, 0, 0], // mov eax, SYS_close_range
    ...[0x0f, 0x05], // syscall
    ...[0xb8, 112, 0, 0, 0], // mov eax, SYS_setsid
    ...[0x0f, 0x05], // syscall
    // A terminal on stdin becomes the new session's controlling terminal (`exec -t`); a pipe
    // fails with ENOTTY, which is no matter.
    ...[0x31, 0xff], // xor edi, edi
    ...[0xbe, 0x0e, 0x54, 0, 0], // mov esi, TIOCSCTTY
    ...[0x31, 0xd2], // xor edx, edx
    ...[0xb8, 16, 0, 0, 0], // mov eax, SYS_ioctl
    ...[0x0f, 0x05], // syscall
    ...[0x49, 0x8b, 0x38], // mov rdi, [r8]        path
    ...[0x49, 0x8b, 0x70, 0x08], // mov rsi, [r8+8]      argv
    ...[0x49, 0x8b, 0x50, 0x10], // mov rdx, [r8+16]     envp
    ...[0xb8, 59, 0, 0, 0], // mov eax, SYS_execve
    ...[0x0f, 0x05], // syscall
    ...[0xf7, 0xd8], // neg eax              errno
    ...[0x41, 0x89, 0x40, 0x20], // mov [r8+32], eax
    ...[0x41, 0x8b, 0x78, 0x18], // mov edi, [r8+24]     the pipe
    ...[0x49, 0x8d, 0x70, 0x20], // lea rsi, [r8+32]
    ...[0xba, 4, 0, 0, 0], // mov edx, 4
    ...[0xb8, 1, 0, 0, 0], // mov eax, SYS_write
    ...[0x0f, 0x05], // syscall
    ...[0xbf, 127, 0, 0, 0], // mov edi, 127
    ...[0xb8, 231, 0, 0, 0], // mov eax, SYS_exit_group
    ...[0x0f, 0x05], // syscall
  ];
  if (child.length > 127) throw new Error("the child's code is too long for a short jump");
  return [
    ...[0x49, 0x89, 0xf8], // mov r8, rdi          the request (kept across syscalls)
    ...[0xb8, 56, 0, 0, 0], // mov eax, SYS_clone
    ...[0xbf, 17, 0, 0, 0], // mov edi, SIGCHLD     flags: a copy of everything, no CLONE_VM
    ...[0x31, 0xf6], // xor esi, esi         the same stack (in the child's copy)
    ...[0x31, 0xd2], // xor edx, edx
    ...[0x4d, 0x31, 0xd2], // xor r10, r10
    ...[0x0f, 0x05], // syscall
    ...[0x48, 0x85, 0xc0], // test rax, rax
    ...[0x75, child.length], // jnz parent
    ...child,
    0xc3, // parent: ret (rax: the child's PID, or -errno)
  ];
}

/** An AArch64 instruction, little-endian. */
function word(instruction: number): number[] {
  return [0, 8, 16, 24].map((shift) => (instruction >>> shift) & 0xff);
}

/** aarch64: called with the request in x0; x9 keeps it. */
function aarch64(): number[] {
  const movz = (register: number, value: number) => 0xd2800000 | (value << 5) | register;
  const svc = 0xd4000001;
  const child = [
    // Every descriptor from 3 on closed but the pipe.
    movz(0, 3), // mov x0, #3
    0xb9401921, // ldr w1, [x9, #24]
    0x51000421, // sub w1, w1, #1
    movz(2, 0), // mov x2, #0
    movz(8, 436), // mov x8, #SYS_close_range
    svc,
    0xb9401920, // ldr w0, [x9, #24]
    0x11000400, // add w0, w0, #1
    0x12800001, // mov w1, #-1
    movz(2, 0), // mov x2, #0
    movz(8, 436), // mov x8, #SYS_close_range
    svc,
    movz(8, 157), // mov x8, #SYS_setsid
    svc,
    // A terminal on stdin becomes the new session's controlling terminal.
    movz(0, 0), // mov x0, #0
    movz(1, 0x540e), // mov x1, #TIOCSCTTY
    movz(2, 0), // mov x2, #0
    movz(8, 29), // mov x8, #SYS_ioctl
    svc,
    0xf9400120, // ldr x0, [x9]         path
    0xf9400521, // ldr x1, [x9, #8]     argv
    0xf9400922, // ldr x2, [x9, #16]    envp
    movz(8, 221), // mov x8, #SYS_execve
    svc,
    0x4b0003e0, // neg w0, w0           errno
    0xb9002120, // str w0, [x9, #32]
    0xb9401920, // ldr w0, [x9, #24]    the pipe
    0x91008121, // add x1, x9, #32
    movz(2, 4), // mov x2, #4
    movz(8, 64), // mov x8, #SYS_write
    svc,
    movz(0, 127), // mov x0, #127
    movz(8, 94), // mov x8, #SYS_exit_group
    svc,
  ];
  const parent = [0xd65f03c0]; // ret
  const head = [
    0xaa0003e9, // mov x9, x0           the request
    movz(0, 17), // mov x0, #SIGCHLD     flags: a copy of everything, no CLONE_VM
    movz(1, 0), // mov x1, #0           the same stack (in the child's copy)
    movz(2, 0), // mov x2, #0
    movz(3, 0), // mov x3, #0
    movz(4, 0), // mov x4, #0
    movz(8, 220), // mov x8, #SYS_clone
    svc,
    // cbnz x0, parent: over the child's instructions and this one.
    0xb5000000 | ((child.length + 1) << 5) | 0,
  ];
  return [...head, ...child, ...parent].flatMap(word);
}

/** The machine code of the fork-and-exec for an architecture, or undefined when there is none. */
export function forkExecCode(arch: string): Uint8Array | undefined {
  if (arch === "x86_64") return new Uint8Array(x86_64());
  if (arch === "aarch64") return new Uint8Array(aarch64());
  return undefined;
}

/** Offsets in the request the code reads. */
export const REQUEST = { path: 0, argv: 8, envp: 16, errorPipe: 24, errno: 32, size: 40 } as const;
