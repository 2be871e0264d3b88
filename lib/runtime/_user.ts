/**
 * The user a container's process runs as: `uid[:gid]` or `name[:group]`,
 * looked up in the container's own `/etc/passwd` and `/etc/group`.
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";

/** The ids a process takes. */
export interface UserIds {
  uid: number;
  gid: number;
  /** Supplementary groups. */
  groups: number[];
}

/** The most a user database may hold: a larger one is refused, not read into memory. */
export const MAX_USER_DATABASE_BYTES = 4 * 1024 * 1024;

/** Reads a file of the container (`/etc/passwd`), or undefined when it has none. */
export type ContainerFileReader = (path: string) => Uint8Array | undefined;

function entries(read: ContainerFileReader, path: string): string[][] {
  const bytes = read(path);
  if (!bytes) return [];
  return new TextDecoder().decode(bytes).split("\n").map((line) => line.split(":"));
}

/**
 * The ids `user` names, as docker resolves them: a number is a uid (its
 * primary group from /etc/passwd when listed, else 0); a name must be in
 * /etc/passwd; a group part (number or name from /etc/group) replaces the
 * primary group.
 *
 * @param read Reads the container's files, inside its root.
 * @param user `uid[:gid]` or `name[:group]`; empty for root.
 * @returns The ids.
 * @throws {InvalidInputError} When a name is not found.
 */
export function resolveUser(read: ContainerFileReader, user: string): UserIds {
  if (user === "") return { uid: 0, gid: 0, groups: [0] };
  const [userPart, groupPart] = user.split(":", 2);
  let uid: number;
  let gid: number | undefined;
  const passwd = userPart !== "" ? entries(read, "/etc/passwd") : [];
  if (/^[0-9]+$/.test(userPart)) {
    uid = Number(userPart);
    const entry = passwd.find((fields) => fields[2] === userPart);
    if (entry) gid = Number(entry[3]);
  } else {
    const entry = passwd.find((fields) => fields[0] === userPart);
    if (!entry) {
      throw new InvalidInputError(
        `unable to find user ${userPart}: no matching entries in passwd file`,
      );
    }
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (groupPart !== undefined) {
    if (/^[0-9]+$/.test(groupPart)) {
      gid = Number(groupPart);
    } else {
      const entry = entries(read, "/etc/group").find((fields) => fields[0] === groupPart);
      if (!entry) {
        throw new InvalidInputError(
          `unable to find group ${groupPart}: no matching entries in group file`,
        );
      }
      gid = Number(entry[2]);
    }
  }
  if (!Number.isInteger(uid) || !Number.isInteger(gid ?? 0)) {
    throw new InvalidInputError(`unable to find user ${user}: its passwd entry is malformed`);
  }
  return { uid, gid: gid ?? 0, groups: [gid ?? 0] };
}
