/**
 * The subset of Go's text/template that docker users script `--format`
 * with: `{{.Field.Sub}}`, `{{.}}`, `{{json .X}}`, pipes (`{{.X | json}}`),
 * `{{index .Map "key"}}`, `{{join .List ", "}}`, `{{len .X}}`, `{{upper}}`,
 * `{{lower}}`, `{{println}}`, string literals, and `\t`/`\n` in the text.
 * Values print as Go prints them (`[a b]`, `map[k:v]`, `<nil>`, and
 * `<no value>` for a key that is not there).
 *
 * @module
 */

import { UsageError } from "./command.ts";

type Value = unknown;
type Fn = (args: Value[]) => Value;

const FUNCTIONS: Record<string, Fn> = {
  json: ([value]) => JSON.stringify(value ?? null),
  upper: ([value]) => goString(value).toUpperCase(),
  lower: ([value]) => goString(value).toLowerCase(),
  len: ([value]) =>
    Array.isArray(value) || typeof value === "string"
      ? value.length
      : value && typeof value === "object"
      ? Object.keys(value).length
      : 0,
  join: ([list, separator]) =>
    Array.isArray(list) ? list.map(goString).join(goString(separator)) : goString(list),
  index: ([collection, key]) =>
    collection && typeof collection === "object"
      ? (collection as Record<string, Value>)[String(key)]
      : undefined,
  println: (args) => `${args.map(goString).join(" ")}\n`,
  print: (args) => args.map(goString).join(""),
};

/** A value as Go's fmt prints it with %v. */
export function goString(value: Value): string {
  if (value === undefined) return "<no value>";
  if (value === null) return "<nil>";
  if (Array.isArray(value)) return `[${value.map(goString).join(" ")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, Value>)
      .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
    return `map[${entries.map(([key, item]) => `${key}:${goString(item)}`).join(" ")}]`;
  }
  return String(value);
}

/** Splits an action's words: fields, names, quoted strings; `|` separates pipes. */
function words(action: string, template: string): string[] {
  const result: string[] = [];
  const pattern = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\||[^\s|]+)/gy;
  let match;
  let end = 0;
  while ((match = pattern.exec(action)) !== null) {
    result.push(match[1]);
    end = pattern.lastIndex;
  }
  if (action.slice(end).trim() !== "") {
    throw new UsageError(`template: cannot parse "${template}"`);
  }
  return result;
}

/** One word's value: `.A.B` from the data, a string or a number literal. */
function operand(word: string, data: Value, template: string): Value {
  if (word === ".") return data;
  if (word.startsWith(".")) {
    let value: Value = data;
    for (const key of word.slice(1).split(".")) {
      if (value === null || typeof value !== "object") return undefined;
      if (!Object.hasOwn(value as object, key)) {
        // docker's fields are capitalised (a missing one is an error, as in Go); other keys are
        // a map's (labels), where a missing one is `<no value>`.
        if (/^[a-z]/.test(key)) return undefined;
        throw new UsageError(`template: ${template}: can't evaluate field ${key}`);
      }
      value = (value as Record<string, Value>)[key];
    }
    return value;
  }
  if (word.startsWith('"')) return JSON.parse(word);
  if (word.startsWith("`")) return word.slice(1, -1);
  if (/^-?[0-9]+(\.[0-9]+)?$/.test(word)) return Number(word);
  if (word === "true" || word === "false") return word === "true";
  throw new UsageError(`template: ${template}: function "${word}" not defined`);
}

/** Evaluates one `{{…}}` action. */
function evaluate(action: string, data: Value, template: string): Value {
  const commands: string[][] = [[]];
  for (const word of words(action, template)) {
    if (word === "|") commands.push([]);
    else commands.at(-1)!.push(word);
  }
  let piped: Value[] = [];
  for (const [head, ...rest] of commands) {
    if (head === undefined) throw new UsageError(`template: ${template}: missing value`);
    const args = rest.map((word) => operand(word, data, template));
    if (Object.hasOwn(FUNCTIONS, head)) {
      piped = [FUNCTIONS[head]([...args, ...piped])];
    } else {
      if (args.length > 0) throw new UsageError(`template: ${template}: can't give argument`);
      piped = [operand(head, data, template)];
    }
  }
  return piped[0];
}

/**
 * Renders a template for one value.
 *
 * @param template The `--format` text.
 * @param data What `.` is.
 * @returns The text.
 * @throws {UsageError} When the template is malformed or names a field the data lacks.
 */
export function renderTemplate(template: string, data: Value): string {
  const text = template.replaceAll("\\t", "\t").replaceAll("\\n", "\n");
  let out = "";
  let at = 0;
  for (;;) {
    const open = text.indexOf("{{", at);
    if (open < 0) break;
    const close = text.indexOf("}}", open + 2);
    if (close < 0) throw new UsageError(`template: unclosed action in "${template}"`);
    out += text.slice(at, open);
    let action = text.slice(open + 2, close);
    // `{{- x -}}` trims the blanks around it.
    if (action.startsWith("- ")) {
      out = out.trimEnd();
      action = action.slice(2);
    }
    const trimAfter = action.endsWith(" -");
    if (trimAfter) action = action.slice(0, -2);
    const value = evaluate(action, data, template);
    out += typeof value === "string" ? value : goString(value);
    at = close + 2;
    if (trimAfter) { while (at < text.length && /\s/.test(text[at])) at++; }
  }
  return out + text.slice(at);
}

/**
 * Renders `--format` for a list, as docker's ps and images do: `json` is a
 * JSON object a line; `table TEMPLATE` puts a header (each field's column
 * name from `headers`) over rows whose `\t`s become aligned columns.
 *
 * @param format The `--format` text.
 * @param rows Each row's fields.
 * @param headers Column names by field (`ID` → `CONTAINER ID`).
 * @returns The lines.
 */
export function renderRows(
  format: string,
  rows: Record<string, unknown>[],
  headers: Record<string, string>,
): string[] {
  if (format === "json") return rows.map((row) => JSON.stringify(row));
  const tableMode = format.startsWith("table");
  const template = tableMode ? format.slice(5).trimStart() : format;
  const lines = rows.map((row) => renderTemplate(template, row));
  if (!tableMode) return lines;
  const header = template.replaceAll("\\t", "\t").replace(
    /\{\{\s*\.([A-Za-z]+)\s*\}\}/g,
    (_, field: string) => headers[field] ?? field.toUpperCase(),
  );
  const cells = [header, ...lines].map((line) => line.split("\t"));
  const widths: number[] = [];
  for (const row of cells) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  }
  return cells.map((row) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i] + 3)).join("")
      .trimEnd()
  );
}
