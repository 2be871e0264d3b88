// deno-lint-ignore-file no-console
/**
 * The denocker command line: parses flags, calls the library, prints.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { formatBytes, shortDigest, since, table, timeAgo, useColor } from "./cli/format.ts";
import { progressRenderer } from "./cli/progress.ts";
import { QuietExit, readArchive, writeArchive } from "./cli/files.ts";
import {
  checkStore,
  copyImage,
  defaultRoot,
  type DenockerConfig,
  exportImage,
  familiarReference,
  fetchManifest,
  insecureRegistriesOf,
  inspectImage,
  listContainers,
  listImages,
  listTags,
  loadImages,
  login,
  logout,
  parseInsecureRegistry,
  parsePlatform,
  parseReference,
  pruneImages,
  type PullEvent,
  pullImage,
  type PullResult,
  pushImage,
  readConfig,
  removeContainers,
  removeImages,
  saveImages,
  startContainer,
  startExec,
  stopContainer,
  storeRootWarning,
  tagImage,
  unpackImage,
  VERSION,
} from "./mod.ts";
import { InvalidInputError } from "./lib/errors.ts";
import { containerInit } from "./lib/runtime/init.ts";

/** A mistake in how the command was called: exit code 2, with a pointer to the help. */
class UsageError extends Error {
  /** The command whose help to point at, if any. */
  readonly command?: string;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

/** One option of a command, as parseArgs takes it plus what help shows. */
interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** The value's name in help, for string options. */
  value?: string;
  help: string;
}

/** What a command gets: its flags, positionals, the store root and an abort signal. */
interface Invocation {
  // deno-lint-ignore no-explicit-any
  values: Record<string, any>;
  positionals: string[];
  /** The store root, resolved only when the command needs it. */
  root(): string;
  /** denocker's config file, read and checked before the command runs. */
  config(): Promise<DenockerConfig>;
  signal: AbortSignal;
}

interface Command {
  usage: string;
  summary: string;
  options: Record<string, OptionSpec>;
  examples: string[];
  /** Checks the positionals; a message for the usage error when they are wrong. */
  arguments(positionals: string[]): string | undefined;
  /**
   * Options end at this positional: what follows it is passed on verbatim
   * (`run IMAGE COMMAND -x`, `exec CONTAINER COMMAND -x`).
   */
  optionsEndAfter?: number;
  /** The command handles SIGINT and SIGTERM itself (`run` passes them to the container). */
  ownsSignals?: boolean;
  /** Exit code of its own failures and usage errors (`run` and `exec`: 125, as docker). */
  failureCode?: number;
  run(invocation: Invocation): Promise<number>;
}

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  root: {
    type: "string",
    value: "DIR",
    help: "Store root (default: $DENOCKER_ROOT, else /var/lib/denocker as root, " +
      "else ~/.local/share/denocker)",
  },
  help: { type: "boolean", short: "h", help: "Show this help" },
};

/** `--insecure-registry`, as every command that reaches a registry takes it. */
const INSECURE_REGISTRY: OptionSpec = {
  type: "string",
  multiple: true,
  value: "HOST[:PORT]",
  help: "Use plain HTTP for this registry (repeatable)",
};

const encoder = new TextEncoder();
const writeError = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
const waitingFor = (event: { root: string }) =>
  console.error(`Waiting for another denocker command using ${event.root}…`);

const exactly = (count: number, what: string) => (positionals: string[]) =>
  positionals.length === count
    ? undefined
    : `requires exactly ${count} argument${count > 1 ? "s" : ""} (${what})`;
const atLeastOne = (positionals: string[]) =>
  positionals.length > 0 ? undefined : "requires at least 1 argument";
const none = (positionals: string[]) =>
  positionals.length === 0 ? undefined : `accepts no arguments, got "${positionals[0]}"`;

/**
 * The `--insecure-registry` entries, checked (a bad one is a usage error),
 * and the registries the config file marks `insecure`.
 */
async function insecure(
  { values, config }: Pick<Invocation, "values" | "config">,
  command: string,
): Promise<string[]> {
  let flags: string[];
  try {
    flags = (values["insecure-registry"] as string[] | undefined ?? []).map(parseInsecureRegistry);
  } catch (error) {
    throw new UsageError((error as Error).message, command);
  }
  return [...flags, ...insecureRegistriesOf((await config()).registries)];
}

function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new UsageError(`${flag} needs a whole number of at least 1, got "${text}"`, "pull");
  }
  return value;
}

/** `--memory` as docker reads it: bytes, or a number with b, k, m or g. */
function parseSize(text: string, command: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)([bkmg]?)b?$/i.exec(text.trim());
  if (!match) {
    throw new UsageError(
      `--memory needs a size such as 512m or 1g, got "${text}"`,
      command,
    );
  }
  const unit = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2].toLowerCase()]!;
  const bytes = Math.floor(Number(match[1]) * unit);
  if (bytes < 6 * 1024 * 1024) {
    throw new UsageError("--memory must be at least 6m (6 MiB), as in docker", command);
  }
  return bytes;
}

