/**
 * The {@linkcode Hub}: the public face of the server side. Its methods admit
 * connections and queue events; the {@linkcode Scheduler} applies them.
 *
 * @module
 */

import { encodePayload, roomNameProblem } from "../protocol/mod.ts";
import {
  checkHost,
  checkOrigin,
  checkUpgrade,
  negotiate,
  type Negotiated,
  refuse,
} from "./admission.ts";
import { type Client, Connection, connectionOf } from "./connection.ts";
import { type HubOptions, type Identity, type ResolvedOptions, resolveOptions } from "./options.ts";
import {
  METRICS_CONTENT_TYPE,
  type MetricsWriter,
  renderMetrics,
  writeBackplaneMetrics,
} from "./metrics.ts";
import { attachReader } from "./reader.ts";
import { watchOversizedMessages } from "./runtime_guard.ts";
import type { Backplane } from "./backplane.ts";
import type { HistoryPage, ReadOptions as HistoryReadOptions } from "./history.ts";
import type { PresenceEntry } from "./registry.ts";
import { Scheduler } from "./scheduler.ts";
import type { HubStats } from "./stats.ts";

/** Options of {@linkcode Hub.prototype.upgrade} for one request. */
export interface UpgradeOptions {
  /**
   * The user this connection belongs to, when the application has already
   * authenticated the request itself. When given (even as `undefined`), the
   * hub's `identify` hook is not called.
   */
  user?: string;
  /**
   * For plain clients that offer several subprotocols: the one to echo, if
   * offered. Default: `wshub.v1` when offered, else the first one offered.
   * A credential (`wshub.token.*`) is never echoed.
   */
  protocol?: string;
  /**
   * Rooms the connection joins as it registers, before `onConnect` runs
   * (server-side joins: `authorizeJoin` is not asked). Typically taken from
   * the URL the application has already checked, such as `?room=`.
   */
  rooms?: readonly string[];
}

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
 * @typeParam In What `onMessage` receives: the raw `string | Uint8Array`,
 * unless the `decode` option turns it into something else.
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
export class Hub<T = unknown, In = string | Uint8Array> implements AsyncDisposable {
  readonly #options: ResolvedOptions<T, In>;
  readonly #scheduler: Scheduler;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => void this.close();
  readonly #unwatch: (() => void) | undefined;
  readonly #backplane: Backplane | undefined;
  #closing = false;
  #stopped: Promise<void> | undefined;
  /** Sockets upgraded and not yet released (open, opening or closing). */
  readonly #sockets = new Set<WebSocket>();
  /** Upgrades refused with 503 because `maxConnections` sockets were held. */
  #refusedForCapacity = 0;

