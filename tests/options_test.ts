import assert from "node:assert/strict";
import { DEFAULTS, resolveOptions } from "../src/server/options.ts";
import { quietLogger } from "../src/server/logger.ts";

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
  assert.equal(resolved.idleTimeout, 30);
  assert.equal(resolved.coalesce, true);
  assert.equal(resolved.acceptBinary, true);
  assert.equal(resolved.logger, quietLogger);
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
