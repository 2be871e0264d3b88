import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import {
  dockerConfig,
  fakeImage,
  listFiles,
  manifestsFor,
  registryHandler,
  startServer,
  tempDir,
} from "./_fake_registry.ts";
import { craftTar } from "./_tar.ts";
import { pull } from "../lib/operations/pull.ts";
import { parseChallenges } from "../lib/transport/_auth.ts";
import { dockerConfigCredentials } from "../lib/transport/credentials.ts";
import { RegistryError, VerificationError } from "../lib/errors.ts";
import { digestOf } from "../lib/model/digest.ts";
import {
  DOCKER_MANIFEST,
  DOCKER_SCHEMA1_SIGNED,
  OCI_INDEX,
  OCI_MANIFEST,
} from "../lib/model/media_types.ts";

const encoder = new TextEncoder();
const layerA = await craftTar([{ name: "a.txt", body: "layer A content ".repeat(1000) }]);
const layerB = await craftTar([{ name: "b.txt", body: "layer B content ".repeat(500) }]);

/** A registry gate that answers 401 with a Basic challenge unless the credentials are sent. */
function requireBasic(user: string, password: string) {
  return (request: Request) =>
    request.headers.get("authorization") === `Basic ${btoa(`${user}:${password}`)}`
      ? undefined
      : new Response(null, { status: 401, headers: { "www-authenticate": 'Basic realm="fake"' } });
}

function credentialsFor(dir: string) {
  return dockerConfigCredentials({ env: (name) => (name === "DOCKER_CONFIG" ? dir : undefined) });
}

/** Blob files under the store, read back and re-hashed. */
async function storedBlobs(root: string): Promise<string[]> {
  const names = await listFiles(root, "blobs/sha256");
  for (const name of names) {
    const bytes = await Deno.readFile(`${root}/${name}`);
    assertEquals(digestOf(bytes), `sha256:${name.split("/").pop()}`);
  }
  return names.map((name) => `sha256:${name.split("/").pop()}`).sort();
}

Deno.test("parseChallenges reads Bearer and Basic challenges", () => {
  assertEquals(
    parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
    ),
    [{
      scheme: "bearer",
      params: {
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: "repository:library/alpine:pull",
      },
    }],
  );
  assertEquals(parseChallenges('Basic realm="basic-realm"'), [
    { scheme: "basic", params: { realm: "basic-realm" } },
  ]);
});

Deno.test("pull through a Bearer token service on another port", async (t) => {
  const image = fakeImage([layerA, layerB]);
  await using store = await tempDir();
  await using config = await tempDir();
  // Recorded here, asserted in the steps: a failed assertion inside a handler would reach the
  // client as an HTTP 500 and look like another failure.
  const tokenRequests: {
    authorization: string | null;
    service: string | null;
    scope: string | null;
  }[] = [];
  await using tokenServer = startServer((request, url) => {
    tokenRequests.push({
      authorization: request.headers.get("authorization"),
      service: url.searchParams.get("service"),
      scope: url.searchParams.get("scope"),
    });
    if (request.headers.get("authorization") !== `Basic ${btoa("alice:s3cret-pass")}`) {
      return new Response("denied", { status: 401 });
    }
    return Response.json({ access_token: "token-123", expires_in: 300 });
  });
  await using registry = startServer(registryHandler({
    manifests: manifestsFor(image),
    blobs: image.blobs,
    gate: (request, url) =>
      request.headers.get("authorization") === "Bearer token-123" ? undefined : new Response(
        JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }),
        {
          status: 401,
          headers: {
            "www-authenticate":
              `Bearer realm="${tokenServer.origin}/token",service="fake-registry",scope="repository:${
                url.pathname.split("/").slice(2, 4).join("/")
              }:pull"`,
          },
        },
      ),
  }));
  await t.step(
    "with credentials from DOCKER_CONFIG, one token serves every request",
    async () => {
      await dockerConfig(config.path, registry.host, "alice", "s3cret-pass");
      const result = await pull(`${registry.host}/team/app`, {
        root: store.path,
        credentials: credentialsFor(config.path),
      });
      assertEquals(result.imageId, image.configDigest);
      assertEquals(tokenRequests, [{
        authorization: `Basic ${btoa("alice:s3cret-pass")}`,
        service: "fake-registry",
        scope: "repository:team/app:pull",
      }]);
      assertEquals(
        await storedBlobs(store.path),
        [...image.blobs.keys(), image.manifestDigest].sort(),
      );
    },
  );
  await t.step("a wrong password fails clearly and never shows the password", async () => {
    await dockerConfig(config.path, registry.host, "alice", "wrong-pass");
    const error = await assertRejects(
      () =>
        pull(`${registry.host}/team/app`, {
          root: store.path,
          credentials: credentialsFor(config.path),
        }),
      RegistryError,
      /token service answered 401/,
    );
    assert(!error.message.includes("wrong-pass"), "password leaked into the message");
  });
});

