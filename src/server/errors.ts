/**
 * How the server reports what went wrong: {@linkcode Report}, the one
 * function every part is given (it reaches the application's `onError`, or
 * the logger); {@linkcode callbackError}, the error that names the
 * application callback that failed; and {@linkcode HubClosedError}, what a
 * closed hub's questions reject with.
 *
 * @module
 */

import type { Connection } from "./connection.ts";

/**
 * Reports a failure: a throwing application callback, an undecodable
 * message, a hook that did not answer in time. `connection` is the one
 * concerned, if any. Never throws.
 */
export type Report = (error: Error, connection: Connection | undefined) => void;

/** An error that says which application callback failed, with the failure as its cause. */
export function callbackError(name: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`The ${name} callback failed: ${message}`, { cause: error });
}

/**
 * What `hub.presence()`, `hub.history()` and `hub.ready()` reject with once
 * the hub is closing or closed: there is nobody left to answer, and an
 * empty answer would read as an empty room. (Methods that send —
 * `broadcast`, `sendToUser`, `publish`, `join`, `leave` — resolve with 0 or
 * `false` instead: they are often called without `await`, and a rejection
 * nobody handles would end the process.)
 *
 * @example
 * ```ts
 * import { Hub, HubClosedError } from "@wshub/hub";
 *
 * const hub = new Hub();
 * await hub.close();
 * try {
 *   await hub.presence("lobby");
 * } catch (error) {
 *   console.log(error instanceof HubClosedError); // true
 * }
 * ```
 */
export class HubClosedError extends Error {
  /** `what` names the call that could not be answered, e.g. `"hub.presence()"`. */
  constructor(what: string) {
    super(`${what} cannot be answered: the hub is closed (hub.close() was called)`);
    this.name = "HubClosedError";
  }
}
