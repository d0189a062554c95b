/**
 * When and how soon the client reconnects: the close codes it does not
 * retry after, and capped exponential backoff with full jitter.
 *
 * @module
 */

import { assertKnownOptions } from "../common/unknown_options.ts";

/**
 * How the client waits between reconnect attempts. Attempt `n` (0 for the
 * first retry after a connection was lost) waits a uniformly random time in
 * `[0, min(maxDelay, initialDelay * factor ** n)]` ("full jitter"), so that
 * thousands of tabs dropped by one server restart do not come back in step.
 * The attempt counter resets once a connection receives its hello.
 *
 * @example Slower, gentler retries
 * ```ts
 * import { connect } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws", {
 *   reconnect: { initialDelay: 1_000, maxDelay: 30_000, factor: 2 },
 * });
 * await client.close();
 * ```
 */
export interface ReconnectOptions {
  /** Cap of the first retry's delay, in milliseconds. Default 500. */
  initialDelay?: number;
  /** Largest cap of any delay, in milliseconds. Default 10 000. */
  maxDelay?: number;
  /** Growth of the cap per failed attempt. Default 2. */
  factor?: number;
}

/** {@linkcode ReconnectOptions} with every default filled in. */
export type Backoff = Required<ReconnectOptions>;

/** The defaults of {@linkcode ReconnectOptions}. */
export const DEFAULT_BACKOFF: Backoff = { initialDelay: 500, maxDelay: 10_000, factor: 2 };

/**
 * Fills in defaults and checks the values.
 *
 * @throws {RangeError} when a value is negative, not finite, or `factor < 1`.
 */
export function resolveBackoff(options: ReconnectOptions = {}): Backoff {
  assertKnownOptions("reconnect option", options, Object.keys(DEFAULT_BACKOFF));
  const backoff = { ...DEFAULT_BACKOFF, ...options };
  const { initialDelay, maxDelay, factor } = backoff;
  if (!(Number.isFinite(initialDelay) && initialDelay >= 0)) {
    throw new RangeError(
      `reconnect.initialDelay must be a finite number >= 0, got ${initialDelay}`,
    );
  }
  if (!(Number.isFinite(maxDelay) && maxDelay >= initialDelay)) {
    throw new RangeError(
      `reconnect.maxDelay must be a finite number >= initialDelay (${initialDelay}), got ${maxDelay}`,
    );
  }
  if (!(Number.isFinite(factor) && factor >= 1)) {
    throw new RangeError(`reconnect.factor must be a finite number >= 1, got ${factor}`);
  }
  return backoff;
}

/** The upper bound of attempt `attempt`'s delay: `min(maxDelay, initialDelay * factor ** attempt)`. */
export function backoffCap(attempt: number, backoff: Backoff): number {
  return Math.min(backoff.maxDelay, backoff.initialDelay * backoff.factor ** attempt);
}

/**
 * The delay before attempt `attempt` (0-based): `random() * backoffCap(attempt)`,
 * rounded down to whole milliseconds. `random` must return values in `[0, 1)`.
 */
export function backoffDelay(
  attempt: number,
  backoff: Backoff,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffCap(attempt, backoff));
}

/**
 * The delay before coming back to a hub that said when (`retryAfter`, in a
 * close notice: it admits connections at its pace): `retryAfter` plus up to
 * a fifth more, at random, so that clients told the same time do not come
 * back in step. Rounded down to whole milliseconds.
 *
 * @example
 * ```ts
 * import { pacedDelay } from "./reconnect.ts";
 *
 * console.log(pacedDelay(1000, () => 0.5)); // 1100
 * ```
 */
export function pacedDelay(retryAfter: number, random: () => number = Math.random): number {
  return Math.floor(retryAfter * (1 + random() / 5));
}

/**
 * Close codes after which the client does **not** reconnect, because the same
 * server would close the next connection the same way:
 *
 * | Code | Why not retry |
 * | ---- | ------------- |
 * | 1000 | the server closed this client deliberately (`client.close()`) |
 * | 1002 | protocol error: client and server disagree on `wshub.v1` |
 * | 1003 | the server does not accept this kind of data (binary) |
 * | 1007 | the server could not decode what this client sends |
 * | 1008 | policy violation (for example flooding a slow handler) |
 * | 1009 | this client sent a message larger than the server accepts |
 * | 4003 | the user's access was revoked (`hub.disconnectUser()`) |
 * | 4401 | unauthorized: `getToken` threw an `UnauthorizedError`, or a server closed with it |
 * | 4403 | forbidden |
 *
 * Every other code is retried with backoff, notably 1001 (server shutting
 * down or restarting), 1006 (connection lost, no close frame), 1011 (server
 * bug), 1013 (try again later: this client was too slow), 4000 (heartbeat
 * timeout), 4001 (write timeout) and 4004 (credentials expired: the next
 * attempt calls `getToken` for a fresh one).
 *
 * @example Telling a final close from a retried one
 * ```ts
 * import { connect, NO_RECONNECT_CODES } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * client.on("close", ({ code }) => {
 *   if (NO_RECONNECT_CODES.has(code)) console.log("closed for good with", code);
 * });
 * await client.close();
 * ```
 */
export const NO_RECONNECT_CODES: ReadonlySet<number> = new Set([
  1000,
  1002,
  1003,
  1007,
  1008,
  1009,
  4003,
  4401,
  4403,
]);

/** Whether the client reconnects after the server closed with `code`. */
export function shouldReconnect(code: number): boolean {
  return !NO_RECONNECT_CODES.has(code);
}
