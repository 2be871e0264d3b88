import { join } from "node:path";
import { assertEquals, assertRejects } from "./_assert.ts";
import { defer, tempDir } from "./_fake_registry.ts";
import { dockerConfigCredentials } from "../lib/transport/credentials.ts";
import { InvalidInputError } from "../lib/errors.ts";

async function withConfig(
  config: unknown,
  fn: (lookup: ReturnType<typeof dockerConfigCredentials>, dir: string) => Promise<void>,
) {
  await using dir = await tempDir();
  await Deno.writeTextFile(
    join(dir.path, "config.json"),
    typeof config === "string" ? config : JSON.stringify(config),
  );
  await fn(
    dockerConfigCredentials({
      env: (name) =>
        ({ DOCKER_CONFIG: dir.path, PATH: Deno.env.get("PATH") } as Record<string, string>)[name],
    }),
    dir.path,
  );
}

Deno.test("credentials from config.json auths", async (t) => {
  await t.step("the Docker Hub key https://index.docker.io/v1/ serves docker.io", () =>
    withConfig(
      { auths: { "https://index.docker.io/v1/": { auth: btoa("hubuser:hubpass") } } },
      async (lookup) => {
        assertEquals(await lookup("docker.io"), { username: "hubuser", secret: "hubpass" });
        assertEquals(await lookup("ghcr.io"), undefined);
      },
    ));
  await t.step("entries with a scheme and with username/password fields", () =>
    withConfig(
      {
        auths: {
          "https://ghcr.io": { username: "octo", password: "ghp_x" },
          "localhost:5000": { auth: btoa("a:b:c") },
        },
      },
      async (lookup) => {
        assertEquals(await lookup("ghcr.io"), { username: "octo", secret: "ghp_x" });
        assertEquals(await lookup("localhost:5000"), { username: "a", secret: "b:c" });
      },
    ));
  await t.step("a missing file means anonymous", async () => {
    const lookup = dockerConfigCredentials({ env: () => "/nonexistent-denocker-config" });
    assertEquals(await lookup("docker.io"), undefined);
  });
  await t.step(
    "a corrupt file is an error naming the file, never its content",
    () =>
      withConfig('{"auths": {"x": {"auth": "c2VjcmV0"', async (lookup, dir) => {
        const error = await assertRejects(() => lookup("x"), InvalidInputError);
        assertEquals(error.message, `Cannot read ${dir}/config.json: not a valid JSON object`);
      }),
  );
});

Deno.test("credentials from a credential helper", async () => {
  await using bin = await tempDir();
  const path = Deno.env.get("PATH");
  await Deno.writeTextFile(
    join(bin.path, "docker-credential-denocker-test"),
    `#!/bin/sh
read server
if [ "$server" = "private.example.com" ]; then
  echo '{"ServerURL":"private.example.com","Username":"helper-user","Secret":"helper-secret"}'
else
  echo "credentials not found in native keychain"; exit 1
fi
`,
    { mode: 0o755 },
  );
  await using _restorePath = defer(() => Deno.env.set("PATH", path!));
  Deno.env.set("PATH", `${bin.path}:${path}`);
  await withConfig(
    { credHelpers: { "private.example.com": "denocker-test" }, credsStore: "denocker-test" },
    async (lookup) => {
      assertEquals(await lookup("private.example.com"), {
        username: "helper-user",
        secret: "helper-secret",
      });
      assertEquals(await lookup("other.example.com"), undefined);
    },
  );
});
