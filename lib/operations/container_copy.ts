/**
 * Copying files between a container and the host (`cp`), as docker does,
 * without ever following the container's symlinks out of its root: every
 * path inside is resolved within the root ({@link secureJoin}), while
 * nothing in the container runs (a running container is frozen for the
 * copy, as docker pauses it); its symlinks are copied as
 * symlinks, never followed. A running container is seen through its first
 * process's root; a stopped one has its overlay mounted for the copy.
 *
 * @module
 */

import { basename, dirname, join } from "../io/path.ts";
import { constants as fsConstants, copyFileSync } from "node:fs";
import { DenockerError, InvalidInputError } from "../errors.ts";
import type { StoreOptions } from "../store/store.ts";
import { withLock } from "../io/lock.ts";
import { lstatIfExists } from "../io/fs.ts";
import { secureJoin } from "../runtime/secure_join.ts";
import { tarTree } from "../archive/tar_writer.ts";
import { extractLayer } from "../layer/extract.ts";
import { rootLayout } from "../store/layout.ts";
import { type ContainerRecord, type ContainerStore, isAlive } from "../runtime/containers.ts";
import { hostEnvironment, hostTool } from "../runtime/host_tools.ts";
import { findContainer, running } from "./_container_lookup.ts";
import { freeze, thaw } from "../runtime/cgroup.ts";
import type { MountSpec } from "../runtime/volumes.ts";

/**
 * Runs `fn` while every process of a running container is frozen (its
 * cgroup's freezer, as `docker pause`): nothing in it can change its tree
 * meanwhile, nor undo the freeze (a SIGSTOP can be: a fork chain outruns
 * it, a tracer cancels it). The first process is checked to be the
 * container's still once frozen, so that its PID names it throughout.
 */
async function whileFrozen<T>(
  record: ContainerRecord,
  fn: (root: string) => Promise<T>,
): Promise<T> {
  const cgroups = record.spec.cgroups.map((cgroup) => cgroup.directory);
  if (!(await freeze(cgroups))) {
    throw new DenockerError(
      `Cannot copy while container ${record.name} runs: it has no freezer cgroup (${
        record.spec.runtime ? "an OCI runtime's container" : "this machine has none"
      }); stop it first`,
    );
  }
  try {
    if (!(await isAlive(record.process))) {
      throw new DenockerError(`Cannot copy: container ${record.name} ended meanwhile`);
    }
    return await fn(`/proc/${record.process!.pid}/root`);
  } finally {
    await thaw(cgroups);
  }
}

