// deno-lint-ignore-file no-console
/**
 * The denocker command line: parses flags, loads the command asked for,
 * calls the library, prints. Started by `cli.ts`.
 *
 * @module
 */

import { type Command, GLOBAL_OPTIONS, oneLine, type OptionSpec, UsageError } from "./command.ts";
import { parseCommandLine } from "./args.ts";
import { QuietExit } from "./files.ts";
import { useColor } from "./format.ts";
import { abortOnSignals } from "./signals.ts";
import { defaultRoot, storeRootWarning } from "../lib/store/root.ts";
import { readConfig } from "../lib/transport/config.ts";
import { VERSION } from "../lib/version.ts";

/**
 * Each command's module, loaded when it is the one asked for: a command
 * loads only the library code it uses (a container's start does not load
 * the pull's), which is most of a short command's time.
 */
const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  pull: () => import("./commands/pull.ts"),
  images: () => import("./commands/images.ts"),
  inspect: () => import("./commands/inspect.ts"),
  rmi: () => import("./commands/rmi.ts"),
  prune: () => import("./commands/prune.ts"),
  export: () => import("./commands/export.ts"),
  save: () => import("./commands/save.ts"),
  load: () => import("./commands/load.ts"),
  login: () => import("./commands/login.ts"),
  logout: () => import("./commands/logout.ts"),
  copy: () => import("./commands/copy.ts"),
  push: () => import("./commands/push.ts"),
  tag: () => import("./commands/tag.ts"),
  tags: () => import("./commands/tags.ts"),
  manifest: () => import("./commands/manifest.ts"),
  check: () => import("./commands/check.ts"),
  run: () => import("./commands/run.ts"),
  create: () => import("./commands/create.ts"),
  ps: () => import("./commands/ps.ts"),
  rm: () => import("./commands/rm.ts"),
  start: () => import("./commands/start.ts"),
  stop: () => import("./commands/stop.ts"),
  restart: () => import("./commands/restart.ts"),
  kill: () => import("./commands/kill.ts"),
  rename: () => import("./commands/rename.ts"),
  top: () => import("./commands/top.ts"),
  port: () => import("./commands/port.ts"),
  diff: () => import("./commands/diff.ts"),
  commit: () => import("./commands/commit.ts"),
  history: () => import("./commands/history.ts"),
  build: () => import("./commands/build.ts"),
  "network create": async () => ({ command: (await import("./commands/network.ts")).create }),
  "network ls": async () => ({ command: (await import("./commands/network.ts")).list }),
  "network inspect": async () => ({ command: (await import("./commands/network.ts")).inspect }),
  "network rm": async () => ({ command: (await import("./commands/network.ts")).remove }),
  "network connect": async () => ({
    command: (await import("./commands/network.ts")).connect,
  }),
  "network disconnect": async () => ({
    command: (await import("./commands/network.ts")).disconnect,
  }),
  "volume create": async () => ({ command: (await import("./commands/volume.ts")).create }),
  "volume ls": async () => ({ command: (await import("./commands/volume.ts")).list }),
  "volume inspect": async () => ({ command: (await import("./commands/volume.ts")).inspect }),
  "volume rm": async () => ({ command: (await import("./commands/volume.ts")).remove }),
  "volume prune": async () => ({ command: (await import("./commands/volume.ts")).prune }),
  attach: () => import("./commands/attach.ts"),
  cp: () => import("./commands/cp.ts"),
  logs: () => import("./commands/logs.ts"),
  wait: () => import("./commands/wait.ts"),
  exec: () => import("./commands/exec.ts"),
  unpack: () => import("./commands/unpack.ts"),
  "container prune": () => import("./commands/container_prune.ts"),
};

/**
 * docker's management forms: `image ls` is `images`, `container ls` is
 * `ps`, `container prune` removes ended containers, and so on.
 */
const ALIASES: Record<string, Record<string, string>> = {
  image: {
    ls: "images",
    list: "images",
    pull: "pull",
    push: "push",
    rm: "rmi",
    remove: "rmi",
    inspect: "inspect --type=image",
    save: "save",
    load: "load",
    tag: "tag",
    prune: "prune",
    history: "history",
    build: "build",
  },
  network: {
    create: "network create",
    ls: "network ls",
    list: "network ls",
    inspect: "network inspect",
    rm: "network rm",
    remove: "network rm",
    connect: "network connect",
    disconnect: "network disconnect",
  },
  volume: {
    create: "volume create",
    ls: "volume ls",
    list: "volume ls",
    inspect: "volume inspect",
    rm: "volume rm",
    remove: "volume rm",
    prune: "volume prune",
  },
  container: {
    ls: "ps",
    list: "ps",
    ps: "ps",
    run: "run",
    create: "create",
    start: "start",
    stop: "stop",
    restart: "restart",
    kill: "kill",
    rm: "rm",
    remove: "rm",
    logs: "logs",
    wait: "wait",
    exec: "exec",
    inspect: "inspect --type=container",
    rename: "rename",
    top: "top",
    port: "port",
    attach: "attach",
    cp: "cp",
    diff: "diff",
    commit: "commit",
    prune: "container prune",
  },
};

