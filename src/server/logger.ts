/**
 * The logger interface the hub writes to; its default, which prints
 * warnings and errors to the console; and a quiet one.
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
 * The hub's default logger: warnings and errors go to `console.warn` and
 * `console.error`, with their structured fields; debug and info are not
 * printed. A Redis that cannot be reached, a history read that failed, an
 * application callback that threw: each is a warning or an error, so none
 * passes silently.
 */
export const defaultLogger: Logger = Object.freeze({
  debug: quiet,
  info: quiet,
  warn: (message: string, properties?: Record<string, unknown>) =>
    properties === undefined ? console.warn(message) : console.warn(message, properties),
  error: (message: string, properties?: Record<string, unknown>) =>
    properties === undefined ? console.error(message) : console.error(message, properties),
});

/**
 * A logger that writes nothing, for tests, or for an application that
 * watches the hub through `onError` and its metrics only.
 *
 * @example
 * ```ts
 * import { Hub, quietLogger } from "@wshub/hub";
 *
 * quietLogger.warn("never printed");
 * const hub = new Hub({ logger: quietLogger });
 * await hub.close();
 * ```
 */
export const quietLogger: Logger = Object.freeze({
  debug: quiet,
  info: quiet,
  warn: quiet,
  error: quiet,
});
