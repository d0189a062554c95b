/**
 * The logger interface the hub writes to, and its quiet default.
 *
 * @module
 */

/**
 * Where the hub reports what it does. `console`, @std/log's `Logger` and
 * LogTape's `Logger` all satisfy this shape, so any of them can be passed as
 * the `logger` option.
 *
 * @example Log everything to the console
 * ```ts
 * import { Hub, type Logger } from "@wshub/hub";
 *
 * const logger: Logger = console;
 * const hub = new Hub({ logger });
 * await hub.close();
 * ```
 */
export interface Logger {
  /** Detail for debugging: handshakes refused, frames rejected, clients cut off. */
  debug(message: string, properties?: Record<string, unknown>): void;
  /** Normal but notable events. */
  info(message: string, properties?: Record<string, unknown>): void;
  /** Something went wrong with one client; the hub goes on. */
  warn(message: string, properties?: Record<string, unknown>): void;
  /** Something went wrong in the hub or in an application callback. */
  error(message: string, properties?: Record<string, unknown>): void;
}

function quiet(): void {}

/**
 * A logger that writes nothing: the hub's default.
 *
 * @example
 * ```ts
 * import { quietLogger } from "@wshub/hub";
 *
 * quietLogger.warn("never printed");
 * ```
 */
export const quietLogger: Logger = Object.freeze({
  debug: quiet,
  info: quiet,
  warn: quiet,
  error: quiet,
});
