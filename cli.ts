// deno-lint-ignore-file no-console
/**
 * The denocker command line: parses flags, calls the library, prints.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { defaultRoot } from "./lib/root.ts";
import { parsePlatform } from "./lib/platform.ts";
import { pull, type PullEvent } from "./lib/pull.ts";
import { parseReference } from "./lib/reference.ts";

const USAGE = `Usage: denocker COMMAND [OPTIONS]

Commands:
  pull IMAGE      Pull an image into the local store

Global options:
  --root DIR      Store root (default: $DENOCKER_ROOT, /var/lib/denocker as root,
                  else $XDG_DATA_HOME/denocker or ~/.local/share/denocker)
  -h, --help      Show help

pull options:
  --platform OS/ARCH[/VARIANT]      Platform to pull (default: the host's)
  --insecure-registry HOST[:PORT]   Use plain HTTP for this registry (repeatable)
  --max-concurrent-downloads N      Layers fetched at once (default 3)
  -q, --quiet                       Print only the image ID
`;

/** A mistake in how the command was called: exit code 2. */
class UsageError extends Error {}

function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}

function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)}${units[unit]}`;
}

/** Renders pull progress on stderr: live lines on a terminal, plain lines otherwise. */
function progressRenderer(quiet: boolean): (event: PullEvent) => void {
  if (quiet) return () => {};
  const encoder = new TextEncoder();
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  if (!Deno.stderr.isTerminal()) {
    return (event) => {
      if (event.type === "resolved") write(`Digest: ${event.manifestDigest}\n`);
      else if (event.type === "layer-cached") {
        write(`${shortDigest(event.digest)}: Already exists\n`);
      } else if (event.type === "layer-start") {
        write(`${shortDigest(event.digest)}: Pulling ${formatBytes(event.size)}\n`);
      } else if (event.type === "layer-done") {
        write(`${shortDigest(event.digest)}: Pull complete\n`);
      }
    };
  }
  const lines: string[] = [];
  const status = new Map<string, string>();
  let lastDraw = 0;
  const draw = (force: boolean) => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    let text = lines.length > 0 ? `\x1b[${lines.length}A` : "";
    for (const digest of lines) text += `\x1b[2K${shortDigest(digest)}: ${status.get(digest)}\n`;
    write(text);
  };
  return (event) => {
    if (event.type === "resolved") {
      write(`Digest: ${event.manifestDigest}\n`);
      return;
    }
    if (!status.has(event.digest)) {
      write("\n");
      lines.push(event.digest);
    }
    if (event.type === "layer-cached") status.set(event.digest, "Already exists");
    else if (event.type === "layer-start") status.set(event.digest, "Waiting");
    else if (event.type === "layer-progress") {
      status.set(
        event.digest,
        `Downloading ${formatBytes(event.bytes)}/${formatBytes(event.size)}`,
      );
    } else if (event.type === "layer-done") status.set(event.digest, "Pull complete");
    draw(event.type !== "layer-progress");
  };
}

function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new UsageError(`${flag} needs a whole number of at least 1, got "${text}"`);
  }
  return value;
}

async function pullCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      root: { type: "string" },
      platform: { type: "string" },
      "insecure-registry": { type: "string", multiple: true },
      "max-concurrent-downloads": { type: "string" },
      quiet: { type: "boolean", short: "q" },
    },
  });
  if (positionals.length !== 1) throw new UsageError("pull needs exactly one IMAGE");
  let reference;
  let platform;
  try {
    reference = parseReference(positionals[0]);
    platform = values.platform === undefined ? undefined : parsePlatform(values.platform);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const maxConcurrentDownloads = values["max-concurrent-downloads"] === undefined
    ? undefined
    : positiveInteger(values["max-concurrent-downloads"], "--max-concurrent-downloads");
  const root = values.root ?? defaultRoot();
  const result = await pull(reference, {
    root,
    platform,
    maxConcurrentDownloads,
    insecureRegistries: values["insecure-registry"],
    onProgress: progressRenderer(values.quiet ?? false),
  });
  if (!values.quiet) console.error(`Status: pulled ${positionals[0]}`);
  console.log(result.imageId);
  return 0;
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  pull: pullCommand,
};

/**
 * Runs the command line.
 *
 * @param args Arguments after the program name.
 * @returns The exit code: 0 success, 1 failure, 2 usage error.
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    (command === undefined ? console.error : console.log)(USAGE);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (!run) {
    console.error(`denocker: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes("-h") || rest.includes("--help")) {
    console.log(USAGE);
    return 0;
  }
  try {
    return await run(rest);
  } catch (error) {
    const usage = error instanceof UsageError ||
      (error instanceof TypeError && "code" in error &&
        String((error as { code: unknown }).code).startsWith("ERR_PARSE_ARGS"));
    const message = error instanceof Error ? error.message : String(error);
    console.error(`denocker: ${message.split("\n")[0]}`);
    return usage ? 2 : 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
