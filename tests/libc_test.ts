/**
 * Reading a container's files from a privileged process: only a regular
 * file of bounded size is ever opened for reading; a FIFO (which would
 * block the reader), a device (whose driver would act on the open), a
 * directory or a larger file is refused on its `O_PATH` descriptor alone.
 */

import { join } from "node:path";
import { assertEquals } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { integrationTest, run } from "./_real_registry.ts";

const name = "readRegularFile: FIFOs, devices, directories and large files refused, unopened";
if (Deno.build.os !== "linux") Deno.test({ name, ignore: true, fn() {} });
else integrationTest(name, ["mkfifo"], readRegularFileTest);

async function readRegularFileTest() {
  await using dir = await tempDir();
  await run("mkfifo", [join(dir.path, "fifo")]);
  await Deno.symlink("fifo", join(dir.path, "to-fifo"));
  await Deno.writeTextFile(join(dir.path, "passwd"), "app:x:1000:1000::/:/bin/sh\n");
  await Deno.writeTextFile(join(dir.path, "large"), "x".repeat(2048));
  // FFI needs --allow-ffi, which the test task does not give: a child deno does the reads.
  const module = new URL("../lib/runtime/_libc.ts", import.meta.url).href;
  const script = `
      import { openProc, readRegularFile } from "${module}";
      const proc = openProc("/proc");
      for (const name of ["passwd", "fifo", "to-fifo", "large", ".", "missing", "/dev/null"]) {
        try {
          const path = name.startsWith("/") ? name : ${JSON.stringify(dir.path)} + "/" + name;
          const bytes = readRegularFile(path, 1024, proc);
          console.log(name, bytes === undefined ? "missing" : new TextDecoder().decode(bytes).trim());
        } catch (error) {
          console.log(name, error.message.replace(/^.*: /, ""));
        }
      }
    `;
  // A FIFO opened for reading would block this for ever: bounded, it fails the test.
  const out = await run("timeout", ["20", Deno.execPath(), "eval", "--allow-all", script])
    .catch((error) => `${error}`);
  assertEquals(out.split("\n").slice(0, 7), [
    "passwd app:x:1000:1000::/:/bin/sh",
    "fifo it is not a regular file",
    "to-fifo it is not a regular file",
    "large it is larger than 1024 bytes",
    ". it is not a regular file",
    "missing missing",
    "/dev/null it is not a regular file",
  ]);
}
