/** `login` and `logout`: credentials checked against the registry, kept in docker's config.json. */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_cli.ts";
import {
  fakeImage,
  manifestsFor,
  registryHandler,
  startServer,
  tempDir,
} from "./_fake_registry.ts";
import { craftTar } from "./_tar.ts";
import { integrationTest, OciLayout, startRegistry } from "./_real_registry.ts";

integrationTest("login checks the password, saves it for pulls, and logout removes it", [
  "docker-registry",
  "skopeo",
  "umoci",
  "htpasswd",
], async () => {
  await using registry = await startRegistry({ htpasswd: { user: "dana", password: "s3cret" } });
  await using layout = await OciLayout.create();
  await using config = await tempDir();
  await using root = await tempDir();
  const env = { DOCKER_CONFIG: config.path };
  const configFile = join(config.path, "config.json");
  await layout.image("app", []);
  await layout.push("app", `${registry.host}/team/private:1`, ["--dest-creds", "dana:s3cret"]);
  const kept = { auths: { "other.example": { auth: btoa("x:y") } }, psFormat: "table" };
  await Deno.writeTextFile(configFile, JSON.stringify(kept));

  const wrong = await runCli(["login", "-u", "dana", "-p", "nope", registry.host], { env });
  assertEquals(wrong.code, 1);
  assertEquals(
    wrong.stderr,
    `denocker: Cannot log in to ${registry.host}: the registry refused the user or password (HTTP 401)\n`,
  );
  assertEquals(wrong.stderr.includes("nope"), false);
  assertEquals(JSON.parse(await Deno.readTextFile(configFile)), kept);

  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../cli.ts", import.meta.url).pathname,
      "login",
      "-u",
      "dana",
      "--password-stdin",
      registry.host,
    ],
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("s3cret\n"));
  await writer.close();
  const right = await child.output();
  assertEquals(
    [right.code, new TextDecoder().decode(right.stdout)],
    [0, "Login Succeeded\n"],
    new TextDecoder().decode(right.stderr),
  );
  const saved = JSON.parse(await Deno.readTextFile(configFile));
  assertEquals(saved.auths[registry.host], { auth: btoa("dana:s3cret") });
  assertEquals(saved.auths["other.example"], kept.auths["other.example"]);
  assertEquals(saved.psFormat, "table");
  assertEquals((await Deno.stat(configFile)).mode! & 0o777, 0o600);

  const pulled = await runCli([
    "pull",
    "-q",
    "--root",
    root.path,
    `${registry.host}/team/private:1`,
  ], { env });
  assertEquals(pulled.code, 0, pulled.stderr);

  const out = await runCli(["logout", registry.host], { env });
  assertEquals(out.stdout, `Removing login credentials for ${registry.host}\n`);
  assert(!(registry.host in JSON.parse(await Deno.readTextFile(configFile)).auths));
  // Logged out, the registry asks for a login again.
  const anonymous = await runCli(
    ["pull", "-q", "--root", root.path, `${registry.host}/team/private:1`],
    { env },
  );
  assertEquals(anonymous.code, 1);
  assertMatch(anonymous.stderr, /it needs a login/);
});