Deno.test("pull with Basic auth", async (t) => {
  const image = fakeImage([layerA]);
  await using store = await tempDir();
  await using config = await tempDir();
  await using registry = startServer(registryHandler({
    manifests: manifestsFor(image),
    blobs: image.blobs,
    gate: requireBasic("bob", "hunter2"),
  }));
  await t.step("without credentials it asks for a login", async () => {
    await assertRejects(
      () =>
        pull(`${registry.host}/team/app`, {
          root: store.path,
          credentials: credentialsFor(config.path),
        }),
      RegistryError,
      /needs a login/,
    );
  });
  await t.step("with credentials it pulls", async () => {
    await dockerConfig(config.path, registry.host, "bob", "hunter2");
    const result = await pull(`${registry.host}/team/app`, {
      root: store.path,
      credentials: credentialsFor(config.path),
    });
    assertEquals(result.imageId, image.configDigest);
  });
});

Deno.test("blob redirects to another origin never carry the registry's Authorization", async () => {
  const image = fakeImage([layerA, layerB]);
  await using store = await tempDir();
  await using config = await tempDir();
  await using cdn = startServer((_request, url) => {
    const bytes = image.blobs.get(url.pathname.split("/").pop()!);
    return bytes
      ? new Response(bytes as Uint8Array<ArrayBuffer>)
      : new Response(null, { status: 404 });
  });
  await using registry = startServer(registryHandler({
    manifests: manifestsFor(image),
    blobs: image.blobs,
    gate: requireBasic("bob", "hunter2"),
    // One hop relative (same origin), then on to the CDN.
    blobLocation: (digest) => (digest.startsWith("sha256:") ? `/relative/${digest}` : undefined),
  }));
  await dockerConfig(config.path, registry.host, "bob", "hunter2");
  // The registry's relative redirect lands on /relative/…, answered here with the CDN's URL.
  const result = await pull(`${registry.host}/team/app`, {
    root: store.path,
    credentials: credentialsFor(config.path),
    fetch: (input, init) => {
      const url = new URL(input instanceof Request ? input.url : input);
      if (url.pathname.startsWith("/relative/")) {
        const digest = url.pathname.split("/").pop()!;
        return Promise.resolve(
          new Response(null, {
            status: 302,
            headers: { location: `${cdn.origin}/cdn/${digest}` },
          }),
        );
      }
      return fetch(input, init);
    },
  });
  assertEquals(result.imageId, image.configDigest);
  assert(cdn.requests.length >= 2, "blobs did not come from the CDN");
  assertEquals(cdn.requests.filter((request) => request.authorization !== null), []);
  assert(registry.requests.some((request) => request.authorization !== null));
});

Deno.test("an https -> http redirect is refused before anything is fetched over http", async () => {
  const image = fakeImage([layerA]);
  await using store = await tempDir();
  await using plain = startServer((_request, url) =>
    new Response(image.blobs.get(url.pathname.split("/").pop()!) as Uint8Array<ArrayBuffer>)
  );
  const secureRegistry = registryHandler({
    manifests: manifestsFor(image),
    blobs: image.blobs,
    blobLocation: (digest) => `${plain.origin}/plain/${digest}`,
  });
  await assertRejects(
    () =>
      pull("registry.example.com/team/app", {
        root: store.path,
        credentials: () => Promise.resolve(undefined),
        // Stands in for an HTTPS registry: requests to https://registry.example.com are
        // answered by the fake registry's handler, everything else goes to the network.
        fetch: (input, init) => {
          const url = new URL(input instanceof Request ? input.url : input);
          if (url.origin === "https://registry.example.com") {
            return Promise.resolve(secureRegistry(new Request(url, init), url));
          }
          return fetch(input, init);
        },
      }),
    RegistryError,
    /refusing redirect from HTTPS to http/,
  );
  assertEquals(plain.requests, []);
});

