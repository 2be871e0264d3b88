import { join } from "node:path";
import { assertEquals } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { withLock } from "../lib/io/lock.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 50));

Deno.test("store locks: exclusive excludes, shared shares, a long wait is announced", async (t) => {
  await using dir = await tempDir();
  const path = join(dir.path, "test.lock");
  await t.step("an exclusive holder runs alone", async () => {
    const events: string[] = [];
    const holder = (name: string) =>
      withLock(path, { exclusive: true }, async () => {
        events.push(`${name} in`);
        await tick();
        events.push(`${name} out`);
      });
    await Promise.all([holder("a"), holder("b")]);
    assertEquals(events.length, 4);
    assertEquals(events[0].split(" ")[0], events[1].split(" ")[0]); // in, out of one first
    assertEquals(events[2].split(" ")[0], events[3].split(" ")[0]);
  });
  await t.step("shared holders are inside together", async () => {
    let inside = 0;
    let most = 0;
    const holder = () =>
      withLock(path, { exclusive: false }, async () => {
        most = Math.max(most, ++inside);
        await tick();
        inside--;
      });
    await Promise.all([holder(), holder(), holder()]);
    assertEquals(most, 3);
  });
  await t.step("onWait is called once, only when the lock is held by another", async () => {
    let waits = 0;
    await withLock(path, { exclusive: true, onWait: () => waits++ }, () => Promise.resolve());
    assertEquals(waits, 0);
    let release!: () => void;
    const held = withLock(
      path,
      { exclusive: true },
      () => new Promise<void>((r) => (release = r)),
    );
    await tick();
    const waiting = withLock(
      path,
      { exclusive: true, onWait: () => waits++ },
      () => Promise.resolve(),
    );
    await new Promise((resolve) => setTimeout(resolve, 1300));
    release();
    await Promise.all([held, waiting]);
    assertEquals(waits, 1);
  });
});