/**
 * Prints a pull as docker does, on stderr: `Using default tag:` when the
 * reference named none, the progress, then `Digest:` and `Status:`. Quiet keeps only warnings (a warning is never lost).
 */
function pullPrinter(quiet: boolean, defaultTag?: string) {
  const terminal = Deno.stderr.isTerminal();
  const renderer = progressRenderer({
    write: writeError,
    terminal,
    color: useColor(terminal, (name) => Deno.env.get(name)),
    columns: terminal ? Deno.consoleSize().columns : undefined,
  });
  return {
    onProgress: quiet
      ? (event: PullEvent) => event.type === "warning" && renderer.onEvent(event)
      : (event: PullEvent) => {
        // Said once the registry is asked, so a store that cannot be opened fails in one line.
        if (event.type === "pulling" && defaultTag) {
          writeError(
            `Using default tag: ${defaultTag}\n`,
          );
        }
        renderer.onEvent(event);
      },
    done(result: PullResult) {
      if (quiet) return;
      renderer.finish();
      const name = familiarReference(result.reference);
      console.error(`Digest: ${result.digest}`);
      console.error(
        result.cached
          ? `Status: Image is up to date for ${name}`
          : `Status: Downloaded newer image for ${name}`,
      );
    },
  };
}

/**
 * `--security-opt` values as docker takes them: `no-new-privileges` (or
 * `=true`/`:true`), `seccomp=unconfined`.
 */
function securityOptions(
  values: string[],
): { noNewPrivileges?: boolean; seccomp?: "default" | "unconfined" } {
  const result: { noNewPrivileges?: boolean; seccomp?: "default" | "unconfined" } = {};
  for (const value of values) {
    const match = /^no-new-privileges(?:[=:](true|false))?$/.exec(value);
    if (match) {
      result.noNewPrivileges = match[1] !== "false";
    } else if (value === "seccomp=unconfined" || value === "seccomp:unconfined") {
      result.seccomp = "unconfined";
    } else if (/^seccomp[=:]/.test(value)) {
      throw new UsageError(
        `--security-opt ${value}: only seccomp=unconfined is supported (the default is docker's profile)`,
        "run",
      );
    } else {
      throw new UsageError(
        `--security-opt takes no-new-privileges or seccomp=unconfined, got "${value}"`,
        "run",
      );
    }
  }
  return result;
}

/**
 * Starts what signals are to go to (a container, an exec'd command), passes
 * on the signals that arrive, those before it exists too (`beforeStart`
 * hears of them then), and waits for its exit status.
 */
async function whileForwardingSignals(
  start: () => Promise<{ kill(signal: Deno.Signal): void; exited: Promise<number> }>,
  beforeStart: () => void = () => {},
): Promise<number> {
  let started: { kill(signal: Deno.Signal): void } | undefined;
  const pending: Deno.Signal[] = [];
  const stop = forwardSignals({
    kill(signal) {
      if (started) return started.kill(signal);
      pending.push(signal);
      beforeStart();
    },
  });
  try {
    const process = await start();
    started = process;
    for (const signal of pending) process.kill(signal);
    return await process.exited;
  } finally {
    stop();
  }
}

/** Signals `run` and `exec` pass on; a second SIGINT or SIGTERM kills. */
function forwardSignals(target: { kill(signal: Deno.Signal): void }): () => void {
  const names = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;
  let interrupts = 0;
  const listeners = names.map((name) => {
    const listener = () => {
      if (name === "SIGINT" || name === "SIGTERM") interrupts++;
      target.kill(interrupts > 1 ? "SIGKILL" : name);
    };
    Deno.addSignalListener(name, listener);
    return [name, listener] as const;
  });
  return () => {
    for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
  };
}

