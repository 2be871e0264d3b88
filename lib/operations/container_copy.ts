/**
 * Copying files between a container and the host (`cp`), as docker does,
 * without ever following the container's symlinks out of its root: every
 * path inside is resolved within the root ({@link secureJoin}), while
 * nothing in the container runs (a running container's processes are
 * stopped for the copy, as docker pauses it); its symlinks are copied as
 * symlinks, never followed. A running container is seen through its first
 * process's root; a stopped one has its overlay mounted for the copy.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { DenockerError, InvalidInputError } from "../errors.ts";
import type { StoreOptions } from "../store/store.ts";
import { withLock } from "../io/lock.ts";
import { lstatIfExists } from "../io/fs.ts";
import { secureJoin } from "../runtime/secure_join.ts";
import { tarTree } from "../archive/tar_writer.ts";
import { extractLayer } from "../layer/extract.ts";
import { rootLayout } from "../store/layout.ts";
import type { ContainerRecord, ContainerStore } from "../runtime/containers.ts";
import { hostEnvironment, hostTool } from "../runtime/host_tools.ts";
import { findContainer, namespaceMembers, running } from "./_container_lookup.ts";

/** Sends a signal to processes, those already gone aside. */
function signalAll(pids: Iterable<number>, signal: Deno.Signal): void {
  for (const pid of pids) {
    try {
      Deno.kill(pid, signal);
    } catch {
      // Gone.
    }
  }
}

/**
 * Runs `fn` while every process of a running container is stopped
 * (SIGSTOP, until no new one appears), then lets them go on.
 */
async function whileStopped<T>(pid: number, fn: () => Promise<T>): Promise<T> {
  const stopped = new Set<number>();
  try {
    for (let round = 0; round < 20; round++) {
      const members = (await namespaceMembers(pid)).filter((member) => !stopped.has(member));
      if (members.length === 0) break;
      signalAll(members, "SIGSTOP");
      for (const member of members) stopped.add(member);
    }
    return await fn();
  } finally {
    signalAll(stopped, "SIGCONT");
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
async function withRoot<T>(
  containers: ContainerStore,
  record: ContainerRecord,
  fn: (root: string) => Promise<T>,
): Promise<T> {
  if (await running(record)) {
    const pid = record.process!.pid;
    return await whileStopped(pid, () => fn(`/proc/${pid}/root`));
  }
  return await withLock(containers.lockPath, { exclusive: true }, async () => {
    const current = await containers.read(record.id);
    if (!current) throw new InvalidInputError(`Cannot copy: no such container ${record.name}`);
    if (current.state === "running" || current.state === "restarting") {
      throw new DenockerError(`Cannot copy: container ${record.name} is starting; try again`);
    }
    const directory = current.spec.directory;
    if (current.spec.rootfs === "copy") return await fn(join(directory, "copy"));
    const rootfs = join(directory, "rootfs");
    const lower = Array.from({ length: current.spec.lowerCount }, (_, i) => String(i)).join(":");
    await runTool(hostTool("mount", "util-linux"), [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${lower},upperdir=../upper,workdir=../work`,
      rootfs,
    ], join(directory, "lower"));
    try {
      return await fn(rootfs);
    } finally {
      await runTool(hostTool("umount", "util-linux"), [rootfs]);
    }
  });
}

/** Copies one entry (recursively), never following a symlink: links are copied as links. */
async function copyEntry(from: string, to: string): Promise<void> {
  const info = await Deno.lstat(from);
  const existing = await lstatIfExists(to);
  // What is in the way and not a directory to merge into is replaced (a symlink never followed).
  if (existing && !(existing.isDirectory && info.isDirectory)) {
    await Deno.remove(to, { recursive: existing.isDirectory });
  }
  if (info.isSymlink) {
    await Deno.symlink(await Deno.readLink(from), to);
  } else if (info.isDirectory) {
    if (!existing) await Deno.mkdir(to);
    await Deno.chmod(to, (info.mode ?? 0o755) & 0o7777);
    for await (const entry of Deno.readDir(from)) {
      await copyEntry(join(from, entry.name), join(to, entry.name));
    }
  } else if (info.isFile) {
    await Deno.copyFile(from, to);
    await Deno.chmod(to, (info.mode ?? 0o644) & 0o7777);
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
  if (!contents) return await copyEntry(from, to);
  for await (const entry of Deno.readDir(from)) {
    await copyEntry(join(from, entry.name), join(to, entry.name));
  }
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
  await withRoot(containers, record, async (root) => {
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
  await withRoot(containers, record, async (root) => {
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
    await withRoot(containers, record, async (root) => {
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
