/**
 * `--format` templates, `--since`/`--until` times and `--detach-keys`, as docker's CLI reads
 * them: the outputs docker gives for the same template and data.
 */

import { assertEquals, assertThrows } from "./_assert.ts";
import { renderRows, renderTemplate } from "../cli/template.ts";
import { timeOption } from "../cli/options.ts";
import { UsageError } from "../cli/command.ts";
import { parseDetachKeys } from "../cli/attach.ts";

const CONTAINER = {
  Name: "/web",
  State: { Status: "exited", ExitCode: 3, Running: false, Pid: 0 },
  Config: { Cmd: ["sh", "-c", "exit 3"], Entrypoint: null, Labels: { team: "core", a: "b" } },
  Args: [],
};

Deno.test("templates print fields, json and functions as docker's Go templates do", () => {
  const cases: [string, string][] = [
    ["{{.State.Status}} {{.State.ExitCode}}", "exited 3"],
    ["{{.Name}}", "/web"],
    ["{{json .Config.Cmd}}", '["sh","-c","exit 3"]'],
    ["{{json .Config.Entrypoint}}", "null"],
    ["{{.Config.Entrypoint}}", "<nil>"],
    ["{{.Config.Labels.nope}}", "<no value>"],
    ["{{.Config.Cmd}}", "[sh -c exit 3]"],
    ["{{.Config.Labels}}", "map[a:b team:core]"],
    ["{{.Args}}", "[]"],
    ["{{.State.Running}}", "false"],
    ['{{index .Config.Labels "team"}}', "core"],
    ["{{.Config.Labels.team}}", "core"],
    ['{{join .Config.Cmd ","}}', "sh,-c,exit 3"],
    ["{{len .Config.Cmd}}", "3"],
    ["{{.State.Status | upper}}", "EXITED"],
    ["{{json .State}}", '{"Status":"exited","ExitCode":3,"Running":false,"Pid":0}'],
    ["a\\tb{{println}}", "a\tb\n"],
    ["{{- .Name -}} !", "/web!"],
  ];
  for (const [template, expected] of cases) {
    assertEquals(renderTemplate(template, CONTAINER), expected, template);
  }
});

Deno.test("a template with a field the data lacks, or a function it does not know, is refused", () => {
  assertThrows(() => renderTemplate("{{.Nope}}", CONTAINER), UsageError);
  assertThrows(() => renderTemplate("{{nope .Name}}", CONTAINER), UsageError);
  assertThrows(() => renderTemplate("{{.Name", CONTAINER), UsageError);
});

Deno.test("table formats put docker's column names over aligned rows; json is a line a row", () => {
  const rows = [{ ID: "4f2c1d9e8a7b", Names: "web" }, { ID: "1d34ffeaf190", Names: "database" }];
  const headers = { ID: "CONTAINER ID", Names: "NAMES" };
  assertEquals(renderRows("table {{.ID}}\\t{{.Names}}", rows, headers), [
    "CONTAINER ID   NAMES",
    "4f2c1d9e8a7b   web",
    "1d34ffeaf190   database",
  ]);
  assertEquals(renderRows("{{.Names}}", rows, headers), ["web", "database"]);
  assertEquals(renderRows("json", rows, headers), [
    '{"ID":"4f2c1d9e8a7b","Names":"web"}',
    '{"ID":"1d34ffeaf190","Names":"database"}',
  ]);
});

Deno.test("--since and --until take RFC 3339 times, Unix times and Go durations", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");
  const at = (text: string) => timeOption(text, "--since", "logs", now).toISOString();
  assertEquals(at("2026-12-01T10:00:00Z"), "2026-12-01T10:00:00.000Z");
  assertEquals(at("2026-12-01T10:00:00.5+01:00"), "2026-12-01T09:00:00.500Z");
  assertEquals(at("1764590400"), "2025-12-01T12:00:00.000Z");
  assertEquals(at("10m"), "2026-12-01T11:50:00.000Z");
  assertEquals(at("1h30m"), "2026-12-01T10:30:00.000Z");
  assertEquals(at("1.5s"), "2026-12-01T11:59:58.500Z");
  assertThrows(() => at("yesterday"), UsageError);
  assertThrows(() => at("10 minutes"), UsageError);
});

Deno.test("--detach-keys reads docker's ctrl-X and character lists", () => {
  assertEquals(parseDetachKeys("ctrl-p,ctrl-q"), [0x10, 0x11]);
  assertEquals(parseDetachKeys("ctrl-x,y"), [0x18, 0x79]);
  assertEquals(parseDetachKeys("ctrl-@,ctrl-\\,ctrl-_"), [0x00, 0x1c, 0x1f]);
  assertThrows(() => parseDetachKeys("ctrl-1"), UsageError);
  assertThrows(() => parseDetachKeys("pq"), UsageError);
});
