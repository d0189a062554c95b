/**
 * The types the whole server shares and applications see: a connection's
 * public view ({@linkcode Client}), why it left, who it belongs to, presence
 * entries, request options and the overflow policy. This module is the
 * floor of `src/server/`: it imports nothing from it.
 *
 * @module
 */

/**
 * One live WebSocket connection registered with a hub. A user may hold many.
 *
 * @typeParam T What {@linkcode Client.send} accepts (the hub's `T`).
 *
 * @example Greet each client and kick one out
 * ```ts
 * import { Hub } from "@wshub/hub";
 *
 * const hub = new Hub<{ text: string }>({
 *   onConnect(client) {
 *     client.send({ text: `welcome, ${client.user ?? "guest"}` });
 *   },
 *   onMessage(message, client) {
 *     if (message === "/quit") client.close(4000 + 100, "bye");
 *   },
 * });
 * await hub.close();
 * ```
 */
export interface Client<T = unknown> {
  /** A unique id for this connection (sent to framed clients in the hello). */
  readonly id: string;
  /** The user this connection belongs to, or `undefined` when anonymous. */
  readonly user: string | undefined;
  /** Whether the client speaks `wshub.v1` (heartbeats, tagged frames) or is plain. */
  readonly framed: boolean;
  /** The subprotocol echoed in the handshake, or `""` when none was offered. */
  readonly protocol: string;
  /** When the connection was accepted, in milliseconds since the epoch. */
  readonly connectedAt: number;
  /**
   * The last measured round-trip time in milliseconds, from a heartbeat ping
   * to its pong; `undefined` until the first pong (and always for plain clients).
   */
  readonly rtt: number | undefined;
  /** Whether the client is registered and messages sent to it can be delivered. */
  readonly open: boolean;
  /** Messages waiting in this client's send queue. */
  readonly queued: number;
  /** The rooms this client is in now (a read-only view). */
  readonly rooms: ReadonlySet<string>;
  /**
   * When this connection's credential expires, in ms since the epoch
   * (moved by each accepted refresh); `undefined` when it does not expire.
   */
  readonly expiresAt: number | undefined;
  /**
   * Queues a message for this client alone, in order with every broadcast
   * and user message queued before it. Strings and bytes go as they are;
   * other values are JSON-encoded.
   *
   * @returns `false` if the client is already closed (nothing is queued).
   * @throws {TypeError} If the value has no JSON form.
   */
  send(data: T): boolean;
  /**
   * Sends a request to this client and waits for its answer (its
   * `onRequest` handler's reply), in order with the messages queued for it.
   * The data is encoded like `send` (text only: no `Uint8Array`); the reply
   * is decoded with the hub's `decode` option, when there is one.
   *
   * Never throws; the promise rejects with a `RequestError` when the client
   * answered with a failure (or `maxRequestsInFlight` requests to it are
   * pending already: code `too_many_requests`, nothing sent), a
   * `RequestTimeoutError` after `timeout` (default: the hub's
   * `requestTimeout`), a `ConnectionClosedError` when the client is not
   * connected or leaves before answering (a request is never sent again),
   * and a `TypeError` for a plain client or data that cannot be sent.
   *
   * @typeParam R What the reply decodes to.
   */
  request<R = unknown>(data: T, options?: RequestOptions): Promise<R>;
  /**
   * Closes the connection after what was queued for it before this call, and
   * unregisters it at once (`onDisconnect` is called right away). The close
   * frame follows the queued messages; if the peer has stopped reading and
   * they make no progress for `writeTimeout`, they are dropped and the close
   * goes out anyway. Closing twice does nothing.
   *
   * @param code 1000 (default) or an application code, an integer from 3000 to 4999.
   * @param reason At most 123 UTF-8 bytes; a longer reason is cut.
   * @throws {RangeError} If the code is not one an application may send.
   */
  close(code?: number, reason?: string): void;
}

/**
 * Why a client left, as given to `onDisconnect`.
 *
 * @example
 * ```ts
 * import { type DisconnectInfo, Hub } from "@wshub/hub";
 *
 * const hub = new Hub({
 *   onDisconnect(client, info: DisconnectInfo) {
 *     console.log(client.id, info.code, info.reason, info.byHub ? "by the hub" : "by the peer");
 *   },
 * });
 * await hub.close();
 * ```
 */
