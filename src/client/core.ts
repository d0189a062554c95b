/**
 * The light client: `@wshub/hub/client` without rooms and requests, for
 * applications that use neither and would rather not ship their code. It
 * speaks `wshub.v2`, answers the server's heartbeats, notices a dead server,
 * reconnects with jittered backoff, queues what you send while offline and
 * takes `token` or `getToken`, exactly like the full client; what it lacks
 * is `join`, `leave`, `presence`, `presenceCounts`, `rooms`, `request` and
 * `onRequest` (and their options).
 *
 * Rooms the server puts the client in still reach it: their messages arrive
 * as `message` (or `binary`) events whose meta names the room, and presence
 * as `presence` events; rooms with history are not put in order nor
 * repaired after a gap (the full client does that). The server's requests
 * are answered `no_handler` at once.
 *
 * Switching is a change of import path; everything the two share is the
 * same code.
 *
 * ```ts
 * import { connect } from "@wshub/hub/client/core";
 *
 * type Chat = { from?: string; text: string };
 * const client = connect<Chat>("ws://127.0.0.1:8000/ws");
 * client.on("message", (message) => console.log(`${message.from}: ${message.text}`));
 * client.send({ text: "hello" }); // queued until open, then sent
 * await client.close();
 * ```
 *
 * @module
 */

import { assertKnownOptions } from "../common/unknown_options.ts";
import { CoreClient } from "./core_client.ts";
import { CORE_OPTION_NAMES, type CoreOptions } from "./options.ts";

export type { ClientEventMap, ClientState, CloseInfo, CoreClient } from "./core_client.ts";
export type { CoreOptions } from "./options.ts";
export { NO_RECONNECT_CODES, type ReconnectOptions } from "./reconnect.ts";
export type { Hello, PresenceDiff, PresenceEvent } from "../protocol/mod.ts";
export type { Listener, MessageMeta } from "./events.ts";
export type { RecoveryEvent } from "./rooms.ts";
export {
  ClientClosedError,
  DecodeError,
  ProtocolError,
  SendQueueFullError,
  ServerError,
  TokenError,
  UnauthorizedError,
} from "./errors.ts";

/**
 * Connects to a wshub hub, like `connect()` of `@wshub/hub/client`, with a
 * client that has no rooms and no requests of its own (a
 * {@linkcode CoreClient}). Returns at once; the client starts in state
 * `"connecting"` and sends made before it is open are queued.
 *
 * @typeParam T What the server sends: the same `T` as its `Hub<T>`.
 * @typeParam S What this client sends; default `T`.
 * @param url The hub's WebSocket URL: `ws:`/`wss:`, `http:`/`https:`, or in a
 * browser a path relative to the page.
 * @param options See {@linkcode CoreOptions}.
 * @returns The client.
 * @throws {TypeError} on an invalid URL or token, or an unknown option (the
 * options of requests included: they need the full client).
 * @throws {RangeError} on an invalid numeric option.
 *
 * @example Receive and send, nothing else
 * ```ts
 * import { connect } from "@wshub/hub/client/core";
 *
 * const client = connect<{ text: string }>("ws://127.0.0.1:8000/ws", { token: "alice" });
 * client.on("message", (message) => console.log(message.text));
 * client.send({ text: "hi all" });
 * await client.close();
 * ```
 */
export function connect<T = unknown, S = T>(
  url: string | URL,
  options?: CoreOptions<T>,
): CoreClient<T, S> {
  if (options !== undefined) assertKnownOptions("connect option", options, CORE_OPTION_NAMES);
  return new CoreClient<T, S>(url, options);
}
