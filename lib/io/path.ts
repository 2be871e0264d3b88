/**
 * POSIX paths, as `node:path` handles them (its results, its edge cases):
 * `join`, `normalize`, `dirname`, `basename`, `isAbsolute`, `resolve`,
 * `relative`. Here so that a command that needs no other Node module does
 * not load Node's compatibility layer, which costs every start about
 * 8 ms. `tests/path_test.ts` holds these to `node:path` on a corpus.
 *
 * @module
 */

/**
 * A path with `.` and `..` parts and repeated slashes resolved; a trailing
 * slash kept; `.` for the empty path.
 *
 * @param path A path.
 * @returns The normalized path.
 */
export function normalize(path: string): string {
  if (path === "") return ".";
  const absolute = path.startsWith("/");
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (segments.length > 0 && segments.at(-1) !== "..") segments.pop();
      else if (!absolute) segments.push("..");
      continue;
    }
    segments.push(segment);
  }
  let joined = segments.join("/");
  if (joined === "" && !absolute) joined = ".";
  if (joined !== "" && path.endsWith("/")) joined += "/";
  return absolute ? `/${joined}` : joined;
}

/**
 * The parts joined with `/` and normalized; empty parts are skipped, and
 * no part at all is `.`.
 *
 * @param parts Path parts.
 * @returns The joined path.
 */
export function join(...parts: string[]): string {
  const given = parts.filter((part) => part !== "");
  return given.length === 0 ? "." : normalize(given.join("/"));
}

/**
 * Whether a path starts at the root.
 *
 * @param path A path.
 * @returns True for `/…`.
 */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/**
 * The directory part of a path: what comes before its last part (trailing
 * slashes aside); `.` when there is none, `/` for the root.
 *
 * @param path A path.
 * @returns Its directory.
 */
export function dirname(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  let end = -1;
  let inTrailingSlashes = true;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] === "/") {
      if (!inTrailingSlashes) {
        end = i;
        break;
      }
    } else {
      inTrailingSlashes = false;
    }
  }
  if (end === -1) return rooted ? "/" : ".";
  if (rooted && end === 1) return "//";
  return path.slice(0, end);
}

/**
 * The last part of a path, trailing slashes aside.
 *
 * @param path A path.
 * @returns The last part.
 */
export function basename(path: string): string {
  let end = path.length;
  while (end > 0 && path[end - 1] === "/") end--;
  return path.slice(path.lastIndexOf("/", end - 1) + 1, end);
}

/**
 * The absolute path the parts name, from the right: each part is taken
 * from the one after it until one is absolute, else from the working
 * directory; normalized, with no trailing slash but the root's.
 *
 * Requires `--allow-read` when no part is absolute (the working directory).
 *
 * @param parts Path parts.
 * @returns An absolute path.
 */
export function resolve(...parts: string[]): string {
  let resolved = "";
  for (let i = parts.length - 1; i >= 0 && !resolved.startsWith("/"); i--) {
    if (parts[i] === "") continue;
    resolved = resolved === "" ? parts[i] : `${parts[i]}/${resolved}`;
  }
  if (!resolved.startsWith("/")) {
    resolved = resolved === "" ? Deno.cwd() : `${Deno.cwd()}/${resolved}`;
  }
  const normalized = normalize(resolved);
  return normalized.length > 1 && normalized.endsWith("/") ? normalized.slice(0, -1) : normalized;
}

/**
 * The path from `from` to `to` (both resolved first): `..` parts up to
 * what they share, then the rest of `to`; empty when they are the same.
 *
 * @param from Where the path starts.
 * @param to Where it leads.
 * @returns The relative path.
 */
export function relative(from: string, to: string): string {
  const source = resolve(from).split("/").filter(Boolean);
  const target = resolve(to).split("/").filter(Boolean);
  let shared = 0;
  while (shared < source.length && shared < target.length && source[shared] === target[shared]) {
    shared++;
  }
  return [...Array(source.length - shared).fill(".."), ...target.slice(shared)].join("/");
}
