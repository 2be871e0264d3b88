/**
 * The import rule of README "Design": this checkout keeps it, and the
 * check finds each kind of break in a small tree made to break it.
 */

import { join } from "node:path";
import { assertEquals } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { brokenImports } from "../tools/check_imports.ts";

Deno.test("the library's folders import only downward, and no _file across folders", () => {
  assertEquals(brokenImports(), []);
});

Deno.test("the import check finds an upward import, a private one and an unplaced folder", async () => {
  await using dir = await tempDir();
  const write = async (path: string, text: string) => {
    await Deno.mkdir(join(dir.path, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir.path, path), text);
  };
  await write("lib/store/a.ts", `import { b } from "../layer/b.ts";\nexport const a = b;\n`);
  await write("lib/layer/b.ts", `export { c as b } from "../store/_c.ts";\n`);
  await write("lib/store/_c.ts", `export const c = 1;\n`);
  await write("lib/store/d.ts", `export { c } from "./_c.ts"; // its own folder: fine\n`);
  await write("lib/extra/e.ts", `export const e = 1;\n`);
  await write(
    "cli.ts",
    `/** \`\`\`ts\nimport { x } from "./lib/runtime/_doc.ts";\n\`\`\` */\n` +
      `const w = new Worker(new URL("./lib/runtime/_w.ts", import.meta.url));\n`,
  );
  assertEquals(brokenImports(dir.path).sort(), [
    "cli.ts: imports lib/runtime/_w.ts: a _file is private to its folder",
    "lib/extra/e.ts: its folder lib/extra has no place in tools/check_imports.ts ORDER",
    "lib/layer/b.ts: imports lib/store/_c.ts: a _file is private to its folder",
    "lib/store/a.ts: imports lib/layer/b.ts: lib/layer is not below lib/store in the order",
  ]);
});
