/**
 * Archives that GNU tar 1.34 and bsdtar read but Go's reader refuses, or that
 * we once read otherwise than GNU tar: times that overflow the octal field,
 * a lone zero block, a Solaris ACL entry, a PAX time with garbage after it.
 * Each is crafted byte by byte and extracted by GNU tar and by us, and the
 * trees must be equal: names, types, content, modes, owners and times.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { integrationTest } from "./_real_registry.ts";
import { blocks, compareWithGnuTar, concat, paxRecords, rawHeader } from "./_tar_compare.ts";

const end = () => new Uint8Array(1024);

/** A regular file's header and data. */
function file(
  name: string | Uint8Array,
  body: string,
  extra: Partial<Parameters<typeof rawHeader>[0]> = {},
): Uint8Array {
  const data = new TextEncoder().encode(body);
  return concat(rawHeader({ ...extra, name, size: data.byteLength }), blocks(data));
}

/** A twelve-byte mtime field holding exactly these bytes (NULs after them). */
function mtimeField(bytes: string | number[]): Uint8Array {
  const field = new Uint8Array(12);
  field.set(typeof bytes === "string" ? [...bytes].map((c) => c.charCodeAt(0)) : bytes);
  return field;
}

/** A twelve-byte base-256 field (GNU tar's form for what octal cannot hold), two's complement. */
function base256(value: bigint): Uint8Array {
  const field = new Uint8Array(12);
  let rest = BigInt.asUintN(95, value);
  for (let i = 11; i > 0; i--) {
    field[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  field[0] = value < 0n ? 0xff : 0x80;
  return field;
}

function pax(records: Record<string, string>): Uint8Array {
  const data = paxRecords(records);
  return concat(rawHeader({ name: "PaxHeader", type: "x", size: data.byteLength }), blocks(data));
}

/** A Solaris tar ACL entry: POSIX.1e type with four entries, as Solaris tar writes it. */
function solarisAcl(name: string): Uint8Array {
  const data = new TextEncoder().encode("01000004\0user::rw-,group::r--,mask:r--,other:r--\0");
  return concat(
    rawHeader({ name, type: "A", size: data.byteLength, mode: 0o600, mtime: 1_500_000_000 }),
    blocks(data),
  );
}

/** Whether files under `directory` keep times that a Date (and so Deno's stat) cannot show. */
function keepsTimesBeyondDates(directory: string): boolean {
  const probe = join(directory, "time-probe");
  Deno.writeFileSync(probe, new Uint8Array());
  try {
    // ext4 and xfs clamp this to their own limit (year 2446 or 2486); tmpfs and btrfs keep it.
    Deno.utimeSync(probe, 1e13, 1e13);
    return Number.isNaN(Deno.statSync(probe).mtime?.getTime());
  } finally {
    Deno.removeSync(probe);
  }
}

integrationTest("archives GNU tar reads are extracted as GNU tar extracts them", [
  "tar",
], async (t) => {
  await using scratch = await tempDir();
  const path = join(scratch.path, "crafted.tar");
  const compare = async (bytes: Uint8Array) => {
    await Deno.writeFile(path, bytes);
    return await compareWithGnuTar(path, scratch.path);
  };
  const same = async (bytes: Uint8Array) => assertEquals(await compare(bytes), { kind: "same" });
  /** A file with this mtime field between two ordinary ones, so a misread header shows. */
  const withMtime = (mtime: Uint8Array) =>
    concat(
      file("before", "before"),
      file("x", "x's content", { mtime }),
      file("after", "a"),
      end(),
    );
  await t.step("a base-256 mtime past the octal field's reach (year 2286)", async () => {
    await same(withMtime(base256(10_000_000_000n)));
  });

  await t.step("a base-256 mtime beyond what a Date holds", async () => {
    // GNU tar hands the kernel 10^13 s, which the filesystem clamps; we hand it the latest a
    // Date holds, which it clamps the same (before, an invalid Date set the time to 1970).
    const outcome = await compare(withMtime(base256(10_000_000_000_000n)));
    if (!keepsTimesBeyondDates(scratch.path)) return assertEquals(outcome, { kind: "same" });
    // This filesystem keeps GNU tar's time, which Deno's stat cannot show; ours is the clamp.
    assert(outcome.kind === "differs", JSON.stringify(outcome));
    assertMatch(outcome.ours.find((line) => line.startsWith("x "))!, / 8640000000000$/);
    assertEquals(
      outcome.ours.filter((line) => !line.startsWith("x ")),
      outcome.gnu.filter((line) => !line.startsWith("x ")),
    );
  });

  await t.step("a base-256 mtime beyond time_t reads as GNU tar reads it", async () => {
    // GNU tar: "Archive base-256 value is out of time_t range", then extracts with time -1.
    await same(withMtime(base256(2n ** 64n)));
    // "Archive value -9223372036854775809 is out of time_t range ...": -1 again.
    await same(withMtime(base256(-(2n ** 63n) - 1n)));
    // Its overflow check skips the last byte, so this one wraps to 0, silently.
    await same(withMtime(base256(-(2n ** 64n))));
  });

  await t.step("garbage in the mtime field reads as -1", async () => {
    // GNU tar: "Archive contains ‘xyzzy’ where numeric time_t value expected" (exit 2).
    await same(withMtime(mtimeField("xyzzy")));
    // Octal digits running into one that is not: "Archive contains ‘123456789012’ ...".
    await same(withMtime(mtimeField("123456789012")));
    // Blanks only: "Blanks in header where numeric time_t value expected".
    await same(withMtime(mtimeField("            ")));
    // A high-bit byte other than base-256's 0x80 and 0xff is garbage to GNU tar.
    await same(withMtime(mtimeField([0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0])));
  });

  await t.step("an mtime's digits end at a NUL or a blank: what follows is ignored", async () => {
    await same(withMtime(mtimeField("1234567 xyz")));
    await same(withMtime(mtimeField("1234567\0xyz")));
    await same(withMtime(mtimeField("\t1234567\t")));
  });

  await t.step("an mtime field that opens with a blank and a NUL is 0", async () => {
    // GNU tar skips one leading NUL, then blanks; a NUL after that ends an empty number.
    await same(withMtime(mtimeField(" \0 1234567")));
    await same(withMtime(mtimeField("\0\0 1234567")));
    // One leading NUL skipped, then base-256: 4096.
    await same(withMtime(mtimeField([0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0])));
  });

  await t.step("a zero block followed by more headers ends the archive", async () => {
    // GNU tar: "A lone zero block at 3", and it stops reading (bsdtar stops too).
    await same(concat(file("a", "first"), new Uint8Array(512), file("b", "second"), end()));
    // Whatever follows the lone block is never read, however malformed.
    await same(
      concat(file("a", "first"), new Uint8Array(512), new Uint8Array(512).fill(0x41)),
    );
  });

  await t.step("a Solaris ACL entry (type A) is a file the next entry replaces", async () => {
    // GNU tar: "file: Unknown file type 'A', extracted as normal file".
    await same(concat(solarisAcl("file"), file("file", "the file's content"), end()));
    await same(
      concat(
        solarisAcl("dir/"),
        rawHeader({ name: "dir/", type: "5", mode: 0o750 }),
        file("dir/inside", "inside"),
        end(),
      ),
    );
    await same(
      concat(
        file("target", "target"),
        solarisAcl("hardlink"),
        rawHeader({ name: "hardlink", type: "1", linkname: "target" }),
        end(),
      ),
    );
    // Alone, it stays: a file holding the ACL's text, with the ACL entry's mode and time.
    await same(concat(solarisAcl("lonely"), file("other", "other"), end()));
  });

  await t.step("a PAX mtime is its leading number, garbage after it ignored", async () => {
    // GNU tar reads 1700000000.5 and says nothing.
    await same(concat(pax({ mtime: "1700000000.5abc" }), file("p", "pax body"), end()));
    await same(concat(pax({ mtime: "-86400.5xyz" }), file("p", "pax body"), end()));
    // No number at all: "Malformed extended header: invalid mtime=abc"; the header's stands.
    await same(concat(pax({ mtime: "abc" }), file("p", "pax body"), end()));
    // Beyond time_t: "Extended header mtime=... is out of range ..."; the header's stands.
    await same(concat(pax({ mtime: "99999999999999999999" }), file("p", "pax body"), end()));
  });

  await t.step("oldgnu long names and links whose 100-byte cut splits a character", async () => {
    // GNU tar --format=oldgnu puts the first 100 bytes of a long name in the header too, which
    // can end inside a multi-byte character; the long name (type L, K) is what counts.
    const tree = join(scratch.path, "oldgnu-tree");
    const long = "é".repeat(30) + "/" + "ж".repeat(60);
    await Deno.mkdir(join(tree, "é".repeat(30)), { recursive: true });
    await Deno.writeTextFile(join(tree, long), "a long name");
    await Deno.symlink(long, join(tree, "link-" + "ü".repeat(60)));
    const made = await new Deno.Command("tar", {
      args: ["--format=oldgnu", "-c", "-f", path, "-C", tree, "."],
      stderr: "piped",
    }).output();
    assert(made.success, new TextDecoder().decode(made.stderr));
    const archive = await Deno.readFile(path);
    assertEquals(await compare(archive), { kind: "same" });
    await Deno.remove(tree, { recursive: true });
  });

  await t.step("a name that is not UTF-8 is still refused, out loud", async () => {
    const koi8 = new Uint8Array([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4]);
    for (
      const archive of [
        concat(file(koi8, "koi8"), end()),
        concat(file(koi8, "acl'd", { type: "A" }), end()),
      ]
    ) {
      const outcome = await compare(archive);
      assert(outcome.kind === "refused", JSON.stringify(outcome));
      assertMatch(outcome.reason, /^Cannot extract layer entry .*denocker cannot create/);
    }
  });
});