/** The command a management form (`image ls`, `container prune`) stands for. */
function resolveAlias(
  command: string | undefined,
  rest: string[],
): { command?: string; rest: string[] } {
  if (command === undefined || !Object.hasOwn(ALIASES, command)) return { command, rest };
  const table = ALIASES[command];
  const sub = rest[0];
  if (sub === undefined || !Object.hasOwn(table, sub)) {
    throw new UsageError(
      `"${command}" needs one of: ${Object.keys(table).join(", ")}${
        sub === undefined ? "" : ` (got "${sub}")`
      }`,
    );
  }
  const [name, ...fixed] = table[sub].split(" --");
  return { command: name, rest: [...fixed.map((option) => `--${option}`), ...rest.slice(1)] };
}

function optionLines(options: Record<string, OptionSpec>): string {
  const entries = Object.entries(options).map(([name, spec]) => [
    `${spec.short ? `-${spec.short}, ` : "    "}--${name}${spec.value ? ` ${spec.value}` : ""}`,
    spec.help,
  ]);
  const width = Math.max(...entries.map(([flags]) => flags.length));
  return entries.map(([flags, help]) => `  ${flags.padEnd(width)}   ${help}`).join("\n");
}

/** The command named `name` (one of {@link COMMANDS}' keys), loaded. */
async function loadCommand(name: string): Promise<Command> {
  return (await COMMANDS[name]()).command;
}

function commandHelp(command: Command): string {
  return `Usage:  denocker ${command.usage}

${command.summary}

Options:
${optionLines({ ...command.options, ...GLOBAL_OPTIONS })}

Example${command.examples.length > 1 ? "s" : ""}:
${command.examples.map((example) => `  ${example}`).join("\n")}
`;
}

async function mainHelp(): Promise<string> {
  const names = Object.keys(COMMANDS);
  const commands = await Promise.all(names.map(loadCommand));
  const width = Math.max(...names.map((name) => name.length));
  return `Usage:  denocker [--root DIR] COMMAND [OPTIONS]

A container-image tool: pulls images from OCI/Docker registries into a verified local store.

Commands:
${names.map((name, i) => `  ${name.padEnd(width)}   ${commands[i].summary}`).join("\n")}

docker's management forms work too: ${
    Object.entries(ALIASES).map(([name, table]) => `${name} ${Object.keys(table).join("|")}`)
      .join(", ")
  }.

Global options:
${optionLines({ ...GLOBAL_OPTIONS, version: { type: "boolean", help: "Print the version" } })}

Run 'denocker COMMAND --help' for more information on a command.
`;
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

async function runNamed(
  name: string,
  command: Command,
  args: string[],
  globalRoot: string | undefined,
) {
  const specs = { ...command.options, ...GLOBAL_OPTIONS };
  const split = command.optionsEndAfter === undefined
    ? { own: args, rest: [] }
    : splitAtPositional(args, specs, command.optionsEndAfter);
  const parsed = parseCommandLine(split.own, specs, name);
  const values = parsed.values;
  const positionals = [...parsed.positionals, ...split.rest];
  if (values.help) {
    console.log(commandHelp(command));
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
  let loaded: Command | undefined;
  try {
    const split = splitGlobal(args);
    Object.assign(split, resolveAlias(split.command, split.rest));
    command = split.command === "help" ? split.rest[0] : split.command;
    const global = parseCommandLine(
      split.global,
      { ...GLOBAL_OPTIONS, version: { type: "boolean", help: "" } },
      undefined,
    ).values;
    if (global.version) {
      console.log(`denocker version ${VERSION}`);
      return 0;
    }
    if (split.command === undefined || split.command === "help" && command === undefined) {
      (split.command === undefined && !global.help ? console.error : console.log)(
        await mainHelp(),
      );
      return split.command === undefined && !global.help ? 2 : 0;
    }
    if (global.help && split.command !== "help") {
      console.log(
        Object.hasOwn(COMMANDS, split.command)
          ? commandHelp(await loadCommand(split.command))
          : await mainHelp(),
      );
      return 0;
    }
    if (command === undefined || !Object.hasOwn(COMMANDS, command)) {
      console.error(`denocker: '${command}' is not a denocker command.\nSee 'denocker --help'.`);
      return 2;
    }
    loaded = await loadCommand(command);
    if (split.command === "help") {
      console.log(commandHelp(loaded));
      return 0;
    }
    return await runNamed(command, loaded, split.rest, global.root as string | undefined);
  } catch (error) {
    // `run` and `exec` keep 1, 2, … for the container's command: their own failures are 125.
    const failureCode = loaded?.failureCode;
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
