/**
 * Dockerfiles as docker's classic builder reads them: parser directives
 * (`# escape=`, `# syntax=`), comments, line continuations, instructions
 * (case-insensitive) with their flags, JSON (exec) and shell forms, and
 * the builder's variable substitution (`$VAR`, `${VAR}`, `${VAR:-word}`,
 * `${VAR:+word}`, `${VAR-word}`, `${VAR+word}`, quotes and escapes).
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";

/** One instruction as written. */
export interface Instruction {
  /** Upper-case keyword (`RUN`, `COPY`, …). */
  keyword: string;
  /** Its `--name=value` flags. */
  flags: Record<string, string>;
  /** The rest of the line, continuations joined, flags removed. */
  text: string;
  /** Its exec (JSON) form, when written so. */
  json?: string[];
  /** The line it starts on (1-based). */
  line: number;
  /** The instruction as docker's history shows it (`RUN echo hi`). */
  original: string;
}

/** A parsed Dockerfile. */
export interface Dockerfile {
  /** Its instructions, in order. */
  instructions: Instruction[];
  /** The `# syntax=` directive, if any (ignored: there is one builder). */
  syntax?: string;
  /** The escape character (`\` or `` ` ``). */
  escape: string;
}

/** The instructions denocker builds. */
export const KEYWORDS = [
  "FROM",
  "ARG",
  "ENV",
  "LABEL",
  "WORKDIR",
  "USER",
  "SHELL",
  "RUN",
  "COPY",
  "ADD",
  "CMD",
  "ENTRYPOINT",
  "EXPOSE",
  "VOLUME",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "ONBUILD",
  "MAINTAINER",
];

/** Instructions whose arguments may be a JSON array (their exec form). */
const JSON_FORMS = new Set(["RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"]);

function bad(line: number, message: string): never {
  throw new InvalidInputError(`Dockerfile line ${line}: ${message}`);
}

/** A JSON array of strings, or undefined when the text is not one. */
function jsonForm(text: string): string[] | undefined {
  if (!text.startsWith("[")) return undefined;
  try {
    const value = JSON.parse(text);
    if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value;
  } catch {
    // Not JSON: the shell form, as docker takes it.
  }
  return undefined;
}

/**
 * Parses a Dockerfile.
 *
 * @param source Its text.
 * @returns Its instructions.
 * @throws {InvalidInputError} For an unknown instruction or bad syntax, naming the line.
 */
