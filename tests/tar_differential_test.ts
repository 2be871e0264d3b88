/**
 * Differential tests of the tar reader: archives written by GNU tar in every
 * format, Python's tarfile and bsdtar, plus hand-made headers for the
 * classes real archives contain, each extracted by GNU tar and by us. The
 * trees must be equal, or we must refuse: never a different tree.
 */

import { lutimes } from "node:fs/promises";
import { join } from "node:path";
import { assertEquals, assertRejects } from "./_assert.ts";
import { extractLayer } from "../lib/layer/extract.ts";
import { InvalidInputError } from "../lib/errors.ts";
import { tempDir } from "./_fake_registry.ts";
import { integrationTest, run } from "./_real_registry.ts";
import {
  blocks,
  compareWithGnuTar,
  concat,
  type Outcome,
  paxRecords,
  rawHeader,
  withChecksum,
} from "./_tar_compare.ts";

/** A tree with what the formats must carry: long names and links, hardlinks, modes, times, holes. */
async function makeSource(root: string): Promise<void> {
  const long = "d".repeat(60) + "/" + "e".repeat(80) + "/" + "f".repeat(120);
  await Deno.mkdir(join(root, "dir/sub"), { recursive: true });
  await Deno.mkdir(join(root, long.split("/").slice(0, -1).join("/")), { recursive: true });
  await Deno.writeTextFile(join(root, "dir/file.txt"), "hello\n");
  await Deno.writeTextFile(join(root, long), "long name\n");
  await Deno.writeTextFile(join(root, "dir/sub/ünïcødé.txt"), "utf-8 name\n");
  await Deno.writeTextFile(join(root, "dir/setuid"), "#!/bin/sh\n");
  await Deno.chmod(join(root, "dir/setuid"), 0o4755);
  await Deno.writeTextFile(join(root, "dir/odd-mode"), "x");
  await Deno.chmod(join(root, "dir/odd-mode"), 0o1601);
  await Deno.link(join(root, "dir/file.txt"), join(root, "dir/hardlink"));
  await Deno.symlink("file.txt", join(root, "dir/symlink"));
  await Deno.symlink("../" + "t".repeat(150), join(root, "dir/long-symlink"));
  // A sparse file: 3 MiB with two written islands.
  const sparse = await Deno.open(join(root, "dir/sparse.img"), { write: true, create: true });
  await sparse.truncate(3 * 1024 * 1024);
  await sparse.seek(1024 * 1024, Deno.SeekMode.Start);
  await sparse.write(new TextEncoder().encode("island one".repeat(100)));
  await sparse.seek(2 * 1024 * 1024 + 4096, Deno.SeekMode.Start);
  await sparse.write(new TextEncoder().encode("island two"));
  sparse.close();
  // Fixed times everywhere (deepest first, so a parent's is not disturbed again), so that what
  // the archive says is never mistaken for "now".
  const fixed = new Date("2020-01-02T03:04:05Z");
  for (
    const path of ["dir/sparse.img", "dir/setuid", "dir/hardlink", long, "dir/sub/ünïcødé.txt"]
  ) {
    await Deno.utime(join(root, path), fixed, fixed);
  }
  for (const path of ["dir/symlink", "dir/long-symlink"]) {
    await lutimes(join(root, path), fixed, fixed);
  }
  for (
    const path of ["dir/sub", long.split("/").slice(0, 2).join("/"), long.split("/")[0], "dir"]
  ) {
    await Deno.utime(join(root, path), fixed, fixed);
  }
  await Deno.utime(join(root, "dir/file.txt"), new Date("1985-06-01"), new Date("1985-06-01"));
  await Deno.utime(join(root, "dir/odd-mode"), new Date("1960-01-01"), new Date("1960-01-01"));
}