async function runTool(program: string, args: string[], cwd?: string): Promise<void> {
  const output = await new Deno.Command(program, {
    args,
    cwd,
    clearEnv: true,
    env: hostEnvironment(),
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new DenockerError(
      `Cannot copy: ${basename(program)} failed: ${
        new TextDecoder().decode(output.stderr).trim().split("\n")[0]
      }`,
    );
  }
}

/**
 * Runs `fn` with the container's root as a host path, nothing of the
 * container running meanwhile: a running container's processes stopped, a
 * stopped container's overlay mounted (under the containers' lock, so that
 * it is not started meanwhile).
 */
export async function withContainerRoot<T>(
  containers: ContainerStore,
  record: ContainerRecord,
  fn: (root: string) => Promise<T>,
): Promise<T> {
  if (await running(record)) return await whileFrozen(record, fn);
  return await withLock(containers.lockPath, { exclusive: true }, async () => {
    const current = await containers.read(record.id);
    if (!current) throw new InvalidInputError(`Cannot copy: no such container ${record.name}`);
    if (current.state === "running" || current.state === "restarting") {
      throw new DenockerError(`Cannot copy: container ${record.name} is starting; try again`);
    }
    const directory = current.spec.directory;
    if (current.spec.rootfs === "copy") return await fn(join(directory, "copy"));
    const rootfs = join(directory, "rootfs");
    await unmountStale(rootfs);
    const lower = Array.from({ length: current.spec.lowerCount }, (_, i) => String(i)).join(":");
    await runTool(hostTool("mount", "util-linux"), [
      "-t",
      "overlay",
      "overlay",
      "-o",
      // Nothing of the container's may act on the host through this mount.
      `nosuid,nodev,noexec,lowerdir=${lower},upperdir=../upper,workdir=../work`,
      rootfs,
    ], join(directory, "lower"));
    try {
      return await fn(rootfs);
    } finally {
      await runTool(hostTool("umount", "util-linux"), [rootfs]);
    }
  });
}

/**
 * Unmounts what a killed `cp` left mounted on a stopped container's
 * `rootfs/` in the host's mount namespace (its start mounts its own there,
 * in its own namespace, over the same upper directory).
 *
 * @param rootfs The container's mount point.
 */
export async function unmountStale(rootfs: string): Promise<void> {
  const mounts = await Deno.readTextFile("/proc/self/mountinfo").catch(() => "");
  if (!mounts.split("\n").some((line) => line.split(" ")[4] === rootfs)) return;
  await runTool(hostTool("umount", "util-linux"), ["-l", rootfs]);
}

/**
 * Copies one entry (recursively), never following a symlink: links are
 * copied as links. Nothing is written through a path another user could
 * have changed: a file is created exclusively (a symlink planted in its
 * place fails it, as docker's tar extraction would refuse it) with its mode
 * set on the open file, and a directory is made 0700 and gets its mode only
 * once what is under it is copied (`made` collects them, deepest last).
 * A directory in the way of something else is refused, as docker refuses
 * it.
 */
async function copyEntry(from: string, to: string, made: [string, number][]): Promise<void> {
  const info = await Deno.lstat(from);
  const existing = await lstatIfExists(to);
  if (existing?.isDirectory && !info.isDirectory) {
    throw new InvalidInputError(`Cannot copy: cannot overwrite directory ${to} with non-directory`);
  }
  if (existing && !existing.isDirectory) await Deno.remove(to);
  if (info.isSymlink) {
    await Deno.symlink(await Deno.readLink(from), to);
  } else if (info.isDirectory) {
    if (!existing) {
      await Deno.mkdir(to, { mode: 0o700 });
      made.push([to, (info.mode ?? 0o755) & 0o7777]);
    }
    for await (const entry of Deno.readDir(from)) {
      await copyEntry(join(from, entry.name), join(to, entry.name), made);
    }
  } else if (info.isFile) {
    // O_CREAT|O_EXCL, and the source's mode by fchmod on the new file (libuv's copyfile).
    copyFileSync(from, to, fsConstants.COPYFILE_EXCL);
  }
  // Devices, sockets and pipes are not copied. What is made belongs to this process's user
  // (root, who runs containers), as docker's copies do.
}

/**
 * Where a copy of `source` goes for a destination as given, as docker
 * decides: into an existing directory under the source's name (its
 * contents for `SRC/.`), else at the destination's path.
 */
async function target(
  source: { path: string; given: string; isDirectory: boolean },
  destination: { path: string; given: string },
): Promise<{ to: string; contents: boolean }> {
  const existing = await lstatIfExists(destination.path);
  const contents = source.isDirectory && /(^|\/)\.$/.test(source.given);
  if (existing?.isDirectory) {
    return contents ? { to: destination.path, contents: true } : {
      to: join(destination.path, basename(source.path)),
      contents: false,
    };
  }
  if (existing && source.isDirectory) {
    throw new InvalidInputError(
      `Cannot copy: cannot copy a directory to a file: ${destination.given}`,
    );
  }
  if (destination.given.endsWith("/")) {
    throw new InvalidInputError(`Cannot copy: no such directory: ${destination.given}`);
  }
  return { to: destination.path, contents: false };
}

/** Copies `from` to `to` (its contents into `to` with `contents`). */
async function copyTo(from: string, to: string, contents: boolean): Promise<void> {
  const made: [string, number][] = [];
  if (!contents) await copyEntry(from, to, made);
  else {
    for await (const entry of Deno.readDir(from)) {
      await copyEntry(join(from, entry.name), join(to, entry.name), made);
    }
  }
  // Deepest first: while a directory gets its mode, the one above it is still 0700 and ours.
  for (const [directory, mode] of made.reverse()) await Deno.chmod(directory, mode);
}

/**
 * A source path inside a root: its parent resolved within the root, its
 * last component as it is (a symlink is copied, not followed, as docker
 * copies it), but for `.`, `..` and a trailing `/`.
 */
function sourceIn(root: string, path: string): string {
  const last = basename(path);
  if (path.endsWith("/") || last === "." || last === ".." || last === "") {
    return secureJoin(root, path);
  }
  return join(secureJoin(root, dirname(path)), last);
}

/**
 * Copies a file or directory out of a container to the host, as `docker cp
 * CONTAINER:SRC DEST`: the path resolved inside the container's root (its
 * symlinks followed only within it), links copied as links; the copies
 * belong to this process's user.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @example
 * ```ts
 * import { copyFromContainer } from "@denocker/denocker";
 * await copyFromContainer("web", "/etc/hostname", "/tmp/hostname", { root: "/var/lib/denocker" });
 * ```
 *
 * @param name A container's name or ID (prefix).
 * @param source The path inside.
 * @param destination The host path, or a stream that gets a tar of it (`cp CONTAINER:SRC -`:
 *   one entry under the source's name, and what is under it).
 * @param options The store.
 */
export async function copyFromContainer(
  name: string,
  source: string,
  destination: string | WritableStream<Uint8Array>,
  options: StoreOptions = {},
): Promise<void> {
  const { containers, record } = await findContainer(name, options);
  await withContainerRoot(containers, record, async (root) => {
    const from = sourceIn(root, source);
    const info = await lstatIfExists(from);
    if (!info) throw new InvalidInputError(`Cannot copy: no such file in ${name}: ${source}`);
    if (typeof destination !== "string") {
      const base = basename(from);
      return await tarTree(dirname(from), base).pipeTo(destination, { preventClose: true });
    }
    const { to, contents } = await target(
      { path: from, given: source, isDirectory: info.isDirectory },
      { path: destination, given: destination },
    );
    await copyTo(from, to, contents);
  });
}

/**
 * Copies a host file or directory into a container, as `docker cp SRC
 * CONTAINER:DEST`: the destination resolved inside the container's root
 * (its symlinks followed only within it; one in the way of a copy is
 * replaced, never written through); the copies belong to root, as
 * docker's do.
 *
 * Requires every permission (`--allow-all`), as containers do.
 *
 * @param source The host path, or a tar stream (`cp - CONTAINER:DEST`) whose entries go into
 *   the destination directory.
 * @param name A container's name or ID (prefix).
 * @param destination The path inside.
 * @param options The store.
 */
export async function copyToContainer(
  source: string | ReadableStream<Uint8Array>,
  name: string,
  destination: string,
  options: StoreOptions = {},
): Promise<void> {
  if (typeof source !== "string") return await untarToContainer(source, name, destination, options);
  const info = await lstatIfExists(source);
  if (!info) throw new InvalidInputError(`Cannot copy: no such file: ${source}`);
  const { containers, record } = await findContainer(name, options);
  await withContainerRoot(containers, record, async (root) => {
    const inside = secureJoin(root, destination);
    const { to, contents } = await target(
      { path: source, given: source, isDirectory: info.isDirectory },
      { path: inside, given: destination },
    );
    const parent = await lstatIfExists(join(to, ".."));
    if (!parent?.isDirectory) {
      throw new InvalidInputError(`Cannot copy: no such directory in ${name}: ${destination}`);
    }
    await copyTo(source, to, contents);
  });
}

/**
 * A tar's entries into a directory of a container (`cp - CONTAINER:DEST`):
 * extracted first, by denocker's layer extractor (no entry out of its
 * directory), into the store's `tmp/`, then copied in as a directory's
 * contents are.
 */
async function untarToContainer(
  tar: ReadableStream<Uint8Array>,
  name: string,
  destination: string,
  options: StoreOptions,
): Promise<void> {
  const { containers, record } = await findContainer(name, options);
  const staging = await Deno.makeTempDir({ dir: rootLayout(containers.root).tmp, prefix: "cp-" });
  try {
    await extractLayer(tar, staging);
    await withContainerRoot(containers, record, async (root) => {
      const inside = secureJoin(root, destination);
      if (!(await lstatIfExists(inside))?.isDirectory) {
        throw new InvalidInputError(
          `Cannot copy: the destination of a tar must be a directory in ${name}: ${destination}`,
        );
      }
      await copyTo(staging, inside, true);
    });
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}

/**
 * Fills volumes made for a new container with what its image has at their
 * targets, as docker does the first time a volume is used: the content,
 * owners, modes, times and links (coreutils `cp -a`), read from the
 * container's root mounted on the host, the target resolved inside it.
 *
 * @param containers The store's containers.
 * @param record The new container (not started).
 * @param fresh Its volumes made now.
 */
export async function fillVolumes(
  containers: ContainerStore,
  record: ContainerRecord,
  fresh: MountSpec[],
): Promise<void> {
  if (fresh.length === 0) return;
  await withContainerRoot(containers, record, async (root) => {
    for (const volume of fresh) {
      const source = secureJoin(root, volume.target);
      if (!(await lstatIfExists(source))?.isDirectory) continue;
      await runTool(hostTool("cp", "coreutils"), ["-a", "--", `${source}/.`, volume.source!]);
    }
  });
}
