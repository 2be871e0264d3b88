/**
 * `build`: a Dockerfile made into an image, daemonless, as docker's
 * classic builder makes it. Each instruction makes an image of its own
 * (intermediate, untagged): metadata instructions one with an
 * `empty_layer` history entry, `RUN` a container of the previous image
 * (the same isolation as `run`, no network unless asked) whose changes are
 * committed, `COPY`/`ADD` files copied into a container's root that never
 * runs, and `WORKDIR` the directory made so; a step that changes nothing
 * makes no layer. A step is taken from the build cache when its parent,
 * its instruction (with its variables) and, for `COPY`/`ADD`, its files'
 * contents match. With `SOURCE_DATE_EPOCH` set, every time is clamped to
 * it, and the same context gives the same image ID.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "../io/path.ts";
import { DenockerError, InvalidInputError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic_file.ts";
import { lstatIfExists } from "../io/fs.ts";
import type { Platform } from "../model/manifest.ts";
import { hostPlatform, parsePlatform, platformMatches } from "../model/platform.ts";
import { familiarName, familiarReference, parseReference } from "../model/reference.ts";
import { rootLayout } from "../store/layout.ts";
import { type Store, storeOf, type StoreOptions } from "../store/store.ts";
import { upperEntries, withImageTree } from "../runtime/changes.ts";
import { ContainerStore } from "../runtime/containers.ts";
import { secureJoin } from "../runtime/secure_join.ts";
import { mkdirInRoot } from "../runtime/secure_join.ts";
import { type Instruction, parseDockerfile, processWords } from "../build/dockerfile.ts";
import {
  applyInstruction,
  CONFIG_KEYWORDS,
  envVariables,
  resolvePath,
  type RuntimeConfig,
  shellOf,
} from "../build/image_config.ts";
import { type Source, SourceTree } from "../build/context.ts";
import { copyInto } from "../build/copy_in.ts";
import { layerEntries } from "../runtime/changes.ts";
import { commitRecord, createdTime, sourceDateEpoch } from "./commit.ts";
import { withContainerRoot } from "./container_copy.ts";
import { mediaTypesOf, writeImage, writeLayer } from "./_image_writer.ts";

/** What a build reports as it goes, as `docker build` prints it. */
export type BuildEvent =
  | { type: "step"; index: number; count: number; instruction: string }
  | { type: "cache" }
  | { type: "running"; container: string }
  | { type: "removed"; container: string }
  | { type: "image"; id: string }
  | { type: "note"; text: string };

/** Options for {@link buildImage}. */
export interface BuildOptions extends StoreOptions {
  /** The context directory (none: a Dockerfile alone, from stdin). */
  context?: string;
  /** The Dockerfile's path (default: `Dockerfile` in the context). */
  dockerfile?: string;
  /** The Dockerfile's text, instead of a file. */
  dockerfileText?: string;
  /** Names to tag the image with. */
  tags?: string[];
  /** `--build-arg` values. */
  buildArgs?: Record<string, string>;
  /** The stage to stop at (`--target`). */
  target?: string;
  /** The platform of base images (`--platform`). */
  platform?: string;
  /** Build every step again (`--no-cache`). */
  noCache?: boolean;
  /** Pull base images even when stored (`--pull`). */
  pull?: boolean;
  /** `RUN`'s network: none (the default) or the host's. */
  network?: "none" | "host";
  /** Labels of the final image (`--label`). */
  labels?: Record<string, string>;
  /** Where `RUN`'s output goes: this process's stdio, or nowhere (`-q`). */
  output?: "inherit" | "null";
  /** Told each step. */
  onEvent?: (event: BuildEvent) => void;
}

/** A stage being built. */
interface Stage {
  name?: string;
  from: Instruction;
  instructions: Instruction[];
  imageId?: string;
}

/** Where a stage is: its image so far and what its instructions set. */
interface State {
  imageId?: string;
  config: RuntimeConfig;
  /** ARG and ENV values, for substitution (ENV wins). */
  variables: Record<string, string>;
  /** The ARGs in scope with values: RUN's environment. */
  args: Record<string, string>;
  cmdSet: boolean;
  author?: string;
  platform: Platform;
}

function fail(line: number, message: string): never {
  throw new InvalidInputError(`Dockerfile line ${line}: ${message}`);
}

