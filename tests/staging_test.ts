import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { listFiles, tempDir } from "./_fake_registry.ts";
import { Staging } from "../lib/store/_staging.ts";

Deno.test("staging directories: private, per process, cleaned when their process is gone", async (t) => {
  await using root = await tempDir();
  const tmp = join(root.path, "tmp");
  await t.step("create and dispose", async () => {
    const staging = await Staging.create(root.path);
    assertMatch(staging.path, new RegExp(`/tmp/${Deno.pid}-[0-9a-f-]{36}$`));
    assertEquals((await Deno.stat(staging.path)).mode! & 0o777, 0o700);
    await staging.dispose();
    assertEquals(await listFiles(tmp), []);
  });
  await t.step("cleanStale removes a dead process's directory and old strays only", async () => {
    const mine = await Staging.create(root.path);
    const dead = join(tmp, "999999999-dead"); // No such process.
    const alive = join(tmp, "1-alive"); // init is always there.
    const oldStray = join(tmp, "old.tmp");
    const newStray = join(tmp, "new.tmp");
    for (const directory of [dead, alive]) await Deno.mkdir(directory);
    await Deno.writeTextFile(join(dead, "partial"), "x");
    for (const file of [oldStray, newStray]) await Deno.writeTextFile(file, "x");
    // A dead process's heartbeat has stopped; a live one's is fresh. (Where Deno keeps /proc
    // closed, as it does under scoped permissions, the heartbeat is all that tells them apart.)
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const path of [oldStray, dead]) await Deno.utime(path, hourAgo, hourAgo);
    assertEquals(await Staging.cleanStale(root.path), 2);
    const left = (await Array.fromAsync(Deno.readDir(tmp))).map((entry) => entry.name).sort();
    assert(left.includes("1-alive") && left.includes("new.tmp"), left.join(", "));
    assert(!left.includes("999999999-dead") && !left.includes("old.tmp"), left.join(", "));
    assert(left.some((name) => mine.path.endsWith(name)), "own staging removed");
    await mine.dispose();
  });
});