const COMMANDS: Record<string, Command> = {
  pull: {
    usage: "pull [OPTIONS] IMAGE",
    summary: "Pull an image, verify it, extract its layers and record its tag",
    options: {
      platform: {
        type: "string",
        value: "OS/ARCH[/VARIANT]",
        help: "Platform to pull, e.g. linux/arm64 or arm64 (default: the host's)",
      },
      "insecure-registry": INSECURE_REGISTRY,
      "max-concurrent-downloads": {
        type: "string",
        value: "N",
        help: "Layers fetched at once (default 3)",
      },
      "stall-timeout": {
        type: "string",
        value: "SECONDS",
        help: "Resume a transfer that received no byte for this long (default 30)",
      },
      missing: { type: "boolean", help: "Use the stored image if there is one (no network)" },
      quiet: { type: "boolean", short: "q", help: "Print only the image ID" },
    },
    examples: [
      "denocker pull alpine:3.20",
      "denocker pull --platform linux/arm64 ghcr.io/org/app:v1",
    ],
    arguments: exactly(1, "IMAGE"),
    async run({ values, positionals, root, config, signal }) {
      let reference;
      let platform;
      try {
        reference = parseReference(positionals[0]);
        platform = values.platform === undefined ? undefined : parsePlatform(values.platform);
      } catch (error) {
        throw new UsageError((error as Error).message, "pull");
      }
      const insecureRegistries = await insecure({ values, config }, "pull");
      const stallTimeout = values["stall-timeout"] === undefined
        ? undefined
        : positiveInteger(values["stall-timeout"], "--stall-timeout") * 1000;
      const maxConcurrentDownloads = values["max-concurrent-downloads"] === undefined
        ? undefined
        : positiveInteger(values["max-concurrent-downloads"], "--max-concurrent-downloads");
      // docker's first line when the reference names neither tag nor digest.
      const defaultTag = /[:@]/.test(positionals[0].split("/").at(-1)!) ? undefined : reference.tag;
      const printer = pullPrinter(values.quiet ?? false, defaultTag);
      const result = await pullImage(reference, {
        root: root(),
        platform,
        missing: values.missing,
        maxConcurrentDownloads,
        stallTimeout,
        insecureRegistries,
        registries: (await config()).registries,
        signal,
        onProgress: printer.onProgress,
      });
      printer.done(result);
      console.log(result.imageId);
      return 0;
    },
  },
  images: {
    usage: "images [OPTIONS]",
    summary: "List stored images",
    options: {
      json: { type: "boolean", help: "Print a JSON array of every row" },
      quiet: { type: "boolean", short: "q", help: "Print only image IDs" },
      digests: { type: "boolean", help: "Show repository digests" },
    },
    examples: ["denocker images", "denocker images --digests"],
    arguments: none,
    async run({ values, root }) {
      const rows = await listImages({ root: root() });
      if (values.json) {
        // The rows have docker's names, as `docker images --format json` prints them.
        console.log(JSON.stringify(rows, null, 2));
      } else if (values.quiet) {
        const ids = [...new Set(rows.map((row) => shortDigest(row.ID)))];
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
          shortDigest(row.ID),
          timeAgo(row.Created),
          formatBytes(row.Size),
        ]);
        console.log(table([header, ...body]));
      }
      return 0;
    },
  },
  inspect: {
    usage: "inspect IMAGE|ID [IMAGE|ID...]",
    summary: "Show stored images as JSON, in docker's shape",
    options: {},
    examples: ["denocker inspect alpine:3.20", "denocker inspect 1d34ffeaf190"],
    arguments: atLeastOne,
    async run({ positionals, root }) {
      const storeRoot = root();
      const found = [];
      const failures = [];
      for (const name of positionals) {
        try {
          found.push(await inspectImage(name, { root: storeRoot }));
        } catch (error) {
          failures.push(error);
        }
      }
      // As docker does: what was found is printed, then an error for each name that was not.
      console.log(JSON.stringify(found, null, 2));
      for (const error of failures) console.error(`denocker: ${oneLine(error)}`);
      return failures.length > 0 ? 1 : 0;
    },
  },
  rmi: {
    usage: "rmi [OPTIONS] IMAGE|ID [IMAGE|ID...]",
    summary: "Remove tags; images left without one are deleted",
    options: {
      force: {
        type: "boolean",
        short: "f",
        help: "Remove an image by ID even when several repositories tag it, or a container uses it",
      },
    },
    examples: ["denocker rmi alpine:3.20", "denocker rmi --force 1d34ffeaf190"],
    arguments: atLeastOne,
    async run({ values, positionals, root }) {
      const storeRoot = root();
      const result = await removeImages(positionals, {
        root: storeRoot,
        force: values.force,
        onProgress: waitingFor,
      });
      for (const reference of result.untagged) console.log(`Untagged: ${reference}`);
      for (const id of result.deleted) console.log(`Deleted: ${id}`);
      return 0;
    },
  },
  prune: {
    usage: "prune",
    summary: "Delete layers, blobs, temp files and partial downloads no image uses",
    options: {},
    examples: ["denocker prune"],
    arguments: none,
    async run({ root }) {
      const storeRoot = root();
      const result = await pruneImages({ root: storeRoot, onProgress: waitingFor });
      for (const diffId of result.deletedLayers) console.log(`Deleted layer: ${diffId}`);
      for (const digest of result.deletedBlobs) console.log(`Deleted blob: ${digest}`);
      console.log(
        `Removed ${result.deletedLayers.length} layers, ${result.deletedBlobs.length} blobs, ${result.deletedTemp} temp entries`,
      );
      return 0;
    },
  },
  export: {
    usage: "export [-o FILE] IMAGE",
    summary: "Write an image's flattened root filesystem as one tar (stdout by default)",
    options: {
      output: { type: "string", short: "o", value: "FILE", help: "Write the tar to FILE" },
    },
    examples: [
      "denocker export -o alpine-rootfs.tar alpine:3.20",
      "denocker export alpine | tar -t",
    ],
    arguments: exactly(1, "IMAGE"),
    async run({ values, positionals, root, signal }) {
      const storeRoot = root();
      await writeArchive(
        values.output,
        "export",
        (output) =>
          exportImage(positionals[0], output, { root: storeRoot, signal, onProgress: waitingFor }),
      );
      return 0;
    },
  },
  save: {
    usage: "save [-o FILE] [--format docker|oci] IMAGE...",
    summary: "Write stored images as a tar that docker load, skopeo and umoci read",
    options: {
      output: { type: "string", short: "o", value: "FILE", help: "Write the tar to FILE" },
      format: {
        type: "string",
        value: "docker|oci",
        help: "docker-archive (default) or an OCI image layout",
      },
    },
    examples: [
      "denocker save -o alpine.tar alpine:3.20",
      "denocker save --format oci alpine > a.tar",
    ],
    arguments: atLeastOne,
    async run({ values, positionals, root, signal }) {
      const format = values.format ?? "docker";
      if (format !== "docker" && format !== "oci") {
        throw new UsageError(`--format is docker or oci, got "${format}"`, "save");
      }
      await writeArchive(
        values.output,
        "save",
        (output) => saveImages(positionals, output, { root: root(), format, signal }),
      );
      return 0;
    },
  },
  load: {
    usage: "load [-i FILE]",
    summary: "Load images from a docker-archive or OCI archive (stdin by default)",
    options: {
      input: { type: "string", short: "i", value: "FILE", help: "Read the archive from FILE" },
    },
    examples: ["denocker load -i alpine.tar", "docker save alpine | denocker load"],
    arguments: none,
    async run({ values, root, signal }) {
      const { stream, source } = await readArchive(values.input, "load");
      const loaded = await loadImages(stream, { root: root(), signal, source });
      for (const image of loaded) {
        for (const tag of image.tags) console.log(`Loaded image: ${tag}`);
        if (image.tags.length === 0) console.log(`Loaded image ID: ${image.imageId}`);
      }
      return 0;
    },
  },
  login: {
    usage: "login -u USER (-p PASSWORD | --password-stdin) REGISTRY",
    summary: "Check credentials against a registry and save them in docker's config.json",
    options: {
      username: { type: "string", short: "u", value: "USER", help: "The user" },
      password: { type: "string", short: "p", value: "PASSWORD", help: "The password" },
      "password-stdin": { type: "boolean", help: "Read the password from stdin" },
      "insecure-registry": INSECURE_REGISTRY,
    },
    examples: ['echo "$TOKEN" | denocker login -u ci --password-stdin registry.lan:5000'],
    arguments: exactly(1, "REGISTRY"),
    async run({ values, positionals, config, signal }) {
      if (!values.username) throw new UsageError("login needs -u USER", "login");
      const password = values["password-stdin"]
        ? (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "")
        : values.password;
      if (!password) throw new UsageError("login needs -p PASSWORD or --password-stdin", "login");
      await login(positionals[0], { username: values.username, password }, {
        insecureRegistries: await insecure({ values, config }, "login"),
        signal,
      });
      console.log("Login Succeeded");
      return 0;
    },
  },
  logout: {
    usage: "logout REGISTRY",
    summary: "Remove a registry's credentials from docker's config.json",
    options: {},
    examples: ["denocker logout registry.lan:5000"],
    arguments: exactly(1, "REGISTRY"),
    async run({ positionals }) {
      const removed = await logout(positionals[0]);
      console.log(
        removed
          ? `Removing login credentials for ${positionals[0]}`
          : `Not logged in to ${positionals[0]}`,
      );
      return 0;
    },
  },
  copy: {
    usage: "copy [OPTIONS] SOURCE DESTINATION",
    summary: "Copy an image registry to registry (every platform), without the store",
    options: { "insecure-registry": INSECURE_REGISTRY },
    examples: ["denocker copy registry.lan:5000/team/app:1 mirror.lan:5000/team/app:1"],
    arguments: exactly(2, "SOURCE and DESTINATION"),
    async run({ values, positionals, config, signal }) {
      const result = await copyImage(positionals[0], positionals[1], {
        insecureRegistries: await insecure({ values, config }, "copy"),
        signal,
      });
      const { uploaded, mounted, present } = result.blobs;
      console.error(
        `${result.manifests} manifest(s); blobs: ${uploaded} copied, ${mounted} mounted, ${present} already there`,
      );
      console.log(result.digest);
      return 0;
    },
  },
  push: {
    usage: "push [OPTIONS] IMAGE",
    summary: "Upload a stored image to its registry, blobs as stored",
    options: {
      "insecure-registry": INSECURE_REGISTRY,
    },
    examples: ["denocker push registry.lan:5000/team/app:1.0"],
    arguments: exactly(1, "IMAGE"),
    async run({ values, positionals, root, config, signal }) {
      const result = await pushImage(positionals[0], {
        root: root(),
        insecureRegistries: await insecure({ values, config }, "push"),
        signal,
        onProgress: (event) => {
          if (event.type === "pushing") {
            return console.error(`The push refers to repository [${event.repository}]`);
          }
          // docker lists layers only; the config goes up unlisted.
          if (event.kind === "config") return;
          const how = event.how === "present"
            ? "Layer already exists"
            : event.how === "mounted"
            ? `Mounted from ${event.from}`
            : "Pushed";
          console.error(`${shortDigest(event.digest)}: ${how}`);
        },
      });
      console.log(`${result.tag}: digest: ${result.digest} size: ${result.size}`);
      return 0;
    },
  },
  tag: {
    usage: "tag SOURCE TARGET",
    summary: "Give a stored image another name (TARGET's tag is latest by default)",
    options: {},
    examples: ["denocker tag alpine:3.20 registry.lan:5000/base/alpine:3.20"],
    arguments: exactly(2, "SOURCE and TARGET"),
    async run({ positionals, root }) {
      try {
        await tagImage(positionals[0], positionals[1], { root: root() });
      } catch (error) {
        if (error instanceof InvalidInputError && /Cannot (parse|tag as)/.test(error.message)) {
          throw new UsageError(error.message, "tag");
        }
        throw error;
      }
      return 0;
    },
  },
  tags: {
    usage: "tags [OPTIONS] REPOSITORY",
    summary: "List a repository's tags in its registry, one a line",
    options: {
      "insecure-registry": INSECURE_REGISTRY,
    },
    examples: ["denocker tags registry.lan:5000/team/app"],
    arguments: exactly(1, "REPOSITORY"),
    async run({ values, positionals, config, signal }) {
      const tags = await listTags(positionals[0], {
        insecureRegistries: await insecure({ values, config }, "tags"),
        signal,
      });
      if (tags.length > 0) console.log(tags.join("\n"));
      return 0;
    },
  },
  manifest: {
    usage: "manifest [OPTIONS] IMAGE",
    summary: "Print an image's manifest or index exactly as its registry serves it",
    options: {
      "insecure-registry": INSECURE_REGISTRY,
    },
    examples: ["denocker manifest alpine:3.20"],
    arguments: exactly(1, "IMAGE"),
    async run({ values, positionals, config, signal }) {
      const { bytes } = await fetchManifest(positionals[0], {
        insecureRegistries: await insecure({ values, config }, "manifest"),
        signal,
      });
      await Deno.stdout.write(bytes);
      return 0;
    },
  },
  check: {
    usage: "check [--repair]",
    summary: "Check the store; --repair removes what is broken so a pull restores it",
    options: {
      repair: {
        type: "boolean",
        help: "Remove what is broken (images that lost a part are un-recorded)",
      },
    },
    examples: ["denocker check", "denocker check --repair"],
    arguments: none,
    async run({ values, root }) {
      const storeRoot = root();
      const problems = await checkStore({
        root: storeRoot,
        repair: values.repair,
        onProgress: waitingFor,
      });
      for (const problem of problems) {
        console.log(`${problem.repaired ? "repaired: " : ""}${problem.message}`);
      }
      if (problems.length === 0) console.log(`${storeRoot}: no problem found`);
      return problems.some((problem) => !problem.repaired) ? 1 : 0;
    },
  },
  run: {
    usage: "run [OPTIONS] IMAGE [COMMAND [ARG...]]",
    summary: "Run a command in a new container (pulls the image when it is not stored)",
    options: {
      rm: { type: "boolean", help: "Remove the container when it ends" },
      name: { type: "string", value: "NAME", help: "The container's name" },
      hostname: {
        type: "string",
        value: "NAME",
        help: "Hostname inside (default: the ID's start)",
      },
      env: {
        type: "string",
        short: "e",
        multiple: true,
        value: "KEY=VALUE",
        help: "Set a variable (KEY alone: this shell's value); repeatable",
      },
      workdir: { type: "string", short: "w", value: "DIR", help: "Working directory inside" },
      user: { type: "string", short: "u", value: "UID[:GID]", help: "User (or name[:group])" },
      memory: { type: "string", short: "m", value: "SIZE", help: "Memory limit, e.g. 256m" },
      cpus: { type: "string", value: "N", help: "CPU quota in CPUs, e.g. 0.5" },
      "pids-limit": { type: "string", value: "N", help: "Most processes and threads" },
      network: {
        type: "string",
        value: "none|host",
        help: "none (default): only lo; host: the host's network",
      },
      "read-only": { type: "boolean", help: "Mount the root file system read-only" },
      rootfs: {
        type: "string",
        value: "overlay|copy",
        help: "The root: an overlay over the stored layers (default), or a copy of the image",
      },
      "cap-add": {
        type: "string",
        multiple: true,
        value: "CAP",
        help: "Add a capability to docker's default set (ALL: every one); repeatable",
      },
      "cap-drop": {
        type: "string",
        multiple: true,
        value: "CAP",
        help: "Drop a capability (ALL: every one); repeatable",
      },
      privileged: {
        type: "boolean",
        help: "Every capability, no seccomp filter, no device rules, no masked paths",
      },
      "security-opt": {
        type: "string",
        multiple: true,
        value: "OPT",
        help: "no-new-privileges, or seccomp=unconfined; repeatable",
      },
      runtime: {
        type: "string",
        value: "runc|crun|PATH",
        help: "Run through this OCI runtime instead of denocker's own init",
      },
      "insecure-registry": INSECURE_REGISTRY,
    },
    examples: [
      "denocker run --rm busybox echo hello",
      "denocker run --rm -e NAME=x -w /tmp --memory 64m --pids-limit 100 alpine:3.20 sh -c 'echo $NAME'",
      "denocker run --rm --cap-drop ALL --security-opt no-new-privileges -u 1000 busybox id",
      "denocker run --rm --runtime runc busybox echo hello",
    ],
    arguments: (positionals) => positionals.length > 0 ? undefined : "requires at least 1 argument",
    optionsEndAfter: 1,
    ownsSignals: true,
    failureCode: 125,
    async run({ values, positionals, root, config }) {
      const network = values.network ?? "none";
      if (network !== "none" && network !== "host") {
        throw new UsageError(`--network takes none or host, got "${network}"`, "run");
      }
      if (values.rootfs !== undefined && values.rootfs !== "overlay" && values.rootfs !== "copy") {
        throw new UsageError(`--rootfs takes overlay or copy, got "${values.rootfs}"`, "run");
      }
      const cpus = values.cpus === undefined ? undefined : Number(values.cpus);
      if (cpus !== undefined && !(cpus > 0)) {
        throw new UsageError(`--cpus needs a number above 0, got "${values.cpus}"`, "run");
      }
      const security = securityOptions(values["security-opt"] ?? []);
      const insecureRegistries = await insecure({ values, config }, "run");
      const registries = (await config()).registries;
      // Before the container is known a signal stops the pull (and is passed on once it is).
      const abort = new AbortController();
      const printer = pullPrinter(false);
      return await whileForwardingSignals(
        () =>
          startContainer(positionals[0], positionals.slice(1), {
            root: root(),
            name: values.name,
            hostname: values.hostname,
            env: values.env,
            workdir: values.workdir,
            user: values.user,
            memory: values.memory === undefined ? undefined : parseSize(values.memory, "run"),
            cpus,
            pidsLimit: values["pids-limit"] === undefined
              ? undefined
              : positiveInteger(values["pids-limit"], "--pids-limit"),
            network,
            readOnly: values["read-only"],
            rootfs: values.rootfs,
            capAdd: values["cap-add"],
            capDrop: values["cap-drop"],
            privileged: values.privileged,
            noNewPrivileges: security.noNewPrivileges,
            seccomp: security.seccomp,
            runtime: values.runtime,
            onWarning: (message) => console.error(`warning: ${message}`),
            remove: values.rm,
            onPull: (image) => console.error(`Unable to find image '${image}' locally`),
            onPulled: printer.done,
            pull: {
              insecureRegistries,
              registries,
              signal: abort.signal,
              onProgress: printer.onProgress,
            },
          }),
        () => abort.abort(new Error("interrupted")),
      );
    },
  },
  ps: {
    usage: "ps [OPTIONS]",
    summary: "List running containers (-a: every container)",
    options: {
      all: { type: "boolean", short: "a", help: "Show exited containers too" },
      quiet: { type: "boolean", short: "q", help: "Print only container IDs" },
    },
    examples: ["denocker ps", "denocker ps -a -q"],
    arguments: none,
    async run({ values, root }) {
      const rows = await listContainers({ root: root(), all: values.all });
      if (values.quiet) {
        for (const row of rows) console.log(row.id.slice(0, 12));
        return 0;
      }
      const quote = (command: string[]) => {
        const text = command.join(" ");
        return `"${text.length > 20 ? `${text.slice(0, 19)}…` : text}"`;
      };
      const status = (row: (typeof rows)[number]) =>
        row.state === "running"
          ? `Up ${since(row.started)}`
          : row.state === "created"
          ? "Created"
          : `Exited (${row.exitCode}) ${since(row.finished)} ago`;
      console.log(table([
        ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"],
        ...rows.map((row) => [
          row.id.slice(0, 12),
          row.image,
          quote(row.command),
          `${since(row.created)} ago`,
          status(row),
          row.name,
        ]),
      ]));
      return 0;
    },
  },
  rm: {
    usage: "rm [OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Remove containers",
    options: {
      force: { type: "boolean", short: "f", help: "Kill and remove a running container" },
    },
    examples: ["denocker rm brave_turing_1a2b", "denocker rm -f 4f2c1d9e8a7b"],
    arguments: atLeastOne,
    async run({ values, positionals, root }) {
      await removeContainers(positionals, { root: root(), force: values.force });
      for (const name of positionals) console.log(name);
      return 0;
    },
  },
  stop: {
    usage: "stop [OPTIONS] CONTAINER",
    summary: "Stop a running container: SIGTERM, then SIGKILL after the grace period",
    options: {
      time: { type: "string", short: "t", value: "SECONDS", help: "Grace period (default 10)" },
    },
    examples: ["denocker stop web", "denocker stop -t 2 web"],
    arguments: exactly(1, "CONTAINER"),
    async run({ values, positionals, root }) {
      const time = values.time === undefined ? undefined : Number(values.time);
      if (time !== undefined && !(time >= 0)) {
        throw new UsageError(`--time needs a number of seconds, got "${values.time}"`, "stop");
      }
      await stopContainer(positionals[0], { root: root(), timeout: time });
      console.log(positionals[0]);
      return 0;
    },
  },
  exec: {
    usage: "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
    summary: "Run a command in a running container",
    options: {
      env: {
        type: "string",
        short: "e",
        multiple: true,
        value: "KEY=VALUE",
        help: "Set a variable; repeatable",
      },
      workdir: { type: "string", short: "w", value: "DIR", help: "Working directory inside" },
      user: { type: "string", short: "u", value: "UID[:GID]", help: "User (or name[:group])" },
    },
    examples: ["denocker exec web ps", "denocker exec -w /tmp web sh -c 'ls'"],
    arguments: (positionals) =>
      positionals.length >= 2 ? undefined : "requires at least 2 arguments (CONTAINER and COMMAND)",
    optionsEndAfter: 1,
    ownsSignals: true,
    failureCode: 125,
    run({ values, positionals, root }) {
      // Signals are passed on to the command, which has a session of its own.
      return whileForwardingSignals(() =>
        startExec(positionals[0], positionals.slice(1), {
          root: root(),
          env: values.env,
          workdir: values.workdir,
          user: values.user,
        })
      );
    },
  },
  unpack: {
    usage: "unpack IMAGE|ID DIR",
    summary: "Write an image's flattened root filesystem to DIR (new, or empty)",
    options: {},
    examples: ["denocker unpack alpine:3.20 ./alpine-rootfs"],
    arguments: (positionals) =>
      positionals.length !== 2
        ? "requires exactly 2 arguments (IMAGE and DIR)"
        : positionals[1] === ""
        ? "needs a DIR, got an empty string"
        : undefined,
    async run({ positionals, root, signal }) {
      const storeRoot = root();
      const id = await unpackImage(positionals[0], positionals[1], {
        root: storeRoot,
        signal,
        onProgress: (event) => event.type === "waiting-for-lock" && waitingFor(event),
      });
      console.log(id);
      return 0;
    },
  },
};