  /**
   * Creates a hub; its scheduler starts at once.
   *
   * @throws {RangeError} If an option is out of range (the message says which).
   */
  constructor(options: HubOptions<T, In> = {}) {
    this.#options = resolveOptions(options);
    const { onMessage, onRequest, onConnect, onDisconnect, onError, logger } = this.#options;
    const { authorizeJoin, onPresence } = this.#options;
    this.#scheduler = new Scheduler(this.#options as ResolvedOptions<unknown, unknown>, {
      released: (socket) => this.#sockets.delete(socket),
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
      reportError: (error, connection) => {
        if (onError !== undefined) {
          try {
            onError(error, connection === undefined ? undefined : viewOf<T>(connection));
            return;
          } catch (failure) {
            logger.error("wshub: the onError callback threw", { error: failure });
          }
        }
        logger.warn(error.message, { client: connection?.id, error });
      },
    });
    this.#backplane = this.#options.backplane;
    this.#backplane?.start({
      deliver: (message) => void this.#scheduler.push({ type: "remote", message }),
      presence: (event, origin) =>
        void this.#scheduler.push({ type: "remotePresence", event, origin }),
      status: (status, error) => {
        if (status === "down") {
          logger.warn("wshub: the backplane is down; local delivery goes on", { error });
        } else {
          logger.info(`wshub: the backplane is ${status}`);
        }
      },
      logger,
    });
    this.#unwatch = this.#options.guardOversizedMessages
      ? watchOversizedMessages(() => this.#scheduler.oversizedMessageCaught())
      : undefined;
    this.#signal = options.signal;
    if (this.#signal !== undefined) {
      if (this.#signal.aborted) void this.close();
      else this.#signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /** How many connections are registered. */
  get size(): number {
    return this.#scheduler.registry.size;
  }

  /** Whether `close()` has been called (or the signal aborted). */
  get closed(): boolean {
    return this.#closing;
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
   * answers 503. It never throws.
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
    if (this.#closing) return refuse(503, "The hub is shutting down; reconnect later");
    let refusal: Response | undefined = this.#checkCapacity();
    let negotiated: Negotiated | Response | undefined;
    try {
      refusal ??= checkUpgrade(req) ?? checkHost(req, this.#options.allowedHosts) ??
        checkOrigin(req, this.#options.allowedOrigins);
      if (refusal === undefined) {
        // Before identify: a list that cannot be negotiated is refused at once.
        negotiated = negotiate(req, options?.protocol);
        if (negotiated instanceof Response) refusal = negotiated;
      }
    } catch (error) {
      // Deno closes a request's headers once it has been upgraded: reading
      // them throws when the same request is upgraded a second time.
      return this.#upgradeFailed(req, error);
    }
    if (refusal !== undefined) {
      this.#options.logger.debug("wshub: upgrade refused", {
        status: refusal.status,
        url: req.url,
      });
      return refusal;
    }
    const rooms = options?.rooms ?? [];
    for (const room of rooms) {
      const problem = roomNameProblem(room);
      if (problem !== undefined) return this.#upgradeFailed(req, new RangeError(problem));
    }
    const chosen: Admitted = { ...(negotiated as Negotiated), rooms };
    const identify = this.#options.identify;
    if (identify === undefined || (options !== undefined && "user" in options)) {
      return this.#accept(req, options?.user, chosen);
    }
    let identity: Identity | Promise<Identity>;
    try {
      identity = identify(req);
    } catch (error) {
      return this.#identifyFailed(error);
    }
    if (identity instanceof Promise) return this.#awaitIdentity(req, identity, chosen);
    return this.#admit(req, identity, chosen);
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
    if (this.#closing) return Promise.resolve(0);
    const { promise, resolve } = Promise.withResolvers<number>();
    if (!this.#scheduler.push({ type: "broadcast", payload, done: resolve })) resolve(0);
    return promise;
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
    if (this.#closing) return Promise.resolve(0);
    const { promise, resolve } = Promise.withResolvers<number>();
    if (!this.#scheduler.push({ type: "user", user, payload, done: resolve })) resolve(0);
    return promise;
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
    return Array.from(this.#scheduler.registry.connections(), viewOf<T>);
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
    return Array.from(this.#scheduler.registry.ofUser(user), viewOf<T>);
  }

  /**
   * Puts a client in a room, through the scheduler like every other change;
   * a framed client is told (`J`). Joining a room twice changes nothing.
   * Joins made here are trusted: `authorizeJoin` is not asked.
   *
   * @returns A promise, resolved once applied, of whether the client is in
   * the room: `false` when it is closed, or already in `maxRoomsPerConnection`
   * rooms. It never rejects.
   * @throws {RangeError} If `room` is not a valid room name (1–128 ASCII
   * letters, digits and `_-.:@/#+=~!`).
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
  join(client: Client<T>, room: string): Promise<boolean> {
    assertRoomName(room);
    const connection = connectionOf(client as Client<unknown>);
    if (connection === undefined || this.#closing) return Promise.resolve(false);
    const { promise, resolve } = Promise.withResolvers<boolean>();
    if (!this.#scheduler.push({ type: "join", connection, room, done: resolve })) resolve(false);
    return promise;
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
    if (connection === undefined || this.#closing) return Promise.resolve(false);
    const { promise, resolve } = Promise.withResolvers<boolean>();
    if (!this.#scheduler.push({ type: "leave", connection, room, done: resolve })) resolve(false);
    return promise;
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
    assertRoomName(room);
    const payload = encodePayload(data);
    if (this.#closing) return Promise.resolve(0);
    const except = options?.except === undefined
      ? undefined
      : connectionOf(options.except as Client<unknown>);
    const { promise, resolve } = Promise.withResolvers<number>();
    if (!this.#scheduler.push({ type: "publish", room, payload, except, done: resolve })) {
      resolve(0);
    }
    return promise;
  }

  /**
   * Who is in a room: one entry per identified user, with how many of the
   * user's connections are in it (three tabs: one entry, `connections: 3`).
   * Anonymous connections are not listed. Answered by the scheduler, in order
   * with every join and leave queued before it.
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
    if (this.#closing) return Promise.resolve([]);
    const backplane = this.#backplane;
    if (backplane !== undefined && backplane.status === "up") {
      return backplane.presence(room).catch(() => this.#localPresence(room));
    }
    return this.#localPresence(room);
  }

  #localPresence(room: string): Promise<PresenceEntry[]> {
    const { promise, resolve } = Promise.withResolvers<PresenceEntry[]>();
    if (!this.#scheduler.push({ type: "presence", room, done: resolve })) resolve([]);
    return promise;
  }

  /**
   * A room's recent publications (rooms with the `history` option), oldest
   * first, and the stream's current position. With `since`, only those after
   * that position (none when its epoch is not the stream's); with `limit`,
   * at most that many.
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
  history(room: string, options?: HistoryReadOptions): Promise<HistoryPage> {
    assertRoomName(room);
    return Promise.resolve(this.#scheduler.readHistory(room, options ?? {}));
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
    return Array.from(this.#scheduler.registry.inRoom(room), viewOf<T>);
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
    return {
      ...this.#scheduler.stats(),
      sockets: this.#sockets.size,
      refusedForCapacity: this.#refusedForCapacity,
      backplane: this.#backplane?.status ?? "none",
    };
  }

  /**
   * The hub's metrics in the Prometheus text exposition format (0.0.4):
   * connections by kind, users, rooms, messages, deliveries, bytes out, the
   * histogram of how long messages waited before their hand-off to the
   * socket (`wshub_delivery_wait_seconds`), drops, slow consumers, timeouts,
   * closes by code, rate limiting, sockets, requests, recoveries, and with
   * a backplane its state, traffic, round trip and history reads and writes
   * (the list is in the README). Built from {@linkcode Hub.prototype.stats}
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
    const backplane = this.#backplane;
    const collectors = backplane === undefined
      ? []
      : [(out: MetricsWriter) => writeBackplaneMetrics(out, backplane.status, backplane.stats?.())];
    return renderMetrics(this.stats(), this.#scheduler.handOffs.waits, collectors);
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
      this.#scheduler.shutdown();
      const backplane = this.#backplane;
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
   * Waits for an async `identify`, for at most `identifyTimeout` (then 503).
   * A client that hangs up meanwhile is not upgraded: Deno would leak its
   * socket and descriptor, and `server.shutdown()` would never resolve (see
   * `docs/deno-limits.md`). Deno watches for the hang-up only once
   * `req.signal` has been read, so it is read before waiting.
   */
  async #awaitIdentity(
    req: Request,
    identity: Promise<Identity>,
    negotiated: Admitted,
  ): Promise<Response> {
    const signal = req.signal;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.#options.identifyTimeout);
    });
    let resolved: Identity | "timeout";
    try {
      resolved = await Promise.race([identity, timeout]);
    } catch (error) {
      return this.#identifyFailed(error);
    } finally {
      clearTimeout(timer);
    }
    if (resolved === "timeout") {
      identity.catch(() => {}); // it may still fail; nobody is waiting for it
      this.#scheduler.reportError(
        new Error(
          `The identify hook did not settle within identifyTimeout (${this.#options.identifyTimeout} ms); ` +
            "the upgrade was refused with 503",
        ),
        undefined,
      );
      return refuse(503, "Could not identify this connection in time; try again later");
    }
    if (signal.aborted) {
      this.#options.logger.debug("wshub: the client hung up while identify ran", { url: req.url });
      return new Response(null, { status: 499 });
    }
    return this.#admit(req, resolved, negotiated);
  }

  /** 503 when `maxConnections` sockets are held (open, opening, closing, or leaked). */
  #checkCapacity(): Response | undefined {
    const held = this.#sockets.size + this.#scheduler.leakedSockets;
    if (held < this.#options.maxConnections) return undefined;
    this.#refusedForCapacity++;
    return refuse(
      503,
      `The server holds its maximum of ${this.#options.maxConnections} connections; try again later`,
      { "retry-after": "5" },
    );
  }

  #admit(req: Request, identity: unknown, negotiated: Admitted): Response {
    if (identity instanceof Response) {
      this.#options.logger.debug("wshub: identify refused the upgrade", {
        status: identity.status,
        url: req.url,
      });
      return identity;
    }
    if (identity !== undefined && typeof identity !== "string") {
      return this.#identifyFailed(
        new TypeError(
          `identify returned a ${typeof identity}; return a user id string, undefined or a Response`,
        ),
      );
    }
    return this.#accept(req, identity, negotiated);
  }

  #identifyFailed(error: unknown): Response {
    const message = error instanceof Error ? error.message : String(error);
    this.#scheduler.reportError(
      new Error(`The identify hook failed: ${message}`, { cause: error }),
      undefined,
    );
    return refuse(500, "Could not identify this connection");
  }

  #upgradeFailed(req: Request, error: unknown): Response {
    const message = error instanceof Error ? error.message : String(error);
    let url = "";
    try {
      url = req.url;
    } catch {
      // the request is closed
    }
    this.#options.logger.debug("wshub: upgrade failed", { error: message, url });
    return refuse(400, `WebSocket upgrade failed: ${message}`);
  }

  /**
   * Deno's protocol-level idle timeout, in seconds. Plain clients get the
   * `idleTimeout` option: it is their only keepalive. Framed clients get one
   * twice as long as the application heartbeat's deadline, so it never fires
   * for a live client; it is the backstop that releases a socket whose
   * reading Deno itself gave up on (see `docs/deno-limits.md`, huge messages).
   */
  #idleTimeout(framed: boolean): number {
    if (!framed) return this.#options.idleTimeout;
    const { pingInterval, pongTimeout } = this.#options;
    return Math.ceil((2 * (pingInterval + pongTimeout)) / 1000);
  }

  #accept(req: Request, user: string | undefined, negotiated: Admitted): Response {
    if (this.#closing) return refuse(503, "The hub is shutting down; reconnect later");
    const full = this.#checkCapacity(); // again: an async identify may have taken a while
    if (full !== undefined) return full;
    const { protocol, framed, rooms } = negotiated;
    let upgraded: { socket: WebSocket; response: Response };
    try {
      // Deno finds the protocol to echo by splitting the offered list on ", "
      // only, and throws when a list joined otherwise (Node's ws sends "a,b")
      // does not match. So the hub, which parsed the list itself, upgrades
      // without naming a protocol and sets the echo on the 101 response.
      upgraded = Deno.upgradeWebSocket(req, { idleTimeout: this.#idleTimeout(framed) });
      if (protocol !== undefined) {
        upgraded.response.headers.set("sec-websocket-protocol", protocol);
      }
    } catch (error) {
      // Malformed, or already upgraded (by another call, or while an async
      // identify was running).
      return this.#upgradeFailed(req, error);
    }
    const connection = new Connection(
      upgraded.socket,
      { user, framed, protocol: protocol ?? "", rooms },
      {
        framed,
        coalesce: this.#options.coalesce,
        sendQueueLimit: this.#options.sendQueueLimit,
        overflow: this.#options.overflow,
        maxBufferedBytes: this.#options.maxBufferedBytes,
      },
      this.#scheduler,
    );
    attachReader(connection, this.#scheduler);
    const socket = upgraded.socket;
    this.#sockets.add(socket);
    socket.addEventListener("close", () => this.#sockets.delete(socket), { once: true });
    return upgraded.response;
  }
}

/** What admission decided for one request: the subprotocol, and rooms to join on registration. */
type Admitted = Negotiated & { rooms: readonly string[] };

/**
 * Options of {@linkcode Hub.prototype.publish}.
 *
 * @example
 * ```ts
 * import { Hub, type PublishOptions } from "@wshub/hub";
 *
 * const hub = new Hub<string>({
 *   onMessage(message, client, hub) {
 *     const options: PublishOptions<string> = { except: client };
 *     hub.publish("lobby", String(message), options);
 *   },
 * });
 * await hub.close();
 * ```
 */
export interface PublishOptions<T = unknown> {
  /** A client in the room that is not sent the message. */
  except?: Client<T>;
}

function assertRoomName(room: string): void {
  const problem = roomNameProblem(room);
  if (problem !== undefined) throw new RangeError(`Invalid room name: ${problem}`);
}

/** The application's view of a connection, typed with the hub's `T`. */
function viewOf<T>(connection: Connection): Client<T> {
  return connection.client as Client<T>;
}