/** The archives the tools write, by name. */
async function toolArchives(source: string, out: string): Promise<Map<string, string>> {
  const archives = new Map<string, string>();
  const gnu = async (name: string, args: string[]) => {
    const path = join(out, `${name}.tar`);
    // Formats that cannot hold a name or a time warn and leave that entry out (exit 2): the
    // archive is still valid, and what it holds is compared.
    await new Deno.Command("tar", {
      args: ["-c", "-f", path, ...args, "-C", source, "dir", "d".repeat(60)],
      stderr: "null",
    }).output();
    archives.set(name, path);
  };
  for (const format of ["v7", "oldgnu", "gnu", "ustar", "posix"]) {
    await gnu(`gnu-${format}`, [`--format=${format}`]);
  }
  await gnu("gnu-oldgnu-sparse", ["--format=oldgnu", "--sparse"]);
  await gnu("gnu-gnu-sparse", ["--format=gnu", "--sparse"]);
  for (const version of ["0.0", "0.1", "1.0"]) {
    await gnu(`gnu-posix-sparse-${version}`, [
      "--format=posix",
      "--sparse",
      `--sparse-version=${version}`,
    ]);
  }
  for (const format of ["USTAR_FORMAT", "GNU_FORMAT", "PAX_FORMAT"]) {
    const path = join(out, `python-${format}.tar`);
    await run("python3", [
      "-c",
      `import tarfile, sys
with tarfile.open(sys.argv[1], "w", format=tarfile.${format}) as archive:
    for name in ("dir", "${"d".repeat(60)}"):
        try:
            archive.add(name)
        except ValueError:
            pass
`,
      path,
    ], { cwd: source });
    archives.set(`python-${format}`, path);
  }
  for (const format of ["ustar", "pax", "gnutar", "v7"]) {
    const path = join(out, `bsdtar-${format}.tar`);
    await new Deno.Command("bsdtar", {
      args: ["-c", "-f", path, `--format=${format}`, "-C", source, "dir", "d".repeat(60)],
      stderr: "null",
    }).output();
    archives.set(`bsdtar-${format}`, path);
  }
  return archives;
}

const end = () => new Uint8Array(1024);
const file = (name: string, body: string, extra: Partial<Parameters<typeof rawHeader>[0]> = {}) =>
  concat(
    rawHeader({ name, ...extra, size: new TextEncoder().encode(body).byteLength }),
    blocks(body),
  );

/** Archives no tool writes today but real layers contain, by class. */
function handMadeArchives(): Map<string, Uint8Array> {
  const pax = (records: Record<string, string>) => {
    const data = paxRecords(records);
    return concat(rawHeader({ name: "PaxHeader", type: "x", size: data.byteLength }), blocks(data));
  };
  const longName = (type: "L" | "K", value: string) => {
    const data = new TextEncoder().encode(value + "\0");
    return concat(
      rawHeader({ name: "././@LongLink", type, size: data.byteLength, magic: "gnu" }),
      blocks(data),
    );
  };
  const negative = new Uint8Array(12).fill(0xff);
  negative[11] = 0xff - 99; // -100 seconds, base-256
  return new Map([
    [
      "pax size then GNU long name",
      concat(
        pax({ size: "11" }),
        longName("L", "x".repeat(150)),
        rawHeader({ name: "short", size: 0, magic: "gnu" }),
        blocks("hello world"),
        file("after", "next entry"),
        end(),
      ),
    ],
    [
      "GNU long name then pax path",
      concat(
        longName("L", "from-gnu-" + "y".repeat(120)),
        pax({ path: "from-pax" }),
        file("short", "body", { name: "short", magic: "gnu" }),
        end(),
      ),
    ],
    [
      "old-style directory with a size",
      concat(
        rawHeader({ name: "olddir/", type: "\0", size: 512, magic: "v7", mode: 0o755 }),
        file("olddir/inside", "inside"),
        end(),
      ),
    ],
    [
      "regular file named with a trailing slash",
      concat(rawHeader({ name: "notadir/", type: "0", size: 0 }), end()),
    ],
    [
      "GNU volume label",
      concat(
        rawHeader({ name: "VOLUME-1", type: "V", magic: "gnu" }),
        file("real", "real file"),
        end(),
      ),
    ],
    [
      "numeric fields padded with spaces",
      concat(
        file("spaced", "spaces", { name: "spaced", numericPadding: "spaces" }),
        end(),
      ),
    ],
    ["one zero block at the end", concat(file("a", "a"), new Uint8Array(512))],
    ["no end-of-archive blocks", file("a", "no end")],
    [
      "hardlink with a size and no data",
      concat(
        file("target", "target"),
        rawHeader({ name: "link", type: "1", size: 700, linkname: "target" }),
        file("after", "after"),
        end(),
      ),
    ],
    [
      "negative base-256 mtime",
      concat(
        file("old", "old", { name: "old", mtime: negative }),
        end(),
      ),
    ],
    ["negative PAX mtime", concat(pax({ mtime: "-86400.5" }), file("older", "older"), end())],
    ["data after the end-of-archive marker", concat(file("a", "a"), end(), file("ghost", "ghost"))],
    [
      "non-UTF-8 name",
      concat(
        file("x", "koi8", { name: new Uint8Array([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4]) }),
        end(),
      ),
    ],
  ]);
}