function optionLines(options: Record<string, OptionSpec>): string {
  const entries = Object.entries(options).map(([name, spec]) => [
    `${spec.short ? `-${spec.short}, ` : "    "}--${name}${spec.value ? ` ${spec.value}` : ""}`,
    spec.help,
  ]);
  const width = Math.max(...entries.map(([flags]) => flags.length));
  return entries.map(([flags, help]) => `  ${flags.padEnd(width)}   ${help}`).join("\n");
}

function commandHelp(name: string): string {
  const command = COMMANDS[name];
  return `Usage:  denocker ${command.usage}

${command.summary}

Options:
${optionLines({ ...command.options, ...GLOBAL_OPTIONS })}

Example${command.examples.length > 1 ? "s" : ""}:
${command.examples.map((example) => `  ${example}`).join("\n")}
`;
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  return `Usage:  denocker [--root DIR] COMMAND [OPTIONS]

A container-image tool: pulls images from OCI/Docker registries into a verified local store.

Commands:
${
    Object.entries(COMMANDS).map(([name, command]) =>
      `  ${name.padEnd(width)}   ${command.summary}`
    ).join("\n")
  }

Global options:
${optionLines({ ...GLOBAL_OPTIONS, version: { type: "boolean", help: "Print the version" } })}

Run 'denocker COMMAND --help' for more information on a command.
`;
}

