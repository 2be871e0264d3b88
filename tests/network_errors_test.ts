/**
 * Network failures say why, in the message and as `cause`: connection
 * refused, host not found, TLS against a plain-HTTP registry (with the
 * `--insecure-registry` hint), no answer in time.
 */

import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { DENOCKER_RUN, runCli } from "./_cli.ts";
import { startServer, tempDir } from "./_fake_registry.ts";
import { RegistryError } from "../lib/errors.ts";
import { pull } from "../lib/operations/pull.ts";

function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("network failures name their cause and keep it", async (t) => {
  await using root = await tempDir();
  // Where no retry can help, as docker, none is made (5 of them cost 4.6 s and changed nothing).
  const refusedPort = closedPort();
  const final: [string, string, string][] = [
    ["connection refused", `127.0.0.1:${refusedPort}`, "connection refused"],
    [
      "a port Deno never connects to",
      "127.0.0.1:1",
      "port 1 is one Deno never connects to (a port browsers block too)",
    ],
  ];
  for (const [what, host, reason] of final) {
    await t.step(`${what}: said so, not retried`, async () => {
      const retries: unknown[] = [];
      const error = await assertRejects(
        () =>
          pull(`${host}/team/app`, {
            root: root.path,
            retry: { baseDelay: 5, attempts: 5 },
            onProgress: (event) => event.type === "retry" && retries.push(event),
          }),
        RegistryError,
      );
      assertEquals(
        error.message,
        `Cannot fetch manifest ${host}/team/app:latest: cannot reach ${host}: ${reason}`,
      );
      assertEquals(retries, []);
      assert(error.cause instanceof Error, "the fetch error is kept as cause");
    });
  }

  await t.step("TLS against a plain-HTTP registry hints --insecure-registry", async () => {
    await using server = startServer(() => new Response("plain http"));
    // The registry is reached over HTTPS, as any non-loopback registry is by default.
    const https: typeof fetch = (input, init) =>
      fetch(
        String(input instanceof Request ? input.url : input).replace(/^http:/, "https:"),
        init,
      );
    const error = await assertRejects(
      () => pull(`${server.host}/team/app`, { root: root.path, fetch: https }),
      RegistryError,
    );
    assertEquals(
      error.message,
      `Cannot fetch manifest ${server.host}/team/app:latest: cannot reach ${server.host}: ` +
        `TLS handshake failed: ${server.host} does not speak HTTPS; if it is a plain-HTTP ` +
        `registry, use --insecure-registry ${server.host}`,
    );
    assert(error.cause instanceof Error, "the fetch error is kept as cause");
  });

  await t.step("a registry that never answers times out", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const host = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const connection of listener) held.push(connection);
    })();
    try {
      const error = await assertRejects(
        () =>
          pull(`${host}/team/app`, {
            root: root.path,
            responseTimeout: 300,
            retry: { attempts: 1 },
          }),
        RegistryError,
      );
      assertEquals(
        error.message,
        `Cannot fetch manifest ${host}/team/app:latest: cannot reach ${host}: timed out: no answer within 0.3 s`,
      );
      assert(error.cause instanceof DOMException, "the timeout is kept as cause");
      // Not asked twice (HEAD, then GET): a registry that cannot be reached costs one timeout.
      assertEquals(held.length, 1);
    } finally {
      listener.close();
      await accepting.catch(() => {});
      for (const connection of held) connection.close();
    }
  });

  await t.step("the CLI prints the cause in one line", async () => {
    const host = `127.0.0.1:${closedPort()}`;
    const result = await runCli(["pull", "-q", "--root", root.path, `${host}/team/app`]);
    assertEquals(
      [result.code, result.stderr],
      [
        1,
        `denocker: Cannot fetch manifest ${host}/team/app:latest: cannot reach ${host}: connection refused\n`,
      ],
    );
  });

  await t.step("no network permission for the host: said so, not retried", async () => {
    const host = `127.0.0.1:${closedPort()}`;
    const result = await runCli(["pull", "-q", "--root", root.path, `${host}/team/app`], {
      permissions: [
        "--allow-net=127.0.0.1:1",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-sys",
      ],
    });
    assertEquals(
      [result.code, result.stderr],
      [
        1,
        `denocker: Cannot fetch manifest ${host}/team/app:latest: Deno was not given network access to ${host} (--allow-net=${host})\n`,
      ],
    );
  });
});

// A host-not-found needs a resolver to fail; in a network namespace of its own (root only)
// the lookup fails at once and no packet leaves the machine.
const canUnshare = Deno.build.os === "linux" && Deno.uid() === 0;
Deno.test({
  name: "an unknown host is reported as host not found",
  ignore: !canUnshare && Deno.env.get("CI") !== "true",
  fn: async () => {
    await using root = await tempDir();
    const output = await new Deno.Command("unshare", {
      args: [
        "--net",
        Deno.execPath(),
        ...DENOCKER_RUN,
        "pull",
        "-q",
        "--root",
        root.path,
        "registry.invalid/app",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(output.code, 1, new TextDecoder().decode(output.stderr));
    assertMatch(
      new TextDecoder().decode(output.stderr),
      /^denocker: Cannot fetch manifest registry\.invalid\/app:latest: cannot reach registry\.invalid: host not found \(DNS lookup of registry\.invalid failed\)\n$/,
    );
  },
});