/** Where Go and GNU tar disagree: the tree Go (and so docker, and we) makes. */
/** Who owns what an extraction makes: the archive's owner (0:0) as root, else the user. */
const OWNER = Deno.uid() === 0 ? "0:0" : `${Deno.uid()}:${Deno.gid()}`;

const GO_RULES = new Map([
  // Go applies a GNU long name after the PAX records, so it wins; GNU tar lets PAX win.
  [
    "GNU long name then pax path",
    [`from-gnu-${"y".repeat(120)} file 644 ${OWNER} 4 230d8358dc8e8890 1600000000`],
  ],
]);

/** Outcomes by kind, and every difference in full. */
function tally(outcomes: [string, Outcome][]) {
  const counts = { same: 0, refused: 0, differs: 0 };
  const differences: string[] = [];
  for (const [name, outcome] of outcomes) {
    counts[outcome.kind]++;
    if (outcome.kind === "differs") {
      differences.push(
        `${name}:\n  ours: ${outcome.ours.join("\n        ")}\n  gnu:  ${
          outcome.gnu.join("\n        ")
        }`,
      );
    }
  }
  return { counts, differences };
}

/** The tools {@link toolArchives} writes archives with, and GNU tar to compare against. */
const ARCHIVE_TOOLS = ["tar", "bsdtar", "python3"];

integrationTest(
  "tar archives of every format extract as GNU tar extracts them",
  ARCHIVE_TOOLS,
  async () => {
    await using scratch = await tempDir();
    const source = join(scratch.path, "source");
    await Deno.mkdir(source);
    await makeSource(source);
    const outcomes: [string, Outcome][] = [];
    let readAsGo = 0;
    for (const [name, path] of await toolArchives(source, scratch.path)) {
      outcomes.push([name, await compareWithGnuTar(path, scratch.path)]);
    }
    for (const [name, bytes] of handMadeArchives()) {
      const path = join(scratch.path, "hand-made.tar");
      await Deno.writeFile(path, bytes);
      const outcome = await compareWithGnuTar(path, scratch.path);
      // Where GNU tar and Go's archive/tar disagree, we read as Go (docker) does, on purpose.
      const goTree = GO_RULES.get(name);
      if (goTree) {
        assertEquals(outcome.kind, "differs", `${name}: expected GNU tar to read it otherwise`);
        assertEquals((outcome as { ours: string[] }).ours, goTree, name);
        readAsGo++;
        continue;
      }
      outcomes.push([name, outcome]);
    }
    const { counts, differences } = tally(outcomes);
    const refused = outcomes.filter(([, outcome]) => outcome.kind === "refused");
    // deno-lint-ignore no-console
    console.log(
      `differential: ${outcomes.length + readAsGo} archives: ${
        JSON.stringify({ ...counts, readAsGo })
      }; refused: ${
        refused.map(([name, o]) => `${name} (${(o as { reason: string }).reason})`).join("; ")
      }`,
    );
    assertEquals(differences, []);
    // Only what we mean to refuse is refused: every tool archive is read.
    assertEquals(
      outcomes.filter(([, outcome]) => outcome.kind === "refused").map(([name]) => name),
      ["regular file named with a trailing slash", "non-UTF-8 name"],
    );
  },
);

