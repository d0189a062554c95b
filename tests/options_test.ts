// The hub's options (src/server/options.ts): defaults, bounds, and the README's options table
// kept in step with the code (every option listed once, every numeric default as in NUMBERS).

import assert from "node:assert/strict";
import { DEFAULTS, NUMBERS, OPTION_NAMES, resolveOptions } from "../src/server/options.ts";
import { defaultLogger } from "../src/server/logger.ts";

Deno.test("resolveOptions fills in the documented defaults", () => {
  const resolved = resolveOptions({});
  assert.equal(resolved.pingInterval, 25_000);
  assert.equal(resolved.pongTimeout, 10_000);
  assert.equal(resolved.writeTimeout, 10_000);
  assert.equal(resolved.drainTimeout, 5_000);
  assert.equal(resolved.maxMessageBytes, 1_048_576);
  assert.equal(resolved.sendQueueLimit, 1024);
  assert.equal(resolved.maxBufferedBytes, 1_048_576);
  assert.equal(resolved.overflow, "close");
  assert.equal(resolved.idleTimeout, 30_000);
  assert.equal(resolved.coalesce, true);
  assert.equal(resolved.acceptBinary, true);
  assert.equal(resolved.logger, defaultLogger, "warnings and errors to the console");
  assert.equal(resolved.allowedOrigins, undefined);
  assert.equal(DEFAULTS.inboxLimit, resolved.inboxLimit);
});

Deno.test("resolveOptions refuses out-of-range values with the option's name", () => {
  assert.throws(() => resolveOptions({ pongTimeout: -1 }), /pongTimeout: -1/);
  assert.throws(() => resolveOptions({ maxMessageBytes: Number.NaN }), /maxMessageBytes: NaN/);
  assert.throws(() => resolveOptions({ sendQueueLimit: Infinity }), /sendQueueLimit/);
  assert.throws(
    () => resolveOptions({ allowedOrigins: "https://a.example" as "*" }),
    /allowedOrigins/,
  );
  assert.equal(resolveOptions({ drainTimeout: 0 }).drainTimeout, 0, "no drain is allowed");
  assert.equal(resolveOptions({ idleTimeout: 0 }).idleTimeout, 0, "Deno's pings may be disabled");
});

Deno.test("idleTimeout is in milliseconds: 1-999 (a value in seconds, most likely) is refused", () => {
  assert.equal(resolveOptions({ idleTimeout: 1000 }).idleTimeout, 1000);
  assert.throws(
    () => resolveOptions({ idleTimeout: 30 }),
    /idleTimeout: 30; it is in milliseconds/,
  );
  assert.throws(() => resolveOptions({ idleTimeout: 999 }), /use 0 \(off\) or at least 1000/);
});

/** The rows of the first table whose header starts with `| Option ` in a markdown file. */
async function optionsTable(path: string): Promise<Map<string, string>> {
  const text = await Deno.readTextFile(new URL(path, import.meta.url));
  const start = text.indexOf("| Option ");
  assert.ok(start >= 0, `${path} has an options table`);
  const table = new Map<string, string>();
  for (const row of text.slice(start).split("\n").slice(2)) {
    if (!row.startsWith("|")) break;
    const [, name, fallback] = row.split("|").map((cell) => cell.trim());
    const option = name.replace(/^`|`$/g, "");
    assert.ok(!table.has(option), `${option} is listed twice in ${path}`);
    table.set(option, fallback);
  }
  return table;
}

for (const path of ["../README.md", "../docs/server.md"]) {
  Deno.test(`the options table of ${path.slice(3)} lists every option once, with the code's defaults`, async () => {
    const table = await optionsTable(path);
    assert.deepEqual([...table.keys()].sort(), [...OPTION_NAMES].sort(), "the same options");
    for (const [name, { default: fallback }] of Object.entries(NUMBERS)) {
      if (fallback === undefined) continue; // computed (maxConnections)
      const documented = table.get(name)!.match(/^`(\d+)`/)?.[1];
      assert.equal(Number(documented), fallback, `${name}'s default`);
    }
    for (const name of ["acceptBinary", "coalesce", "guardOversizedMessages", "presenceEvents"]) {
      const value = DEFAULTS[name as keyof typeof DEFAULTS];
      assert.equal(table.get(name), `\`${value}\``, `${name}'s default`);
    }
    assert.equal(table.get("overflow"), `\`"${DEFAULTS.overflow}"\``);
  });
}