/** docker's `["a" "b"]` rendering of a command in a history entry. */
function goList(items: string[]): string {
  return `[${items.map((item) => JSON.stringify(item)).join(" ")}]`;
}

/**
 * Builds an image from a Dockerfile.
 *
 * @param options The context, Dockerfile, tags, arguments and the rest.
 * @returns The image's ID and the names it was tagged with.
 */
export async function buildImage(
  options: BuildOptions,
): Promise<{ imageId: string; tags: string[] }> {
  const events = options.onEvent ?? (() => {});
  const tags = (options.tags ?? []).map((tag) => {
    const reference = parseReference(tag);
    if (reference.digest !== undefined) {
      throw new InvalidInputError(`invalid tag "${tag}": a tag cannot name a digest`);
    }
    return reference;
  });
  const text = options.dockerfileText ?? await (async () => {
    const path = options.dockerfile ??
      (options.context ? join(options.context, "Dockerfile") : undefined);
    if (!path) throw new InvalidInputError("Cannot build: no Dockerfile and no context");
    return await Deno.readTextFile(path).catch((error) => {
      throw new InvalidInputError(
        `Cannot build: cannot read the Dockerfile ${path}: ${
          error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message
        }`,
      );
    });
  })();
  const dockerfile = parseDockerfile(text);
  if (dockerfile.syntax !== undefined) {
    events({
      type: "note",
      text: `# syntax=${dockerfile.syntax} is ignored: denocker builds with its own builder`,
    });
  }
  const context = options.context ? await SourceTree.context(options.context) : undefined;
  // Global ARGs, then stages.
  const globals: Instruction[] = [];
  const stages: Stage[] = [];
  for (const instruction of dockerfile.instructions) {
    if (instruction.keyword === "FROM") {
      stages.push({ from: instruction, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== "ARG") {
        fail(
          instruction.line,
          `${instruction.keyword} before the first FROM (only ARG may come first)`,
        );
      }
      globals.push(instruction);
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  if (stages.length === 0) throw new InvalidInputError("Cannot build: the Dockerfile has no FROM");
  const buildArgs = options.buildArgs ?? {};
  const globalValues: Record<string, string> = {};
  for (const instruction of globals) {
    for (const [name, value] of argDeclarations(instruction, globalValues, dockerfile.escape)) {
      const given = buildArgs[name] ?? value;
      if (given !== undefined) globalValues[name] = given;
    }
  }
  for (const stage of stages) {
    const words = processWords(stage.from.text, globalValues, dockerfile.escape);
    if (words.length === 3 && words[1].toLowerCase() === "as") stage.name = words[2].toLowerCase();
    else if (words.length !== 1) fail(stage.from.line, "FROM takes IMAGE [AS NAME]");
  }
  let last = stages.length - 1;
  if (options.target !== undefined) {
    last = stages.findIndex((stage) => stage.name === options.target!.toLowerCase());
    if (last < 0) {
      throw new InvalidInputError(
        `Cannot build: target stage ${options.target} could not be found`,
      );
    }
  }
  const built = stages.slice(0, last + 1);
  if (options.labels && Object.keys(options.labels).length > 0) {
    const pairs = Object.entries(options.labels).map(([key, value]) =>
      `${JSON.stringify(key)}=${JSON.stringify(value)}`
    ).join(" ");
    const line = built.at(-1)!.from.line;
    built.at(-1)!.instructions.push({
      keyword: "LABEL",
      flags: {},
      text: pairs,
      line,
      original: `LABEL ${pairs}`,
    });
  }
  const count = globals.length +
    built.reduce((sum, stage) => sum + 1 + stage.instructions.length, 0);
  const store = await storeOf(options, { create: true });
  const builder = new Builder(store, options, context, dockerfile.escape, events);
  let index = 0;
  for (const instruction of globals) {
    events({ type: "step", index: ++index, count, instruction: instruction.original });
  }
  let imageId: string | undefined;
  for (const stage of built) {
    events({ type: "step", index: ++index, count, instruction: stage.from.original });
    const state = await builder.from(stage, stages, globalValues);
    for (const instruction of stage.instructions) {
      events({ type: "step", index: ++index, count, instruction: instruction.original });
      await atLine(instruction, () => builder.step(state, instruction, stages, globalValues));
    }
    if (!state.imageId) {
      // FROM scratch and nothing else: an image without layers.
      state.imageId = await builder.metadataImage(state, "/bin/sh -c #(nop)  FROM scratch");
    }
    stage.imageId = state.imageId;
    imageId = state.imageId;
  }
  for (const reference of tags) {
    await store.index.set(familiarName(reference), reference.tag ?? "latest", imageId!);
  }
  return { imageId: imageId!, tags: tags.map((tag) => familiarReference(tag)) };
}

/** Runs a step; a bad-input error that names no line gets the instruction's. */
async function atLine<T>(instruction: Instruction, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (
      error instanceof InvalidInputError && !error.message.startsWith("Dockerfile line") &&
      !/ failed: /.test(error.message)
    ) {
      throw new InvalidInputError(`Dockerfile line ${instruction.line}: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}

/** An ARG's names and defaults (undefined: none given). */
function argDeclarations(
  instruction: Instruction,
  variables: Record<string, string>,
  escape: string,
): [string, string | undefined][] {
  return processWords(instruction.text, variables, escape).map((word) => {
    const at = word.indexOf("=");
    const name = at < 0 ? word : word.slice(0, at);
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) {
      fail(instruction.line, `invalid ARG name "${name}"`);
    }
    return [name, at < 0 ? undefined : word.slice(at + 1)];
  });
}

/** The build's steps. */
class Builder {
  readonly #store: Store;
  readonly #options: BuildOptions;
  readonly #context: SourceTree | undefined;
  readonly #escape: string;
  readonly #events: (event: BuildEvent) => void;
  readonly #containers: ContainerStore;

  constructor(
    store: Store,
    options: BuildOptions,
    context: SourceTree | undefined,
    escape: string,
    events: (event: BuildEvent) => void,
  ) {
    this.#store = store;
    this.#options = options;
    this.#context = context;
    this.#escape = escape;
    this.#events = events;
    this.#containers = new ContainerStore(store.root);
  }

  /** A stored image (pulled when missing, or always with `--pull`). */
  async #image(reference: string, line: number, asked?: string): Promise<string> {
    const text = asked ?? this.#options.platform;
    const platform = text ? parsePlatform(text) : undefined;
    if (!this.#options.pull) {
      const found = await this.#store.find(reference).catch(() => undefined);
      // A stored image serves only the platform asked for (the host's by default), as pull's.
      if (
        found && !found.missing &&
        platformMatches(platform ?? hostPlatform(), found.record.platform)
      ) {
        return found.record.id;
      }
    }
    const { pullImage } = await import("./pull.ts");
    try {
      const pulled = await pullImage(reference, { root: this.#store.root, platform });
      return pulled.imageId;
    } catch (error) {
      throw new DenockerError(
        `Dockerfile line ${line}: cannot get image ${reference}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  async from(stage: Stage, stages: Stage[], globals: Record<string, string>): Promise<State> {
    const words = processWords(stage.from.text, globals, this.#escape);
    const base = words[0];
    const earlier = stages.find((other) => other !== stage && other.name === base.toLowerCase());
    let imageId: string | undefined;
    if (earlier) {
      if (!earlier.imageId) fail(stage.from.line, `stage ${base} is not built before this one`);
      imageId = earlier.imageId;
    }
    // FROM --platform=… (substituted) over --platform.
    const asked = stage.from.flags.platform === undefined
      ? this.#options.platform
      : processWords(stage.from.flags.platform, globals, this.#escape, false)[0];
    if (!earlier && base !== "scratch") imageId = await this.#image(base, stage.from.line, asked);
    const platform = asked ? parsePlatform(asked) : hostPlatform();
    // FROM scratch: the default PATH, as docker's builder gives it.
    const config: RuntimeConfig = imageId
      ? structuredClone((await this.#store.image(imageId)).config.config ?? {})
      : { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] };
    if (imageId) this.#events({ type: "image", id: imageId });
    const state: State = {
      imageId,
      config,
      variables: envVariables((config.Env as string[] | undefined) ?? []),
      args: {},
      cmdSet: false,
      platform,
    };
    // The base image's ONBUILD triggers run first, as docker runs them.
    const triggers = (config.OnBuild as string[] | null | undefined) ?? [];
    if (triggers.length > 0) {
      config.OnBuild = null;
      for (const trigger of triggers) {
        const { instructions } = parseDockerfile(trigger);
        for (const instruction of instructions) {
          await this.step(state, { ...instruction, line: stage.from.line }, stages, globals);
        }
      }
    }
    return state;
  }

  /** The cache's image for a key, if the cache may serve it and still has it. */
  async #cached(key: string): Promise<string | undefined> {
    if (this.#options.noCache) return undefined;
    const path = join(rootLayout(this.#store.root).root, "build-cache", key);
    const id = (await Deno.readTextFile(path).catch(() => "")).trim();
    if (!/^sha256:[0-9a-f]{64}$/.test(id) || !(await this.#store.hasImage(id))) return undefined;
    return id;
  }

  async #remember(key: string, id: string): Promise<void> {
    const directory = join(rootLayout(this.#store.root).root, "build-cache");
    await Deno.mkdir(directory, { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(directory, key), new TextEncoder().encode(`${id}\n`));
  }

  #key(state: State, parts: unknown[]): string {
    const hash = createHash("sha256");
    hash.update(JSON.stringify([state.imageId ?? "scratch", state.config, ...parts]));
    return hash.digest("hex");
  }

  /** Runs a step through the cache: `make` only when it has no image for `key`. */
  async #through(state: State, key: string, make: () => Promise<string>): Promise<void> {
    const cached = await this.#cached(key);
    if (cached) {
      this.#events({ type: "cache" });
      state.imageId = cached;
    } else {
      state.imageId = await make();
      await this.#remember(key, state.imageId);
    }
    this.#events({ type: "image", id: state.imageId });
  }

  /** An image of the state's config, with no new layer. */
  async metadataImage(state: State, createdBy: string): Promise<string> {
    return await this.#store.whileAdding(async (_staging, blobs) => {
      const parent = state.imageId ? await this.#store.image(state.imageId) : undefined;
      return await writeImage(this.#store, blobs, {
        parent,
        config: state.config,
        created: createdTime(),
        author: state.author,
        history: { created_by: createdBy },
        platform: state.platform,
      });
    });
  }

  async step(
    state: State,
    instruction: Instruction,
    stages: Stage[],
    globals: Record<string, string>,
  ): Promise<void> {
    const { keyword, line } = instruction;
    if (keyword === "ARG") {
      for (const [name, value] of argDeclarations(instruction, state.variables, this.#escape)) {
        const given = this.#options.buildArgs?.[name] ?? value ?? globals[name];
        if (given === undefined) continue;
        state.args[name] = given;
        // ENV wins over ARG of the same name.
        if (!Object.hasOwn(envVariables((state.config.Env as string[]) ?? []), name)) {
          state.variables[name] = given;
        }
      }
      const key = this.#key(state, [instruction.original, state.args]);
      await this.#through(
        state,
        key,
        () => this.metadataImage(state, `/bin/sh -c #(nop)  ${instruction.original}`),
      );
      return;
    }
    if (keyword === "MAINTAINER") {
      state.author = processWords(instruction.text, state.variables, this.#escape, false)[0];
      await this.#through(
        state,
        this.#key(state, [instruction.original]),
        () => this.metadataImage(state, `/bin/sh -c #(nop)  MAINTAINER ${state.author}`),
      );
      return;
    }
    if (keyword === "FROM") fail(line, "FROM is not allowed as an ONBUILD trigger");
    if (keyword === "RUN") return await this.#run(state, instruction);
    if (keyword === "COPY" || keyword === "ADD") {
      return await this.#copy(state, instruction, stages);
    }
    if (!CONFIG_KEYWORDS.includes(keyword)) fail(line, `${keyword} is not supported`);
    const before = JSON.stringify(state.variables);
    applyInstruction(state.config, instruction, state.variables, this.#escape);
    if (keyword === "CMD") state.cmdSet = true;
    if (keyword === "ENTRYPOINT" && !state.cmdSet) state.config.Cmd = null;
    const createdBy = this.#createdBy(state, instruction);
    const key = this.#key(state, [instruction.original, before]);
    if (keyword === "WORKDIR") {
      await this.#through(state, key, () => this.#workdir(state, createdBy));
      return;
    }
    await this.#through(state, key, () => this.metadataImage(state, createdBy));
  }

  /** What docker's classic builder writes as a metadata step's `created_by`. */
  #createdBy(state: State, instruction: Instruction): string {
    const { keyword } = instruction;
    const config = state.config;
    switch (keyword) {
      case "CMD":
        return `/bin/sh -c #(nop)  CMD ${goList((config.Cmd as string[]) ?? [])}`;
      case "ENTRYPOINT":
        return `/bin/sh -c #(nop)  ENTRYPOINT ${goList((config.Entrypoint as string[]) ?? [])}`;
      case "SHELL":
        return `/bin/sh -c #(nop)  SHELL ${goList((config.Shell as string[]) ?? [])}`;
      case "WORKDIR":
        return `/bin/sh -c #(nop) WORKDIR ${config.WorkingDir}`;
      case "ENV":
      case "LABEL": {
        const words = processWords(instruction.text, state.variables, this.#escape);
        return `/bin/sh -c #(nop)  ${keyword} ${words.join(" ")}`;
      }
      default:
        return `/bin/sh -c #(nop)  ${instruction.original}`;
    }
  }

  /** A container of the state's image, made (not started) for a step, and its record. */
  async #container(imageId: string, command: string[]) {
    const { createContainer } = await import("./run.ts");
    const { id } = await createContainer(imageId, command, {
      root: this.#store.root,
      entrypoint: [],
      network: "none",
      name: `build-${crypto.randomUUID().slice(0, 12)}`,
    });
    return (await this.#containers.read(id))!;
  }

  async #discard(id: string, told = true): Promise<void> {
    const record = await this.#containers.read(id);
    if (record) await this.#containers.remove(record, { volumes: true }).catch(() => {});
    if (told) this.#events({ type: "removed", container: id });
  }

  async #workdir(state: State, createdBy: string): Promise<string> {
    const directory = state.config.WorkingDir as string;
    if (!state.imageId) {
      return await this.#scratchLayer(state, createdBy, (root) => {
        mkdirInRoot(root, directory);
        return Promise.resolve();
      });
    }
    const record = await this.#container(state.imageId, ["true"]);
    try {
      await withContainerRoot(this.#containers, record, (root) => {
        mkdirInRoot(root, directory);
        return Promise.resolve();
      });
      return await commitRecord(this.#store, record, { config: state.config, createdBy });
    } finally {
      await this.#discard(record.id);
    }
  }

  /** A layer made in an empty directory for a stage that has no image yet (FROM scratch). */
  async #scratchLayer(
    state: State,
    createdBy: string,
    fill: (root: string) => Promise<void>,
  ): Promise<string> {
    return await this.#store.whileAdding(async (staging, blobs) => {
      const root = join(staging, `scratch-${crypto.randomUUID()}`);
      const empty = `${root}.empty`;
      await Deno.mkdir(root, { mode: 0o755 });
      await Deno.mkdir(empty);
      await fill(root);
      const entries = await upperEntries(root, empty);
      const types = mediaTypesOf(undefined);
      const layer = entries.length === 0 ? undefined : await writeLayer(
        this.#store,
        blobs,
        staging,
        layerEntries(entries, sourceDateEpoch()),
        types.layer,
      );
      return await writeImage(this.#store, blobs, {
        layer,
        config: state.config,
        created: createdTime(),
        author: state.author,
        history: { created_by: createdBy },
        platform: state.platform,
      });
    });
  }

  async #run(state: State, instruction: Instruction): Promise<void> {
    if (!state.imageId) {
      fail(
        instruction.line,
        "RUN needs an image with a shell or a program: this stage has none (FROM scratch)",
      );
    }
    if (Object.keys(instruction.flags).length > 0) {
      fail(instruction.line, `RUN --${Object.keys(instruction.flags)[0]} is not supported`);
    }
    const command = instruction.json ?? [...shellOf(state.config), instruction.text];
    const args = Object.entries(state.args);
    const prefix = args.length === 0
      ? ""
      : `|${args.length} ${args.map(([name, value]) => `${name}=${value}`).join(" ")} `;
    const createdBy = `${prefix}${command.join(" ")}`;
    const key = this.#key(state, ["RUN", command, state.args]);
    await this.#through(state, key, async () => {
      const { startContainer } = await import("./run.ts");
      const env = args
        .filter(([name]) =>
          !Object.hasOwn(envVariables((state.config.Env as string[]) ?? []), name)
        )
        .map(([name, value]) => `${name}=${value}`);
      const running = await startContainer(state.imageId!, command, {
        root: this.#store.root,
        entrypoint: [],
        env,
        workdir: (state.config.WorkingDir as string | undefined) || undefined,
        user: (state.config.User as string | undefined) || undefined,
        network: this.#options.network ?? "none",
        stdio: this.#options.output ?? "inherit",
        name: `build-${crypto.randomUUID().slice(0, 12)}`,
      });
      this.#events({ type: "running", container: running.id });
      const status = await running.exited;
      try {
        if (status !== 0) {
          throw new DenockerError(
            `The command '${command.join(" ")}' returned a non-zero code: ${status}`,
          );
        }
        const record = await this.#containers.read(running.id);
        if (!record) throw new DenockerError(`Cannot commit the RUN step: its container is gone`);
        return await commitRecord(this.#store, record, { config: state.config, createdBy });
      } finally {
        await this.#discard(running.id);
      }
    });
  }

  async #copy(state: State, instruction: Instruction, stages: Stage[]): Promise<void> {
    const { keyword, line, flags } = instruction;
    const what = keyword;
    for (const flag of Object.keys(flags)) {
      if (!["from", "chown", "chmod"].includes(flag) || (flag === "from" && keyword === "ADD")) {
        fail(line, `${keyword} --${flag} is not supported`);
      }
    }
    const words = instruction.json ?? processWords(instruction.text, state.variables, this.#escape);
    if (words.length < 2) fail(line, `${keyword} requires at least two arguments`);
    const written = words.at(-1)!;
    const destination = resolvePath(written, (state.config.WorkingDir as string) || "/") +
      (written.endsWith("/") && written !== "/" ? "/" : "");
    const names = words.slice(0, -1);
    for (const name of names) {
      if (/^[a-z]+:\/\//i.test(name)) {
        fail(
          line,
          `${keyword} from a URL (${name}) is not supported: download it in a RUN step, or into the context`,
        );
      }
    }
    const owner = flags.chown === undefined ? undefined : flags.chown;
    const mode = flags.chmod === undefined ? undefined : (() => {
      if (!/^[0-7]{3,4}$/.test(flags.chmod)) fail(line, `invalid --chmod ${flags.chmod}: octal`);
      return parseInt(flags.chmod, 8);
    })();
    /** The layer's image: the sources found in `tree`, copied into the state's image. */
    const make = async (tree: SourceTree): Promise<string> => {
      const sources: Source[] = [];
      for (const name of names) sources.push(...await tree.resolve(name, what));
      // ADD extracts local archives; COPY copies them.
      const archives = keyword === "ADD" ? await archivesOf(sources) : new Set<Source>();
      const digest = await tree.digest(sources);
      const single = sources.length === 1 && !sources[0].info.isDirectory;
      const createdBy = `/bin/sh -c #(nop) ${keyword} ${single ? "file" : "dir"}:${
        digest.slice(7)
      } in ${written} `;
      const fill = async (root: string) => {
        const ids = owner === undefined ? { uid: 0, gid: 0 } : await ownerIn(root, owner, line);
        const plain = sources.filter((source) => !archives.has(source));
        if (plain.length > 0) await copyInto(root, tree, plain, destination, { owner: ids, mode });
        for (const archive of archives) {
          await extractArchiveInto(
            root,
            archive,
            destination,
            owner === undefined ? undefined : ids,
          );
        }
      };
      if (!state.imageId) return await this.#scratchLayer(state, createdBy, fill);
      const record = await this.#container(state.imageId, ["true"]);
      try {
        await withContainerRoot(this.#containers, record, fill);
        return await commitRecord(this.#store, record, { config: state.config, createdBy });
      } finally {
        await this.#discard(record.id);
      }
    };
    if (flags.from !== undefined) {
      // Another stage's or image's files: its ID is its content, so the key needs no digest,
      // and its tree is mounted (read-only, over its layers) only when the step is made.
      const from = processWords(flags.from, state.variables, this.#escape, false)[0] ?? "";
      const stage = stages.find((other) => other.name === from.toLowerCase());
      const index = /^\d+$/.test(from) ? stages[Number(from)] : undefined;
      const fromId = stage?.imageId ?? index?.imageId ?? await this.#image(from, line);
      const key = this.#key(state, [keyword, "from", fromId, names, destination, flags]);
      await this.#through(state, key, async () => {
        const source = await this.#container(fromId, ["true"]);
        try {
          return await withImageTree(
            source.spec.directory,
            source.spec.lowerCount,
            (tree) => make(new SourceTree(tree)),
          );
        } finally {
          await this.#discard(source.id, false);
        }
      });
      return;
    }
    const tree = this.#context;
    if (!tree) {
      fail(line, `${keyword} needs a build context (the Dockerfile came alone, from stdin)`);
    }
    const sources: Source[] = [];
    for (const name of names) sources.push(...await tree.resolve(name, what));
    const key = this.#key(state, [keyword, await tree.digest(sources), destination, flags]);
    await this.#through(state, key, () => make(tree));
  }
}

/** `--chown USER[:GROUP]` as numbers, names looked up in the root's `/etc/passwd` and `/etc/group`. */
async function ownerIn(
  root: string,
  text: string,
  line: number,
): Promise<{ uid: number; gid: number }> {
  const [user, group] = text.split(":");
  const lookUp = async (file: string, name: string): Promise<string[] | undefined> => {
    const path = secureJoin(root, file);
    const info = await lstatIfExists(path);
    if (!info?.isFile || info.size > 1 << 20) return undefined;
    return (await Deno.readTextFile(path)).split("\n").map((entry) => entry.split(":"))
      .find((fields) => fields[0] === name);
  };
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
  } else {
    const entry = await lookUp("/etc/passwd", user);
    if (!entry) fail(line, `unable to find user ${user}: no matching entries in passwd file`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (group !== undefined) {
    if (/^\d+$/.test(group)) {
      gid = Number(group);
    } else {
      const entry = await lookUp("/etc/group", group);
      if (!entry) fail(line, `unable to find group ${group}: no matching entries in group file`);
      gid = Number(entry[2]);
    }
  }
  return { uid, gid: gid ?? uid };
}

/** The sources that are local tar archives (plain, gzip, zstd), which ADD extracts. */
async function archivesOf(sources: Source[]): Promise<Set<Source>> {
  const found = new Set<Source>();
  for (const source of sources) {
    if (!source.info.isFile || source.info.size < 4) continue;
    const file = await Deno.open(source.path);
    const head = new Uint8Array(262);
    const read = await file.read(head).catch(() => null) ?? 0;
    file.close();
    if (archiveType(head.subarray(0, read))) found.add(source);
  }
  return found;
}

function archiveType(head: Uint8Array): string | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return "application/vnd.oci.image.layer.v1.tar+gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    return "application/vnd.oci.image.layer.v1.tar+zstd";
  }
  if (new TextDecoder().decode(head.subarray(257, 262)) === "ustar") {
    return "application/vnd.oci.image.layer.v1.tar";
  }
  return undefined;
}

/**
 * ADD of a local archive: extracted (with the layer extractor's checks:
 * nothing outside its directory) into a scratch directory, then copied
 * into the destination directory with the archive's owners (or `owner`).
 */
async function extractArchiveInto(
  root: string,
  archive: Source,
  destination: string,
  owner: { uid: number; gid: number } | undefined,
): Promise<void> {
  const { extractLayer } = await import("../layer/extract.ts");
  const { decompressLayer } = await import("../archive/compression.ts");
  const head = new Uint8Array(262);
  const probe = await Deno.open(archive.path);
  const read = await probe.read(head) ?? 0;
  probe.close();
  const type = archiveType(head.subarray(0, read))!;
  const scratch = await Deno.makeTempDir({ prefix: "denocker-add-" });
  try {
    const input = (await Deno.open(archive.path)).readable.pipeThrough(decompressLayer(type));
    await extractLayer(input, scratch, { preserveOwnership: Deno.uid() === 0 });
    const tree = new SourceTree(scratch);
    const info = await Deno.lstat(scratch);
    const target = destination.endsWith("/") ? destination : `${destination}/`;
    await copyInto(root, tree, [{ relative: "", path: scratch, info }], target, { owner });
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}
