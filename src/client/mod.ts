/**
 * The browser and Deno client of a wshub hub: speaks `wshub.v1`, answers the
 * server's heartbeats, notices a dead server on its own, reconnects with
 * jittered exponential backoff and queues what you send while offline.
 * Web-standard APIs only (WebSocket, timers, `performance.now`), no
 * dependencies: the same module runs in a browser (bundled) and in Deno.
 *
 * ```ts
 * import { connect } from "@wshub/hub/client";
 *
 * type Chat = { from?: string; text: string };
 * const client = connect<Chat>("ws://127.0.0.1:8000/ws");
 * client.on("state", (state) => console.log("connection:", state));
 * client.on("message", (message) => console.log(`${message.from}: ${message.text}`));
 * client.send({ text: "hello" }); // queued until open, then sent
 * await client.close();
 * ```
 *
 * ## Messages
 *
 * Encoding mirrors the hub: a string goes out as raw text, a `Uint8Array` or
 * `ArrayBuffer` as binary, anything else as `JSON.stringify(value)`.
 * `connect<T, S = T>` types both directions: `T` is what the server sends
 * (its `Hub<T>`), `S` what `send` accepts; to send bytes, include
 * `Uint8Array` in `S`. Incoming text messages (single or coalesced) go
 * through the `decode` option (default `JSON.parse`) and arrive as `message`
 * events and through `for await (const message of client)`; incoming binary
 * messages arrive as `binary` events (`Uint8Array`). A message that `decode`
 * rejects is skipped and reported as an `error` event ({@linkcode DecodeError}).
 * Use the same `T` as the server's `Hub<T>`.
 *
 * ## States and reconnecting
 *
 * `client.state` is `"connecting"`, `"open"`, `"reconnecting"` or `"closed"`;
 * each change fires a `state` event. The client is `"open"` once the server's
 * hello arrived. When a connection ends, the client waits a random delay in
 * `[0, min(maxDelay, initialDelay * factor ** attempt)]` and tries again,
 * except after `close()`, `reconnect: false`, or a close code listed in
 * {@linkcode NO_RECONNECT_CODES} (1000, 1002, 1003, 1007, 1008, 1009, 4003,
 * 4401, 4403: the server would refuse the same way again). 1001 (server
 * restart), 1006 (connection lost), 1011, 1013, 4000, 4001, 4004 (credentials
 * expired) and any other code are retried.
 *
 * The client takes the server as dead when it has heard nothing (no message,
 * no ping) for the hello's `pingInterval + pongTimeout` plus a small slack,
 * and then drops the socket and reconnects, so a half-open TCP connection
 * (a sleeping laptop, a dropped NAT mapping) does not leave a tab silently
 * dead. It answers the server's pings at once and pings the server itself to
 * measure `client.rtt`.
 *
 * While not open, `send` queues up to `queueLimit` messages (default 100),
 * sent in order after the next hello; past that it throws
 * {@linkcode SendQueueFullError}. After the client is closed for good it
 * throws {@linkcode ClientClosedError}. Delivery is at most once.
 *
 * ## Requests
 *
 * `client.request(data, { timeout })` asks the server and resolves with the
 * reply of the hub's `onRequest`; the `onRequest` option (or
 * `client.onRequest(handler)`) answers the server's `client.request()`.
 * Failures reject with {@linkcode RequestError} (`code`, and the message
 * the other side chose to expose with a {@linkcode ReplyError}),
 * {@linkcode RequestTimeoutError} or {@linkcode ConnectionClosedError}.
 * Requests are text only and never queued while offline nor sent again
 * after a reconnect (at most once).
 *
 * ```ts
 * import { connect, RequestError } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws", {
 *   onRequest: (question) => question === "ready?" ? "yes" : null,
 * });
 * try {
 *   console.log(await client.request({ op: "balance" }, { timeout: 2_000 }));
 * } catch (error) {
 *   if (error instanceof RequestError) console.warn(error.code, error.message);
 * }
 * await client.close();
 * ```
 *
 * ## Without rooms and requests
 *
 * An application that uses neither can import `connect` from
 * `@wshub/hub/client/core` instead: the same client without `join`,
 * `leave`, `presence`, `request` and `onRequest` (a {@linkcode CoreClient}),
 * whose bundle holds none of their code (about a quarter less, gzipped; see
 * docs/benchmarks.md). Everything else, identity included, is the same.
 *
 * ## Identity
 *
 * Browsers cannot set headers on a WebSocket. Three ways to tell the server who
 * the user is, each checked by the hub's `identify` hook before the upgrade:
 *
 * 1. **Token in the subprotocol list** (recommended for tokens): the `token`
 *    option is offered as `wshub.token.<token>`; it never appears in URLs or
 *    access logs.
 *
 *    ```ts ignore
 *    // browser
 *    const client = connect("wss://example.com/ws", { token: jwt });
 *    // server
 *    import { Hub, protocolToken } from "@wshub/hub";
 *    const hub = new Hub({
 *      onMessage() {},
 *      identify: async (req) =>
 *        (await verifyJwt(protocolToken(req)))?.sub ?? new Response(null, { status: 401 }),
 *    });
 *    ```
 *
 * 2. **A session cookie**: the browser sends the page's cookies with the
 *    upgrade request. Keep the hub's origin check on (it is by default), since
 *    cookies ride along on cross-site requests too.
 *
 *    ```ts ignore
 *    // browser: nothing to pass
 *    const client = connect("/ws");
 *    // server
 *    const hub = new Hub({
 *      onMessage() {},
 *      identify: async (req) => {
 *        const sid = req.headers.get("cookie")?.match(/(?:^|; )sid=([^;]+)/)?.[1];
 *        return (await sessions.get(sid))?.userId ?? new Response(null, { status: 401 });
 *      },
 *    });
 *    ```
 *
 * 3. **A query parameter**: simple, but URLs end up in server and proxy logs;
 *    use short-lived, single-use tickets only.
 *
 *    ```ts ignore
 *    // browser
 *    const client = connect(`/ws?ticket=${encodeURIComponent(ticket)}`);
 *    // server
 *    const hub = new Hub({
 *      onMessage() {},
 *      identify: (req) =>
 *        redeemTicket(new URL(req.url).searchParams.get("ticket")) ??
 *          new Response(null, { status: 401 }),
 *    });
 *    ```
 *
 * **Credentials that expire** (a JWT's `exp`): pass `getToken` instead of
 * `token`. It is called before every connection (a token is never sent
 * twice) and whenever the hub asks for a fresh one before the current one
 * expires; that one is sent on the open connection, which lives on (no
 * reconnect, rooms and queued messages untouched; a `refresh` event says
 * the new expiry). Throw an {@linkcode UnauthorizedError} from it to stop
 * the client (close code 4401); other failures are retried with backoff.
 * A connection the hub closed because its credential expired (4004) is
 * reopened with a fresh token; one closed because the user's access was
 * revoked (4003) is not.
 *
 * ```ts
 * import { connect, UnauthorizedError } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws", {
 *   getToken: async () => {
 *     const response = await fetch("http://127.0.0.1:8000/token");
 *     if (response.status === 401) throw new UnauthorizedError("signed out");
 *     return await response.text();
 *   },
 * });
 * client.on("refresh", ({ expiresAt }) => console.log("token good until", new Date(expiresAt)));
 * await client.close();
 * ```
 *
 * A server that rejects a client after the upgrade should close it with 4401
 * (unauthorized) or 4403 (forbidden): the client does not retry those.
 *
 * @module
 */

