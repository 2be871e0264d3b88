/**
 * Volumes and mounts: what `-v`, `--mount` and `--tmpfs` ask for, and the
 * named volumes kept under the store root as docker's local driver keeps
 * them (`volumes/<name>/_data`, with `volume.json` beside it).
 *
 * A mount's target is resolved inside the container's root by its init,
 * never through the image's symlinks to the host (see `secure_join.ts`).
 *
 * @module
 */

import { join } from "../io/path.ts";
import { InvalidInputError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic_file.ts";
import { lstatIfExists, readDirIfExists } from "../io/fs.ts";
import { rootLayout } from "../store/layout.ts";

/** One mount of a container, sources resolved on the host. */
export interface MountSpec {
  /** A host directory or file, a named (or anonymous) volume, or a new tmpfs. */
  type: "bind" | "volume" | "tmpfs";
  /** The host path mounted (a volume's `_data`); none for tmpfs. */
  source?: string;
  /** The volume's name, for `volume`. */
  name?: string;
  /** Where inside the container (absolute). */
  target: string;
  /** Mounted read-only. */
  readOnly: boolean;
  /** tmpfs options (`size=64m,mode=1777`). */
  options?: string;
  /** An anonymous volume: removed with its container by `rm -v` and `--rm`. */
  anonymous?: boolean;
}

/** What is recorded of a named volume (docker's `volume inspect` fields). */
export interface VolumeRecord {
  /** docker's `Name`. */
  Name: string;
  /** docker's `CreatedAt`. */
  CreatedAt: string;
  /** docker's `Driver`: always `local`. */
  Driver: "local";
  /** docker's `Labels`. */
  Labels: Record<string, string>;
  /** docker's `Mountpoint`: its `_data` directory. */
  Mountpoint: string;
  /** docker's `Options`. */
  Options: Record<string, string>;
  /** docker's `Scope`. */
  Scope: "local";
  /** Made for one container (`-v /path`, an image's `Volumes`): `rm -v` and `--rm` remove it. */
  Anonymous?: boolean;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** A target as docker takes it: absolute, not `/`, not under /proc or /sys. */
function checkTarget(target: string, spec: string): string {
  if (!target.startsWith("/")) {
    throw new InvalidInputError(`invalid mount "${spec}": the target ${target} is not absolute`);
  }
  const clean = target.replace(/\/+$/, "") || "/";
  if (clean === "/" || /^\/(proc|sys)(\/|$)/.test(clean)) {
    throw new InvalidInputError(`invalid mount "${spec}": cannot mount over ${clean}`);
  }
  return clean;
}

/** A mount asked for, its volume not yet made or looked up. */
export interface MountRequest {
  /** As {@link MountSpec}'s. */
  type: "bind" | "volume" | "tmpfs";
  /** A host path (bind), a volume name (volume; none: an anonymous one). */
  source?: string;
  /** Where inside. */
  target: string;
  /** Read-only. */
  readOnly: boolean;
  /** tmpfs options. */
  options?: string;
  /** A missing host directory is made (docker's `-v`), not refused (`--mount`). */
  createSource?: boolean;
}

/**
 * Reads `-v` as docker does: `HOST:CONTAINER[:ro|rw]` (HOST absolute), or
 * `NAME:CONTAINER[:ro|rw]` (a named volume, made on first use), or
 * `CONTAINER` (an anonymous volume).
 */
export function parseVolumeFlag(spec: string): MountRequest {
  const parts = spec.split(":");
  if (parts.length > 3 || parts.some((part) => part === "")) {
    throw new InvalidInputError(`invalid volume "${spec}": use [SOURCE:]TARGET[:ro|rw]`);
  }
  const mode = parts.length === 3 || (parts.length === 2 && /^(ro|rw)$/.test(parts[1]))
    ? parts.pop()!
    : "rw";
  if (mode !== "ro" && mode !== "rw") {
    throw new InvalidInputError(`invalid volume "${spec}": invalid mode "${mode}"`);
  }
  const [first, second] = parts;
  const target = checkTarget(second ?? first, spec);
  const readOnly = mode === "ro";
  if (second === undefined) return { type: "volume", target, readOnly };
  if (first.startsWith("/")) {
    return { type: "bind", source: first, target, readOnly, createSource: true };
  }
  if (!NAME.test(first)) {
    throw new InvalidInputError(
      `invalid volume "${spec}": "${first}" is neither an absolute path nor a volume name`,
    );
  }
  return { type: "volume", source: first, target, readOnly };
}

/** Reads `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly]` as docker does. */
export function parseMountFlag(spec: string): MountRequest {
  const fields: Record<string, string> = {};
  let readOnly = false;
  for (const field of spec.split(",")) {
    const [key, ...rest] = field.split("=");
    const value = rest.join("=");
    if (
      (key === "readonly" || key === "ro") && (value === "" || value === "true" || value === "1")
    ) {
      readOnly = true;
    } else if (["type", "source", "src", "target", "destination", "dst"].includes(key)) {
      fields[key] = value;
    } else if (key === "tmpfs-size" || key === "tmpfs-mode") {
      fields[key] = value;
    } else {
      throw new InvalidInputError(`invalid mount "${spec}": unknown field "${key}"`);
    }
  }
  const type = fields.type ?? "volume";
  if (type !== "bind" && type !== "volume" && type !== "tmpfs") {
    throw new InvalidInputError(`invalid mount "${spec}": type is bind, volume or tmpfs`);
  }
  const targetText = fields.target ?? fields.destination ?? fields.dst;
  if (!targetText) throw new InvalidInputError(`invalid mount "${spec}": it needs a target`);
  const target = checkTarget(targetText, spec);
  const source = fields.source ?? fields.src;
  if (type === "tmpfs") {
    if (source) throw new InvalidInputError(`invalid mount "${spec}": a tmpfs has no source`);
    const options = [
      ...(fields["tmpfs-size"] ? [`size=${fields["tmpfs-size"]}`] : []),
      ...(fields["tmpfs-mode"] ? [`mode=${fields["tmpfs-mode"]}`] : []),
    ].join(",");
    return { type, target, readOnly, options: options || undefined };
  }
  if (type === "bind" && !source?.startsWith("/")) {
    throw new InvalidInputError(`invalid mount "${spec}": a bind mount needs an absolute source`);
  }
  if (type === "volume" && source !== undefined && !NAME.test(source)) {
    throw new InvalidInputError(`invalid mount "${spec}": invalid volume name "${source}"`);
  }
  return { type, source, target, readOnly };
}

/** Reads `--tmpfs PATH[:OPTIONS]`. */
export function parseTmpfsFlag(spec: string): MountRequest {
  const [path, ...options] = spec.split(":");
  return {
    type: "tmpfs",
    target: checkTarget(path, spec),
    readOnly: false,
    options: options.join(":") || undefined,
  };
}

/** The named volumes of a store root: `<root>/volumes/<name>/`. */
export class VolumeStore {
  /** `<root>/volumes`. */
  readonly directory: string;

  constructor(root: string) {
    this.directory = rootLayout(root).volumes;
  }

  /** A volume's record, or undefined when there is none of that name. */
  async read(name: string): Promise<VolumeRecord | undefined> {
    if (!NAME.test(name)) return undefined;
    const text = await Deno.readTextFile(join(this.directory, name, "volume.json")).catch(
      () => undefined,
    );
    return text === undefined ? undefined : JSON.parse(text) as VolumeRecord;
  }

  /**
   * Makes a volume (its `_data` first, its record last: a crash leaves no
   * record of a volume without its directory); returns the one there when
   * it exists, with `created` false.
   */
  async create(
    name: string,
    options: { labels?: Record<string, string>; anonymous?: boolean } = {},
  ): Promise<{ volume: VolumeRecord; created: boolean }> {
    if (!NAME.test(name)) {
      throw new InvalidInputError(`invalid volume name "${name}": use letters, digits, _ . -`);
    }
    const existing = await this.read(name);
    if (existing) return { volume: existing, created: false };
    const data = join(this.directory, name, "_data");
    await Deno.mkdir(data, { recursive: true });
    await Deno.chmod(join(this.directory, name), 0o701);
    const volume: VolumeRecord = {
      Name: name,
      CreatedAt: new Date().toISOString(),
      Driver: "local",
      Labels: options.labels ?? {},
      Mountpoint: data,
      Options: {},
      Scope: "local",
      ...(options.anonymous ? { Anonymous: true } : {}),
    };
    await writeFileAtomic(
      join(this.directory, name, "volume.json"),
      new TextEncoder().encode(JSON.stringify(volume, null, 2) + "\n"),
    );
    return { volume, created: true };
  }

  /** Every volume, by name. */
  async list(): Promise<VolumeRecord[]> {
    const volumes: VolumeRecord[] = [];
    for (const entry of await readDirIfExists(this.directory)) {
      const volume = await this.read(entry.name);
      if (volume) volumes.push(volume);
    }
    return volumes.sort((a, b) => a.Name.localeCompare(b.Name));
  }

  /** Removes a volume and its data (the caller checked that no container uses it). */
  async remove(name: string): Promise<void> {
    const directory = join(this.directory, name);
    if (!NAME.test(name) || !(await lstatIfExists(directory))) {
      throw new InvalidInputError(`Cannot remove volume ${name}: no such volume`);
    }
    // The record first: a crash halfway leaves data without a record, not a record without data.
    await Deno.remove(join(directory, "volume.json")).catch(() => {});
    await Deno.remove(directory, { recursive: true });
  }
}

/** A random name for an anonymous volume (64 hex digits, as docker's). */
function anonymousName(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
}

/**
 * Turns what was asked for into mounts: a bind source checked (`-v` makes
 * a missing directory, as docker does; `--mount` refuses it), a named
 * volume made on first use, an anonymous one made for each `-v PATH` and
 * each of the image's `Volumes` nothing else is mounted on.
 *
 * @param requests What `-v`, `--mount` and `--tmpfs` asked for, in order.
 * @param volumes The store's volumes.
 * @param imageVolumes The image config's `Volumes` (paths).
 * @returns The mounts, and those volumes just made (to be filled from the image).
 */
export async function resolveMounts(
  requests: MountRequest[],
  volumes: VolumeStore,
  imageVolumes: string[],
): Promise<{ mounts: MountSpec[]; fresh: MountSpec[] }> {
  const targets = new Set<string>();
  const all = [
    ...requests,
    ...imageVolumes.map((path): MountRequest => ({
      type: "volume",
      target: checkTarget(path, `the image's volume ${path}`),
      readOnly: false,
    }))
      .filter((request) => !requests.some((other) => other.target === request.target)),
  ];
  const mounts: MountSpec[] = [];
  const fresh: MountSpec[] = [];
  for (const request of all) {
    if (targets.has(request.target)) {
      throw new InvalidInputError(`Duplicate mount point: ${request.target}`);
    }
    targets.add(request.target);
    if (request.type === "tmpfs") {
      mounts.push({
        type: "tmpfs",
        target: request.target,
        readOnly: request.readOnly,
        options: request.options,
      });
      continue;
    }
    if (request.type === "bind") {
      const source = request.source!;
      if (!(await lstatIfExists(source))) {
        if (!request.createSource) {
          throw new InvalidInputError(
            `invalid mount config for type "bind": bind source path does not exist: ${source}`,
          );
        }
        await Deno.mkdir(source, { recursive: true });
      }
      mounts.push({ type: "bind", source, target: request.target, readOnly: request.readOnly });
      continue;
    }
    const anonymous = request.source === undefined;
    const { volume, created } = await volumes.create(request.source ?? anonymousName(), {
      anonymous,
    });
    const mount: MountSpec = {
      type: "volume",
      name: volume.Name,
      source: volume.Mountpoint,
      target: request.target,
      readOnly: request.readOnly,
      ...(anonymous ? { anonymous: true } : {}),
    };
    mounts.push(mount);
    if (created) fresh.push(mount);
  }
  return { mounts, fresh };
}
