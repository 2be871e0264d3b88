/**
 * Pulls through configured mirrors: the mirror serves when it can, any
 * failure of it (no connection, 404, 5xx, a transfer breaking off) falls
 * back to the next source at once, and the image is always recorded under
 * its own name. The config file that names the mirrors, and its errors.
 */

import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { fakeImage, registryHandler, startServer, tempDir } from "./_fake_registry.ts";
import { faultyRegistry, noise } from "./_faulty_registry.ts";
import { craftTar } from "./_tar.ts";
import { runCli } from "./_cli.ts";
import { integrationTest, OciLayout, startRegistry } from "./_real_registry.ts";
import { pull, type PullEvent } from "../lib/operations/pull.ts";
import { listImages } from "../lib/operations/inspect.ts";
import { checkStore } from "../lib/operations/check.ts";
import { RegistryError } from "../lib/errors.ts";
import { parseConfig, readConfig } from "../lib/transport/config.ts";
import { OCI_MANIFEST } from "../lib/model/media_types.ts";

const layer = await craftTar([{ name: "data.bin", body: noise(600_000) }]);
const image = fakeImage([layer]);
const layerDigest = [...image.blobs.keys()].find((digest) => digest !== image.configDigest)!;
const fast = { baseDelay: 5, maxDelay: 50 };

/** A registry serving the image under team/app:latest. */
function serving() {
  return startServer(registryHandler({
    manifests: new Map([
      ["latest", { bytes: image.manifestBytes, contentType: OCI_MANIFEST }],
      [image.manifestDigest, { bytes: image.manifestBytes, contentType: OCI_MANIFEST }],
    ]),
    blobs: image.blobs,
  }));
}

/** A loopback URL nothing listens on. */
function closedPort(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return `127.0.0.1:${port}`;
}

async function pullVia(registry: string, mirrors: string[]) {
  await using root = await tempDir();
  const events: PullEvent[] = [];
  const result = await pull(`${registry}/team/app`, {
    root: root.path,
    retry: fast,
    registries: parseConfig({ registries: { [registry]: { mirrors } } }).registries,
    onProgress: (event) => events.push(event),
  });
  assertEquals(result.imageId, image.configDigest);
  assertEquals(await checkStore({ root: root.path }), []);
  const rows = await listImages({ root: root.path });
  // Recorded under the name pulled, never the mirror's.
  assertEquals(rows.map((row) => `${row.Repository}:${row.Tag}`), [
    `${registry}/team/app:latest`,
  ]);
  return {
    warnings: events.flatMap((event) => event.type === "warning" ? [event.message] : []),
    retries: events.filter((event) => event.type === "retry").length,
  };
}

Deno.test("a mirror that serves the image is used, and the registry is not asked", async () => {
  await using registry = serving();
  await using mirror = serving();
  const { warnings } = await pullVia(registry.host, [mirror.origin]);
  assertEquals(warnings, []);
  assertEquals(registry.requests, []);
  assert(
    mirror.requests.some((request) => request.path === `/v2/team/app/blobs/${layerDigest}`),
    "the layer came from the mirror",
  );
});

Deno.test("the mirror serves while the registry is down", async () => {
  await using mirror = serving();
  const { warnings } = await pullVia(closedPort(), [mirror.origin]);
  assertEquals(warnings, []);
});

Deno.test("a mirror that is down: the registry serves, one warning, no retries", async () => {
  await using registry = serving();
  const down = closedPort();
  const { warnings, retries } = await pullVia(registry.host, [`http://${down}`]);
  assertEquals(warnings, [
    `mirror http://${down} failed, using ${registry.host}: Cannot fetch manifest ${down}/team/app:latest: cannot reach ${down}: connection refused`,
  ]);
  assertEquals(retries, 0);
});

Deno.test("mirrors in order: a 404 mirror, a 503 mirror, then the registry", async () => {
  await using registry = serving();
  await using empty = startServer(registryHandler({ manifests: new Map(), blobs: new Map() }));
  await using busy = startServer(() => new Response("busy", { status: 503 }));
  const { warnings, retries } = await pullVia(registry.host, [empty.origin, busy.origin]);
  assertEquals(warnings.length, 2);
  assert(warnings[0].startsWith(`mirror ${empty.origin} failed, using ${busy.origin}: `));
  assert(/HTTP 404\)?$/.test(warnings[0]), warnings[0]);
  assert(warnings[1].startsWith(`mirror ${busy.origin} failed, using ${registry.host}: `));
  assert(/HTTP 503\)?$/.test(warnings[1]), warnings[1]);
  // A mirror's 503 is not retried: each request was sent to it once.
  const asked = busy.requests.map((request) => `${request.method} ${request.path}`);
  assertEquals(asked.length, new Set(asked).size);
  assertEquals(retries, 0);
  assert(registry.requests.some((request) => request.path.endsWith(layerDigest)));
});

