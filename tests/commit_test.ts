/**
 * `diff`, `commit` and `history` against a real dockerd: the same changes
 * made in a busybox container by denocker and by docker are listed alike,
 * committed into layers holding the same entries (whiteouts, an opaque
 * directory, a hardlink, a setuid file owned by a user, a symlink, a FIFO),
 * with the same config and history length, and the committed image runs.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { OciLayout, run } from "./_real_registry.ts";
import { busyboxImage, containerTest, loadImage, runAll } from "./_containers.ts";
import { startDocker } from "./_docker.ts";

const SCRIPT = [
  "echo hi > /newfile",
  "chown 1000:1000 /newfile",
  "chmod 4755 /newfile",
  "ln /newfile /hard",
  "rm /bin/ls",
  "rm -rf /home",
  "mkdir /home",
  "echo y > /home/y",
  "mkdir -p /usr/local/x",
  "ln -s /newfile /usr/local/x/link",
  "mkfifo /fifo",
  "touch /tmp/t",
].join("; ");

/** The entries of an image's last layer, from a `docker save` archive, without their times. */
async function lastLayer(archive: string, scratch: string): Promise<string[]> {
  await Deno.mkdir(scratch, { recursive: true });
  await run("tar", ["-xf", archive, "-C", scratch]);
  const [manifest] = JSON.parse(await Deno.readTextFile(join(scratch, "manifest.json")));
  const layer = join(scratch, manifest.Layers.at(-1));
  const listing = await run("tar", ["--numeric-owner", "-tvf", layer]);
  return listing.split("\n").filter(Boolean).map((line) => {
    // MODE OWNER SIZE DATE TIME NAME [-> TARGET | link to TARGET]
    const [mode, owner, size, , , ...name] = line.split(/\s+/);
    return [mode, owner, size, ...name].join(" ");
  }).sort();
}

