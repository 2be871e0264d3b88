import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { listFiles, tempDir } from "./_fake_registry.ts";
import { integrationTest, OciLayout, startRegistry } from "./_real_registry.ts";
import { Store } from "../lib/store/store.ts";
import { pull } from "../lib/operations/pull.ts";
import { dockerConfigCredentials } from "../lib/transport/credentials.ts";
import { digestOf } from "../lib/model/digest.ts";
import { ImageNotFoundError, RegistryError } from "../lib/errors.ts";
import { hostPlatform } from "../lib/model/platform.ts";

const TOOLS = ["docker-registry", "skopeo", "umoci", "tar"];

/** Builds a two-layer image and per-architecture variants in one OCI layout. */
async function buildImages(): Promise<OciLayout> {
  const layout = await OciLayout.create();
  const base = join(layout.dir, "base");
  await Deno.mkdir(join(base, "etc"), { recursive: true });
  await Deno.writeTextFile(join(base, "etc", "os-release"), "NAME=denocker-test\n");
  const top = join(layout.dir, "top");
  await Deno.mkdir(join(top, "app"), { recursive: true });
  await Deno.writeTextFile(join(top, "app", "data.txt"), "data ".repeat(10000));
  const baseTar = await layout.tarOf(base, "base");
  const topTar = await layout.tarOf(top, "top");
  await layout.image("app", [baseTar, topTar]);
  for (const architecture of ["amd64", "arm64"]) {
    const dir = join(layout.dir, architecture);
    await Deno.mkdir(dir);
    await Deno.writeTextFile(join(dir, "arch"), architecture);
    await layout.image(architecture, [baseTar, await layout.tarOf(dir, architecture)], {
      architecture,
    });
  }
  await layout.index("multi", [{ tag: "amd64", architecture: "amd64" }, {
    tag: "arm64",
    architecture: "arm64",
  }]);
  return layout;
}

async function assertStoreIntact(root: string): Promise<string[]> {
  const names = await listFiles(root, "blobs/sha256");
  assert(names.length > 0, "no blobs stored");
  for (const name of names) {
    assertEquals(
      digestOf(await Deno.readFile(join(root, name))),
      `sha256:${name.split("/").pop()}`,
    );
  }
  assertEquals(await listFiles(root, "tmp"), []);
  return names;
}