Deno.test("a layer whose transfer from the mirror breaks off is finished by the registry", async () => {
  const cut = 200_000;
  await using mirror = faultyRegistry(
    image,
    (kind, nth) => kind === "blob" && nth === 2 ? { cutAfter: cut, how: "reset" } : undefined,
  );
  await using registry = faultyRegistry(image, () => undefined);
  const { warnings } = await pullVia(registry.server.host, [mirror.server.origin]);
  assertEquals(warnings.length, 1);
  const layerRequests = registry.log.filter((entry) => entry.bytes > 100_000);
  assertEquals(layerRequests.length, 1);
  const from = Number(/^bytes=([0-9]+)-$/.exec(layerRequests[0].range ?? "")?.[1]);
  assert(from > 0 && from <= cut, `the registry was asked from byte ${from}`);
  assertEquals(layerRequests[0].bytes, layer.byteLength - from);
});

Deno.test("mirror and registry both down: the registry's error is the one reported", async () => {
  await using root = await tempDir();
  const registry = closedPort();
  const mirror = closedPort();
  const error = await assertRejects(
    () =>
      pull(`${registry}/team/app`, {
        root: root.path,
        retry: { ...fast, attempts: 2 },
        registries: { [registry]: { mirrors: [`http://${mirror}`] } },
      }),
    RegistryError,
  );
  assertEquals(
    error.message,
    `Cannot fetch manifest ${registry}/team/app:latest: cannot reach ${registry}: connection refused`,
  );
});

