/**
 * `diff` and `commit`: what a container changed in its root, as docker
 * lists it, and a new image made of its image and one more layer of those
 * changes (see `runtime/changes.ts`). A running container is frozen (its
 * cgroup's freezer, as `docker commit` pauses it) while its changes are
 * read.
 *
 * @module
 */

import { join } from "../io/path.ts";
import { lstatIfExists } from "../io/fs.ts";
import { DenockerError, InvalidInputError, InvalidReferenceError } from "../errors.ts";
import { familiarName, familiarReference, parseReference } from "../model/reference.ts";
import { type Store, storeOf, type StoreOptions } from "../store/store.ts";
import { freeze, thaw } from "../runtime/cgroup.ts";
import { changeKind, layerEntries, upperEntries, withImageTree } from "../runtime/changes.ts";
import { type ContainerRecord, ContainerStore, isAlive } from "../runtime/containers.ts";
import { parseDockerfile } from "../build/dockerfile.ts";
import {
  applyInstruction,
  CONFIG_KEYWORDS,
  envValue,
  envVariables,
  type RuntimeConfig,
  setEnv,
} from "../build/image_config.ts";
import { mediaTypesOf, writeImage, writeLayer } from "./_image_writer.ts";

/** One line of `diff`. */
export interface Change {
  /** `A` added, `C` changed, `D` deleted. */
  kind: "A" | "C" | "D";
  /** The path inside the container. */
  path: string;
}

/** Runs `fn` with a running container frozen (unless `pause` is false); a stopped one as it is. */
async function whileStill<T>(
  record: ContainerRecord,
  pause: boolean,
  what: string,
  fn: () => Promise<T>,
): Promise<T> {
  const live = record.state === "running" && await isAlive(record.process);
  if (!live || !pause) return await fn();
  const cgroups = record.spec.cgroups.map((cgroup) => cgroup.directory);
  if (!(await freeze(cgroups))) {
    throw new DenockerError(
      `Cannot ${what} while container ${record.name} runs: it cannot be paused (no freezer cgroup); stop it, or give --pause=false`,
    );
  }
  try {
    return await fn();
  } finally {
    await thaw(cgroups);
  }
}

function overlayOf(record: ContainerRecord, what: string): { upper: string } {
  if (record.spec.rootfs !== "overlay") {
    throw new DenockerError(
      `Cannot ${what} container ${record.name}: its root is a copy, not an overlay over its image`,
    );
  }
  return { upper: join(record.spec.directory, "upper") };
}

/**
 * What a container changed, as `docker diff` lists it: every path added,
 * changed or deleted, parents before their children.
 *
 * @param container Its name or ID.
 * @param options The store.
 * @returns The changes.
 */
export async function diffContainer(
  container: string,
  options: StoreOptions = {},
): Promise<Change[]> {
  const store = await storeOf(options);
  const record = await new ContainerStore(store.root).find(container);
  const { upper } = overlayOf(record, "diff");
  return await whileStill(
    record,
    true,
    "diff",
    () =>
      withImageTree(
        record.spec.directory,
        record.spec.lowerCount,
        async (tree) => {
          const changes: Change[] = [];
          for (const entry of await upperEntries(upper, tree)) {
            changes.push({ kind: changeKind(entry), path: `/${entry.relative}` });
            if (!entry.opaque) continue;
            // A directory made again: what the image had in it is gone, as docker lists it.
            for await (const child of Deno.readDir(join(tree, entry.relative))) {
              if (await lstatIfExists(join(entry.path, child.name))) continue;
              changes.push({ kind: "D", path: `/${entry.relative}/${child.name}` });
            }
          }
          return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
        },
      ),
  );
}

/** Options for {@link commitContainer}. */
export interface CommitOptions extends StoreOptions {
  /** The history entry's comment (`-m`). */
  message?: string;
  /** The image's author (`-a`). */
  author?: string;
  /** Dockerfile instructions applied to the config (`-c 'CMD ["sh"]'`). */
  changes?: string[];
  /** Freeze a running container while its changes are read (default true, as docker). */
  pause?: boolean;
}

/** The container's runtime settings over its image's, as docker commits them. */
function containerConfig(record: ContainerRecord, image: RuntimeConfig): RuntimeConfig {
  const config: RuntimeConfig = { ...image };
  // The image's Env with the container's (-e) over it; HOSTNAME and the default PATH are added
  // at each start, not part of the container's config.
  let env = (image.Env as string[] | undefined) ?? [];
  for (const entry of record.spec.env) {
    const key = entry.slice(0, entry.indexOf("="));
    if (key === "HOSTNAME" || (key === "PATH" && envValue(env, "PATH") === undefined)) continue;
    env = setEnv(env, key, entry.slice(key.length + 1));
  }
  config.Env = env;
  config.Cmd = record.cmd ?? null;
  config.Entrypoint = record.entrypoint?.length ? record.entrypoint : null;
  if (record.spec.cwd !== "/" || image.WorkingDir) config.WorkingDir = record.spec.cwd;
  if (record.spec.user && record.spec.user !== "0" && record.spec.user !== "root") {
    config.User = record.spec.user;
  }
  if (record.labels && Object.keys(record.labels).length > 0) {
    config.Labels = {
      ...((image.Labels as Record<string, string> | null) ?? {}),
      ...record.labels,
    };
  }
  return config;
}