Deno.test("login through a token service, a private pull, logout", async () => {
  const image = fakeImage([await craftTar([{ name: "private", body: "private" }])]);
  await using config = await tempDir();
  const env = { DOCKER_CONFIG: config.path };
  await using tokenServer = startServer((request) =>
    request.headers.get("authorization") === `Basic ${btoa("erin:t0ken-pass")}`
      ? Response.json({ token: "granted", expires_in: 300 })
      : new Response("denied", { status: 401 })
  );
  await using registry = startServer(registryHandler({
    manifests: manifestsFor(image),
    blobs: image.blobs,
    gate: (request) =>
      request.headers.get("authorization") === "Bearer granted" ? undefined : new Response(null, {
        status: 401,
        headers: {
          "www-authenticate": `Bearer realm="${tokenServer.origin}/token",service="fake"`,
        },
      }),
  }));
  await using root = await tempDir();
  const privatePull = () =>
    runCli(["pull", "-q", "--root", root.path, `${registry.host}/team/app`], { env });
  const wrong = await runCli(["login", "-u", "erin", "-p", "wrong", registry.host], { env });
  assertEquals(wrong.code, 1);
  assertMatch(
    wrong.stderr,
    /^denocker: Cannot log in to 127\.0\.0\.1:[0-9]+: the registry refused/,
  );
  assertEquals(
    await Deno.stat(join(config.path, "config.json")).then(() => true, () => false),
    false,
  );
  const right = await runCli(["login", "-u", "erin", "-p", "t0ken-pass", registry.host], { env });
  assertEquals([right.code, right.stdout], [0, "Login Succeeded\n"], right.stderr);
  const saved = JSON.parse(await Deno.readTextFile(join(config.path, "config.json")));
  assertEquals(saved.auths[registry.host], { auth: btoa("erin:t0ken-pass") });
  const pulled = await privatePull();
  assertEquals([pulled.code, pulled.stdout], [0, `${image.configDigest}\n`], pulled.stderr);

  const logout = await runCli(["logout", registry.host], { env });
  assertEquals([logout.code, logout.stdout], [
    0,
    `Removing login credentials for ${registry.host}\n`,
  ]);
  assertEquals(JSON.parse(await Deno.readTextFile(join(config.path, "config.json"))).auths, {});
  await runCli(["rmi", "--root", root.path, `${registry.host}/team/app`]);
  const refused = await privatePull();
  assertEquals(refused.code, 1);
  assertMatch(refused.stderr, /token service answered 401 \(wrong or missing credentials\)/);
});

Deno.test("login and logout use the credential helper docker's config names", async (t) => {
  await using server = startServer((request, url) => {
    if (request.headers.get("authorization") !== `Basic ${btoa("dana:s3cret")}`) {
      return new Response(null, {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="fake"' },
      });
    }
    return url.pathname === "/v2/team/app/tags/list"
      ? Response.json({ name: "team/app", tags: ["1"] })
      : Response.json({});
  });
  await using dir = await tempDir();
  // A helper as docker's are: `store` reads JSON, `get` and `erase` read the server's name.
  const bin = join(dir.path, "bin");
  const store = join(dir.path, "helper-store.json");
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    join(bin, "docker-credential-denockertest"),
    `#!/bin/sh
case "$1" in
  store) cat > "${store}" ;;
  get) read server; [ -f "${store}" ] && cat "${store}" && exit 0
       echo "credentials not found in native keychain"; exit 1 ;;
  erase) read server; [ -f "${store}" ] && rm "${store}" && exit 0
       echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
    { mode: 0o755 },
  );
  const shapes = [
    { credsStore: "denockertest" },
    { credHelpers: { [server.host]: "denockertest" } },
  ];
  for (const shape of shapes) {
    await t.step(Object.keys(shape)[0], async () => {
      const configDir = join(dir.path, Object.keys(shape)[0]);
      await Deno.mkdir(configDir);
      const configFile = join(configDir, "config.json");
      await Deno.writeTextFile(configFile, JSON.stringify(shape));
      const env = { DOCKER_CONFIG: configDir, PATH: `${bin}:${Deno.env.get("PATH")}` };
      const tags = ["tags", `${server.host}/team/app`];

      const login = await runCli(["login", "-u", "dana", "-p", "s3cret", server.host], { env });
      assertEquals([login.code, login.stdout], [0, "Login Succeeded\n"], login.stderr);
      assertEquals(JSON.parse(await Deno.readTextFile(store)), {
        ServerURL: server.host,
        Username: "dana",
        Secret: "s3cret",
      });
      const config = await Deno.readTextFile(configFile);
      assertEquals(config.includes("s3cret") || config.includes(btoa("dana:s3cret")), false);
      assertEquals(JSON.parse(config), { ...shape, auths: { [server.host]: {} } });
      // What the helper keeps is what the next command uses.
      const listed = await runCli(tags, { env });
      assertEquals([listed.code, listed.stdout], [0, "1\n"], listed.stderr);

      const logout = await runCli(["logout", server.host], { env });
      assertEquals(logout.stdout, `Removing login credentials for ${server.host}\n`);
      assertEquals(await Deno.stat(store).then(() => true, () => false), false);
      assertEquals(JSON.parse(await Deno.readTextFile(configFile)), { ...shape, auths: {} });
      assertEquals((await runCli(tags, { env })).code, 1);
    });
  }
});