Deno.test("content that does not match its descriptor is refused and nothing is kept", async (t) => {
  const cases: [string, (image: ReturnType<typeof fakeImage>) => void, RegExp][] = [
    ["blob with wrong digest", (image) => {
      const digest = [...image.blobs.keys()][0];
      image.blobs.set(digest, encoder.encode("x".repeat(image.blobs.get(digest)!.byteLength)));
    }, /digest is sha256:/],
    ["blob longer than announced", (image) => {
      const digest = [...image.blobs.keys()][0];
      image.blobs.set(digest, encoder.encode("y".repeat(image.blobs.get(digest)!.byteLength + 10)));
    }, /size is|more than the announced/],
    ["blob shorter than announced", (image) => {
      const digest = [...image.blobs.keys()][0];
      image.blobs.set(digest, image.blobs.get(digest)!.slice(0, 10));
    }, /size is|expected/],
  ];
  for (const [name, corrupt, pattern] of cases) {
    await t.step(name, async () => {
      const image = fakeImage([layerA]);
      corrupt(image);
      await using store = await tempDir();
      await using registry = startServer(
        registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
      );
      await assertRejects(
        () => pull(`${registry.host}/team/app`, { root: store.path }),
        Error,
        pattern,
      );
      const layerDigest = [...image.blobs.keys()][0];
      assert(!(await storedBlobs(store.path)).includes(layerDigest), "corrupt blob was stored");
      assertEquals(await listFiles(store.path, "tmp"), []);
    });
  }
});

Deno.test("manifest checks", async (t) => {
  const image = fakeImage([layerA]);
  const serve = async (
    manifests: Map<string, { bytes: Uint8Array; contentType: string }>,
    reference: string,
    pattern: RegExp,
  ) => {
    await using store = await tempDir();
    await using registry = startServer(registryHandler({ manifests, blobs: image.blobs }));
    await assertRejects(
      () => pull(`${registry.host}/team/app${reference}`, { root: store.path }),
      Error,
      pattern,
    );
    assertEquals(await listFiles(store.path, "blobs"), []);
  };
  await t.step("an oversized manifest is refused", async () => {
    const big = encoder.encode(
      JSON.stringify({ schemaVersion: 2, pad: "x".repeat(5 * 1024 * 1024) }),
    );
    await serve(
      new Map([["latest", { bytes: big, contentType: OCI_MANIFEST }]]),
      "",
      /over the 4194304-byte limit/,
    );
  });
  await t.step("a mediaType field that disagrees with Content-Type is refused", async () => {
    await serve(
      new Map([["latest", { bytes: image.manifestBytes, contentType: DOCKER_MANIFEST }]]),
      "",
      /disagrees with Content-Type/,
    );
  });
  await t.step("a document that is both index and manifest is refused", async () => {
    const parsed = JSON.parse(new TextDecoder().decode(image.manifestBytes));
    delete parsed.mediaType;
    parsed.manifests = [];
    await serve(
      new Map([["latest", {
        bytes: encoder.encode(JSON.stringify(parsed)),
        contentType: OCI_INDEX,
      }]]),
      "",
      /both index and manifest/,
    );
  });
  await t.step("schema 1 is refused as unsupported", async () => {
    const schema1 = encoder.encode(
      JSON.stringify({ schemaVersion: 1, name: "team/app", fsLayers: [] }),
    );
    await serve(
      new Map([["latest", { bytes: schema1, contentType: DOCKER_SCHEMA1_SIGNED }]]),
      "",
      /schema 1 is unsupported/,
    );
  });
  await t.step("pulling by digest refuses a manifest with another digest", async () => {
    const other = fakeImage([layerB]);
    await serve(
      new Map([[image.manifestDigest, { bytes: other.manifestBytes, contentType: OCI_MANIFEST }]]),
      `@${image.manifestDigest}`,
      /its content has digest/,
    );
  });
  await t.step("a registry that lies about Docker-Content-Digest is refused", async () => {
    await using store = await tempDir();
    await using registry = startServer((request, url) => {
      const response = registryHandler({ manifests: manifestsFor(image), blobs: image.blobs })(
        request,
        url,
      );
      if (url.pathname.includes("/manifests/")) {
        response.headers.set("docker-content-digest", `sha256:${"0".repeat(64)}`);
      }
      return response;
    });
    await assertRejects(
      () => pull(`${registry.host}/team/app`, { root: store.path }),
      VerificationError,
    );
  });
});

Deno.test("a manifest without a mediaType field (as umoci writes them) is accepted", async () => {
  const image = fakeImage([layerA]);
  const parsed = JSON.parse(new TextDecoder().decode(image.manifestBytes));
  delete parsed.mediaType;
  const bytes = encoder.encode(JSON.stringify(parsed));
  await using store = await tempDir();
  await using registry = startServer(registryHandler({
    manifests: new Map([["latest", { bytes, contentType: OCI_MANIFEST }]]),
    blobs: image.blobs,
  }));
  const result = await pull(`${registry.host}/team/app`, { root: store.path });
  assertEquals(result.imageId, image.configDigest);
  assertEquals(result.manifestDigest, digestOf(bytes));
});

