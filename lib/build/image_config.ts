/**
 * What a Dockerfile's metadata instructions do to an image's runtime
 * defaults (docker's `config`: `Env`, `Cmd`, `Entrypoint`, `WorkingDir`,
 * `User`, `ExposedPorts`, `Volumes`, `Labels`, `StopSignal`,
 * `Healthcheck`, `OnBuild`, `Shell`), for `build` and `commit --change`.
 *
 * @module
 */

import { InvalidInputError } from "../errors.ts";
import { type Instruction, keyValuePairs, processWords } from "./dockerfile.ts";

/** docker's `config` of an image, as far as instructions change it. */
export type RuntimeConfig = Record<string, unknown>;

/** The instructions {@link applyInstruction} takes. */
export const CONFIG_KEYWORDS = [
  "ENV",
  "LABEL",
  "WORKDIR",
  "USER",
  "SHELL",
  "CMD",
  "ENTRYPOINT",
  "EXPOSE",
  "VOLUME",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "ONBUILD",
];

/** The shell of shell-form commands: the image's `Shell`, else `/bin/sh -c`. */
export function shellOf(config: RuntimeConfig): string[] {
  return (config.Shell as string[] | undefined) ?? ["/bin/sh", "-c"];
}

/** A command in exec form, or the shell form run by the shell. */
export function commandOf(instruction: Instruction, config: RuntimeConfig): string[] {
  return instruction.json ?? [...shellOf(config), instruction.text];
}

/** The value of `KEY` in an `Env` list. */
export function envValue(env: string[], key: string): string | undefined {
  const entry = env.find((item) => item.slice(0, item.indexOf("=")) === key);
  return entry?.slice(entry.indexOf("=") + 1);
}

/** `Env` with `KEY=value` set (replacing an earlier one, in its place). */
export function setEnv(env: string[], key: string, value: string): string[] {
  const index = env.findIndex((item) => item.slice(0, item.indexOf("=")) === key);
  const entry = `${key}=${value}`;
  return index < 0 ? [...env, entry] : env.map((item, i) => (i === index ? entry : item));
}

/** An `Env` list as variables. */
export function envVariables(env: string[]): Record<string, string> {
  return Object.fromEntries(
    env.map((item) => [item.slice(0, item.indexOf("=")), item.slice(item.indexOf("=") + 1)]),
  );
}

