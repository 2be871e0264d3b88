/**
 * The `config.json` of an OCI bundle (runtime spec 1.0) for a container:
 * the same root, mounts, namespaces, capabilities, seccomp filter, masked
 * paths, device rules and limits as denocker's own init gives it, for an
 * OCI runtime (runc, crun) to run. The user's ids are filled in by the init
 * once the root is mounted and its `/etc/passwd` can be read inside it.
 *
 * @module
 */

import type { Limits } from "./cgroup.ts";
import type { DeviceRule } from "./devices.ts";
import { type InitSpec, MASKED_PATHS, READONLY_PATHS } from "./init.ts";
import { ociSeccomp } from "./seccomp.ts";

/** Where OCI runtimes make a container's cgroup (under each hierarchy on cgroup v1). */
export function runtimeCgroupPath(id: string): string {
  return `/denocker/${id}`;
}

function deviceRule(rule: DeviceRule) {
  return {
    allow: true,
    type: rule.type,
    ...(rule.major === "*" ? {} : { major: rule.major }),
    ...(rule.minor === "*" ? {} : { minor: rule.minor }),
    access: rule.access,
  };
}

/**
 * The bundle's configuration.
 *
 * @param id The container's ID.
 * @param spec What denocker's init would be given.
 * @param limits Limits and device rules (none: every device, as `--privileged`).
 * @returns The document (`process.user` is root until the init fills it in).
 */
export function ociConfig(id: string, spec: InitSpec, limits: Limits): Record<string, unknown> {
  return {
    ociVersion: "1.0.2",
    process: ociProcess(spec),
    root: { path: "rootfs", readonly: spec.readOnly },
    hostname: spec.hostname,
    mounts: ociMounts(spec),
    linux: {
      // The network namespace is the one the runtime is started in: made (with lo up) by
      // denocker for --network none, the host's for --network host.
      namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
      ...(spec.security.privileged
        ? {}
        : { maskedPaths: MASKED_PATHS, readonlyPaths: READONLY_PATHS }),
      cgroupsPath: runtimeCgroupPath(id),
      resources: ociResources(limits),
      ...(spec.security.seccomp === undefined
        ? {}
        : { seccomp: ociSeccomp(Deno.build.arch, spec.security.capabilities) }),
    },
  };
}

/** The process: its command, environment and capabilities (`user` is root until the init). */
function ociProcess(spec: InitSpec) {
  const capabilities = spec.security.capabilities;
  return {
    terminal: false,
    user: { uid: 0, gid: 0 },
    args: spec.args,
    env: spec.env,
    cwd: spec.cwd,
    capabilities: {
      bounding: capabilities,
      effective: capabilities,
      permitted: capabilities,
      inheritable: [],
      ambient: [],
    },
    noNewPrivileges: spec.security.noNewPrivileges,
  };
}

/** The mounts: the kernel's file systems, and the `/etc` files denocker writes for it. */
function ociMounts(spec: InitSpec) {
  const bind = (name: string) => ({
    destination: `/etc/${name}`,
    type: "bind",
    source: `${spec.directory}/${name}`,
    options: ["rbind", "rprivate"],
  });
  return [
    {
      destination: "/proc",
      type: "proc",
      source: "proc",
      options: ["nosuid", "noexec", "nodev"],
    },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    {
      destination: "/dev/mqueue",
      type: "mqueue",
      source: "mqueue",
      options: ["nosuid", "noexec", "nodev"],
    },
    {
      destination: "/sys",
      type: "sysfs",
      source: "sysfs",
      options: ["nosuid", "noexec", "nodev", spec.security.privileged ? "rw" : "ro"],
    },
    bind("hostname"),
    bind("hosts"),
    bind("resolv.conf"),
  ];
}

/** The device rules and limits (no device rules: every device, as `--privileged`). */
function ociResources(limits: Limits) {
  return {
    devices: limits.devices
      ? [{ allow: false, access: "rwm" }, ...limits.devices.map(deviceRule)]
      : [{ allow: true, access: "rwm" }],
    ...(limits.memory === undefined
      ? {}
      : { memory: { limit: limits.memory, swap: limits.memory } }),
    ...(limits.cpus === undefined
      ? {}
      : { cpu: { quota: Math.round(limits.cpus * 100_000), period: 100_000 } }),
    ...(limits.pids === undefined ? {} : { pids: { limit: limits.pids } }),
  };
}
