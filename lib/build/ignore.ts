/**
 * Path patterns of a build context: `.dockerignore` with docker's rules
 * (Go's `filepath.Match` per component, `**` for any number of
 * directories, `!` exceptions, the last matching line winning, a
 * directory's pattern covering what is under it), and the wildcards of a
 * `COPY` source.
 *
 * @module
 */

/** A path pattern as a regular expression over a relative path (`a/b/c`). */
export function patternRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        // `**` (and `**/`): any number of path components.
        i++;
        if (pattern[i + 1] === "/") {
          i++;
          source += "(?:.*/)?";
        } else {
          source += ".*";
        }
      } else {
        source += "[^/]*";
      }
    } else if (c === "?") {
      source += "[^/]";
    } else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) {
        source += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, end);
      if (body.startsWith("^") || body.startsWith("!")) body = `^${body.slice(1)}`;
      source += `[${body.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else if (c === "\\" && i + 1 < pattern.length) {
      source += pattern[++i].replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else {
      source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`);
}

/** A path cleaned as Go's `filepath.Clean` would, relative, without a leading `/`. */
export function cleanPath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length > 0 && parts.at(-1) !== "..") parts.pop();
      else parts.push("..");
    } else {
      parts.push(part);
    }
  }
  return parts.join("/");
}

/** A `.dockerignore`'s rules. */
export class IgnoreRules {
  readonly #rules: { pattern: RegExp; exclude: boolean }[];

  constructor(text: string) {
    this.#rules = [];
    for (const raw of text.split("\n")) {
      let line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const exclude = !line.startsWith("!");
      if (!exclude) line = line.slice(1).trim();
      line = cleanPath(line);
      if (line === "") continue;
      this.#rules.push({ pattern: patternRegExp(line), exclude });
    }
  }

  /** Whether the context path (relative) is left out: by the last rule matching it or a parent. */
  ignored(path: string): boolean {
    const parts = path.split("/");
    let ignored = false;
    for (const rule of this.#rules) {
      for (let n = 1; n <= parts.length; n++) {
        if (rule.pattern.test(parts.slice(0, n).join("/"))) {
          ignored = rule.exclude;
          break;
        }
      }
    }
    return ignored;
  }
}

/** Whether a COPY source has wildcards. */
export function hasWildcards(path: string): boolean {
  return /[*?[]/.test(path);
}