/**
 * Makes a new image of a container: its image and one more layer of what
 * it changed, its config the container's (`Env`, `Cmd`, `Entrypoint`,
 * `WorkingDir`, `User`, `Labels`) with `changes` applied, and a history
 * entry. Tagged `reference` when given.
 *
 * @param container Its name or ID.
 * @param reference `REPOSITORY[:TAG]` to tag it.
 * @param options The store, message, author, changes, pause.
 * @returns The new image's ID, and the name it was tagged with.
 */
export async function commitContainer(
  container: string,
  reference: string | undefined,
  options: CommitOptions = {},
): Promise<{ imageId: string; name?: string }> {
  const parsed = reference === undefined ? undefined : parseReference(reference);
  if (parsed?.digest !== undefined) {
    throw new InvalidReferenceError(`Cannot commit as "${reference}": a tag cannot name a digest`);
  }
  const changes = (options.changes ?? []).flatMap((change) => {
    const { instructions } = parseDockerfile(change);
    for (const instruction of instructions) {
      if (!CONFIG_KEYWORDS.includes(instruction.keyword)) {
        throw new InvalidInputError(
          `Cannot commit: ${instruction.keyword} is not a change commit can apply (${
            CONFIG_KEYWORDS.join(", ")
          })`,
        );
      }
    }
    return instructions;
  });
  const store = await storeOf(options, { create: true });
  const containers = new ContainerStore(store.root);
  const record = await containers.find(container);
  const image = await store.image(record.imageId).catch(() => undefined);
  const config = containerConfig(record, image?.config.config ?? {});
  const variables = envVariables((config.Env as string[] | undefined) ?? []);
  for (const instruction of changes) applyInstruction(config, instruction, variables);
  const imageId = await commitRecord(store, record, {
    config,
    createdBy: [...(record.entrypoint ?? []), ...(record.cmd ?? [])].join(" "),
    comment: options.message,
    author: options.author,
    pause: options.pause ?? true,
    name: parsed ? { repository: familiarName(parsed), tag: parsed.tag ?? "latest" } : undefined,
  });
  return { imageId, ...(parsed ? { name: familiarReference(parsed) } : {}) };
}

/** What {@link commitRecord} makes of a container. */
export interface CommitRecordOptions {
  /** The new image's runtime defaults. */
  config: RuntimeConfig;
  /** Its history entry's `created_by`. */
  createdBy: string;
  /** Its history entry's comment. */
  comment?: string;
  /** Its author. */
  author?: string;
  /** Freeze the container (when it runs) while its changes are read. */
  pause?: boolean;
  /** Tag it so. */
  name?: { repository: string; tag: string };
}

/**
 * A new image of a container's image and its changes (none: no layer, an
 * `empty_layer` history entry, as docker records a step that changed
 * nothing). Times are clamped to `SOURCE_DATE_EPOCH` when it is set.
 *
 * @returns The image's ID.
 */
export async function commitRecord(
  store: Store,
  record: ContainerRecord,
  options: CommitRecordOptions,
): Promise<string> {
  const { upper } = overlayOf(record, "commit");
  return await store.whileAdding(async (staging, blobs) => {
    const parent = await store.image(record.imageId).catch(() => {
      throw new DenockerError(
        `Cannot commit container ${record.name}: its image ${record.imageId} is no longer stored`,
      );
    });
    const clamp = sourceDateEpoch();
    const layer = await whileStill(
      record,
      options.pause ?? true,
      "commit",
      () =>
        withImageTree(record.spec.directory, record.spec.lowerCount, async (tree) => {
          const entries = await upperEntries(upper, tree);
          if (entries.length === 0) return undefined;
          return await writeLayer(
            store,
            blobs,
            staging,
            layerEntries(entries, clamp),
            mediaTypesOf(parent.manifest).layer,
          );
        }),
    );
    return await writeImage(store, blobs, {
      parent,
      layer,
      config: options.config,
      created: createdTime(clamp),
      author: options.author,
      history: { created_by: options.createdBy, comment: options.comment },
    }, options.name ?? {});
  });
}

/** Now, or `SOURCE_DATE_EPOCH`'s time, as RFC 3339. */
export function createdTime(clamp = sourceDateEpoch()): string {
  return clamp === undefined
    ? new Date().toISOString()
    : new Date(clamp * 1000).toISOString().replace(".000Z", "Z");
}

/** `SOURCE_DATE_EPOCH` in seconds, when set (BuildKit's rule for reproducible images). */
export function sourceDateEpoch(): number | undefined {
  let text: string | undefined;
  try {
    text = Deno.env.get("SOURCE_DATE_EPOCH");
  } catch {
    return undefined;
  }
  if (text === undefined || text === "") return undefined;
  if (!/^\d+$/.test(text)) {
    throw new InvalidInputError(`SOURCE_DATE_EPOCH=${text} is not a count of seconds`);
  }
  return Number(text);
}
