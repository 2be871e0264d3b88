// deno-lint-ignore-file no-console
/**
 * `denocker pull [OPTIONS] IMAGE`: pull an image, verify it, extract its
 * layers and record its tag.
 *
 * @module
 */

import {
  type Command,
  exactly,
  INSECURE_REGISTRY,
  positiveInteger,
  remoteOptions,
  UsageError,
} from "../command.ts";
import { pullPrinter } from "../pull_output.ts";
import { parsePlatform } from "../../lib/model/platform.ts";
import { parseReference } from "../../lib/model/reference.ts";
import { pullImage } from "../../lib/operations/pull.ts";

export const command: Command = {
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
    const remote = await remoteOptions({ values, config }, "pull");
    const stallTimeout = values["stall-timeout"] === undefined
      ? undefined
      : positiveInteger(values["stall-timeout"], "--stall-timeout", "pull") * 1000;
    const maxConcurrentDownloads = values["max-concurrent-downloads"] === undefined
      ? undefined
      : positiveInteger(values["max-concurrent-downloads"], "--max-concurrent-downloads", "pull");
    // docker's first line when the reference names neither tag nor digest.
    const defaultTag = /[:@]/.test(positionals[0].split("/").at(-1)!) ? undefined : reference.tag;
    const printer = pullPrinter(values.quiet ?? false, defaultTag);
    const result = await pullImage(reference, {
      root: root(),
      platform,
      missing: values.missing,
      maxConcurrentDownloads,
      stallTimeout,
      ...remote,
      signal,
      onProgress: printer.onProgress,
    });
    printer.done(result);
    console.log(result.imageId);
    return 0;
  },
};