Deno.test("config file: where it is looked for, and its entries checked", async (t) => {
  await using dir = await tempDir();
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const write = async (name: string, text: string) => {
    const path = join(dir.path, name);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, text);
    return path;
  };
  await t.step("DENOCKER_CONFIG, then XDG_CONFIG_HOME, then ~/.config", async () => {
    const named = await write("named.json", `{"registries":{"a.lan":{"insecure":true}}}`);
    await write("xdg/denocker/config.json", `{"registries":{"b.lan":{"insecure":true}}}`);
    await write("home/.config/denocker/config.json", `{"registries":{"c.lan":{}}}`);
    const all = { DENOCKER_CONFIG: named, XDG_CONFIG_HOME: join(dir.path, "xdg") };
    const home = join(dir.path, "home");
    assertEquals(
      Object.keys((await readConfig({ env: env({ ...all, HOME: home }) })).registries),
      [
        "a.lan",
      ],
    );
    assertEquals(
      Object.keys(
        (await readConfig({ env: env({ XDG_CONFIG_HOME: all.XDG_CONFIG_HOME }) }))
          .registries,
      ),
      ["b.lan"],
    );
    assertEquals(Object.keys((await readConfig({ env: env({ HOME: home }) })).registries), [
      "c.lan",
    ]);
    // No file at the default place: an empty config.
    assertEquals(await readConfig({ env: env({ HOME: join(dir.path, "nobody") }) }), {
      registries: {},
    });
  });

  await t.step("Docker Hub's other names are docker.io", () => {
    const config = parseConfig({
      registries: { "Index.Docker.IO": { mirrors: ["https://cache.lan:5000/"] } },
    });
    assertEquals(config.registries, { "docker.io": { mirrors: ["https://cache.lan:5000"] } });
  });

  const cases: [string, string][] = [
    ["[1,2]", "it is not a JSON object"],
    [`{"registries":[]}`, `"registries" is not an object`],
    [
      `{"registries":{"a.lan":{"mirrors":"http://m"}}}`,
      `registries["a.lan"].mirrors is not an array of URLs`,
    ],
    [
      `{"registries":{"a.lan":{"mirrors":["ftp://m.lan"]}}}`,
      `registries["a.lan"].mirrors[0]: "ftp://m.lan": the scheme ftp:// is not HTTP; expected http(s)://HOST[:PORT]`,
    ],
    [
      `{"registries":{"a.lan":{"mirrors":["http://m.lan/v2/"]}}}`,
      `registries["a.lan"].mirrors[0]: "http://m.lan/v2/": a mirror is asked for the same paths as the registry, so its URL takes no path, query or fragment`,
    ],
    [
      `{"registries":{"a.lan":{"insecure":"yes"}}}`,
      `registries["a.lan"].insecure is not true or false`,
    ],
    [
      `{"registries":{"a lan":{}}}`,
      `registries["a lan"]: Cannot use insecure registry "a lan": not a host name with an optional port; expected HOST[:PORT]`,
    ],
    [
      `{"registries":{"docker.io":{"mirror":["http://m.lan"]}}}`,
      `unknown key "mirror" in registries["docker.io"]; did you mean "mirrors"?`,
    ],
    [`{"registry":{}}`, `unknown key "registry"; did you mean "registries"?`],
    [`{"mirrors":[]}`, `unknown key "mirrors"; known keys: registries, bip`],
    [
      `{"bip":"10.77.0.0/16"}`,
      `"bip": 10.77.0.0/16 is its subnet's network or broadcast address; give the bridge's own`,
    ],
    [
      `{"bip":"10.77.0.1"}`,
      `"bip": "10.77.0.1" is not ADDRESS/PREFIX (an IPv4 address, a prefix of 8 to 30)`,
    ],
    [
      `{"registries":{"a.lan":{"insecure":true,"tls":false}}}`,
      `unknown key "tls" in registries["a.lan"]; known keys: mirrors, insecure`,
    ],
  ];
  for (const [text, reason] of cases) {
    await t.step(`refused: ${text}`, async () => {
      const path = await write("bad.json", text);
      const result = await runCli(["tags", "127.0.0.1:1/team/app"], {
        env: { DENOCKER_CONFIG: path },
      });
      assertEquals(result.code, 1);
      assertEquals(result.stderr, `denocker: Cannot read config ${path}: ${reason}\n`);
    });
  }

  await t.step("a wrong config stops commands that never reach a registry too", async () => {
    const path = await write("typo.json", `{"registries":{"docker.io":{"mirror":[]}}}`);
    const reason =
      `Cannot read config ${path}: unknown key "mirror" in registries["docker.io"]; did you mean "mirrors"?`;
    const root = join(dir.path, "store");
    for (const args of [["images"], ["rmi", "busybox"], ["check"], ["ps", "-a"]]) {
      const result = await runCli(["--root", root, ...args], {
        env: { DENOCKER_CONFIG: path },
      });
      assertEquals([args[0], result.code, result.stderr], [args[0], 1, `denocker: ${reason}\n`]);
    }
  });

  await t.step("refused: not JSON, and a named file that is missing", async () => {
    const path = await write("broken.json", "{");
    const broken = await runCli(["pull", "127.0.0.1:1/team/app"], {
      env: { DENOCKER_CONFIG: path },
    });
    assertEquals(broken.code, 1);
    assert(
      broken.stderr.startsWith(`denocker: Cannot read config ${path}: it is not JSON (`),
      broken.stderr,
    );
    assertEquals(broken.stderr.trim().split("\n").length, 1);
    const missing = join(dir.path, "missing.json");
    const result = await runCli(["pull", "127.0.0.1:1/team/app"], {
      env: { DENOCKER_CONFIG: missing },
    });
    assertEquals(result.code, 1);
    assertEquals(
      result.stderr,
      `denocker: Cannot read config ${missing}: no such file (named by DENOCKER_CONFIG)\n`,
    );
  });
});

Deno.test("denocker pull reads the mirrors from the config file", async () => {
  await using mirror = serving();
  await using dir = await tempDir();
  const registry = closedPort();
  const config = join(dir.path, "xdg", "denocker", "config.json");
  await Deno.mkdir(join(config, ".."), { recursive: true });
  await Deno.writeTextFile(
    config,
    JSON.stringify({ registries: { [registry]: { mirrors: [mirror.origin] } } }),
  );
  const root = join(dir.path, "store");
  const env = { XDG_CONFIG_HOME: join(dir.path, "xdg") };
  const pulled = await runCli(["--root", root, "pull", `${registry}/team/app`], { env });
  assertEquals(pulled.code, 0, pulled.stderr);
  assertEquals(pulled.stdout, `${image.configDigest}\n`);
  const images = await runCli(["--root", root, "images", "--json"], { env });
  const rows = JSON.parse(images.stdout) as { Repository: string; Tag: string }[];
  assertEquals(rows.map((row) => `${row.Repository}:${row.Tag}`), [
    `${registry}/team/app:latest`,
  ]);
});

