/**
 * How the server reports what went wrong: {@linkcode Report}, the one
 * function every part is given (it reaches the application's `onError`, or
 * the logger), and {@linkcode callbackError}, the error that names the
 * application callback that failed.
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