/** The first line of an error's message. */
function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}

/** parseArgs' errors in docker's words. */
function usageFromParseError(error: unknown, command: string | undefined): UsageError | undefined {
  const code = (error as { code?: string }).code ?? "";
  if (!code.startsWith("ERR_PARSE_ARGS")) return undefined;
  const message = (error as Error).message;
  const flag = /'(-[^ ']+)/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    return new UsageError(`unknown flag: ${flag}`, command);
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    return new UsageError(
      message.includes("argument missing")
        ? `flag needs an argument: ${flag}`
        : `flag takes no value: ${flag}`,
      command,
    );
  }
  return new UsageError(message, command);
}

function parseWith(
  args: string[],
  options: Record<string, OptionSpec>,
  command: string | undefined,
  strict = true,
) {
  const config: ParseArgsOptionsConfig = {};
  for (const [name, spec] of Object.entries(options)) {
    config[name] = {
      type: spec.type,
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple ? { multiple: true } : {}),
    };
  }
  try {
    return parseArgs({ args, options: config, allowPositionals: true, strict });
  } catch (error) {
    throw usageFromParseError(error, command) ?? error;
  }
}

/** Splits global options given before the command from the command and its arguments. */
function splitGlobal(args: string[]): { global: string[]; command?: string; rest: string[] } {
  let i = 0;
  while (i < args.length && args[i].startsWith("-")) {
    const arg = args[i];
    i += arg === "--root" ? 2 : 1;
  }
  return { global: args.slice(0, i), command: args[i], rest: args.slice(i + 1) };
}

