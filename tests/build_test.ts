/**
 * `build` against docker's classic builder (the dockerd the tests start,
 * `DOCKER_BUILDKIT=0`): the same Dockerfiles and context give images
 * whose unpacked trees are equal (times aside), whose configs, layer
 * counts and history lengths match, and docker runs what denocker built as
 * denocker does. Then what only denocker's side can show: the cache,
 * `--no-cache`, reproducible builds with `SOURCE_DATE_EPOCH`, and bad
 * Dockerfiles refused in one line.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { OciLayout, run, startRegistry } from "./_real_registry.ts";
import { busyboxImage, containerTest, loadImage, runAll } from "./_containers.ts";
import { DOCKER_CLIENT, startDocker } from "./_docker.ts";

/** Every instruction of one stage, over a context with a .dockerignore, an archive, a setuid file. */
const EVERYTHING = `# syntax=docker/dockerfile:1
ARG BASE=busybox:latest
FROM \${BASE} AS base
ARG V=1
ARG W
ENV A=$V B="x y" \\
    # a comment inside a continuation
    C=\${W:-dflt} D=\${V:+set}
LABEL l=1 "two words"="a b"
WORKDIR /app/sub
WORKDIR rel
COPY f.txt .
COPY dir /dir/
COPY --chown=1000:1000 f.txt /owned
COPY --chown=app f.txt /by-name
COPY *.log /logs/
COPY tool.sh link /tools/
ADD archive.tar.gz /unpacked/
ADD f.txt /added
RUN echo hi > /r && rm /bin/ls && rm -rf /home && mkdir /home && ln /r /hardlink && chmod 4755 /r
RUN rm -rf /dir/sub && mkdir /dir/sub && echo again > /dir/sub/new
RUN ["sh", "-c", "echo exec form $A > /exec"]
SHELL ["/bin/sh", "-c"]
USER 1000
EXPOSE 80 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s CMD true
ONBUILD RUN echo onbuild
ENTRYPOINT ["sh", "-c"]
CMD ["cat /app/sub/rel/f.txt /exec"]
`;

/** Two stages: a file made in one, copied into a stage FROM scratch. */
const STAGES = `FROM busybox:latest AS builder
RUN mkdir /out && echo built > /out/artifact
FROM busybox:latest AS unused
RUN false
FROM scratch
COPY --from=builder /out/artifact /artifact
COPY --from=builder /bin/busybox /bin/busybox
CMD ["/bin/busybox", "cat", "/artifact"]
`;

/** A tree as lines: path, type, mode, owner, size, link target or content digest; no times. */
async function treeLines(root: string): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (relative: string) => {
    const names = (await Array.fromAsync(Deno.readDir(join(root, relative))))
      .map((entry) => entry.name).sort();
    for (const name of names) {
      const path = relative ? `${relative}/${name}` : name;
      const info = await Deno.lstat(join(root, path));
      const mode = ((info.mode ?? 0) & 0o7777).toString(8);
      const owner = `${info.uid}:${info.gid}`;
      if (info.isDirectory) {
        lines.push(`${path}/ d ${mode} ${owner}`);
        await walk(path);
      } else if (info.isSymlink) {
        lines.push(`${path} l ${owner} -> ${await Deno.readLink(join(root, path))}`);
      } else {
        const bytes = await Deno.readFile(join(root, path));
        const digest = Array.from(
          new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
          (byte) => byte.toString(16).padStart(2, "0"),
        ).join("").slice(0, 16);
        lines.push(`${path} f ${mode} ${owner} ${info.size} ${digest} links=${info.nlink}`);
      }
    }
  };
  await walk("");
  return lines;
}