import { assertKnownOptions } from "../common/unknown_options.ts";
import { HubClient } from "./hub_client.ts";
import { type ConnectOptions, CORE_OPTION_NAMES, REQUEST_OPTION_NAMES } from "./options.ts";

export type { HubClient } from "./hub_client.ts";
export type { ClientEventMap, ClientState, CloseInfo, CoreClient } from "./core_client.ts";
export type { ConnectOptions, CoreOptions, RequestHandler } from "./options.ts";
export { NO_RECONNECT_CODES, type ReconnectOptions } from "./reconnect.ts";
export type { Hello } from "../protocol/mod.ts";
export type { Listener, MessageMeta } from "./events.ts";
export type { JoinOptions, JoinResult, RecoveryEvent } from "./rooms.ts";
export type { PresenceDiff, PresenceEvent } from "../protocol/mod.ts";
export {
  ClientClosedError,
  DecodeError,
  JoinError,
  ProtocolError,
  SendQueueFullError,
  ServerError,
  TokenError,
  UnauthorizedError,
} from "./errors.ts";
export type { RequestOptions } from "./requests.ts";
export {
  ConnectionClosedError,
  ReplyError,
  RequestError,
  RequestTimeoutError,
} from "../protocol/request_errors.ts";

/**
 * Connects to a wshub hub and keeps the connection alive until
 * `client.close()` is called. Returns at once; the client starts in
 * state `"connecting"` and sends made before it is open are queued.
 *
 * `url` may be `ws:`/`wss:`, `http:`/`https:` (turned into `ws:`/`wss:`), or in
 * a browser a path relative to the page (`"/ws"`).
 *
 * @typeParam T What the server sends: the same `T` as its `Hub<T>`.
 * @typeParam S What this client sends; default `T`. With a `Hub<T, In>`
 * whose `decode` parses requests of another shape, pass that shape here.
 * @param url The hub's WebSocket URL.
 * @param options See {@linkcode ConnectOptions}.
 * @returns The client.
 * @throws {TypeError} on an invalid URL or token.
 * @throws {RangeError} on an invalid numeric option.
 *
 * @example Connect, send, receive, close
 * ```ts
 * import { connect } from "@wshub/hub/client";
 *
 * const client = connect<{ text: string }>("ws://127.0.0.1:8000/ws", { token: "alice" });
 * client.on("open", (hello) => console.log("hello, user", hello.user));
 * client.on("message", (message) => console.log(message.text));
 * client.send({ text: "hi all" });
 * await client.close();
 * ```
 */
export function connect<T = unknown, S = T>(
  url: string | URL,
  options?: ConnectOptions<T>,
): HubClient<T, S> {
  if (options !== undefined) {
    assertKnownOptions("connect option", options, [...CORE_OPTION_NAMES, ...REQUEST_OPTION_NAMES]);
  }
  return new HubClient<T, S>(url, options);
}