export interface DisconnectInfo {
  /**
   * The close code: the one the hub sent, or the one the peer sent (1005 if
   * its close frame had none, 1006 if the connection ended without one).
   */
  code: number;
  /** The close reason, possibly empty. */
  reason: string;
  /** Whether the hub (not the peer) ended the connection. */
  byHub: boolean;
}

/**
 * An identity that expires: the user (or `undefined` for an anonymous but
 * expiring connection) and when its credential expires, in ms since the
 * epoch. What `identify` may return, and what `refresh` returns.
 *
 * @example
 * ```ts
 * import { type ExpiringIdentity, Hub } from "@wshub/hub";
 *
 * const hub = new Hub({
 *   identify: (): ExpiringIdentity => ({ user: "alice", expiresAt: Date.now() + 60_000 }),
 *   refresh: (token): ExpiringIdentity => ({ user: token, expiresAt: Date.now() + 60_000 }),
 * });
 * await hub.close();
 * ```
 */
export interface ExpiringIdentity {
  /** The user, or `undefined` for an anonymous connection. */
  user?: string;
  /** When the credential expires, in milliseconds since the epoch. */
  expiresAt: number;
}

/**
 * What the `identify` hook returns: a user id, `undefined` for an anonymous
 * connection, an {@linkcode ExpiringIdentity} (a user whose credential
 * expires), or a `Response` (such as 401 or 403) that refuses the upgrade.
 *
 * @example
 * ```ts
 * import { Hub, type Identity } from "@wshub/hub";
 *
 * function identify(req: Request): Identity {
 *   const user = new URL(req.url).searchParams.get("user");
 *   return user ?? new Response("who are you?", { status: 401 });
 * }
 * const hub = new Hub({ identify });
 * await hub.close();
 * ```
 */
export type Identity = string | undefined | ExpiringIdentity | Response;

/**
 * What the hub does when a client's send queue is full.
 *
 * - `"close"`: close the client with 1013 (try again later) and unregister it.
 *   Nothing is silently lost: the client knows it missed messages.
 * - `"drop-oldest"`: drop the oldest queued message to make room. For feeds
 *   where only the latest state matters (prices, positions). The protocol's
 *   own frames (join and leave answers, presence events, requests and their
 *   answers) are never dropped; a client whose queue holds only those is
 *   closed as with `"close"`.
 *
 * @example
 * ```ts
 * import { Hub, type OverflowPolicy } from "@wshub/hub";
 *
 * const overflow: OverflowPolicy = "drop-oldest"; // a price feed: the latest matters
 * const hub = new Hub({ overflow });
 * await hub.close();
 * ```
 */
export type OverflowPolicy = "close" | "drop-oldest";

/**
 * One user's presence in a room: how many of its connections are in it.
 *
 * @example
 * ```ts
 * import { Hub, type PresenceEntry } from "@wshub/hub";
 *
 * const hub = new Hub();
 * const entries: PresenceEntry[] = await hub.presence("lobby");
 * console.log(entries.map(({ user, connections }) => `${user} (${connections})`));
 * await hub.close();
 * ```
 */
export interface PresenceEntry {
  /** The user. */
  user: string;
  /** How many of the user's connections are in the room. */
  connections: number;
}

/**
 * How many identified users are in a room, and how many of their
 * connections (`hub.presenceStats(room)`): cluster-wide with a backplane,
 * counted without building the list.
 *
 * @example
 * ```ts
 * import { Hub, type PresenceStats } from "@wshub/hub";
 *
 * const hub = new Hub();
 * const stats: PresenceStats = await hub.presenceStats("lobby");
 * console.log(`${stats.users} online, ${stats.connections} tabs`);
 * await hub.close();
 * ```
 */
export interface PresenceStats {
  /** Identified users with at least one connection in the room. */
  users: number;
  /** Their connections in the room (a user with three tabs counts three). */
  connections: number;
}

/**
 * Options of one `client.request()` call.
 *
 * @example A request that may take longer than the hub's `requestTimeout`
 * ```ts
 * import { Hub, type RequestOptions } from "@wshub/hub";
 *
 * const slow: RequestOptions = { timeout: 60_000 };
 * const hub = new Hub({
 *   onConnect(client) {
 *     client.request("confirm?", slow).then(console.log, console.warn);
 *   },
 * });
 * await hub.close();
 * ```
 */
export interface RequestOptions {
  /**
   * How long to wait for the answer, in milliseconds, before the request
   * fails with `RequestTimeoutError`. Default: the hub's `requestTimeout`.
   * Checked on the hub's shared tick, so it may fire up to one tick late.
   */
  timeout?: number;
}
