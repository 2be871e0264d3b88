/**
 * The system calls a container may make: docker's default seccomp profile
 * (moby 20.10), written as rules over syscall names, without io_uring
 * (whose operations run past seccomp; docker's own profile refuses it from
 * moby 25 on). Everything not allowed here fails with EPERM. Some calls are allowed only when the
 * container holds a capability (`--cap-add SYS_ADMIN` opens `mount`,
 * `unshare`, …), or only with harmless arguments (`personality`, `clone`
 * without namespace flags).
 *
 * @module
 */

import type { Capability } from "./capabilities.ts";

/** The architectures a filter is made for: each 64-bit one with its 32-bit compat ABI. */
export type SeccompArch = "x86_64" | "x86" | "aarch64" | "arm";

/** The machines (the 64-bit architectures) a filter is made on. */
export type SeccompMachine = "x86_64" | "aarch64";

/** A condition on one argument of the call; every condition of a rule must hold. */
export interface ArgumentCondition {
  /** Which argument, from 0. */
  index: number;
  /** `(argument & mask) === value`; without a mask, `argument === value`. */
  value: number;
  mask?: number;
}

/** One rule of a profile. */
export interface SyscallRule {
  names: readonly string[];
  /** Allow the call, or fail it with this errno. */
  action: "allow" | { errno: number };
  /**
   * Only on these machines (for every ABI the machine's filter covers, as
   * docker decides it by the machine it runs on).
   */
  machines?: readonly SeccompMachine[];
  /** Only when the container holds this capability. */
  withCapability?: Capability;
  /** Only when the container does not hold this capability. */
  withoutCapability?: Capability;
  /** Only when the arguments match. */
  args?: readonly ArgumentCondition[];
}

/** Namespace flags of clone(2): CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const ENOSYS = 38;

/** Calls every container may make. */
// deno-fmt-ignore
const ALWAYS = [
  "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset", "chdir",
  "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
  "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
  "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
  "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
  "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
  "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
  "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl",
  "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
  "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
  "ftruncate64", "futex", "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd",
  "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
  "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
  "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
  "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
  "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
  "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl",
  "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
  "ioprio_set", "io_setup", "io_submit",
  "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
  "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
  "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "membarrier",
  "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
  "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
  "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
  "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
  "munlockall", "munmap", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2",
  "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "poll", "ppoll", "ppoll_time64",
  "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
  "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
  "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
  "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
  "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
  "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
  "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
  "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
  "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
  "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget",
  "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
  "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
  "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
  "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
  "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
  "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
  "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socket", "socketcall", "socketpair",
  "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
  "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
  "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
  "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
  "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask",
  "uname", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork",
  "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
  // Docker allows it from Linux 4.8 on, where seccomp is checked after a tracer's changes.
  "ptrace",
] as const;

/** Docker's default profile. */
export const DEFAULT_PROFILE: readonly SyscallRule[] = [
  { names: ALWAYS, action: "allow" },
  // The execution domains that change nothing that matters (Linux, and a query).
  ...[0x0, 0x8, 0x20000, 0x20008, 0xffffffff].map((value): SyscallRule => ({
    names: ["personality"],
    action: "allow",
    args: [{ index: 0, value }],
  })),
  {
    names: [
      "arm_fadvise64_64",
      "arm_sync_file_range",
      "sync_file_range2",
      "breakpoint",
      "cacheflush",
      "set_tls",
    ],
    action: "allow",
    machines: ["aarch64"],
  },
  { names: ["arch_prctl", "modify_ldt"], action: "allow", machines: ["x86_64"] },
  { names: ["open_by_handle_at"], action: "allow", withCapability: "CAP_DAC_READ_SEARCH" },
  {
    names: [
      "bpf",
      "clone",
      "clone3",
      "fanotify_init",
      "fsconfig",
      "fsmount",
      "fsopen",
      "fspick",
      "lookup_dcookie",
      "mount",
      "mount_setattr",
      "move_mount",
      "name_to_handle_at",
      "open_tree",
      "perf_event_open",
      "quotactl",
      "quotactl_fd",
      "setdomainname",
      "sethostname",
      "setns",
      "syslog",
      "umount",
      "umount2",
      "unshare",
    ],
    action: "allow",
    withCapability: "CAP_SYS_ADMIN",
  },
  // New threads and processes, but no new namespaces.
  {
    names: ["clone"],
    action: "allow",
    withoutCapability: "CAP_SYS_ADMIN",
    args: [{ index: 0, value: 0, mask: CLONE_NAMESPACE_FLAGS }],
  },
  // clone3 passes its flags in memory, which a filter cannot read: ENOSYS makes libc use clone.
  { names: ["clone3"], action: { errno: ENOSYS }, withoutCapability: "CAP_SYS_ADMIN" },
  { names: ["reboot"], action: "allow", withCapability: "CAP_SYS_BOOT" },
  { names: ["chroot"], action: "allow", withCapability: "CAP_SYS_CHROOT" },
  {
    names: ["delete_module", "init_module", "finit_module"],
    action: "allow",
    withCapability: "CAP_SYS_MODULE",
  },
  { names: ["acct"], action: "allow", withCapability: "CAP_SYS_PACCT" },
  {
    names: ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev"],
    action: "allow",
    withCapability: "CAP_SYS_PTRACE",
  },
  { names: ["iopl", "ioperm"], action: "allow", withCapability: "CAP_SYS_RAWIO" },
  {
    names: ["settimeofday", "stime", "clock_settime"],
    action: "allow",
    withCapability: "CAP_SYS_TIME",
  },
  { names: ["vhangup"], action: "allow", withCapability: "CAP_SYS_TTY_CONFIG" },
  {
    names: ["get_mempolicy", "mbind", "set_mempolicy"],
    action: "allow",
    withCapability: "CAP_SYS_NICE",
  },
  { names: ["syslog"], action: "allow", withCapability: "CAP_SYSLOG" },
];

/** Every syscall name the profile mentions (the numbers tables hold these). */
export function profileSyscallNames(): string[] {
  return [...new Set(DEFAULT_PROFILE.flatMap((rule) => rule.names))].sort();
}
