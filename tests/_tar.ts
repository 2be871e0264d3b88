/** Crafted tar archives for layer tests. */

import { packTar, type TarHeader } from "npm:modern-tar@0.8.6";

export interface CraftedEntry {
  name: string;
  type?: TarHeader["type"];
  body?: string;
  /** A body of bytes (instead of text). */
  bytes?: Uint8Array;
  mode?: number;
  linkname?: string;
  uid?: number;
  gid?: number;
}

/** A tar archive of the entries, in order, with fixed times. */
export function craftTar(entries: CraftedEntry[]): Promise<Uint8Array> {
  return packTar(entries.map((entry) => {
    const type = entry.type ?? "file";
    const body = entry.bytes ?? new TextEncoder().encode(entry.body ?? "");
    return {
      header: {
        name: entry.name,
        type,
        size: type === "file" ? body.byteLength : 0,
        mode: entry.mode ?? (type === "directory" ? 0o755 : 0o644),
        linkname: entry.linkname,
        uid: entry.uid ?? 0,
        gid: entry.gid ?? 0,
        mtime: new Date("2024-01-02T03:04:05Z"),
      },
      body: type === "file" ? body : undefined,
    };
  }));
}

/**
 * Two layers as real images have them: busybox's layout (a multi-call
 * binary with its applets as symlinks, a hardlink), and above it a layer
 * with a whiteout of a lower file; `extra` entries go into the lower one.
 */
export async function busyboxLikeLayers(extra: CraftedEntry[] = []): Promise<Uint8Array[]> {
  return [
    await craftTar([
      { name: "bin/", type: "directory" },
      { name: "bin/busybox", body: "multi-call binary", mode: 0o755 },
      { name: "bin/sh", type: "symlink", linkname: "busybox" },
      { name: "bin/ls", type: "symlink", linkname: "busybox" },
      { name: "bin/ash", type: "link", linkname: "bin/busybox" },
      ...extra,
      { name: "etc/", type: "directory" },
      { name: "etc/motd", body: "hi" },
      { name: "etc/gone", body: "deleted above" },
    ]),
    await craftTar([
      { name: "app", body: "app", mode: 0o755 },
      { name: "etc/", type: "directory" },
      { name: "etc/.wh.gone" },
    ]),
  ];
}
