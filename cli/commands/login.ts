// deno-lint-ignore-file no-console
/**
 * `denocker login -u USER (-p PASSWORD | --password-stdin) REGISTRY`: check
 * credentials against a registry and save them in docker's config.json.
 *
 * @module
 */

import { type Command, exactly, INSECURE_REGISTRY, remoteOptions, UsageError } from "../command.ts";
import { login } from "../../lib/operations/login.ts";

export const command: Command = {
  usage: "login -u USER (-p PASSWORD | --password-stdin) REGISTRY",
  summary: "Check credentials against a registry and save them in docker's config.json",
  options: {
    username: { type: "string", short: "u", value: "USER", help: "The user" },
    password: { type: "string", short: "p", value: "PASSWORD", help: "The password" },
    "password-stdin": { type: "boolean", help: "Read the password from stdin" },
    "insecure-registry": INSECURE_REGISTRY,
  },
  examples: ['echo "$TOKEN" | denocker login -u ci --password-stdin registry.lan:5000'],
  arguments: exactly(1, "REGISTRY"),
  async run({ values, positionals, config, signal }) {
    if (!values.username) throw new UsageError("login needs -u USER", "login");
    const password = values["password-stdin"]
      ? (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "")
      : values.password;
    if (!password) throw new UsageError("login needs -p PASSWORD or --password-stdin", "login");
    await login(positionals[0], { username: values.username, password }, {
      ...await remoteOptions({ values, config }, "login"),
      signal,
    });
    console.log("Login Succeeded");
    return 0;
  },
};