containerTest("diff, commit and history read and write as docker's", async () => {
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  const root = join(dir.path, "store");
  await busyboxImage(layout, "busybox");
  await loadImage(layout, "busybox", root, "busybox:latest");
  await using daemon = await startDocker();
  await daemon.docker("load", "-i", join(layout.dir, "busybox.tar"));
  const cli = async (...args: string[]) => {
    const result = await runAll(["--root", root, ...args]);
    assertEquals(result.code, 0, `denocker ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
  try {
    await cli("run", "--name", "changed", "--network", "none", "busybox", "sh", "-c", SCRIPT);
    await daemon.docker(
      "run",
      "--name",
      "changed",
      "--network",
      "none",
      "busybox:latest",
      "sh",
      "-c",
      SCRIPT,
    );
    const sorted = (text: string) => text.split("\n").filter(Boolean).sort();
    const ourDiff = sorted(await cli("diff", "changed"));
    assertEquals(ourDiff, sorted(await daemon.docker("diff", "changed")));
    assert(ourDiff.includes("D /bin/ls") && ourDiff.includes("A /fifo"), ourDiff.join("\n"));

    const change = ["-c", 'CMD ["cat", "/newfile"]', "-c", "ENV STAGE=committed"];
    const id = (await cli("commit", "-m", "by hand", ...change, "changed", "committed:1")).trim();
    assertMatch(id, /^sha256:[0-9a-f]{64}$/);
    await daemon.docker("commit", "-m", "by hand", ...change, "changed", "committed:1");
    assertEquals(await cli("run", "--rm", "--network", "none", "committed:1"), "hi\n");
    assertEquals(
      await daemon.docker("run", "--rm", "--network", "none", "committed:1"),
      "hi\n",
    );
    const format = "{{json .Config.Cmd}} {{json .Config.Env}} {{len .RootFS.Layers}}";
    assertEquals(
      await cli("inspect", "-f", format, "committed:1"),
      await daemon.docker("inspect", "-f", format, "committed:1"),
    );
    assertEquals(
      (await cli("history", "-q", "committed:1")).split("\n").length,
      (await daemon.docker("history", "-q", "committed:1")).split("\n").length,
    );
    assertMatch(await cli("history", "committed:1"), /^[0-9a-f]{12} .* by hand\n/m);

    // The layers hold the same entries; docker loads ours and runs it alike.
    const ours = join(dir.path, "ours.tar");
    await cli("save", "-o", ours, "committed:1");
    const theirs = join(dir.path, "theirs.tar");
    await daemon.docker("save", "-o", theirs, "committed:1");
    assertEquals(
      await lastLayer(ours, join(dir.path, "ours")),
      await lastLayer(theirs, join(dir.path, "theirs")),
    );
    await daemon.docker("rmi", "committed:1");
    await daemon.docker("load", "-i", ours);
    assertEquals(
      await daemon.docker(
        "run",
        "--rm",
        "--network",
        "none",
        "committed:1",
        "sh",
        "-c",
        "ls -l /newfile /hard | cut -c1-10; ls /bin/ls 2>&1; ls /home; echo $STAGE",
      ),
      "-rwsr-xr-x\n-rwsr-xr-x\nls: /bin/ls: No such file or directory\ny\ncommitted\n",
    );
    // Nothing is read from a container that has no overlay, or named wrongly, without a trace.
    const missing = await runAll(["--root", root, "commit", "nosuch"]);
    assertEquals(missing.code, 1);
    assertMatch(missing.stderr, /^denocker: Cannot find container "nosuch": no such container\n$/);
    const badChange = await runAll(["--root", root, "commit", "-c", "RUN true", "changed"]);
    assertEquals(badChange.code, 1);
    assertMatch(badChange.stderr, /^denocker: Cannot commit: RUN is not a change commit can apply/);
  } finally {
    await runAll(["--root", root, "rm", "-f", "changed"]);
  }
}, ["dockerd", "docker", "tar"]);

/** Sets (`set FILE`) or prints (`get FILE`) a file capability and a user attribute. */
const XATTR = `#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
int main(int argc, char **argv) {
  /* VFS_CAP_REVISION_2, CAP_NET_RAW (13) permitted. */
  unsigned char cap[20] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x20};
  unsigned char buffer[64];
  if (argc != 3) return 2;
  if (strcmp(argv[1], "set") == 0) {
    if (setxattr(argv[2], "security.capability", cap, sizeof cap, 0) != 0) return 3;
    if (setxattr(argv[2], "user.note", "hello", 5, 0) != 0) return 4;
    return 0;
  }
  ssize_t n = getxattr(argv[2], "security.capability", buffer, sizeof buffer);
  printf("cap:");
  for (ssize_t i = 0; i < n; i++) printf("%02x", buffer[i]);
  n = getxattr(argv[2], "user.note", buffer, sizeof buffer);
  printf(" note:%.*s\\n", n < 0 ? 0 : (int)n, buffer);
  return 0;
}
`;

containerTest("commit keeps file capabilities and user attributes, as docker's", async () => {
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  const root = join(dir.path, "store");
  await busyboxImage(layout, "busybox");
  await loadImage(layout, "busybox", root, "busybox:latest");
  await using daemon = await startDocker();
  await daemon.docker("load", "-i", join(layout.dir, "busybox.tar"));
  const helpers = join(dir.path, "helpers");
  await Deno.mkdir(helpers);
  await Deno.writeTextFile(join(dir.path, "xattr.c"), XATTR);
  await run("gcc", ["-static", "-O1", "-o", join(helpers, "xattr"), join(dir.path, "xattr.c")]);
  const cli = async (...args: string[]) => {
    const result = await runAll(["--root", root, ...args]);
    assertEquals(result.code, 0, `denocker ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
  const mount = ["-v", `${helpers}:/h:ro`, "--network", "none"];
  const set = ["sh", "-c", "echo x > /capfile && /h/xattr set /capfile"];
  const get = ["/h/xattr", "get", "/capfile"];
  try {
    await cli("run", "--name", "attrs", ...mount, "busybox", ...set);
    await daemon.docker("run", "--name", "attrs", ...mount, "busybox:latest", ...set);
    await cli("commit", "attrs", "attrs:1");
    await daemon.docker("commit", "attrs", "attrs:1");
    // docker's commit keeps the capability and drops user.* attributes; denocker keeps both.
    const capability = "cap:0000000200200000000000000000000000000000";
    assertEquals(
      await daemon.docker("run", "--rm", ...mount, "attrs:1", ...get),
      `${capability} note:\n`,
    );
    const expected = `${capability} note:hello\n`;
    assertEquals(await cli("run", "--rm", ...mount, "attrs:1", ...get), expected);
    // docker reads both from denocker's layer.
    const saved = join(dir.path, "attrs.tar");
    await cli("save", "-o", saved, "attrs:1");
    await daemon.docker("rmi", "attrs:1");
    await daemon.docker("load", "-i", saved);
    assertEquals(await daemon.docker("run", "--rm", ...mount, "attrs:1", ...get), expected);
  } finally {
    await runAll(["--root", root, "rm", "-f", "attrs"]);
  }
}, ["dockerd", "docker", "gcc"]);