Deno.test("pulling the same image twice downloads no blob the second time", async () => {
  const image = fakeImage([layerA, layerB]);
  await using store = await tempDir();
  await using registry = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  const first = await pull(`${registry.host}/team/app`, { root: store.path });
  const blobGets = () =>
    registry.requests.filter((request) => request.path.includes("/blobs/")).length;
  assertEquals(blobGets(), 3);
  const before = registry.requests.length;
  const second = await pull(`${registry.host}/team/app`, { root: store.path });
  assertEquals(second.imageId, first.imageId);
  assertEquals(blobGets(), 3);
  assertEquals(
    registry.requests.slice(before).filter((request) => request.path.includes("/blobs/")),
    [],
  );
});

Deno.test("a missing tag is reported with the registry's error code", async () => {
  const image = fakeImage([layerA]);
  await using store = await tempDir();
  await using registry = startServer(
    registryHandler({ manifests: manifestsFor(image), blobs: image.blobs }),
  );
  const error = await assertRejects(
    () => pull(`${registry.host}/team/app:nope`, { root: store.path }),
    RegistryError,
  );
  assertMatch(error.message, /MANIFEST_UNKNOWN/);
  assertEquals(error.status, 404);
});

Deno.test("a malformed Docker-Content-Digest on HEAD falls back to GET", async () => {
  const image = fakeImage([layerA]);
  await using store = await tempDir();
  const serve = registryHandler({ manifests: manifestsFor(image), blobs: image.blobs });
  await using registry = startServer(async (request, url) => {
    const response = await serve(request, url);
    if (request.method !== "HEAD") return response;
    const headers = new Headers(response.headers);
    headers.set("docker-content-digest", "sha256:not-a-digest");
    return new Response(null, { status: response.status, headers });
  });
  const result = await pull(`${registry.host}/team/app`, { root: store.path });
  assertEquals(result.imageId, image.configDigest);
  assertEquals(
    registry.requests.slice(0, 2).map((request) => request.method),
    ["HEAD", "GET"],
  );
});

Deno.test("an identity token is exchanged as an OAuth2 refresh token", async () => {
  const image = fakeImage([layerA]);
  await using store = await tempDir();
  await using config = await tempDir();
  const forms: Record<string, string>[] = [];
  await using tokenServer = startServer(async (request) => {
    if (request.method !== "POST") {
      return new Response("GET with Basic is not how this works", { status: 400 });
    }
    const form = Object.fromEntries(new URLSearchParams(await request.text()));
    forms.push(form);
    return form.grant_type === "refresh_token" && form.refresh_token === "refresh-abc"
      ? Response.json({ access_token: "access-xyz", expires_in: 300 })
      : new Response("denied", { status: 401 });
  });
  await using registry = startServer(registryHandler({
    manifests: manifestsFor(image),
    blobs: image.blobs,
    gate: (request) =>
      request.headers.get("authorization") === "Bearer access-xyz"
        ? undefined
        : new Response(null, {
          status: 401,
          headers: {
            "www-authenticate":
              `Bearer realm="${tokenServer.origin}/oauth2/token",service="fake",scope="repository:team/app:pull"`,
          },
        }),
  }));
  await Deno.writeTextFile(
    `${config.path}/config.json`,
    JSON.stringify({ auths: { [registry.host]: { auth: "", identitytoken: "refresh-abc" } } }),
  );
  const result = await pull(`${registry.host}/team/app`, {
    root: store.path,
    credentials: credentialsFor(config.path),
  });
  assertEquals(result.imageId, image.configDigest);
  assertEquals(forms[0].service, "fake");
  assertEquals(forms[0].scope, "repository:team/app:pull");
});

Deno.test("a token that expires mid-pull is renewed once, and the pull goes on", async () => {
  const image = fakeImage([layerA, layerB]);
  await using store = await tempDir();
  let issued = 0;
  await using tokenServer = startServer(() =>
    Response.json({ token: `tok-${++issued}`, expires_in: 300 })
  );
  let served = 0;
  await using registry = startServer(registryHandler({
    manifests: manifestsFor(image),
    blobs: image.blobs,
    gate: (request, url) => {
      // The first token stops working after three requests, as an expired one would.
      const token = /^Bearer tok-([0-9]+)$/.exec(request.headers.get("authorization") ?? "");
      const valid = token !== null && (Number(token[1]) > 1 || ++served <= 3);
      if (valid) return undefined;
      return new Response(null, {
        status: 401,
        headers: {
          "www-authenticate":
            `Bearer realm="${tokenServer.origin}/token",service="fake",scope="repository:${
              url.pathname.split("/").slice(2, 4).join("/")
            }:pull"`,
        },
      });
    },
  }));
  const result = await pull(`${registry.host}/team/app`, { root: store.path });
  assertEquals(result.imageId, image.configDigest);
  // One renewal per request that met the expired token (the two layers are fetched at once).
  assert(issued >= 2 && issued <= 3, `${issued} tokens issued`);
});
