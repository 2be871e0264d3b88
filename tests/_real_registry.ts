/**
 * The real distribution registry (Debian's docker-registry) and images built
 * with umoci and pushed with skopeo, for integration tests.
 */

import { join } from "node:path";

const IN_CI = Deno.env.get("CI") === "true";

function toolExists(tool: string): boolean {
  if (tool.startsWith("/")) {
    try {
      return Deno.statSync(tool).isFile;
    } catch {
      return false;
    }
  }
  const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  return path.split(":").some((dir) => {
    try {
      return Deno.statSync(join(dir, tool)).isFile;
    } catch {
      return false;
    }
  });
}

/**
 * Registers a test that needs external tools (and, with `root`, to run as
 * root, as a daemon such as dockerd does). In CI a missing tool or root
 * fails the test; elsewhere the test is ignored and the reason printed.
 */
export function integrationTest(
  name: string,
  tools: string[],
  fn: (t: Deno.TestContext) => Promise<void>,
  needs: { root?: boolean } = {},
): void {
  const missing = tools.filter((tool) => !toolExists(tool));
  const reasons = [
    ...(missing.length > 0 ? [`${missing.join(", ")} not installed`] : []),
    ...(needs.root && Deno.uid() !== 0 ? ["it needs root"] : []),
  ];
  if (reasons.length > 0 && !IN_CI) {
    // deno-lint-ignore no-console
    console.log(
      `ignoring "${name}": ${reasons.join(", and ")} (CI runs as root, every tool installed)`,
    );
    Deno.test({ name, ignore: true, fn: () => {} });
    return;
  }
  Deno.test({
    name,
    fn: async (t) => {
      if (reasons.length > 0) throw new Error(`${reasons.join(", and ")}, and CI needs them`);
      await fn(t);
    },
  });
}

