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
export const MAX_USER_DATABASE_BYTES = 1024 * 1024;

/** Reads a file of the container (`/etc/passwd`), or undefined when it has none. */
export type ContainerFileReader = (path: string) => Uint8Array | undefined;

/**
 * The first entry of an /etc file whose field `index` is `value`. Lines are
 * looked at one at a time, and only a matching one is split: a file of a
 * million empty lines costs its own size, not a million arrays.
 */
function findEntry(
  read: ContainerFileReader,
  path: string,
  index: number,
  value: string,
): string[] | undefined {
  const bytes = read(path);
  if (!bytes) return undefined;
  const text = new TextDecoder().decode(bytes);
  for (let start = 0; start < text.length;) {
    const newline = text.indexOf("\n", start);
    const end = newline < 0 ? text.length : newline;
    let field = start;
    for (let i = 0; i < index && field <= end; i++) {
      const colon = text.indexOf(":", field);
      field = colon < 0 || colon > end ? end + 1 : colon + 1;
    }
    // The field ends at a colon, or is the line's last.
    const matches = field <= end &&
      (text.startsWith(`${value}:`, field) || text.slice(field, end) === value);
    if (matches) return text.slice(start, end).split(":");
    start = end + 1;
  }
  return undefined;
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
  if (/^[0-9]+$/.test(userPart)) {
    uid = Number(userPart);
    const entry = findEntry(read, "/etc/passwd", 2, userPart);
    if (entry) gid = Number(entry[3]);
  } else {
    const entry = namedEntry(read, "user", userPart);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (groupPart !== undefined) {
    gid = /^[0-9]+$/.test(groupPart)
      ? Number(groupPart)
      : Number(namedEntry(read, "group", groupPart)[2]);
  }
  if (!Number.isInteger(uid) || !Number.isInteger(gid ?? 0)) {
    throw new InvalidInputError(`unable to find user ${user}: its passwd entry is malformed`);
  }
  return { uid, gid: gid ?? 0, groups: [gid ?? 0] };
}

/** The passwd or group entry of a name, or docker's error when there is none. */
function namedEntry(read: ContainerFileReader, kind: "user" | "group", name: string): string[] {
  const file = kind === "user" ? "passwd" : "group";
  const entry = findEntry(read, `/etc/${file}`, 0, name);
  if (!entry) {
    throw new InvalidInputError(
      `unable to find ${kind} ${name}: no matching entries in ${file} file`,
    );
  }
  return entry;
}
