import assert from "node:assert/strict";
import { type Logger, quietLogger } from "../mod.ts";

Deno.test("console satisfies the Logger interface, and the default is quiet", () => {
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
