/**
 * Which close codes the client retries after, and why.
 *
 * @module
 */

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
 * | 4401 | unauthorized (for example an expired token): get a new one, then connect again |
 * | 4403 | forbidden |
 *
 * Every other code is retried with backoff, notably 1001 (server shutting
 * down or restarting), 1006 (connection lost, no close frame), 1011 (server
 * bug), 1013 (try again later: this client was too slow), 4000 (heartbeat
 * timeout) and 4001 (write timeout).
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
  4401,
  4403,
]);

/** Whether the client reconnects after the server closed with `code`. */
export function shouldReconnect(code: number): boolean {
  return !NO_RECONNECT_CODES.has(code);
}
