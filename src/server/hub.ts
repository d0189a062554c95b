/**
 * The {@linkcode Hub}: the public face of the server side. Its methods admit
 * connections and queue events; the {@linkcode Scheduler} applies them.
 *
 * @module
 */

import { assertKnownOptions } from "../common/unknown_options.ts";
import {
  assertApplicationCloseCode,
  CloseCode,
  encodePayload,
  payloadValue,
  roomNameProblem,
} from "../protocol/mod.ts";
import { REVOKED_REASON } from "./credentials.ts";
import { Admission, type UpgradeOptions } from "./admission.ts";
import { connectionOf } from "./client_view.ts";
import { backplanePresenceStats, type BackplaneStatus } from "./backplane.ts";
import type { Connection } from "./connection.ts";
import { HubClosedError } from "./errors.ts";
import type { HubEvent } from "./events.ts";
import type { HistoryPage, HistoryReadOptions, Position } from "./history.ts";
import type {
  DisconnectOptions,
  HubApi,
  PublishOptions,
  PublishResult,
  RoomJoinOptions,
} from "./hub_api.ts";
import { registerInspection } from "./inspection.ts";
import { METRICS_CONTENT_TYPE } from "./prometheus.ts";
import { renderMetrics } from "./metrics.ts";
import { type HubOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import { watchOversizedMessages } from "./runtime_guard.ts";
import { Scheduler } from "./scheduler.ts";
import type { HubStats } from "./stats.ts";
import { snapshot } from "./stats_snapshot.ts";
import type { Client, PresenceEntry, PresenceStats } from "./types.ts";
import { type Parts, wire } from "./wiring.ts";

export type { DisconnectOptions, PublishOptions, PublishResult, RoomJoinOptions, UpgradeOptions };

/**
 * A WebSocket hub: it holds every live connection, fans messages out to all
 * of them or to one user's connections, and cuts off dead and stalled peers.
 *
 * Every change to the hub's state goes through one event queue, applied in
 * order by one scheduler loop; `broadcast`, `sendToUser` and `client.send`
 * never wait for a client.
 *
 * @typeParam T What `broadcast`, `sendToUser` and `client.send` accept.
 * Strings and `Uint8Array`s are sent as they are; other values are
 * JSON-encoded once per message, whatever the number of recipients.
 * @typeParam In What `onMessage` receives: without a `decode` option, the
 * value a `wshub.v2` client sent, or the text (or bytes) of a plain or
 * `wshub.v1` client — so `unknown` by default; with `decode`, what it returns.
 *
 * @example A chat server
 * ```ts
 * import { Hub } from "@wshub/hub";
 *
 * interface ChatMessage {
 *   from?: string;
 *   text: string;
 * }
 *
 * const hub = new Hub<ChatMessage>({
 *   identify: (req) => new URL(req.url).searchParams.get("user") ?? undefined,
 *   onMessage(message, client, hub) {
 *     if (typeof message === "string") hub.broadcast({ from: client.user, text: message });
 *   },
 * });
 * const server = Deno.serve({ port: 0, onListen() {} }, (req) => hub.upgrade(req));
 * hub.broadcast({ text: "server restarting soon" }); // every connection
 * hub.sendToUser("alice", { text: "you have mail" }); // every connection of alice
 * await hub.close();
 * await server.shutdown();
 * ```
 */
export class Hub<T = unknown, In = unknown> implements HubApi<T>, AsyncDisposable {
  readonly #options: ResolvedOptions<T, In>;
  readonly #parts: Parts;
  readonly #scheduler: Scheduler;
  readonly #admission: Admission;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => void this.close();
  readonly #unwatch: (() => void) | undefined;
  #closing = false;
  #stopped: Promise<void> | undefined;
  /** The backplane's status as it last told the hub. */
  #backplaneStatus: BackplaneStatus | "none";
  /** `ready()` calls waiting for the backplane to be up. */
  readonly #readyWaiters = new Set<{ resolve: () => void; reject: (error: unknown) => void }>();

  /**
   * Creates a hub; its scheduler starts at once.
   *
   * @throws {RangeError} If an option is out of range (the message says which).
   */
  constructor(options?: HubOptions<T, In>) {
    const resolved = this.#options = resolveOptions(options ?? {});
    const { onMessage, onRequest, onConnect, onDisconnect, onError, logger } = resolved;
    const { authorizeJoin, onPresence, refresh } = resolved;
    const report = (error: Error, connection: Connection | undefined) => {
      if (onError !== undefined) {
        try {
          onError(error, connection === undefined ? undefined : viewOf<T>(connection));
          return;
        } catch (failure) {
          logger.error("wshub: the onError callback threw", { error: failure });
        }
      }
      logger.warn(error.message, { client: connection?.id, error });
    };
    this.#parts = wire(resolved as ResolvedOptions<unknown, unknown>, {
      released: (socket) => this.#admission.released(socket),
      onMessage: onMessage === undefined
        ? undefined
        : (message, connection) => onMessage(message as In, viewOf<T>(connection), this),
      onRequest: onRequest === undefined
        ? undefined
        : (message, connection) => onRequest(message as In, viewOf<T>(connection), this),
      onConnect: onConnect === undefined
        ? undefined
        : (connection) => onConnect(viewOf<T>(connection), this),
      onDisconnect: onDisconnect === undefined
        ? undefined
        : (connection, info) => onDisconnect(viewOf<T>(connection), info, this),
      authorizeJoin: authorizeJoin === undefined
        ? undefined
        : (connection, room) => authorizeJoin(viewOf<T>(connection), room),
      onPresence: onPresence === undefined ? undefined : (event) => onPresence(event, this),
      refresh: refresh === undefined
        ? undefined
        : (token, connection) => refresh(token, viewOf<T>(connection)),
      report,
    });
    this.#admission = new Admission(this.#parts);
    registerInspection(this, this.#parts, this.#admission); // for @wshub/hub/inspector
    this.#scheduler = new Scheduler(this.#parts);
    const push = this.#parts.push;
    this.#backplaneStatus = this.#parts.backplane?.status ?? "none";
    this.#parts.backplane?.start({
      deliver: (message) =>
        void push(
          message.kind === "disconnect"
            ? {
              type: "remoteDisconnect",
              user: message.user,
              code: message.code,
              reason: message.reason,
            }
            : { type: "remote", message },
        ),
      presence: (event, origin) => void push({ type: "remotePresence", event, origin }),
      status: (status, error) => {
        this.#backplaneStatus = status;
        if (status === "up") this.#wakeReady();
        if (status === "down") {
          logger.warn("wshub: the backplane is down; local delivery goes on", { error });
        } else {
          logger.info(`wshub: the backplane is ${status}`);
        }
      },
      logger,
    });
    this.#unwatch = resolved.guardOversizedMessages
      ? watchOversizedMessages(() => this.#oversizedMessageCaught())
      : undefined;
    this.#signal = options?.signal;
    if (this.#signal !== undefined) {
      if (this.#signal.aborted) void this.close();
      else this.#signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /** How many connections are registered. */
  get size(): number {
    return this.#parts.registry.size;
  }

  /** Whether `close()` has been called (or the signal aborted). */
  get closed(): boolean {
    return this.#closing;
  }

  /**
   * Where the backplane's connection to its bus is (`connecting`, `up`,
   * `down`, `closed`); `"none"` without a backplane. While it is not `up`,
   * what this hub sends reaches this process's connections only.
   */
  get backplaneStatus(): BackplaneStatus | "none" {
    return this.#backplaneStatus;
  }

  /**
   * Upgrades a request to a WebSocket registered with this hub; call it from a
   * `Deno.serve` handler and return what it returns.
   *
   * Before upgrading, it checks the request (426 if it is not a WebSocket
   * upgrade or not version 13, 405 if not a GET, 400 if the handshake is
   * malformed or its subprotocol list cannot be negotiated), the
   * origin (403, see `allowedOrigins`), and calls `identify` (whose
   * `Response`, if any, is returned as it is). A hub that is shutting down
   * answers 503. Every request gets a response; it throws only for an
   * unknown option name (a programming error).
   *
   * @returns The response to send: 101 with the upgrade, or the refusal. It is
   * a promise only when `identify` returns one.
   *
   * @example Serve the hub on /ws and a page elsewhere
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * const server = Deno.serve({ port: 0, onListen() {} }, (req) =>
   *   new URL(req.url).pathname === "/ws" ? hub.upgrade(req) : new Response("hello"));
   * await hub.close();
   * await server.shutdown();
   * ```
   */
  upgrade(req: Request, options?: UpgradeOptions): Response | Promise<Response> {
    const response = this.#admission.upgrade(req, options);
    const tap = this.#parts.tap;
    return tap.on ? tap.upgraded(response, options?.address) : response;
  }

  /**
   * Queues a message for every registered connection. Never waits for a
   * client: a slow one is dealt with by its own send queue.
   *
   * @returns A promise of the number of connections it was queued for (0
   * once the hub is closing). It never rejects.
   * @throws {TypeError} If the value has no JSON form (a cycle, a BigInt).
   *
   * @example
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub<{ price: number }>();
   * const count = await hub.broadcast({ price: 42 });
   * console.log(`queued for ${count} connections`);
   * await hub.close();
   * ```
   */
  broadcast(data: T): Promise<number> {
    const payload = encodePayload(data);
    return this.#ask((done) => ({ type: "broadcast", payload, done }), 0);
  }

  /**
   * Queues a message for every connection of one user (all their tabs and
   * devices), and no one else.
   *
   * @returns A promise of the number of connections it was queued for (0
   * when the user has none, or once the hub is closing). It never rejects.
   * @throws {TypeError} If the value has no JSON form.
   *
   * @example
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub<{ text: string }>();
   * const count = await hub.sendToUser("alice", { text: "you have mail" });
   * console.log(`alice has ${count} connections`);
   * await hub.close();
   * ```
   */
  sendToUser(user: string, data: T): Promise<number> {
    const payload = encodePayload(data);
    return this.#ask((done) => ({ type: "user", user, payload, done }), 0);
  }

  /**
   * The connections registered now, in the order they registered.
   *
   * @example
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * for (const client of hub.clients()) console.log(client.id, client.user);
   * await hub.close();
   * ```
   */
  clients(): Client<T>[] {
    return Array.from(this.#parts.registry.connections(), viewOf<T>);
  }

  /**
   * The connections of one user registered now.
   *
   * @example
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * console.log(`alice is connected ${hub.clientsOf("alice").length} times`);
   * await hub.close();
   * ```
   */
  clientsOf(user: string): Client<T>[] {
    return Array.from(this.#parts.registry.ofUser(user), viewOf<T>);
  }

  /**
   * Closes every connection of `user` — on every process, when the hub has
   * a backplane — and is the way to revoke a user's access: a banned user,
   * a password changed, a session ended. Default code 4003 (revoked, which
   * the reference client does not retry), reason "access revoked".
   * Connections whose credential expires are also closed when it does
   * (see the `refresh` option); this is for now.
   *
   * @param options `code`: 4003 by default, or any application code
   * (3000–4999, or 1000); `reason`: at most 123 UTF-8 bytes.
   * @returns A promise of how many of the user's connections this process
   * closed (the other processes close theirs within about one round trip
   * through the backplane). It never rejects; 0 once the hub is closing.
   * @throws {RangeError} If the code is not one an application may send.
   *
   * @example Ban a user everywhere
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * const closed = await hub.disconnectUser("mallory", { reason: "banned" });
   * console.log(`closed ${closed} connections here`);
   * await hub.close();
   * ```
   */
  disconnectUser(user: string, options?: DisconnectOptions): Promise<number> {
    if (options !== undefined) assertKnownOptions("disconnect option", options, ["code", "reason"]);
    const code = options?.code ?? CloseCode.Revoked;
    assertApplicationCloseCode(code);
    const reason = options?.reason ?? REVOKED_REASON;
    return this.#ask((done) => ({ type: "disconnectUser", user, code, reason, done }), 0);
  }

  /**
   * Puts a client in a room, through the scheduler like every other change;
   * a framed client is told (`J`). Joining a room twice changes nothing.
   * Joins made here are trusted: `authorizeJoin` is not asked.
   *
   * `options.presence` says how a framed client hears about presence in the
   * room: `"events"` (default, `u` frames, which every framed client
   * understands), `"diffs"` (`U` frames: only for clients known to read them,
   * such as this version's client module) or `"none"`. A client already in
   * the room keeps its mode. Server-side joins do not count against the
   * client's room-change budget.
   *
   * @returns A promise, resolved once applied, of whether the client is in
   * the room: `false` when it is closed, or already in `maxRoomsPerConnection`
   * rooms. It never rejects.
   * @throws {RangeError} If `room` is not a valid room name (1–128 ASCII
   * letters, digits and `_-.:@/#+=~!`), or `presence` is not one of the three.
   * @throws {TypeError} If an option's name is unknown.
   *
   * @example Put every connection of a user in their own room
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub({
   *   onConnect(client, hub) {
   *     if (client.user !== undefined) hub.join(client, `user:${client.user}`);
   *   },
   * });
   * await hub.close();
   * ```
   */
  join(client: Client<T>, room: string, options?: RoomJoinOptions): Promise<boolean> {
    assertRoomName(room);
    if (options !== undefined) assertKnownOptions("join option", options, ["presence"]);
    const presence = options?.presence;
    if (presence !== undefined && !["events", "diffs", "none"].includes(presence)) {
      throw new RangeError(
        `Invalid join option presence: ${
          JSON.stringify(presence)
        }; expected "events", "diffs" or "none"`,
      );
    }
    const connection = connectionOf(client as Client<unknown>);
    if (connection === undefined) return Promise.resolve(false);
    return this.#ask((done) => ({ type: "join", connection, room, presence, done }), false);
  }

  /**
   * Takes a client out of a room (a framed client is told, `L`). Leaving a
   * room one is not in changes nothing.
   *
   * @returns A promise, resolved once applied, of whether the client was in
   * the room. It never rejects.
   * @throws {RangeError} If `room` is not a valid room name.
   *
   * @example
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * for (const client of hub.clientsIn("lobby")) await hub.leave(client, "lobby");
   * await hub.close();
   * ```
   */
  leave(client: Client<T>, room: string): Promise<boolean> {
    assertRoomName(room);
    const connection = connectionOf(client as Client<unknown>);
    if (connection === undefined) return Promise.resolve(false);
    return this.#ask((done) => ({ type: "leave", connection, room, done }), false);
  }

  /**
   * Queues a message for every connection in a room, encoded once whatever
   * the number of members. Plain clients get the payload as it is; framed
   * clients get it with the room's name (`r` frames), and the client module
   * passes the room to `message` listeners.
   *
   * @param options `except`: a client that is not sent it (typically the
   * sender of a chat message).
   * @returns A promise of the number of connections it was queued for. It
   * never rejects.
   * @throws {RangeError} If `room` is not a valid room name.
   * @throws {TypeError} If the value has no JSON form.
   *
   * @example Relay a chat message to the sender's channel, not back to it
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub<{ text: string }>({
   *   onMessage(message, client, hub) {
   *     if (typeof message === "string") hub.publish("general", { text: message }, { except: client });
   *   },
   * });
   * await hub.close();
   * ```
   */
  publish(room: string, data: T, options?: PublishOptions<T>): Promise<number> {
    return this.#ask(this.#publishEvent(room, data, options), 0);
  }

  /**
   * {@linkcode Hub.prototype.publish}, resolving with the publication's
   * position in the room's stream too (rooms with history): what an API
   * that publishes on behalf of others answers (`createApi`'s
   * `/api/publish`). With a backplane that keeps history, it resolves once
   * the stream took the publication.
   *
   * @returns A promise of `{ count, position? }` (see {@linkcode PublishResult}).
   * It never rejects; `{ count: 0 }` once the hub is closing.
   * @throws {RangeError} If `room` is not a valid room name.
   * @throws {TypeError} If the value has no JSON form.
   *
   * @example
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub<string>({ history: { size: 100, ttl: 60_000 } });
   * const { position } = await hub.publishWithPosition("news", "first");
   * console.log(position?.offset); // 1
   * await hub.close();
   * ```
   */
  publishWithPosition(
    room: string,
    data: T,
    options?: PublishOptions<T>,
  ): Promise<PublishResult> {
    const event = this.#publishEvent(room, data, options);
    return this.#ask<PublishResult>(
      (done) =>
        event((count, position) => done(position === undefined ? { count } : { count, position })),
      { count: 0 },
    );
  }

  /** The publish event for `room`, checked and encoded now, given its `done` later. */
  #publishEvent(
    room: string,
    data: T,
    options: PublishOptions<T> | undefined,
  ): (done: (count: number, position?: Position) => void) => HubEvent {
    assertRoomName(room);
    if (options !== undefined) assertKnownOptions("publish option", options, ["except"]);
    const payload = encodePayload(data);
    const except = options?.except === undefined
      ? undefined
      : connectionOf(options.except as Client<unknown>);
    return (done) => ({ type: "publish", room, payload, except, done });
  }

  /**
   * Who is in a room: one entry per identified user, with how many of the
   * user's connections are in it (three tabs: one entry, `connections: 3`).
   * Anonymous connections are not listed. Answered by the scheduler, in order
   * with every join and leave queued before it; with a backplane that is up,
   * by the backplane, for the whole cluster (while it is down, for this
   * process).
   *
   * @returns A promise that rejects with {@linkcode HubClosedError} once the
   * hub is closing.
   *
   * @example
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * const online = await hub.presence("lobby");
   * console.log(online.map(({ user }) => user));
   * await hub.close();
   * ```
   */
  presence(room: string): Promise<PresenceEntry[]> {
    assertRoomName(room);
    if (this.#closing) return Promise.reject(new HubClosedError("hub.presence()"));
    const backplane = this.#parts.backplane;
    if (backplane !== undefined && backplane.status === "up") {
      return backplane.presence(room).catch(() => this.#localPresence(room));
    }
    return this.#localPresence(room);
  }

  #localPresence(room: string): Promise<PresenceEntry[]> {
    return this.#ask<PresenceEntry[]>((done) => ({ type: "presence", room, done }), []);
  }

  /**
   * How many identified users are in a room, and how many of their
   * connections — without building the list, so cheap on big rooms: O(1)
   * in this process, one small Redis script with `RedisBackplane` (NATS:
   * see docs/clusters.md). Cluster-wide with a backplane that is up, else
   * for this process; answered like {@linkcode Hub.presence}.
   *
   * @returns A promise that rejects with {@linkcode HubClosedError} once the
   * hub is closing.
   * @throws {RangeError} If `room` is not a valid room name.
   *
   * @example
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * const { users, connections } = await hub.presenceStats("lobby");
   * console.log(`${users} online in ${connections} tabs`);
   * await hub.close();
   * ```
   */
  presenceStats(room: string): Promise<PresenceStats> {
    assertRoomName(room);
    if (this.#closing) return Promise.reject(new HubClosedError("hub.presenceStats()"));
    const local = () =>
      this.#ask<PresenceStats>((done) => ({ type: "presenceStats", room, done }), {
        users: 0,
        connections: 0,
      });
    const backplane = this.#parts.backplane;
    if (backplane !== undefined && backplane.status === "up") {
      return backplanePresenceStats(backplane, room).catch(local);
    }
    return local();
  }

  /**
   * A room's recent publications (rooms with the `history` option), oldest
   * first, and the stream's current position. With `since`, only those after
   * that position (none when its epoch is not the stream's); with `limit`,
   * at most that many.
   *
   * @returns A promise that rejects with {@linkcode HubClosedError} once the
   * hub is closing, and, with history kept by a backplane, with the
   * backplane's error while its bus is down (`RedisDownError`; see
   * {@linkcode Hub.prototype.ready}).
   *
   * @example Catch a late page up
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub<string>({ history: { size: 100, ttl: 60_000 } });
   * await hub.publish("news", "first");
   * const { epoch, offset, publications } = await hub.history("news", { limit: 10 });
   * console.log(epoch, offset, publications.map((p) => p.data));
   * await hub.close();
   * ```
   */
  history(room: string, options?: HistoryReadOptions): Promise<HistoryPage<T>> {
    assertRoomName(room);
    if (options !== undefined) assertKnownOptions("history option", options, ["since", "limit"]);
    if (this.#closing) return Promise.reject(new HubClosedError("hub.history()"));
    return this.#readHistory(room, options ?? {});
  }

  /** A room's stream, as values (a JSON value parsed back; strings and bytes as they were). */
  async #readHistory(room: string, options: HistoryReadOptions): Promise<HistoryPage<T>> {
    const page = await this.#parts.store.read(room, options);
    return {
      epoch: page.epoch,
      offset: page.offset,
      publications: page.publications.map(({ offset, data, json }) => ({
        offset,
        data: payloadValue(data, json) as T,
      })),
    };
  }

  /**
   * Resolves once the hub can act as one with the other processes: its
   * backplane is connected (at once without a backplane). Until then a
   * hub serves its own clients, but what it publishes reaches no other
   * process and is not stored in a backplane's history, and
   * `hub.history()` rejects: await it before serving when that matters.
   *
   * @param options `signal`: stop waiting (the promise rejects with the signal's reason).
   * @returns A promise that rejects with {@linkcode HubClosedError} if the
   * hub closes first.
   *
   * @example Serve once Redis is reachable, give up after ten seconds
   * ```ts ignore
   * import { Hub } from "@wshub/hub";
   * import { RedisBackplane } from "@wshub/hub/redis";
   *
   * const hub = new Hub({ backplane: new RedisBackplane({ url: "redis://127.0.0.1:6379" }) });
   * await hub.ready({ signal: AbortSignal.timeout(10_000) });
   * Deno.serve((req) => hub.upgrade(req));
   * ```
   */
  ready(options?: { signal?: AbortSignal }): Promise<void> {
    if (options !== undefined) assertKnownOptions("ready option", options, ["signal"]);
    if (this.#closing) return Promise.reject(new HubClosedError("hub.ready()"));
    const status = this.#backplaneStatus;
    if (status === "none" || status === "up") return Promise.resolve();
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const onAbort = () => {
      this.#readyWaiters.delete(waiter);
      reject(signal!.reason);
    };
    const waiter = {
      resolve: () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      reject: (error: unknown) => {
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      },
    };
    this.#readyWaiters.add(waiter);
    signal?.addEventListener("abort", onAbort, { once: true });
    return promise;
  }

  #wakeReady(): void {
    for (const waiter of this.#readyWaiters) waiter.resolve();
    this.#readyWaiters.clear();
  }

  /**
   * The connections in a room now.
   *
   * @example
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * console.log(`${hub.clientsIn("lobby").length} connections in the lobby`);
   * await hub.close();
   * ```
   */
  clientsIn(room: string): Client<T>[] {
    return Array.from(this.#parts.registry.inRoom(room), viewOf<T>);
  }

  /**
   * Counters for metrics: connections, users, messages in, deliveries,
   * drops, slow consumers and timeouts.
   *
   * @example
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * const { connections, deliveries } = hub.stats();
   * console.log(connections, deliveries);
   * await hub.close();
   * ```
   */
  stats(): HubStats {
    return snapshot(this.#parts, {
      sockets: this.#admission.sockets,
      refusedForCapacity: this.#admission.refusedForCapacity,
      admissionsPaced: this.#admission.admissionsPaced,
      backplane: this.#parts.backplane?.status ?? "none",
    });
  }

  /**
   * The hub's metrics in the Prometheus text exposition format (0.0.4):
   * connections by kind, users, rooms, messages, deliveries, bytes out, the
   * histogram of how long messages waited before their hand-off to the
   * socket (`wshub_delivery_wait_seconds`), drops, slow consumers, timeouts,
   * closes by code, rate limiting, sockets, requests, recoveries, and with
   * a backplane its state, traffic, round trip and history reads and writes
   * (the list is in docs/metrics.md). Built from {@linkcode Hub.prototype.stats}
   * when called: cheap enough to scrape every second.
   *
   * @example Append the hub's metrics to the application's own
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * const text = hub.metrics() + "# TYPE app_up gauge\napp_up 1\n";
   * console.log(text.includes("wshub_connections{kind=\"plain\"} 0")); // true
   * await hub.close();
   * ```
   */
  metrics(): string {
    const backplane = this.#parts.backplane;
    return renderMetrics(
      this.stats(),
      this.#parts.handOffs.waits,
      backplane === undefined
        ? undefined
        : { status: backplane.status, stats: backplane.stats?.() },
    );
  }

  /**
   * {@linkcode Hub.prototype.metrics} as a response for a `/metrics` route,
   * with the exposition format's content type
   * (`text/plain; version=0.0.4; charset=utf-8`).
   *
   * @example Serve /metrics beside the hub
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * const server = Deno.serve({ port: 0, onListen() {} }, (req) => {
   *   const { pathname } = new URL(req.url);
   *   if (pathname === "/metrics") return hub.metricsResponse();
   *   return hub.upgrade(req);
   * });
   * await hub.close();
   * await server.shutdown();
   * ```
   */
  metricsResponse(): Response {
    return new Response(this.metrics(), {
      headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
    });
  }

  /**
   * Shuts the hub down gracefully: refuses new upgrades (503), lets what was
   * queued before this call drain to every healthy client for up to
   * `drainTimeout`, closes every client with 1001 (going away), waits up to
   * one more second for the close handshakes, stops the scheduler and clears
   * every timer. Calling it again returns the same promise.
   *
   * @example
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * const hub = new Hub();
   * await hub.close();
   * console.log(hub.closed); // true
   * ```
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#signal?.removeEventListener("abort", this.#onAbort);
      this.#unwatch?.();
      this.#admission.close();
      for (const waiter of this.#readyWaiters) waiter.reject(new HubClosedError("hub.ready()"));
      this.#readyWaiters.clear();
      if (this.#parts.shutdown.begin()) this.#parts.push({ type: "shutdown" });
      const backplane = this.#parts.backplane;
      this.#stopped = backplane === undefined
        ? this.#scheduler.stopped
        : this.#scheduler.stopped.then(() => backplane.close()).catch((error) => {
          this.#options.logger.warn("wshub: the backplane failed to close", { error });
        });
    }
    return this.#stopped!;
  }

  /**
   * Closes the hub, for `await using`.
   *
   * @example
   * ```ts
   * import { Hub } from "@wshub/hub";
   *
   * {
   *   await using hub = new Hub();
   *   console.log(hub.size);
   * } // closed here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Queues an event that settles a promise once applied (`done`); resolves
   * with `fallback` once the hub is closing, or when the loop has stopped.
   */
  #ask<R>(event: (done: (result: R) => void) => HubEvent, fallback: R): Promise<R> {
    if (this.#closing) return Promise.resolve(fallback);
    const { promise, resolve } = Promise.withResolvers<R>();
    if (!this.#parts.push(event(resolve))) resolve(fallback);
    return promise;
  }

  /**
   * The oversized-message guard caught Deno's read loop failing on some
   * socket: count it, and ping every framed client now, so that the one
   * whose reader died is cut after `pongTimeout` rather than whenever its
   * next ping was due. (A plain one is released by Deno's idle timeout.)
   */
  #oversizedMessageCaught(): void {
    this.#parts.counters.oversizedMessages++;
    this.#parts.heartbeat.probeAll(this.#parts.registry.connections());
  }
}

function assertRoomName(room: string): void {
  const problem = roomNameProblem(room);
  if (problem !== undefined) throw new RangeError(`Invalid room name: ${problem}`);
}

/** The application's view of a connection, typed with the hub's `T`. */
function viewOf<T>(connection: Connection): Client<T> {
  return connection.client as Client<T>;
}