containerTest("build: images as docker's classic builder makes them", async (t) => {
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  const root = join(dir.path, "store");
  await busyboxImage(layout, "busybox");
  await loadImage(layout, "busybox", root, "busybox:latest");
  await using daemon = await startDocker();
  await daemon.docker("load", "-i", join(layout.dir, "busybox.tar"));
  const context = join(dir.path, "context");
  await Deno.mkdir(join(context, "dir", "sub"), { recursive: true });
  await Deno.mkdir(join(context, "tmp"));
  await Deno.writeTextFile(join(context, "f.txt"), "hello\n");
  await Deno.writeTextFile(join(context, "dir", "a"), "a\n");
  await Deno.writeTextFile(join(context, "dir", "sub", "b"), "b\n");
  await Deno.writeTextFile(join(context, "dir", "sub", "c"), "c\n");
  await Deno.writeTextFile(join(context, "tmp", "scratch"), "ignored\n");
  await Deno.writeTextFile(join(context, "one.log"), "ignored\n");
  await Deno.writeTextFile(join(context, "keep.log"), "kept\n");
  await Deno.writeTextFile(join(context, "tool.sh"), "#!/bin/sh\necho tool\n");
  await Deno.chmod(join(context, "tool.sh"), 0o4755);
  await Deno.symlink("tool.sh", join(context, "link"));
  await Deno.writeTextFile(join(context, ".dockerignore"), "*.log\n!keep.log\ntmp/\n");
  const archived = join(dir.path, "archived");
  await Deno.mkdir(join(archived, "inner"), { recursive: true });
  await Deno.writeTextFile(join(archived, "inner", "x"), "from the archive\n");
  await run("tar", [
    "--owner=1234",
    "--group=1234",
    "-czf",
    join(context, "archive.tar.gz"),
    "-C",
    archived,
    ".",
  ]);
  const cli = async (...args: string[]) => {
    const result = await runAll(["--root", root, ...args]);
    assertEquals(result.code, 0, `denocker ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
  const steps = (output: string) => output.split("\n").filter((line) => line.startsWith("Step "));
  const dockerBuild = async (...args: string[]) => {
    const result = await new Deno.Command(DOCKER_CLIENT, {
      args: ["-H", `unix://${daemon.socket}`, "build", ...args],
      env: { DOCKER_BUILDKIT: "0" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(result.stderr);
    assert(result.success, `docker build ${args.join(" ")}: ${stderr}`);
    return new TextDecoder().decode(result.stdout);
  };
  /** Both images' trees, as each builder's image unpacks in denocker's store. */
  const trees = async (name: string) => {
    const theirs = join(dir.path, `${name}-theirs.tar`);
    await daemon.docker("tag", name, `theirs-${name}`);
    await daemon.docker("save", "-o", theirs, `theirs-${name}`);
    await cli("load", "-i", theirs);
    const ours = join(dir.path, `${name}-ours`);
    const their = join(dir.path, `${name}-their`);
    await cli("unpack", name, ours);
    await cli("unpack", `theirs-${name}`, their);
    return { ours: await treeLines(ours), theirs: await treeLines(their) };
  };
  const facts = [
    "{{json .Config.Env}}",
    "{{json .Config.Cmd}}",
    "{{json .Config.Entrypoint}}",
    "{{json .Config.WorkingDir}}",
    "{{json .Config.User}}",
    "{{json .Config.ExposedPorts}}",
    "{{json .Config.Volumes}}",
    "{{json .Config.Labels}}",
    "{{len .RootFS.Layers}}",
  ].join(" ");
  const compare = async (name: string) => {
    assertEquals(
      await cli("inspect", "-f", facts, name),
      await daemon.docker("inspect", "-f", facts, name),
    );
    // The same entries, and the same ones with an image of their own (each step's, the base's).
    const pattern = (text: string) =>
      text.trim().split("\n").map((line) => line === "<missing>" ? line : "ID");
    assertEquals(
      pattern(await cli("history", "-q", name)),
      pattern(await daemon.docker("history", "-q", name)),
    );
    const { ours, theirs } = await trees(name);
    assertEquals(ours, theirs);
    return ours;
  };

  await t.step("every instruction, one stage", async () => {
    await Deno.writeTextFile(join(context, "Dockerfile"), EVERYTHING);
    const out = await cli("build", "--build-arg", "W=given", "-t", "everything", context);
    assertMatch(out, /\nSuccessfully built [0-9a-f]{12}\nSuccessfully tagged everything:latest\n$/);
    const theirs = await dockerBuild("--build-arg", "W=given", "-t", "everything", context);
    assertEquals(steps(out), steps(theirs));
    const tree = await compare("everything");
    assert(
      tree.includes(
        "r f 4755 0:0 3 " + tree.find((line) => line.startsWith("r f"))!.split(" ")[5] + " links=2",
      ),
      tree.join("\n"),
    );
    assert(
      tree.some((line) => line.startsWith("unpacked/inner/x f 644 1234:1234")),
      tree.join("\n"),
    );
    assert(
      !tree.some((line) => line.startsWith("logs/one.log")),
      "a .dockerignore'd file was copied",
    );
    assert(
      tree.some((line) =>
        line ===
          "dir/sub/new f 644 0:0 6 " + tree.find((l) =>
              l.startsWith("dir/sub/new")
            )!.split(" ")[5] +
            " links=1"
      ),
    );
    assert(
      !tree.some((line) => line.startsWith("dir/sub/b")),
      "a file of a directory made again stayed",
    );
    const more = [
      "{{json .Config.Healthcheck}}",
      "{{json .Config.StopSignal}}",
      "{{json .Config.OnBuild}}",
      "{{json .Config.Shell}}",
    ].join(" ");
    assertEquals(
      await cli("inspect", "-f", more, "everything"),
      await daemon.docker("inspect", "-f", more, "everything"),
    );
    // docker loads what denocker built, and runs it as denocker does.
    const saved = join(dir.path, "everything.tar");
    await cli("save", "-o", saved, "everything");
    await daemon.docker("rmi", "everything");
    await daemon.docker("load", "-i", saved);
    const ran = await cli("run", "--rm", "--network", "none", "everything");
    assertEquals(ran, "hello\nexec form 1\n");
    assertEquals(await daemon.docker("run", "--rm", "--network", "none", "everything"), ran);
  });

  await t.step("stages: COPY --from, FROM scratch, --target", async () => {
    await Deno.writeTextFile(join(context, "Dockerfile.stages"), STAGES);
    const file = join(context, "Dockerfile.stages");
    // The unused stage fails if it is built: docker's classic builder builds every stage.
    const failed = await runAll(["--root", root, "build", "-f", file, "-t", "staged", context]);
    assertEquals(failed.code, 1);
    assertMatch(
      failed.stderr,
      /^denocker: The command '\/bin\/sh -c false' returned a non-zero code: 1\n$/,
    );
    await Deno.writeTextFile(file, STAGES.replace("RUN false", "RUN true"));
    await cli("build", "-f", file, "-t", "staged", context);
    await dockerBuild("-f", file, "-t", "staged", context);
    await compare("staged");
    assertEquals(await cli("run", "--rm", "--network", "none", "staged"), "built\n");
    await cli("build", "-f", file, "--target", "builder", "-t", "builder-only", context);
    await dockerBuild("-f", file, "--target", "builder", "-t", "builder-only", context);
    await compare("builder-only");
  });

  await t.step("ONBUILD triggers run at the child's FROM; # escape=`", async () => {
    await Deno.writeTextFile(
      join(context, "Dockerfile.parent"),
      "FROM busybox:latest\nONBUILD RUN echo triggered > /onbuild\nONBUILD ENV FROM_TRIGGER=1\n",
    );
    await Deno.writeTextFile(
      join(context, "Dockerfile.child"),
      "# escape=`\nFROM parent\nRUN echo a `\n  b > /escaped && echo $FROM_TRIGGER >> /escaped\n",
    );
    for (const name of ["parent", "child"]) {
      const file = join(context, `Dockerfile.${name}`);
      await cli("build", "-f", file, "-t", name, context);
      await dockerBuild("-f", file, "-t", name, context);
    }
    await compare("child");
    assertEquals(
      await cli("run", "--rm", "--network", "none", "child", "cat", "/onbuild", "/escaped"),
      "triggered\na b\n1\n",
    );
  });

  await t.step("COPY --chmod (BuildKit's; the classic builder refuses it)", async () => {
    await Deno.writeTextFile(
      join(context, "Dockerfile.chmod"),
      "FROM busybox:latest\nCOPY --chown=1000:1000 --chmod=0640 f.txt /owned\n",
    );
    await cli("build", "-f", join(context, "Dockerfile.chmod"), "-t", "chmod", context);
    assertEquals(
      await cli("run", "--rm", "--network", "none", "chmod", "stat", "-c", "%a %u:%g", "/owned"),
      "640 1000:1000\n",
    );
  });

  await t.step("the cache, --no-cache, and SOURCE_DATE_EPOCH", async () => {
    const first = await cli("build", "-t", "everything2", "--build-arg", "W=given", context);
    // Every step but FROM and the ARG before it.
    assertEquals(first.match(/---> Using cache/g)?.length, 26);
    const id = (await cli("build", "-q", "--build-arg", "W=given", context)).trim();
    // A changed file is built again from its COPY on.
    await Deno.writeTextFile(join(context, "dir", "a"), "changed\n");
    const changed = await cli("build", "--build-arg", "W=given", context);
    // Those before COPY dir (ARG, ARG, ENV, LABEL, WORKDIR, WORKDIR, COPY).
    assertEquals(changed.match(/---> Using cache/g)?.length, 7);
    const fresh = await cli("build", "--no-cache", "--build-arg", "W=given", context);
    assert(!fresh.includes("Using cache"), fresh);
    assert(!changed.includes(id.slice(7, 19)));
    const reproducible = async () => {
      const result = await runAll(["--root", root, "build", "-q", "--no-cache", context], {
        env: { SOURCE_DATE_EPOCH: "1700000000" },
      });
      assertEquals(result.code, 0, result.stderr);
      return result.stdout.trim();
    };
    const a = await reproducible();
    assertEquals(await reproducible(), a);
    assertEquals(
      (await cli("inspect", "-f", "{{.Created}}", a)).trim(),
      "2023-11-14T22:13:20Z",
    );
  });

  await t.step("bad Dockerfiles and sources: one line, nothing tagged", async () => {
    const bad = async (text: string, pattern: RegExp) => {
      await Deno.writeTextFile(join(context, "Dockerfile.bad"), text);
      const result = await runAll([
        "--root",
        root,
        "build",
        "-f",
        join(context, "Dockerfile.bad"),
        "-t",
        "bad",
        context,
      ]);
      assertEquals(result.code, 1, result.stdout);
      assertMatch(result.stderr, pattern);
      assertEquals(result.stderr.trim().split("\n").length, 1, result.stderr);
    };
    await bad(
      "FROM busybox:latest\nRUNN true\n",
      /^denocker: Dockerfile line 2: unknown instruction: RUNN\n$/,
    );
    await bad(
      "FROM busybox:latest\nCOPY ../secret /x\n",
      /forbidden path outside the build context: \.\.\/secret/,
    );
    await bad("FROM busybox:latest\nCOPY missing /x\n", /file not found in build context/);
    await bad(
      "FROM busybox:latest\nADD http://example.com/x /x\n",
      /ADD from a URL .* is not supported/,
    );
    await bad("RUN true\n", /^denocker: Dockerfile line 1: RUN before the first FROM/);
    await bad(
      'FROM busybox:latest\nENV A="unclosed\n',
      /^denocker: Dockerfile line 2: unexpected end of statement while looking for matching double-quote/,
    );
    await bad("FROM busybox:latest\nRUN exit 3\n", /returned a non-zero code: 3/);
    const images = await cli("images");
    assert(!/^bad /m.test(images), images);
    // A Dockerfile on stdin, without a context.
    const stdin = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../cli.ts", import.meta.url).pathname,
        "--root",
        root,
        "build",
        "-q",
        "-",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = stdin.stdin.getWriter();
    await writer.write(new TextEncoder().encode("FROM busybox:latest\nENV FROM_STDIN=1\n"));
    await writer.close();
    const output = await stdin.output();
    assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
    const built = new TextDecoder().decode(output.stdout).trim();
    assertMatch(await cli("inspect", "-f", "{{json .Config.Env}}", built), /FROM_STDIN=1/);
  });

  await t.step(
    "--label and --network host as docker's; --pull fetches a changed base",
    async () => {
      // RUN sees the interfaces of the network asked for: none has only lo, host the test's own.
      const networked = join(dir.path, "networked");
      await Deno.mkdir(networked);
      await Deno.writeTextFile(
        join(networked, "Dockerfile"),
        "FROM busybox:latest\nRUN awk -F: 'NR>2{print $1}' /proc/net/dev | tr -d ' ' | sort > /nets\n",
      );
      for (const network of ["none", "host"]) {
        const flags = ["--network", network, "--label", "built.by=test", "--label", "n=" + network];
        const name = `net-${network}`;
        await cli("build", "-q", ...flags, "-t", name, networked);
        await dockerBuild("-q", ...flags, "-t", `theirs-${name}`, networked);
        const labels = "{{json .Config.Labels}}";
        assertEquals(
          await cli("inspect", "-f", labels, name),
          await daemon.docker("inspect", "-f", labels, `theirs-${name}`),
        );
        const nets = async (image: string, docker: boolean) => {
          const args = ["run", "--rm", "--network", "none", image, "cat", "/nets"];
          return docker ? await daemon.docker(...args) : await cli(...args);
        };
        const ours = await nets(name, false);
        assertEquals(ours, await nets(`theirs-${name}`, true));
        const own = (await run("cat", ["/proc/net/dev"])).split("\n").slice(2)
          .map((line) => line.split(":")[0].trim()).filter(Boolean).sort();
        assertEquals(ours, network === "none" ? "lo\n" : own.map((name) => `${name}\n`).join(""));
      }
      // A base named by a registry: pulled when missing, then used as stored unless --pull.
      await using registry = await startRegistry();
      const base = `${registry.host}/base:1`;
      const second = join(dir.path, "second-layer");
      await Deno.mkdir(second);
      await Deno.writeTextFile(join(second, "v2"), "2\n");
      await busyboxImage(layout, "base-v2", [await layout.tarOf(second, "second")]);
      await layout.push("busybox", base);
      const based = join(dir.path, "based");
      await Deno.mkdir(based);
      await Deno.writeTextFile(join(based, "Dockerfile"), `FROM ${base}\nLABEL on=base\n`);
      const layers = (image: string) => cli("inspect", "-f", "{{len .RootFS.Layers}}", image);
      await cli("build", "-q", "-t", "on-base", based);
      assertEquals(await layers("on-base"), "1\n");
      await layout.push("base-v2", base);
      await cli("build", "-q", "-t", "on-base", based);
      assertEquals(await layers("on-base"), "1\n", "without --pull the stored base is used");
      await cli("build", "-q", "--pull", "-t", "on-base", based);
      assertEquals(await layers("on-base"), "2\n", "--pull did not fetch the changed base");
    },
  );
}, ["dockerd", "docker", "tar", "docker-registry", "skopeo", "umoci"]);
