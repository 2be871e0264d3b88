/**
 * `volume create|ls|inspect|rm|prune`: the store's named volumes, and
 * which containers use them.
 *
 * @module
 */

import { DenockerError, InvalidInputError } from "../errors.ts";
import { storeOf, type StoreOptions } from "../store/store.ts";
import { ContainerStore } from "../runtime/containers.ts";
import { type VolumeRecord, VolumeStore } from "../runtime/volumes.ts";

/** The store's volumes and, for each volume name, the containers that mount it. */
async function volumesOf(
  options: StoreOptions,
): Promise<{ volumes: VolumeStore; users: Map<string, string[]> }> {
  const store = await storeOf(options, { create: true });
  const users = new Map<string, string[]>();
  for (const record of await new ContainerStore(store.root).list()) {
    for (const mount of record.spec.mounts ?? []) {
      if (mount.name) users.set(mount.name, [...users.get(mount.name) ?? [], record.id]);
    }
  }
  return { volumes: new VolumeStore(store.root), users };
}

/**
 * Makes a named volume (a random name when none is given); one already
 * there is left as it is, as docker does.
 *
 * @param name Its name.
 * @param options Store and labels.
 * @returns Its record.
 */
export async function createVolume(
  name: string | undefined,
  options: StoreOptions & { labels?: Record<string, string> } = {},
): Promise<VolumeRecord> {
  const { volumes } = await volumesOf(options);
  const chosen = name ??
    Array.from(
      crypto.getRandomValues(new Uint8Array(32)),
      (byte) => byte.toString(16).padStart(2, "0"),
    ).join("");
  return (await volumes.create(chosen, { labels: options.labels, anonymous: name === undefined }))
    .volume;
}

/** Every volume, with whether a container uses it (docker's `dangling` is not). */
export async function listVolumes(
  options: StoreOptions = {},
): Promise<(VolumeRecord & { InUse: boolean })[]> {
  const { volumes, users } = await volumesOf(options);
  return (await volumes.list()).map((volume) => ({ ...volume, InUse: users.has(volume.Name) }));
}

/** The records of the named volumes; a missing one fails the whole call. */
export async function inspectVolumes(
  names: string[],
  options: StoreOptions = {},
): Promise<VolumeRecord[]> {
  const { volumes } = await volumesOf(options);
  const found: VolumeRecord[] = [];
  for (const name of names) {
    const volume = await volumes.read(name);
    if (!volume) throw new InvalidInputError(`Cannot inspect volume ${name}: no such volume`);
    found.push(volume);
  }
  return found;
}

/**
 * Removes volumes and their data; one a container uses (running or not)
 * is refused, as docker does.
 *
 * @returns The names removed.
 */
export async function removeVolumes(
  names: string[],
  options: StoreOptions = {},
): Promise<string[]> {
  const { volumes, users } = await volumesOf(options);
  const removed: string[] = [];
  for (const name of names) {
    const using = users.get(name);
    if (using) {
      throw new DenockerError(
        `Cannot remove volume ${name}: volume is in use - [${
          using.map((id) => id.slice(0, 12)).join(", ")
        }]`,
      );
    }
    await volumes.remove(name);
    removed.push(name);
  }
  return removed;
}

/**
 * Removes the volumes no container uses: anonymous ones, or every one
 * with `all` (docker's `volume prune [-a]`).
 *
 * @returns The names removed.
 */
export async function pruneVolumes(
  options: StoreOptions & { all?: boolean } = {},
): Promise<string[]> {
  const { volumes, users } = await volumesOf(options);
  const removed: string[] = [];
  for (const volume of await volumes.list()) {
    if (users.has(volume.Name) || (!options.all && !volume.Anonymous)) continue;
    await volumes.remove(volume.Name);
    removed.push(volume.Name);
  }
  return removed;
}
