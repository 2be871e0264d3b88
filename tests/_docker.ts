/**
 * A real Docker daemon (Debian's docker.io) for interop tests: its own
 * socket, data root and exec root in a temp dir, no network setup, stopped
 * by its pid.
 */

import { join } from "node:path";
import { run } from "./_real_registry.ts";

/** The docker client that comes with the daemon. */
export const DOCKER_CLIENT = "/usr/bin/docker";

/** A running dockerd; `await using` stops it and removes its directories at the end of the scope. */
export interface DockerDaemon extends AsyncDisposable {
  /** Runs the docker client against this daemon; throws with its stderr when it fails. */
  docker(...args: string[]): Promise<string>;
  /** The daemon's socket (a path). */
  socket: string;
  /** Its data root (docker makes it 0710). */
  dataRoot: string;
  /** Stops the daemon and removes its directories. */
  close(): Promise<void>;
}

/**
 * Starts dockerd and waits until it answers: without networking, or with
 * `namespace` inside that network namespace (made by the test) with its
 * bridge, iptables rules and all, which stay there.
 */
export async function startDocker(options: { namespace?: string } = {}): Promise<DockerDaemon> {
  const dir = await Deno.makeTempDir({ prefix: "denocker-dockerd-" });
  // Passable by other users, so that the daemon's own modes are what keeps them out.
  await Deno.chmod(dir, 0o755);
  const socketPath = join(dir, "docker.sock");
  const socket = `unix://${socketPath}`;
  const log = await Deno.open(join(dir, "dockerd.log"), { write: true, create: true });
  const inNamespace = options.namespace
    ? ["nsenter", `--net=/run/netns/${options.namespace}`, "--", "dockerd"]
    : ["dockerd"];
  const daemon = new Deno.Command(inNamespace[0], {
    args: [
      ...inNamespace.slice(1),
      "-H",
      socket,
      "--data-root",
      join(dir, "data"),
      "--exec-root",
      join(dir, "exec"),
      "--pidfile",
      join(dir, "dockerd.pid"),
      ...(options.namespace ? [] : ["--iptables=false", "--ip6tables=false", "--bridge=none"]),
      "--storage-driver=overlay2",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logging = daemon.stderr.pipeTo(log.writable).catch(() => {});
  const docker = (...args: string[]) => run(DOCKER_CLIENT, ["-H", socket, ...args]);
  const close = async () => {
    try {
      daemon.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await daemon.status;
    await logging;
    // What the daemon left mounted (a container it did not get to remove) goes first.
    await new Deno.Command("sh", {
      args: [
        "-c",
        `grep -o " ${dir}[^ ]*" /proc/self/mounts | sort -r | xargs -r -n 1 umount -l`,
      ],
    }).output();
    await Deno.remove(dir, { recursive: true });
  };
  for (let attempt = 0;; attempt++) {
    try {
      await docker("version", "--format", "{{.Server.Version}}");
      return {
        docker,
        close,
        [Symbol.asyncDispose]: close,
        socket: socketPath,
        dataRoot: join(dir, "data"),
      };
    } catch (error) {
      if (attempt >= 120) {
        const text = await Deno.readTextFile(join(dir, "dockerd.log")).catch(() => "");
        await close();
        throw new Error(
          `dockerd did not start: ${error}\n${text.split("\n").slice(-10).join("\n")}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
