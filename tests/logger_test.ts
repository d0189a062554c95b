// The logger (src/server/logger.ts): the default prints warnings and errors, quietLogger nothing,
// and the loggers users bring fit the interface.

import assert from "node:assert/strict";
import { type Logger, quietLogger } from "../mod.ts";
import { defaultLogger } from "../src/server/logger.ts";
import { freePort } from "./_helpers.ts";

Deno.test("the default logger prints warnings and errors with their fields, not debug or info", () => {
  const printed: [string, unknown[]][] = [];
  const saved = { ...console };
  for (const level of ["debug", "info", "warn", "error"] as const) {
    console[level] = (...data: unknown[]) => void printed.push([level, data]);
  }
  try {
    defaultLogger.debug("d", { a: 1 });
    defaultLogger.info("i");
    defaultLogger.warn("w", { client: "c1" });
    defaultLogger.error("e");
  } finally {
    Object.assign(console, saved);
  }
  assert.deepEqual(printed, [["warn", ["w", { client: "c1" }]], ["error", ["e"]]]);
});

Deno.test("a hub left with its defaults says that Redis is unreachable and that a handler threw", async () => {
  const script = new URL("./fixtures/default_logger.ts", import.meta.url).pathname;
  const { stderr, success } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", script, String(freePort())],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(stderr);
  assert.ok(success, text);
  assert.match(text, /the backplane is down/, text);
  assert.match(text, /The onMessage callback failed: the handler broke/, text);
});

Deno.test("console satisfies the Logger interface, and quietLogger prints nothing", () => {
  const logger: Logger = console; // a compile-time check as much as a runtime one
  assert.equal(typeof logger.debug, "function");
  for (const level of ["debug", "info", "warn", "error"] as const) {
    assert.equal(quietLogger[level]("nothing", { a: 1 }), undefined);
  }
  assert.ok(Object.isFrozen(quietLogger));
});

Deno.test("a LogTape-shaped and an @std/log-shaped logger type-check as Logger", () => {
  // The shapes of their Logger methods, restated (JSR is not reachable here):
  // LogTape: (message: string, properties?: Record<string, unknown>) => void
  // @std/log: (msg: string, ...args: unknown[]) => string
  const lines: string[] = [];
  const logTapeLike = {
    debug: (message: string, _properties?: Record<string, unknown>) => void lines.push(message),
    info: (message: string, _properties?: Record<string, unknown>) => void lines.push(message),
    warn: (message: string, _properties?: Record<string, unknown>) => void lines.push(message),
    error: (message: string, _properties?: Record<string, unknown>) => void lines.push(message),
  };
  const stdLogLike = {
    debug: (msg: string, ..._args: unknown[]) => msg,
    info: (msg: string, ..._args: unknown[]) => msg,
    warn: (msg: string, ..._args: unknown[]) => msg,
    error: (msg: string, ..._args: unknown[]) => msg,
  };
  const loggers: Logger[] = [logTapeLike, stdLogLike];
  for (const logger of loggers) logger.warn("hello", { id: 1 });
  assert.deepEqual(lines, ["hello"]);
});