/** Turns SIGINT and SIGTERM into an abort, so commands clean up; a second signal exits at once. */
function abortOnSignals(): { signal: AbortSignal; exitCode(): number | undefined; stop(): void } {
  const controller = new AbortController();
  let received: Deno.Signal | undefined;
  const listeners: [Deno.Signal, () => void][] = [];
  for (const name of ["SIGINT", "SIGTERM"] as const) {
    const listener = () => {
      if (received) Deno.exit(name === "SIGINT" ? 130 : 143);
      received = name;
      controller.abort(new Error("interrupted"));
    };
    try {
      Deno.addSignalListener(name, listener);
      listeners.push([name, listener]);
    } catch {
      // Not every platform has every signal (Windows has no SIGTERM).
    }
  }
  return {
    signal: controller.signal,
    exitCode: () => received === undefined ? undefined : received === "SIGINT" ? 130 : 143,
    stop: () => {
      for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
    },
  };
}

/**
 * Splits a command's arguments where its options end: after its
 * `count`-th positional (or `--`), the rest is passed on verbatim.
 */
function splitAtPositional(
  args: string[],
  options: Record<string, OptionSpec>,
  count: number,
): { own: string[]; rest: string[] } {
  const takesValue = (arg: string) => {
    if (arg.startsWith("--")) {
      return !arg.includes("=") && options[arg.slice(2)]?.type === "string";
    }
    const spec = Object.values(options).find((option) => option.short === arg[1]);
    return arg.length === 2 && spec?.type === "string";
  };
  let positionals = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") return { own: args.slice(0, i), rest: args.slice(i + 1) };
    if (arg.startsWith("-") && arg.length > 1) {
      if (takesValue(arg)) i++;
      continue;
    }
    if (++positionals === count) return { own: args.slice(0, i + 1), rest: args.slice(i + 1) };
  }
  return { own: args, rest: [] };
}