integrationTest(
  "pull from the real registry: OCI, Docker v2s2 and multi-platform",
  TOOLS,
  async (t) => {
    await using registry = await startRegistry();
    await using layout = await buildImages();
    await layout.push("app", `${registry.host}/team/app:oci`);
    await layout.push("app", `${registry.host}/team/app:v2s2`, ["--format", "v2s2"]);
    await layout.push("multi", `${registry.host}/team/multi:1`, ["--all"]);
    const appConfig = (await layout.manifest("app")).config.digest;

    await t.step(
      "an OCI image: ID is the config digest, every blob re-hashes to its name",
      async () => {
        await using store = await tempDir();
        const result = await pull(`${registry.host}/team/app:oci`, { root: store.path });
        assertEquals(result.imageId, appConfig);
        assertEquals(result.layers.length, 2);
        assertEquals(
          digestOf(
            await Deno.readFile(join(store.path, "blobs/sha256", result.imageId.slice(7))),
          ),
          result.imageId,
        );
        assertEquals((await assertStoreIntact(store.path)).length, 4);
      },
    );

    await t.step("the same image as Docker v2 schema 2", async () => {
      await using store = await tempDir();
      const result = await pull(`${registry.host}/team/app:v2s2`, { root: store.path });
      assertEquals(
        result.manifest.mediaType,
        "application/vnd.docker.distribution.manifest.v2+json",
      );
      assertEquals(result.imageId, appConfig);
      await assertStoreIntact(store.path);
    });

    await t.step("a multi-platform index, with and without --platform", async () => {
      await using store = await tempDir();
      const amd = (await layout.manifest("amd64")).config.digest;
      const arm = (await layout.manifest("arm64")).config.digest;
      assert(amd !== arm);
      const forArm = await pull(`${registry.host}/team/multi:1`, {
        root: store.path,
        platform: { os: "linux", architecture: "arm64" },
      });
      assertEquals(forArm.imageId, arm);
      assertEquals(forArm.platform.architecture, "arm64");
      // The platform manifest's digest finds the image, through the index's recorded digest.
      const found = await (await Store.open(store.path)).find(
        `${registry.host}/team/multi@${forArm.manifestDigest}`,
      );
      assertEquals(found.record.id, arm);
      assertEquals(found.repoDigest, found.record.repoDigests[0]);
      assert(found.repoDigest !== `${registry.host}/team/multi@${forArm.manifestDigest}`);
      const forHost = await pull(`${registry.host}/team/multi:1`, { root: store.path });
      assertEquals(forHost.imageId, hostPlatform().architecture === "arm64" ? arm : amd);
      await assertRejects(
        () =>
          pull(`${registry.host}/team/multi:1`, {
            root: store.path,
            platform: { os: "linux", architecture: "s390x" },
          }),
        ImageNotFoundError,
        /offers linux\/amd64, linux\/arm64/,
      );
      await assertStoreIntact(store.path);
    });

    await t.step("a second pull downloads no blob", async () => {
      await using store = await tempDir();
      const blobRequests: string[] = [];
      const countingFetch: typeof fetch = (input, init) => {
        const url = input instanceof Request ? input.url : String(input);
        if (url.includes("/blobs/")) blobRequests.push(url);
        return fetch(input, init);
      };
      await pull(`${registry.host}/team/app:oci`, { root: store.path, fetch: countingFetch });
      assertEquals(blobRequests.length, 3);
      await pull(`${registry.host}/team/app:oci`, { root: store.path, fetch: countingFetch });
      assertEquals(blobRequests.length, 3);
    });
  },
);

integrationTest("pull from the real registry with htpasswd auth and DOCKER_CONFIG", [
  ...TOOLS,
  "htpasswd",
], async (t) => {
  await using registry = await startRegistry({
    htpasswd: { user: "carol", password: "pa55-word" },
  });
  await using layout = await buildImages();
  await using store = await tempDir();
  await using config = await tempDir();
  const name = `localhost:${registry.host.split(":")[1]}/team/app:1`;
  await layout.push("app", `${registry.host}/team/app:1`, ["--dest-creds", "carol:pa55-word"]);
  const credentials = dockerConfigCredentials({
    env: (variable) => (variable === "DOCKER_CONFIG" ? config.path : undefined),
  });
  await t.step("without credentials the registry refuses", async () => {
    await assertRejects(
      () => pull(name, { root: store.path, credentials }),
      RegistryError,
      /needs a login/,
    );
  });
  await t.step("with credentials in config.json it pulls", async () => {
    await Deno.writeTextFile(
      join(config.path, "config.json"),
      JSON.stringify({ auths: { [name.split("/")[0]]: { auth: btoa("carol:pa55-word") } } }),
    );
    const result = await pull(name, { root: store.path, credentials });
    assertEquals(result.imageId, (await layout.manifest("app")).config.digest);
  });
  await t.step(
    "the README's pull command, with the denocker task's scoped permissions",
    async () => {
      await using cliStore = await tempDir();
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["task", "-q", "denocker", "pull", "-q", "--root", cliStore.path, name],
        cwd: new URL("..", import.meta.url).pathname,
        env: { DOCKER_CONFIG: config.path },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assertEquals(output.code, 0, stderr);
      const stdout = new TextDecoder().decode(output.stdout);
      assertMatch(stdout, /^sha256:[0-9a-f]{64}\n$/);
      assertEquals(stdout.trim(), (await layout.manifest("app")).config.digest);
      assert(!stderr.includes("pa55-word"), "password printed");
    },
  );
});
