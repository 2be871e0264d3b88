// deno-lint-ignore-file no-console
/**
 * `denocker volume create|ls|inspect|rm|prune`: named volumes, as docker's
 * local driver keeps them.
 *
 * @module
 */

import { type Command, none } from "../command.ts";
import { table } from "../format.ts";
import { labelOption } from "../options.ts";
import {
  createVolume,
  inspectVolumes,
  listVolumes,
  pruneVolumes,
  removeVolumes,
} from "../../lib/operations/volumes.ts";

const atLeastOne = (positionals: string[]) =>
  positionals.length > 0 ? undefined : "requires at least 1 argument";

/** `volume create [NAME]`. */
export const create: Command = {
  usage: "volume create [OPTIONS] [NAME]",
  summary: "Make a named volume (a random name when none is given)",
  options: {
    label: { type: "string", multiple: true, value: "KEY=VALUE", help: "A label; repeatable" },
  },
  examples: [
    "denocker volume create data",
    "denocker run -v data:/var/lib/db busybox ls /var/lib/db",
  ],
  arguments: (positionals) => positionals.length <= 1 ? undefined : "requires at most 1 argument",
  async run({ values, positionals, root }) {
    const labels = labelOption((values.label ?? []) as string[], "volume create");
    console.log((await createVolume(positionals[0], { root: root(), labels })).Name);
    return 0;
  },
};

/** `volume ls`. */
export const list: Command = {
  usage: "volume ls [OPTIONS]",
  summary: "List volumes",
  options: {
    quiet: { type: "boolean", short: "q", help: "Only names" },
    filter: { type: "string", multiple: true, value: "dangling=true", help: "Only unused ones" },
  },
  examples: ["denocker volume ls", "denocker volume ls -q --filter dangling=true"],
  arguments: none,
  async run({ values, root }) {
    const dangling = ((values.filter ?? []) as string[]).includes("dangling=true");
    const volumes = (await listVolumes({ root: root() }))
      .filter((volume) => !dangling || !volume.InUse);
    if (values.quiet) {
      for (const volume of volumes) console.log(volume.Name);
    } else {
      console.log(table([["DRIVER", "VOLUME NAME"], ...volumes.map((v) => [v.Driver, v.Name])]));
    }
    return 0;
  },
};

/** `volume inspect NAME...`. */
export const inspect: Command = {
  usage: "volume inspect NAME...",
  summary: "Print volumes' records as JSON, as docker does",
  options: {},
  examples: ["denocker volume inspect data"],
  arguments: atLeastOne,
  async run({ positionals, root }) {
    console.log(JSON.stringify(await inspectVolumes(positionals, { root: root() }), null, 4));
    return 0;
  },
};

/** `volume rm NAME...`. */
export const remove: Command = {
  usage: "volume rm NAME...",
  summary: "Remove volumes no container uses",
  options: {},
  examples: ["denocker volume rm data"],
  arguments: atLeastOne,
  async run({ positionals, root }) {
    for (const name of await removeVolumes(positionals, { root: root() })) console.log(name);
    return 0;
  },
};

/** `volume prune [-a] [-f]`. */
export const prune: Command = {
  usage: "volume prune [OPTIONS]",
  summary: "Remove unused anonymous volumes (-a: every unused volume)",
  options: {
    all: { type: "boolean", short: "a", help: "Named volumes too" },
    force: { type: "boolean", short: "f", help: "Do not ask for a confirmation (never asks)" },
  },
  examples: ["denocker volume prune -f"],
  arguments: none,
  async run({ values, root }) {
    const removed = await pruneVolumes({ root: root(), all: values.all as boolean | undefined });
    if (removed.length > 0) console.log(`Deleted Volumes:\n${removed.join("\n")}\n`);
    return 0;
  },
};