async function runCommand(name: string, args: string[], globalRoot: string | undefined) {
  const command = COMMANDS[name];
  const specs = { ...command.options, ...GLOBAL_OPTIONS };
  const split = command.optionsEndAfter === undefined
    ? { own: args, rest: [] }
    : splitAtPositional(args, specs, command.optionsEndAfter);
  const parsed = parseWith(split.own, specs, name);
  const values = parsed.values;
  const positionals = [...parsed.positionals, ...split.rest];
  if (values.help) {
    console.log(commandHelp(name));
    return 0;
  }
  const rootFlag = (values.root as string | undefined) ?? globalRoot;
  if (rootFlag === "") throw new UsageError("--root needs a directory, got an empty string", name);
  const problem = command.arguments(positionals);
  if (problem) throw new UsageError(`"${name}" ${problem}`, name);
  // Every command reads the config file, so a wrong one stops each of them, not only those
  // that reach a registry.
  const config = await readConfig();
  const signals = command.ownsSignals
    ? { signal: new AbortController().signal, exitCode: () => undefined, stop: () => {} }
    : abortOnSignals();
  let warned = false;
  const root = () => {
    const directory = rootFlag ?? defaultRoot();
    if (!warned) {
      warned = true;
      const warning = storeRootWarning(directory);
      if (warning) console.error(`warning: ${warning}`);
    }
    return directory;
  };
  try {
    return await command.run({
      values,
      positionals,
      root,
      config: () => Promise.resolve(config),
      signal: signals.signal,
    });
  } catch (error) {
    const interrupted = signals.exitCode();
    if (interrupted !== undefined) {
      console.error(`denocker: ${oneLine(signals.signal.reason)}`);
      return interrupted;
    }
    throw error;
  } finally {
    signals.stop();
  }
}

