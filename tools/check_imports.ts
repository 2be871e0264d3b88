// deno-lint-ignore-file no-console
/**
 * The import rule, checked (part of `deno task check`): each folder of the
 * library imports only from folders below it in {@link ORDER}, and a file
 * named `_…` is imported only from its own folder. Tests, benchmarks and
 * tools may reach anything; the library, the CLI and `mod.ts` may not.
 *
 * Run: `deno run --allow-read tools/check_imports.ts`. Prints each broken
 * import as `FILE: imports TARGET: WHY` and exits 1, or exits 0 quietly.
 *
 * @module
 */

import { dirname, join, normalize, relative } from "node:path";

/**
 * The folders (and the two files at the top), lowest first: each may
 * import from those before it.
 */
export const ORDER: readonly string[] = [
  "lib", // errors, version, permissions: what every folder may use
  "lib/model", // references, platforms, manifests, digests, the layer model (whiteouts, links)
  "lib/io", // files written atomically, locks, directories, streams, a concurrency pool
  "lib/archive", // tar reader and writer, layer compression
  "lib/store", // the root: content store, layers, images, images.json, staging, check
  "lib/layer", // extraction, flattening, the ingest pipeline and its worker
  "lib/transport", // registries: HTTP, auth, retries, mirrors, credentials, the config file
  "lib/runtime", // containers: namespaces, overlay, cgroups, seccomp, capabilities, the init
  "lib/build", // Dockerfiles: parsing, config instructions, the context, COPY into a root
  "lib/operations", // the verbs: pull, push, save, load, run, …
  "mod.ts", // the public API: re-exports only
  "cli", // the command framework and what only the command line needs: printing, progress, files
  "cli/commands", // one file per command, over mod.ts
  "cli/main.ts", // the command line: the command table, parsing, exit codes
  "cli.ts", // the entry point: loads only what its first argument needs
];

/** A file's place in {@link ORDER}: its own entry, else its folder's; -1 when it has none. */
function rankOf(file: string): number {
  const own = ORDER.indexOf(file);
  return own >= 0 ? own : ORDER.indexOf(dirname(file));
}

const ROOT = new URL("..", import.meta.url).pathname;
const CHECKED = ["lib", "cli", "cli.ts", "mod.ts"];

/** Relative specifiers a module imports, re-exports, dynamically imports or loads as a worker. */
function specifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /(?:^|[\s;}])(?:import|export)\s[^"';]*?from\s*["'](\.{1,2}\/[^"']+)["']/g,
    /(?:^|[\s;])import\s*["'](\.{1,2}\/[^"']+)["']/g,
    /import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
    /new URL\(\s*["'](\.{1,2}\/[^"']+\.ts)["']\s*,\s*import\.meta\.url\s*\)/g,
  ];
  // JSDoc examples are code for readers (and `deno check --doc`), not imports of the module.
  const code = source.replace(/\/\*\*[^]*?\*\//g, "");
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) found.push(match[1]);
  }
  return found;
}

function* typescriptFiles(root: string, path: string): Generator<string> {
  const full = join(root, path);
  try {
    Deno.statSync(full);
  } catch {
    return; // A checkout without this part (a test's small tree).
  }
  if (Deno.statSync(full).isFile) {
    if (path.endsWith(".ts")) yield path;
    return;
  }
  for (const entry of Deno.readDirSync(full)) {
    yield* typescriptFiles(root, join(path, entry.name));
  }
}

/**
 * Every import that breaks the rule.
 *
 * @param root The checkout (this one by default).
 * @returns One line per broken import.
 */
export function brokenImports(root: string = ROOT): string[] {
  const problems: string[] = [];
  for (const top of CHECKED) {
    for (const file of typescriptFiles(root, top)) {
      const folder = dirname(file);
      const rank = rankOf(file);
      if (rank < 0) {
        problems.push(`${file}: its folder ${folder} has no place in tools/check_imports.ts ORDER`);
        continue;
      }
      for (const specifier of specifiers(Deno.readTextFileSync(join(root, file)))) {
        const target = normalize(join(folder, specifier));
        const targetFolder = dirname(relative(".", target)) || ".";
        const targetRank = rankOf(target);
        // Within a folder anything goes, except between the files ORDER places on their own.
        if (targetFolder === folder && (targetRank === rank || ORDER.indexOf(file) < 0)) continue;
        const name = target.split("/").at(-1)!;
        if (name.startsWith("_")) {
          problems.push(`${file}: imports ${target}: a _file is private to its folder`);
        } else if (targetRank < 0) {
          problems.push(`${file}: imports ${target}, outside the library's folders`);
        } else if (targetRank >= rank) {
          const [what, where] = ORDER.indexOf(target) >= 0 || ORDER.indexOf(file) >= 0
            ? [target, file]
            : [targetFolder, folder];
          problems.push(`${file}: imports ${target}: ${what} is not below ${where} in the order`);
        }
      }
    }
  }
  return problems;
}

if (import.meta.main) {
  const problems = brokenImports();
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(`${problems.length} import(s) break the rule; see README, "Design"`);
    Deno.exit(1);
  }
}
