/**
 * Comparing our layer extraction with GNU tar's: extract one archive with
 * both, then compare the trees entry for entry (type, mode, owner, size,
 * content, link target, mtime, hardlink groups).
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { extractLayer } from "../lib/layer/extract.ts";
import { DenockerError } from "../lib/errors.ts";
import { defer } from "./_fake_registry.ts";

/** What a tree holds, one line per entry, sorted. */
export async function describeTree(
  root: string,
  options: { directoryTimes?: boolean } = {},
): Promise<string[]> {
  const lines: string[] = [];
  const inodes = new Map<number, string>();
  const walk = async (relative: string) => {
    const entries = await Array.fromAsync(Deno.readDir(join(root, relative)));
    // Sorted, so that "linked-to" names the same first path in both trees.
    for (const entry of entries.sort((a, b) => a.name < b.name ? -1 : 1)) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      const full = join(root, path);
      const info = await Deno.lstat(full);
      const mode = (info.mode! & 0o7777).toString(8);
      const owner = `${info.uid}:${info.gid}`;
      const mtime = Math.floor(info.mtime!.getTime() / 1000);
      if (info.isSymlink) {
        lines.push(`${path} symlink -> ${await Deno.readLink(full)} ${owner} ${mtime}`);
      } else if (info.isDirectory) {
        lines.push(
          `${path} dir ${mode} ${owner}${options.directoryTimes === false ? "" : ` ${mtime}`}`,
        );
        await walk(path);
      } else if (info.isFile) {
        const first = info.nlink! > 1 ? inodes.get(info.ino!) : undefined;
        if (info.nlink! > 1 && !first) inodes.set(info.ino!, path);
        const hash = createHash("sha256").update(await Deno.readFile(full)).digest("hex");
        lines.push(
          `${path} file ${mode} ${owner} ${info.size} ${hash.slice(0, 16)} ${mtime}${
            first ? ` linked-to ${first}` : ""
          }`,
        );
      } else {
        lines.push(`${path} other`);
      }
    }
  };
  await walk("");
  return lines.sort();
}

/** How one archive fared: both trees equal, we refused it, or (never acceptable) they differ. */
export type Outcome =
  | { kind: "same" }
  | { kind: "refused"; reason: string }
  | { kind: "differs"; ours: string[]; gnu: string[]; gnuFailed: boolean };

/** Extracts `archive` with GNU tar and with extractLayer, in fresh directories under `scratch`. */
export async function compareWithGnuTar(
  archive: string,
  scratch: string,
  options: { directoryTimes?: boolean } = {},
): Promise<Outcome> {
  const gnuDir = await Deno.makeTempDir({ dir: scratch, prefix: "gnu-" });
  const ourDir = await Deno.makeTempDir({ dir: scratch, prefix: "ours-" });
  await using _remove = defer(async () => {
    await Deno.remove(gnuDir, { recursive: true });
    await Deno.remove(ourDir, { recursive: true });
  });
  const gnu = await new Deno.Command("tar", {
    args: ["-x", "-f", archive, "-C", gnuDir, "--numeric-owner", "--same-permissions"],
    stdout: "null",
    stderr: "piped",
  }).output();
  try {
    const file = await Deno.open(archive);
    await extractLayer(file.readable, ourDir, { preserveOwnership: Deno.uid() === 0 });
  } catch (error) {
    if (error instanceof DenockerError) {
      return { kind: "refused", reason: error.message };
    }
    throw error; // A crash, not a refusal: the test fails with it.
  }
  const [ours, theirs] = [
    await describeTree(ourDir, options),
    await describeTree(gnuDir, options),
  ];
  if (ours.join("\n") === theirs.join("\n")) return { kind: "same" };
  return { kind: "differs", ours, gnu: theirs, gnuFailed: !gnu.success };
}

/** One raw tar header block, with a valid checksum, for archives no tool writes. */
export function rawHeader(fields: {
  name: string | Uint8Array;
  type?: string;
  size?: number;
  mode?: number;
  mtime?: number | Uint8Array;
  linkname?: string;
  magic?: "ustar" | "gnu" | "v7";
  numericPadding?: "zeros" | "spaces";
}): Uint8Array {
  const block = new Uint8Array(512);
  const put = (offset: number, value: string | Uint8Array) => {
    block.set(typeof value === "string" ? new TextEncoder().encode(value) : value, offset);
  };
  const octal = (value: number, width: number) =>
    fields.numericPadding === "spaces"
      ? ` ${value.toString(8)} `.padStart(width - 1, " ")
      : value.toString(8).padStart(width - 1, "0");
  put(0, fields.name);
  put(100, octal(fields.mode ?? 0o644, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(fields.size ?? 0, 12));
  if (fields.mtime instanceof Uint8Array) put(136, fields.mtime);
  else put(136, octal(fields.mtime ?? 1_600_000_000, 12));
  put(156, fields.type ?? "0");
  if (fields.linkname) put(157, fields.linkname);
  if (fields.magic === "gnu") put(257, "ustar  \0");
  else if (fields.magic !== "v7") put(257, "ustar\x0000");
  return withChecksum(block);
}

/** Sets a header block's checksum field from its bytes. */
export function withChecksum(block: Uint8Array): Uint8Array {
  block.fill(0x20, 148, 156);
  const sum = block.reduce((total, byte) => total + byte, 0);
  block.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return block;
}

/** Data padded to whole blocks. */
export function blocks(data: string | Uint8Array): Uint8Array {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const padded = new Uint8Array(Math.ceil(bytes.byteLength / 512) * 512);
  padded.set(bytes);
  return padded;
}

/** A PAX record block's content: `LEN key=value\n` records. */
export function paxRecords(records: Record<string, string>): Uint8Array {
  let text = "";
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    let length = body.length + 1;
    while (`${length}${body}`.length !== length) length++;
    text += `${length}${body}`;
  }
  return new TextEncoder().encode(text);
}

/** Concatenates parts into one archive. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