/**
 * Runs the command line.
 *
 * @param args Arguments after the program name.
 * @returns The exit code: 0 success, 1 failure, 2 usage error, 130/143 interrupted.
 */
export async function main(args: string[]): Promise<number> {
  let command: string | undefined;
  try {
    const split = splitGlobal(args);
    command = split.command === "help" ? split.rest[0] : split.command;
    const global = parseWith(
      split.global,
      { ...GLOBAL_OPTIONS, version: { type: "boolean", help: "" } },
      undefined,
    ).values;
    if (global.version) {
      console.log(`denocker version ${VERSION}`);
      return 0;
    }
    if (split.command === undefined || split.command === "help" && command === undefined) {
      (split.command === undefined && !global.help ? console.error : console.log)(mainHelp());
      return split.command === undefined && !global.help ? 2 : 0;
    }
    if (global.help && split.command !== "help") {
      console.log(COMMANDS[split.command] ? commandHelp(split.command) : mainHelp());
      return 0;
    }
    if (command === undefined || !Object.hasOwn(COMMANDS, command)) {
      console.error(`denocker: '${command}' is not a denocker command.\nSee 'denocker --help'.`);
      return 2;
    }
    if (split.command === "help") {
      console.log(commandHelp(command));
      return 0;
    }
    return await runCommand(command, split.rest, global.root as string | undefined);
  } catch (error) {
    // `run` and `exec` keep 1, 2, … for the container's command: their own failures are 125.
    const failureCode = command && Object.hasOwn(COMMANDS, command)
      ? COMMANDS[command].failureCode
      : undefined;
    if (error instanceof QuietExit) return error.code;
    if (error instanceof UsageError) {
      const help = error.command ? `denocker ${error.command} --help` : "denocker --help";
      console.error(`denocker: ${error.message}\nSee '${help}'.`);
      return failureCode ?? 2;
    }
    const color = useColor(Deno.stderr.isTerminal(), (name) => Deno.env.get(name));
    const prefix = color ? "\x1b[31mdenocker:\x1b[0m" : "denocker:";
    console.error(`${prefix} ${oneLine(error)}`);
    return failureCode ?? 1;
  }
}

if (import.meta.main) {
  // A compiled denocker starting a container's first process (see lib/runtime/init.ts).
  if (Deno.args[0] === "__container-init") Deno.exit(containerInit(Deno.args[1], Deno.args[2]));
  Deno.exit(await main(Deno.args));
}