Deno.test("a registry the config marks insecure is reached over plain HTTP", async () => {
  // registry.invalid never resolves; the only way to it is an HTTP proxy, which only a
  // plain-HTTP request uses (HTTPS would need CONNECT, which this proxy refuses).
  await using proxy = startServer((request, url) =>
    request.method === "CONNECT"
      ? new Response(null, { status: 405 })
      : url.host === "registry.invalid:5000" && url.pathname === "/v2/team/app/tags/list"
      ? Response.json({ name: "team/app", tags: ["1.0", "2.0"] })
      : Response.json({})
  );
  await using dir = await tempDir();
  const config = join(dir.path, "config.json");
  const env = { DENOCKER_CONFIG: config, HTTP_PROXY: proxy.origin, NO_PROXY: "" };
  await Deno.writeTextFile(config, `{"registries":{"registry.invalid:5000":{}}}`);
  const secure = await runCli(["tags", "registry.invalid:5000/team/app"], { env });
  assertEquals(secure.code, 1);
  assert(secure.stderr.includes("host not found"), secure.stderr);
  await Deno.writeTextFile(config, `{"registries":{"registry.invalid:5000":{"insecure":true}}}`);
  const insecure = await runCli(["tags", "registry.invalid:5000/team/app"], { env });
  assertEquals(insecure.stderr, "");
  assertEquals(insecure.stdout, "1.0\n2.0\n");
});

integrationTest("a fleet's pull-through cache: the distribution registry in proxy mode", [
  "docker-registry",
  "skopeo",
  "umoci",
], async (t) => {
  await using origin = await startRegistry();
  await using cache = await startRegistry({ proxyOf: origin.host });
  await using layout = await OciLayout.create();
  await using dir = await tempDir();
  const files = join(layout.dir, "files");
  await Deno.mkdir(join(files, "etc"), { recursive: true });
  await Deno.writeTextFile(join(files, "etc", "motd"), "cached\n");
  await layout.image("app", [await layout.tarOf(files, "files")]);
  const name = `${origin.host}/team/app:1`;
  await layout.push("app", name);
  const imageId = (await layout.manifest("app")).config.digest;
  const config = join(dir.path, "config.json");
  const pullWith = async (mirrors: string[], store: string) => {
    await Deno.writeTextFile(
      config,
      JSON.stringify({ registries: { [origin.host]: { mirrors } } }),
    );
    const root = join(dir.path, store);
    const pulled = await runCli(["--root", root, "pull", name], {
      env: { DENOCKER_CONFIG: config },
    });
    const images = await runCli(["--root", root, "images", "--json"]);
    return { pulled, images: JSON.parse(images.stdout || "[]") };
  };

  await t.step("the first pull fills the cache; the image has its own name", async () => {
    const { pulled, images } = await pullWith([`http://${cache.host}`], "first");
    assertEquals(pulled.code, 0, pulled.stderr);
    assertEquals(pulled.stdout, `${imageId}\n`);
    assertEquals(images.map((row: { Repository: string; Tag: string }) => row.Repository), [
      `${origin.host}/team/app`,
    ]);
    const catalog = await fetch(`http://${cache.host}/v2/_catalog`).then((r) => r.json());
    assertEquals(catalog.repositories, ["team/app"]);
  });

  await t.step("the cache down: pulled from the registry, with a warning", async () => {
    const down = `http://${closedPort()}`;
    const { pulled } = await pullWith([down], "fallback");
    assertEquals(pulled.code, 0, pulled.stderr);
    assertEquals(pulled.stdout, `${imageId}\n`);
    assert(
      pulled.stderr.includes(`mirror ${down} failed, using ${origin.host}: `),
      pulled.stderr,
    );
  });

  await origin.close();

  await t.step("the registry down: the cache serves what it holds", async () => {
    const { pulled, images } = await pullWith([`http://${cache.host}`], "cached");
    assertEquals(pulled.code, 0, pulled.stderr);
    assertEquals(pulled.stdout, `${imageId}\n`);
    assertEquals(images.length, 1);
    const unpacked = join(dir.path, "rootfs");
    const root = join(dir.path, "cached");
    assertEquals((await runCli(["--root", root, "unpack", name, unpacked])).code, 0);
    assertEquals(await Deno.readTextFile(join(unpacked, "etc", "motd")), "cached\n");
  });
});

Deno.test("pull takes `insecure` from the registries it is given, as from the config", async () => {
  await using root = await tempDir();
  const asked: string[] = [];
  const recording: typeof fetch = (input) => {
    asked.push(String(input instanceof Request ? input.url : input));
    return Promise.resolve(new Response(null, { status: 404 }));
  };
  await assertRejects(() =>
    pull("registry.invalid:5000/team/app", {
      root: root.path,
      fetch: recording,
      retry: { attempts: 1 },
      registries: parseConfig({ registries: { "registry.invalid:5000": { insecure: true } } })
        .registries,
    })
  );
  assert(
    asked.length > 0 && asked.every((url) => url.startsWith("http://registry.invalid:5000/")),
  );
});
