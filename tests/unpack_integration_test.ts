import { createHash } from "node:crypto";
import { join } from "node:path";
import { assert, assertEquals } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { integrationTest, OciLayout, run, startRegistry } from "./_real_registry.ts";
import { craftTar } from "./_tar.ts";
import { pull } from "../lib/operations/pull.ts";
import { unpack } from "../lib/operations/unpack.ts";

const TOOLS = ["docker-registry", "skopeo", "umoci", "tar", "gzip", "zstd"];
const AS_ROOT = Deno.uid() === 0;
const LONG_DIR = "d".repeat(60);
const LONG_NAME = `${"e".repeat(120)}.txt`;
const UNICODE = "ünïcødé ファイル.txt";
const STAMP = new Date("2023-05-06T07:08:09Z");

async function write(root: string, path: string, content: string, mode = 0o644) {
  const full = join(root, path);
  await Deno.mkdir(join(full, ".."), { recursive: true });
  await Deno.writeTextFile(full, content);
  await Deno.chmod(full, mode);
}

/** Three layers exercising deletions, opaque dirs, type changes, links, modes, owners and names. */
async function buildLayeredImage(layout: OciLayout): Promise<void> {
  const one = join(layout.dir, "one");
  await write(one, "etc/hello", "hello\n");
  await write(one, "etc/deleteme", "to be deleted\n");
  await write(one, "etc/keep", "kept\n");
  await write(one, "dir/gone/inner.txt", "inner\n");
  await write(one, "dir/stays.txt", "stays\n");
  await write(one, "opaque/a.txt", "a\n");
  await write(one, "opaque/sub/c.txt", "c\n");
  await write(one, "recreate", "a file that becomes a directory\n");
  await write(one, "todir/x", "a directory that becomes a symlink\n");
  await write(one, "hard/one", "shared inode\n");
  await Deno.link(join(one, "hard/one"), join(one, "hard/two"));
  await write(one, "lower-target", "linked from layer three\n");
  await write(one, "bin/suid", "#!/bin/sh\n", 0o4755);
  await write(one, "bin/sgid", "#!/bin/sh\n", 0o2755);
  await write(one, "private", "secret\n", 0o600);
  await Deno.mkdir(join(one, "sgid-dir"));
  await Deno.chmod(join(one, "sgid-dir"), 0o2775);
  await Deno.mkdir(join(one, "sticky"));
  await Deno.chmod(join(one, "sticky"), 0o1777);
  await write(one, `${LONG_DIR}/${LONG_NAME}`, "a long name\n");
  await write(one, UNICODE, "non-ASCII name\n");
  await write(one, "with space/file name.txt", "spaces\n");
  await Deno.mkdir(join(one, "links"));
  await Deno.symlink("../etc/hello", join(one, "links/rel"));
  await Deno.symlink("/etc/hello", join(one, "links/abs"));
  await Deno.symlink("/nonexistent/target", join(one, "links/dangling"));
  await write(one, "owned/file", "owned\n", 0o640);
  if (AS_ROOT) {
    await Deno.chown(join(one, "owned"), 1000, 1000);
    await Deno.chown(join(one, "owned/file"), 1234, 5678);
    await Deno.chmod(join(one, "owned/file"), 0o640);
    await Deno.chown(join(one, "bin/suid"), 0, 0);
    await Deno.chmod(join(one, "bin/suid"), 0o4755);
  }

  const two = join(layout.dir, "two");
  await write(two, "etc/.wh.deleteme", "");
  await write(two, "etc/hello", "hello again\n");
  await write(two, "dir/.wh.gone", "");
  await write(two, "opaque/.wh..wh..opq", "");
  await write(two, "opaque/new.txt", "refilled\n");
  await write(two, "recreate/inside.txt", "now a directory\n");
  await Deno.symlink("/etc", join(two, "todir"));

  for (const dir of [one, two]) {
    await run("find", [dir, "-exec", "touch", "-h", "-d", STAMP.toISOString(), "{}", "+"]);
  }
  const three = join(layout.dir, "three.tar");
  await Deno.writeFile(
    three,
    await craftTar([
      { name: "hard/", type: "directory", mode: 0o755 },
      { name: "hard/link-to-lower", type: "link", linkname: "lower-target" },
      { name: `${"p".repeat(50)}/`, type: "directory" },
      { name: `${"p".repeat(50)}/${"q".repeat(150)}`, body: "a PAX long name\n" },
    ]),
  );
  await layout.image("layered", [
    await layout.tarOf(one, "one"),
    await layout.tarOf(two, "two"),
    three,
  ]);
}