export function parseDockerfile(source: string): Dockerfile {
  const lines = source.replace(/\r\n/g, "\n").split("\n");
  let escape = "\\";
  let syntax: string | undefined;
  let index = 0;
  // Parser directives: `# key=value` lines at the very top.
  const seen = new Set<string>();
  for (; index < lines.length; index++) {
    const match = /^\s*#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$/.exec(lines[index]);
    if (!match) break;
    const key = match[1].toLowerCase();
    if (key !== "escape" && key !== "syntax") break;
    if (seen.has(key)) bad(index + 1, `only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === "escape") {
      if (match[2] !== "\\" && match[2] !== "`") {
        bad(index + 1, `invalid escape token '${match[2]}': it can only be \` or \\`);
      }
      escape = match[2];
    } else {
      syntax = match[2];
    }
  }
  const instructions: Instruction[] = [];
  const continued = new RegExp(`${escape === "\\" ? "\\\\" : escape}[ \\t]*$`);
  while (index < lines.length) {
    const start = index;
    let text = lines[index++];
    if (/^\s*(#|$)/.test(text)) continue;
    while (continued.test(text)) {
      text = text.replace(continued, "");
      // Comment lines and empty lines inside a continuation are dropped, as docker drops them.
      while (index < lines.length && /^\s*(#|$)/.test(lines[index])) index++;
      if (index >= lines.length) break;
      text += lines[index++];
    }
    text = text.trim();
    const match = /^(\S+)\s*([\s\S]*)$/.exec(text)!;
    const keyword = match[1].toUpperCase();
    if (!KEYWORDS.includes(keyword)) bad(start + 1, `unknown instruction: ${match[1]}`);
    let rest = match[2];
    const flags: Record<string, string> = {};
    if (["FROM", "COPY", "ADD", "RUN", "HEALTHCHECK"].includes(keyword)) {
      for (;;) {
        const flag = /^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
        if (!flag) break;
        if (
          keyword === "HEALTHCHECK" &&
          !flag[1].match(/^(interval|timeout|start-period|start-interval|retries)$/)
        ) break;
        flags[flag[1]] = flag[2] ?? "true";
        rest = rest.slice(flag[0].length);
      }
    }
    const json = JSON_FORMS.has(keyword) ? jsonForm(rest) : undefined;
    if (rest === "" && !["HEALTHCHECK"].includes(keyword)) {
      bad(start + 1, `${keyword} requires at least one argument`);
    }
    instructions.push({
      keyword,
      flags,
      text: rest,
      ...(json ? { json } : {}),
      line: start + 1,
      original: text,
    });
  }
  return { instructions, escape, ...(syntax !== undefined ? { syntax } : {}) };
}

/**
 * Splits `text` into words as docker's builder does: quotes (`'…'` keep
 * everything, `"…"` expand variables and take escapes) are removed,
 * unquoted whitespace separates words, `$VAR` and `${…}` are replaced from
 * `variables`.
 *
 * @param text The arguments.
 * @param variables The build's variables (ARG and ENV).
 * @param escape The escape character.
 * @param split Whether whitespace separates words (false: one word).
 * @returns The words.
 */
export function processWords(
  text: string,
  variables: Record<string, string>,
  escape = "\\",
  split = true,
): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  const variable = (): string => {
    // At a `$`.
    i++;
    if (text[i] === "{") {
      const end = findClose(text, i);
      if (end < 0) throw new InvalidInputError(`missing '}' in ${text}`);
      const inner = text.slice(i + 1, end);
      i = end + 1;
      const match = /^([a-zA-Z_][a-zA-Z0-9_]*)(?:(:?[-+])([\s\S]*))?$/.exec(inner);
      if (!match) throw new InvalidInputError(`bad substitution: \${${inner}}`);
      const [, name, operator, operand] = match;
      const value = variables[name];
      const set = operator?.startsWith(":")
        ? value !== undefined && value !== ""
        : value !== undefined;
      if (operator === undefined) return value ?? "";
      const expanded = () => processWords(operand, variables, escape, false)[0] ?? "";
      if (operator.endsWith("-")) return set ? value! : expanded();
      return set ? expanded() : "";
    }
    const match = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (!match) return "$";
    i += match[0].length;
    return variables[match[0]] ?? "";
  };
  while (i < text.length) {
    const c = text[i];
    if (split && /\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === escape) {
      if (i + 1 < text.length) word += text[i + 1];
      i += 2;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) {
        throw new InvalidInputError(
          `unexpected end of statement while looking for matching single-quote in ${text}`,
        );
      }
      word += text.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === escape && i + 1 < text.length && ['"', escape, "$"].includes(text[i + 1])) {
          word += text[i + 1];
          i += 2;
        } else if (text[i] === "$") {
          word += variable();
        } else {
          word += text[i++];
        }
      }
      if (i >= text.length) {
        throw new InvalidInputError(
          `unexpected end of statement while looking for matching double-quote in ${text}`,
        );
      }
      i++;
    } else if (c === "$") {
      word += variable();
    } else {
      word += c;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The index of the `}` closing the `{` at `open`, nested braces counted. */
function findClose(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

/**
 * `KEY=VALUE` pairs of ENV, LABEL and ARG (and ENV's old `KEY VALUE` form).
 *
 * @returns The pairs, in order.
 */
export function keyValuePairs(
  instruction: Instruction,
  variables: Record<string, string>,
  escape: string,
): [string, string][] {
  const first = /^(\S+)/.exec(instruction.text)?.[1] ?? "";
  if (!first.includes("=") && instruction.keyword !== "ARG") {
    // `ENV KEY the rest`: one value, the rest of the line.
    const value = instruction.text.slice(first.length).trim();
    if (value === "") {
      bad(instruction.line, `${instruction.keyword} names ${first} but gives it no value`);
    }
    return [[first, processWords(value, variables, escape, false)[0] ?? ""]];
  }
  return processWords(instruction.text, variables, escape).map((word) => {
    const at = word.indexOf("=");
    if (at === 0) bad(instruction.line, `${instruction.keyword} names no key in "${word}"`);
    if (at < 0) {
      if (instruction.keyword === "ARG") return [word, ""];
      bad(instruction.line, `${instruction.keyword} has "${word}" without a value`);
    }
    return [word.slice(0, at), word.slice(at + 1)];
  });
}
