// deno-lint-ignore-file no-console
/**
 * The denocker command line: parses flags, calls the library, prints.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { inspectImage, listImages } from "./lib/inspect.ts";
import { parsePlatform } from "./lib/platform.ts";
import { pull, type PullEvent } from "./lib/pull.ts";
import { parseReference } from "./lib/reference.ts";
import { prune, removeImages } from "./lib/remove.ts";
import { defaultRoot } from "./lib/root.ts";
import { unpack } from "./lib/unpack.ts";

const USAGE = `Usage: denocker COMMAND [OPTIONS]

Commands:
  pull IMAGE          Pull an image, extract its layers, record its tag
  images              List stored images
  inspect IMAGE|ID... Show stored images as JSON, in docker's shape
  rmi IMAGE|ID...     Remove tags; images left without one are deleted
  prune               Delete layers, blobs and temp files no image uses
  unpack IMAGE DIR    Write an image's flattened root filesystem to a new DIR

Global options:
  --root DIR      Store root (default: $DENOCKER_ROOT, /var/lib/denocker as root,
                  else $XDG_DATA_HOME/denocker or ~/.local/share/denocker)
  -h, --help      Show help

pull options:
  --platform OS/ARCH[/VARIANT]      Platform to pull (default: the host's)
  --insecure-registry HOST[:PORT]   Use plain HTTP for this registry (repeatable)
  --max-concurrent-downloads N      Layers fetched at once (default 3)
  --missing                         Use the stored image if there is one (no network)
  -q, --quiet                       Print only the image ID

images options:
  --json          Print a JSON array of every row
  -q, --quiet     Print only image IDs
  --digests       Show repository digests

rmi options:
  -f, --force     Remove an image by ID even when several repositories tag it
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
    if (event.type === "warning") {
      write(`warning: ${event.message}\n`);
      lines.length = 0;
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

/**
 * Parses one command's flags and positionals; every command takes `--root`.
 * `root()` is the store root, resolved only when the command needs it.
 */
function parseCommand<const T extends ParseArgsOptionsConfig>(args: string[], options: T) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...options, root: { type: "string" } },
  });
  const flag = (values as Record<string, unknown>).root as string | undefined;
  const root = () => flag ?? defaultRoot();
  return { values, positionals, root };
}

function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new UsageError(`${flag} needs a whole number of at least 1, got "${text}"`);
  }
  return value;
}

async function pullCommand(args: string[]): Promise<number> {
  const { values, positionals, root } = parseCommand(args, {
    platform: { type: "string" },
    "insecure-registry": { type: "string", multiple: true },
    "max-concurrent-downloads": { type: "string" },
    missing: { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
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
  const result = await pull(reference, {
    root: root(),
    platform,
    missing: values.missing,
    maxConcurrentDownloads,
    insecureRegistries: values["insecure-registry"],
    onProgress: progressRenderer(values.quiet ?? false),
  });
  if (!values.quiet) {
    console.error(
      result.cached
        ? `Status: image is up to date for ${positionals[0]}`
        : `Status: downloaded newer image for ${positionals[0]}`,
    );
  }
  console.log(result.imageId);
  return 0;
}

function timeAgo(iso: string | undefined): string {
  if (!iso) return "N/A";
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (Number.isNaN(seconds)) return "N/A";
  const units: [number, string][] = [
    [365 * 86400, "year"],
    [30 * 86400, "month"],
    [7 * 86400, "week"],
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
  ];
  for (const [size, name] of units) {
    const count = Math.floor(seconds / size);
    if (count >= 1) return `${count} ${name}${count > 1 ? "s" : ""} ago`;
  }
  return "Less than a minute ago";
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join("   ").trimEnd()).join(
    "\n",
  );
}

async function imagesCommand(args: string[]): Promise<number> {
  const { values, positionals, root } = parseCommand(args, {
    json: { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    digests: { type: "boolean" },
  });
  if (positionals.length > 0) throw new UsageError("images takes no arguments");
  const rows = await listImages(root());
  if (values.json) {
    console.log(JSON.stringify(rows, null, 2));
  } else if (values.quiet) {
    const ids = [...new Set(rows.map((row) => shortDigest(row.Id)))];
    if (ids.length > 0) console.log(ids.join("\n"));
  } else {
    const header = [
      "REPOSITORY",
      "TAG",
      ...(values.digests ? ["DIGEST"] : []),
      "IMAGE ID",
      "CREATED",
      "SIZE",
    ];
    const body = rows.map((row) => [
      row.Repository,
      row.Tag,
      ...(values.digests ? [row.Digest ?? "<none>"] : []),
      shortDigest(row.Id),
      timeAgo(row.Created),
      formatBytes(row.Size),
    ]);
    console.log(table([header, ...body]));
  }
  return 0;
}

async function inspectCommand(args: string[]): Promise<number> {
  const { positionals, root } = parseCommand(args, {});
  if (positionals.length === 0) throw new UsageError("inspect needs at least one IMAGE or ID");
  const storeRoot = root();
  const found = [];
  for (const name of positionals) found.push(await inspectImage(storeRoot, name));
  console.log(JSON.stringify(found, null, 2));
  return 0;
}

async function rmiCommand(args: string[]): Promise<number> {
  const { values, positionals, root } = parseCommand(args, {
    force: { type: "boolean", short: "f" },
  });
  if (positionals.length === 0) throw new UsageError("rmi needs at least one IMAGE or ID");
  const result = await removeImages(root(), positionals, {
    force: values.force,
  });
  for (const reference of result.untagged) console.log(`Untagged: ${reference}`);
  for (const id of result.deleted) console.log(`Deleted: ${id}`);
  return 0;
}

async function pruneCommand(args: string[]): Promise<number> {
  const { positionals, root } = parseCommand(args, {});
  if (positionals.length > 0) throw new UsageError("prune takes no arguments");
  const result = await prune(root());
  for (const diffId of result.deletedLayers) console.log(`Deleted layer: ${diffId}`);
  for (const digest of result.deletedBlobs) console.log(`Deleted blob: ${digest}`);
  console.log(
    `Removed ${result.deletedLayers.length} layers, ${result.deletedBlobs.length} blobs, ${result.deletedTemp} temp entries`,
  );
  return 0;
}

async function unpackCommand(args: string[]): Promise<number> {
  const { positionals, root } = parseCommand(args, {});
  if (positionals.length !== 2) throw new UsageError("unpack needs IMAGE and DIR");
  const id = await unpack(root(), positionals[0], positionals[1]);
  console.log(id);
  return 0;
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  pull: pullCommand,
  images: imagesCommand,
  inspect: inspectCommand,
  rmi: rmiCommand,
  prune: pruneCommand,
  unpack: unpackCommand,
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