/** Every entry under a tree: type, mode, owner, content or target, time; and hardlink groups. */
async function describeTree(
  root: string,
): Promise<{ entries: Map<string, string>; hardlinks: string[][] }> {
  const entries = new Map<string, string>();
  const inodes = new Map<number, string[]>();
  const visit = async (relative: string) => {
    const path = relative === "" ? root : join(root, relative);
    const info = await Deno.lstat(path);
    const owner = AS_ROOT ? ` ${info.uid}:${info.gid}` : "";
    const time = info.isDirectory ? "" : ` t=${info.mtime?.getTime()}`;
    if (info.isSymlink) {
      entries.set(relative, `symlink -> ${await Deno.readLink(path)}${owner}${time}`);
    } else if (info.isFile) {
      const hash = createHash("sha256").update(await Deno.readFile(path)).digest("hex").slice(
        0,
        16,
      );
      entries.set(
        relative,
        `file ${(info.mode! & 0o7777).toString(8)}${owner} ${info.size} ${hash}${time}`,
      );
      if (info.nlink! > 1) inodes.set(info.ino!, [...(inodes.get(info.ino!) ?? []), relative]);
    } else if (info.isDirectory) {
      entries.set(relative, `dir ${(info.mode! & 0o7777).toString(8)}${owner}`);
      for await (const entry of Deno.readDir(path)) {
        await visit(relative === "" ? entry.name : `${relative}/${entry.name}`);
      }
    } else {
      entries.set(relative, "other");
    }
  };
  await visit("");
  entries.delete("");
  const hardlinks = [...inodes.values()].map((group) => group.sort()).sort();
  return { entries, hardlinks };
}

function assertSameTree(
  ours: Awaited<ReturnType<typeof describeTree>>,
  reference: Awaited<ReturnType<typeof describeTree>>,
) {
  const paths = [...new Set([...ours.entries.keys(), ...reference.entries.keys()])].sort();
  const differences = paths
    .filter((path) => ours.entries.get(path) !== reference.entries.get(path))
    .map((path) =>
      `${path}: ours ${ours.entries.get(path)} / umoci ${reference.entries.get(path)}`
    );
  assertEquals(differences, []);
  assertEquals(ours.hardlinks, reference.hardlinks);
}

integrationTest("unpack matches umoci raw unpack, entry for entry", TOOLS, async (t) => {
  await using registry = await startRegistry();
  await using layout = await OciLayout.create();
  await using store = await tempDir();
  await buildLayeredImage(layout);
  await layout.recompress("layered", "layered-zstd", "zstd");
  await layout.recompress("layered", "layered-tar", "none");
  const reference = join(layout.dir, "umoci-rootfs");
  await layout.umociUnpack("layered", reference);
  const expected = await describeTree(reference);

  await t.step("the reference tree has what the test means to check", () => {
    assert(!expected.entries.has("etc/deleteme"));
    assert(!expected.entries.has("dir/gone"));
    assertEquals([...expected.entries.keys()].filter((path) => path.startsWith("opaque/")), [
      "opaque/new.txt",
    ]);
    assert(expected.entries.get("todir")!.startsWith("symlink -> /etc"));
    assert(expected.entries.get("recreate")!.startsWith("dir "));
    assert(expected.entries.get("bin/suid")!.startsWith("file 4755"));
    assert(expected.hardlinks.some((group) => group.includes("hard/link-to-lower")));
  });

  for (
    const [tag, compression] of [["layered", "gzip"], ["layered-zstd", "zstd"], [
      "layered-tar",
      "uncompressed",
    ]]
  ) {
    await t.step(`${compression} layers`, async () => {
      // A root of its own, so that these layers are really downloaded and extracted.
      const root = join(store.path, tag);
      // skopeo compresses plain layers on push unless asked to keep the digests.
      await layout.push(
        tag,
        `${registry.host}/team/layered:${tag}`,
        compression === "uncompressed" ? ["--preserve-digests"] : [],
      );
      const result = await pull(`${registry.host}/team/layered:${tag}`, { root });
      assertEquals(result.layers.length, 3);
      assertEquals(
        result.layers.map((layer) => layer.mediaType.split(".").pop()),
        Array(3).fill(
          compression === "gzip" ? "tar+gzip" : compression === "zstd" ? "tar+zstd" : "tar",
        ),
      );
      const ours = join(store.path, `rootfs-${tag}`);
      await unpack(`${registry.host}/team/layered:${tag}`, ours, { root });
      assertSameTree(await describeTree(ours), expected);
    });
  }
});