/** An object with its keys in order, as docker (Go) writes a map. */
function sorted<T>(object: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.entries(object).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/** A path made absolute against the working directory, `.` and `..` resolved. */
export function resolvePath(path: string, cwd: string): string {
  const parts: string[] = [];
  for (const part of (path.startsWith("/") ? path : `${cwd}/${path}`).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

const NANOSECONDS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

function duration(text: string, line: number): number {
  let total = 0;
  let rest = text;
  while (rest !== "") {
    const match = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!match) {
      throw new InvalidInputError(`Dockerfile line ${line}: invalid duration "${text}"`);
    }
    total += Number(match[1]) * NANOSECONDS[match[2]];
    rest = rest.slice(match[0].length);
  }
  return Math.round(total);
}

/**
 * Applies a metadata instruction to a config.
 *
 * @param config The config, changed in place.
 * @param instruction The instruction (one of {@link CONFIG_KEYWORDS}).
 * @param variables ARG and ENV values for substitution.
 * @param escape The Dockerfile's escape character.
 */
export function applyInstruction(
  config: RuntimeConfig,
  instruction: Instruction,
  variables: Record<string, string>,
  escape = "\\",
): void {
  const words = () => processWords(instruction.text, variables, escape);
  const line = instruction.line;
  switch (instruction.keyword) {
    case "ENV": {
      let env = (config.Env as string[] | undefined) ?? [];
      for (const [key, value] of keyValuePairs(instruction, variables, escape)) {
        env = setEnv(env, key, value);
        variables[key] = value;
      }
      config.Env = env;
      return;
    }
    case "LABEL": {
      const labels = { ...((config.Labels as Record<string, string> | null) ?? {}) };
      for (const [key, value] of keyValuePairs(instruction, variables, escape)) {
        labels[key] = value;
      }
      config.Labels = sorted(labels);
      return;
    }
    case "WORKDIR": {
      const path = processWords(instruction.text, variables, escape, false)[0] ?? "";
      config.WorkingDir = resolvePath(path, (config.WorkingDir as string | undefined) || "/");
      return;
    }
    case "USER":
      config.User = processWords(instruction.text, variables, escape, false)[0] ?? "";
      return;
    case "SHELL":
      if (!instruction.json || instruction.json.length === 0) {
        throw new InvalidInputError(
          `Dockerfile line ${line}: SHELL requires the arguments to be in JSON form`,
        );
      }
      config.Shell = instruction.json;
      return;
    case "CMD":
      config.Cmd = commandOf(instruction, config);
      return;
    case "ENTRYPOINT":
      config.Entrypoint = commandOf(instruction, config);
      return;
    case "EXPOSE": {
      const ports = { ...((config.ExposedPorts as Record<string, object> | null) ?? {}) };
      for (const word of words()) {
        const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
        if (!match) throw new InvalidInputError(`Dockerfile line ${line}: invalid port "${word}"`);
        const first = Number(match[1]);
        const last = match[2] === undefined ? first : Number(match[2]);
        if (first < 1 || last > 65535 || last < first) {
          throw new InvalidInputError(`Dockerfile line ${line}: invalid port "${word}"`);
        }
        for (let port = first; port <= last; port++) {
          ports[`${port}/${(match[3] ?? "tcp").toLowerCase()}`] = {};
        }
      }
      config.ExposedPorts = sorted(ports);
      return;
    }
    case "VOLUME": {
      const volumes = { ...((config.Volumes as Record<string, object> | null) ?? {}) };
      for (const path of instruction.json ?? words()) {
        if (path.trim() === "") {
          throw new InvalidInputError(
            `Dockerfile line ${line}: VOLUME specified can not be an empty string`,
          );
        }
        volumes[path] = {};
      }
      config.Volumes = sorted(volumes);
      return;
    }
    case "STOPSIGNAL":
      config.StopSignal = processWords(instruction.text, variables, escape, false)[0];
      return;
    case "HEALTHCHECK": {
      const rest = instruction.text.trim();
      if (/^none$/i.test(rest)) {
        config.Healthcheck = { Test: ["NONE"] };
        return;
      }
      const match = /^CMD\s+([\s\S]+)$/i.exec(rest);
      if (!match) {
        throw new InvalidInputError(`Dockerfile line ${line}: HEALTHCHECK needs NONE or CMD`);
      }
      const json = match[1].startsWith("[") ? JSON.parse(match[1]) as string[] : undefined;
      const check: Record<string, unknown> = {
        Test: json ? ["CMD", ...json] : ["CMD-SHELL", match[1]],
      };
      const flags = instruction.flags;
      if (flags.interval) check.Interval = duration(flags.interval, line);
      if (flags.timeout) check.Timeout = duration(flags.timeout, line);
      if (flags["start-period"]) check.StartPeriod = duration(flags["start-period"], line);
      if (flags["start-interval"]) check.StartInterval = duration(flags["start-interval"], line);
      if (flags.retries) check.Retries = Number(flags.retries);
      config.Healthcheck = check;
      return;
    }
    case "ONBUILD": {
      const inner = /^(\S+)/.exec(instruction.text)?.[1].toUpperCase();
      if (inner === "ONBUILD" || inner === "FROM" || inner === "MAINTAINER") {
        throw new InvalidInputError(
          `Dockerfile line ${line}: ${inner} isn't allowed as an ONBUILD trigger`,
        );
      }
      config.OnBuild = [...((config.OnBuild as string[] | null) ?? []), instruction.text];
      return;
    }
  }
  throw new InvalidInputError(
    `Dockerfile line ${line}: ${instruction.keyword} does not change an image's config`,
  );
}