/** Runs a command; throws with its stderr when it fails. */
export async function run(command: string, args: string[], options: { cwd?: string } = {}) {
  const output = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed (${output.code}): ${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  return stdout;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A running docker-registry; `await using` stops it at the end of the scope. */
export interface RealRegistry extends AsyncDisposable {
  host: string;
  /** The registry's process id (the benchmark reads what it sent from /proc). */
  pid: number;
  /** Stops it and removes its storage; a second call waits for the first. */
  close(): Promise<void>;
}

/** Starts docker-registry on a free loopback port with a temp storage dir. */
export async function startRegistry(
  options: {
    htpasswd?: { user: string; password: string };
    /** Run as a pull-through cache of this registry (`HOST:PORT`, plain HTTP). */
    proxyOf?: string;
  } = {},
): Promise<RealRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "denocker-registry-" });
  const port = freePort();
  let auth = "";
  if (options.htpasswd) {
    const line = await run("htpasswd", ["-Bbn", options.htpasswd.user, options.htpasswd.password]);
    await Deno.writeTextFile(join(dir, "htpasswd"), line.trim() + "\n");
    auth = `auth:\n  htpasswd:\n    realm: basic-realm\n    path: ${dir}/htpasswd\n`;
  }
  const proxy = options.proxyOf ? `proxy:\n  remoteurl: http://${options.proxyOf}\n` : "";
  await Deno.writeTextFile(
    join(dir, "config.yml"),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/storage\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}${proxy}`,
  );
  const child = new Deno.Command("docker-registry", {
    args: ["serve", join(dir, "config.yml")],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const host = `127.0.0.1:${port}`;
  for (let attempt = 0;; attempt++) {
    try {
      const response = await fetch(`http://${host}/v2/`);
      await response.body?.cancel();
      break;
    } catch (error) {
      if (attempt > 100) {
        child.kill();
        throw new Error(`docker-registry did not start: ${error}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  // Once: a test may stop the registry itself before the end of its scope.
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true });
    })();
  return { host, pid: child.pid, close, [Symbol.asyncDispose]: close };
}

/**
 * An OCI layout in a temp dir, built with umoci and pushed with skopeo;
 * `await using` removes it at the end of the scope.
 */
export class OciLayout implements AsyncDisposable {
  readonly dir: string;
  readonly layout: string;

  private constructor(dir: string) {
    this.dir = dir;
    this.layout = join(dir, "oci");
  }

  static async create(): Promise<OciLayout> {
    const dir = await Deno.makeTempDir({ prefix: "denocker-oci-" });
    const layout = new OciLayout(dir);
    await run("umoci", ["init", "--layout", layout.layout]);
    return layout;
  }

  /** Makes a tar of a directory (numeric owners, entries as `./…`). */
  async tarOf(directory: string, name: string): Promise<string> {
    const path = join(this.dir, `${name}.tar`);
    await run("tar", ["--numeric-owner", "--xattrs", "-C", directory, "-cf", path, "."]);
    return path;
  }

  /** Creates image `tag` from layer tars, lowest first. */
  async image(tag: string, layerTars: string[], options: { architecture?: string } = {}) {
    await run("umoci", ["new", "--image", `${this.layout}:${tag}`]);
    for (const tar of layerTars) {
      await run("umoci", ["raw", "add-layer", "--image", `${this.layout}:${tag}`, tar]);
    }
    const config = ["config", "--image", `${this.layout}:${tag}`, "--config.cmd", "/bin/sh"];
    if (options.architecture) config.push("--architecture", options.architecture, "--os", "linux");
    await run("umoci", config);
  }

  /** Adds tag `tag` naming an OCI index over existing tags with their platforms. */
  async index(tag: string, entries: { tag: string; architecture: string }[]) {
    const indexPath = join(this.layout, "index.json");
    const layoutIndex = JSON.parse(await Deno.readTextFile(indexPath));
    const byTag = new Map<string, Record<string, unknown>>(
      layoutIndex.manifests.map((
        entry: { annotations: Record<string, string> },
      ) => [entry.annotations["org.opencontainers.image.ref.name"], entry]),
    );
    const document = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: entries.map(({ tag, architecture }) => {
        const { annotations: _, ...descriptor } = byTag.get(tag)!;
        return { ...descriptor, platform: { os: "linux", architecture } };
      }),
    };
    await this.#addManifest(tag, document, document.mediaType);
  }

  /** Pushes a tag to a registry with skopeo. */
  async push(tag: string, destination: string, extra: string[] = []) {
    await run("skopeo", [
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      ...extra,
      `oci:${this.layout}:${tag}`,
      `docker://${destination}`,
    ]);
  }

  /** The manifest of a tag, as umoci wrote it. */
  async manifest(tag: string) {
    const layoutIndex = JSON.parse(await Deno.readTextFile(join(this.layout, "index.json")));
    const entry = layoutIndex.manifests.find((
      manifest: { annotations: Record<string, string> },
    ) => manifest.annotations["org.opencontainers.image.ref.name"] === tag);
    return JSON.parse(
      await Deno.readTextFile(join(this.layout, "blobs", "sha256", entry.digest.slice(7))),
    );
  }

  /**
   * Makes tag `newTag`: the image of `tag` with every layer recompressed
   * (`zstd` with the zstd tool, or `none` for plain tar). Config and diff_ids stay the same.
   */
  async recompress(tag: string, newTag: string, compression: "zstd" | "none") {
    const manifest = await this.manifest(tag);
    const blobs = join(this.layout, "blobs", "sha256");
    for (const layer of manifest.layers) {
      const tar = join(this.dir, `${layer.digest.slice(7)}.tar`);
      await run("sh", ["-c", `gzip -dc < "${join(blobs, layer.digest.slice(7))}" > "${tar}"`]);
      let blob = tar;
      if (compression === "zstd") {
        blob = `${tar}.zst`;
        await run("zstd", ["-q", "-f", tar, "-o", blob]);
      }
      const bytes = await Deno.readFile(blob);
      const hex = await sha256Hex(bytes);
      await Deno.writeFile(join(blobs, hex), bytes);
      layer.digest = `sha256:${hex}`;
      layer.size = bytes.byteLength;
      layer.mediaType = compression === "zstd"
        ? "application/vnd.oci.image.layer.v1.tar+zstd"
        : "application/vnd.oci.image.layer.v1.tar";
    }
    await this.#addManifest(newTag, manifest, "application/vnd.oci.image.manifest.v1+json");
  }

  async #addManifest(tag: string, document: unknown, mediaType: string) {
    const bytes = new TextEncoder().encode(JSON.stringify(document));
    const hex = await sha256Hex(bytes);
    await Deno.writeFile(join(this.layout, "blobs", "sha256", hex), bytes);
    const indexPath = join(this.layout, "index.json");
    const layoutIndex = JSON.parse(await Deno.readTextFile(indexPath));
    layoutIndex.manifests.push({
      mediaType,
      digest: `sha256:${hex}`,
      size: bytes.byteLength,
      annotations: { "org.opencontainers.image.ref.name": tag },
    });
    await Deno.writeTextFile(indexPath, JSON.stringify(layoutIndex));
  }

  /** Unpacks a tag with `umoci raw unpack`, the reference for a correct rootfs. */
  async umociUnpack(tag: string, directory: string) {
    // Not root, umoci cannot apply the layers' owners; --rootless leaves them, as we do then.
    const rootless = Deno.uid() === 0 ? [] : ["--rootless"];
    await run("umoci", [
      "raw",
      "unpack",
      ...rootless,
      "--image",
      `${this.layout}:${tag}`,
      directory,
    ]);
  }

  remove(): Promise<void> {
    return Deno.remove(this.dir, { recursive: true });
  }

  /** Removes the layout, ignoring errors as `tempDir()` does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.remove().catch(() => {});
  }
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)),
  )
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
