/**
 * Mount targets inside a container's root, held by a descriptor from the
 * moment they are found to the moment something is mounted on them.
 *
 * A path string checked and then used can be another path by then: a
 * process of another container that shares a volume mounted under this
 * root can swap a directory for a symlink to the host in between (runc's
 * CVE-2021-30465). So every component is opened with openat2 and
 * RESOLVE_IN_ROOT (the kernel never lets a symlink or `..` leave the
 * root), missing ones are made with mkdirat or an exclusive create relative
 * to their parent's descriptor (neither follows a symlink), and the mount
 * is made on `/proc/thread-self/fd/N`: on the very file the descriptor
 * holds, whatever its path has become.
 *
 * @module
 */

import { DenockerError } from "../errors.ts";
import {
  closeRaw,
  createFileAt,
  makeDirectoryAt,
  O,
  openAt,
  openInRoot,
  statDescriptor,
  SystemCallError,
} from "./_libc.ts";
import { secureJoin } from "./secure_join.ts";

/** A target held open; mount on {@link MountTarget.path}, then {@link closeMountTarget}. */
export interface MountTarget {
  /** The `O_PATH` descriptor. */
  fd: number;
  /** A path that reaches exactly that file: `/proc/thread-self/fd/N`. */
  path: string;
  /** What it is. */
  type: "directory" | "file" | "symlink" | "other";
  /** Its parent directory, held too. */
  parent: number;
  /** Its name there. */
  name: string;
}

function magic(fd: number): string {
  return `/proc/thread-self/fd/${fd}`;
}

function open(rootFd: number, path: string): number | undefined {
  try {
    return openInRoot(rootFd, path, O.PATH);
  } catch (error) {
    if (error instanceof SystemCallError && error.errno === 20) {
      throw new ChangedUnderWalk(
        `Cannot create ${path} in the container: a component is not a directory`,
      );
    }
    throw error;
  }
}

/**
 * Opens (making it where it is missing, with its parents) the directory
 * or file `path` inside the root.
 *
 * @param rootfs The root's host path (used only to resolve the image's
 *   dangling symlinks to what they name, as {@link secureJoin} does).
 * @param rootFd A directory descriptor of the same root.
 * @param path The target as the container sees it (not the root itself).
 * @param kind What is to be mounted there: a directory, or a file.
 * @returns The target, held; the caller closes it.
 */
export function openMountTarget(
  rootfs: string,
  rootFd: number,
  path: string,
  kind: "directory" | "file",
): MountTarget {
  // A component that changed under the walk (another container renaming in a shared volume)
  // is looked up again, a few times: such a neighbour must not keep this container from
  // starting. Each attempt holds on its own; only its answer may differ.
  for (let attempt = 1;; attempt++) {
    try {
      return walkToTarget(rootfs, rootFd, path, kind);
    } catch (error) {
      if (!(error instanceof ChangedUnderWalk) || attempt >= WALK_ATTEMPTS) throw error;
    }
  }
}

const WALK_ATTEMPTS = 20;

/** A component that was there is not, or is no directory, when looked up again. */
class ChangedUnderWalk extends DenockerError {}

function walkToTarget(
  rootfs: string,
  rootFd: number,
  path: string,
  kind: "directory" | "file",
): MountTarget {
  // Where nothing races, this is the path docker would mount on (symlinks followed inside the
  // root, even dangling ones); where something does, the walk below still never leaves it.
  let resolved: string;
  try {
    resolved = secureJoin(rootfs, path);
  } catch (error) {
    // A symlink seen there was something else by the time it was read.
    if (error instanceof DenockerError) throw error;
    throw new ChangedUnderWalk(
      `Cannot create ${path} in the container: ${(error as Error).message}`,
    );
  }
  const parts = resolved.slice(rootfs.length).split("/").filter(Boolean);
  if (parts.length === 0) throw new DenockerError("Cannot mount on the container's root");
  let parent = rootFd;
  try {
    for (let index = 0; index < parts.length; index++) {
      const last = index === parts.length - 1;
      const prefix = parts.slice(0, index + 1).join("/");
      let fd = open(rootFd, prefix);
      if (fd === undefined) {
        if (last && kind === "file") createFileAt(parent, parts[index], 0o644);
        else makeDirectoryAt(parent, parts[index], 0o755);
        fd = open(rootFd, prefix);
        if (fd === undefined) {
          throw new ChangedUnderWalk(
            `Cannot create ${path} in the container: /${prefix} changed while it was made`,
          );
        }
      }
      const type = statDescriptor(fd).type;
      if (last) {
        const target = { fd, path: magic(fd), type, parent, name: parts[index] };
        parent = rootFd;
        return target;
      }
      if (type !== "directory") {
        closeRaw(fd);
        throw new ChangedUnderWalk(
          `Cannot create ${path} in the container: /${prefix} is not a directory`,
        );
      }
      if (parent !== rootFd) closeRaw(parent);
      parent = fd;
    }
    throw new DenockerError("Cannot mount on the container's root");
  } finally {
    if (parent !== rootFd) closeRaw(parent);
  }
}

/** Closes what {@link openMountTarget} holds (its parent unless it is the root). */
export function closeMountTarget(target: MountTarget, rootFd: number): void {
  closeRaw(target.fd);
  if (target.parent !== rootFd) closeRaw(target.parent);
}

/**
 * What is at the target's name in its parent now (a mount made on it, if
 * one was), as a path reaching exactly that, when it is the file
 * `identity` names (device and inode, {@link statDescriptor}): after a
 * bind mount, so that a remount acts on that mount and nothing else.
 *
 * @returns The path and the descriptor behind it, or undefined when the
 *   name now holds something else.
 */
export function mountedAt(
  target: MountTarget,
  identity: string,
): { fd: number; path: string } | undefined {
  const fd = openAt(target.parent, target.name, O.PATH | O.NOFOLLOW);
  if (fd === undefined) return undefined;
  if (statDescriptor(fd).identity === identity) return { fd, path: magic(fd) };
  closeRaw(fd);
  return undefined;
}