integrationTest(
  "randomly corrupted archives are refused or read as GNU tar reads them",
  ARCHIVE_TOOLS,
  async () => {
    const seed = Number(Deno.env.get("TAR_MUTATION_SEED") ?? 20261128);
    // deno-lint-ignore no-console
    console.log(`mutation seed ${seed} (set TAR_MUTATION_SEED to replay)`);
    let state = seed >>> 0;
    const random = () => {
      // xorshift32: small, seeded, the same on every machine.
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 2 ** 32;
    };
    await using scratch = await tempDir();
    const source = join(scratch.path, "source");
    await Deno.mkdir(source);
    await makeSource(source);
    const bases = [...(await toolArchives(source, scratch.path)).values()];
    const outcomes: [string, Outcome][] = [];
    const path = join(scratch.path, "mutated.tar");
    for (let i = 0; i < 150; i++) {
      const base = bases[Math.floor(random() * bases.length)];
      const bytes = await Deno.readFile(base);
      // Corrupt one to three bytes inside a header block; half the time fix the checksum so
      // that the corruption reaches past it.
      const headerStarts: number[] = [];
      for (let offset = 0; offset + 512 <= bytes.byteLength; offset += 512) {
        const block = bytes.subarray(offset, offset + 512);
        if (block[257] === 0x75 /* "u" of ustar */ || block[156] === 0x30) {
          headerStarts.push(offset);
        }
      }
      const header = headerStarts[Math.floor(random() * headerStarts.length)] ?? 0;
      const flips = 1 + Math.floor(random() * 3);
      for (let f = 0; f < flips; f++) {
        bytes[header + Math.floor(random() * 512)] = Math.floor(random() * 256);
      }
      if (random() < 0.5) withChecksum(bytes.subarray(header, header + 512));
      await Deno.writeFile(path, bytes);
      // GNU tar sets a directory's time when the archive leaves it, so a corrupted (reordered)
      // archive can leave it at "now"; docker, like us, sets it after the whole layer.
      outcomes.push([
        `#${i} of ${base.split("/").pop()} at ${header}`,
        await compareWithGnuTar(path, scratch.path, { directoryTimes: false }),
      ]);
    }
    const { counts, differences } = tally(outcomes);
    // deno-lint-ignore no-console
    console.log(`mutation: ${outcomes.length} archives: ${JSON.stringify(counts)}`);
    assertEquals(differences, []);
  },
);

integrationTest("a sparse file's holes count against the uncompressed cap", ["tar"], async () => {
  await using scratch = await tempDir();
  const source = join(scratch.path, "source");
  await Deno.mkdir(source);
  const sparse = await Deno.open(join(source, "holes.img"), { write: true, create: true });
  await sparse.truncate(8 * 1024 * 1024);
  await sparse.write(new TextEncoder().encode("start"));
  sparse.close();
  const archive = join(scratch.path, "sparse.tar");
  await run("tar", [
    "-c",
    "-f",
    archive,
    "--format=posix",
    "--sparse",
    "-C",
    source,
    "holes.img",
  ]);
  assertEquals((await Deno.stat(archive)).size < 64 * 1024, true);
  const out = join(scratch.path, "out");
  await Deno.mkdir(out);
  await assertRejects(
    async () =>
      await extractLayer((await Deno.open(archive)).readable, out, { maxBytes: 1024 * 1024 }),
    InvalidInputError,
    /more than 1048576 uncompressed bytes/,
  );
});
