/**
 * The scheduler: the one loop that applies every change to the hub's state.
 *
 * It is an async iterator over one event queue. Public methods, readers and
 * the heartbeat only push events; the loop takes them in order and applies
 * them in one exhaustive `switch`: registering and unregistering
 * connections, fanning payloads out to writers, handing messages to
 * `onMessage`. When the queue runs empty, the writers that were handed
 * payloads in that batch are flushed ({@linkcode Delivery}).
 *
 * Beside it: `delivery.ts` (writers, flushing, lingering closes),
 * `dispatch.ts` (`onMessage` in order per client), `shutdown.ts` (the
 * graceful drain), `registry.ts` (who is connected), `heartbeat.ts` (the
 * shared timer), `requests.ts` (requests and answers, both directions).
 *
 * @module
 */

import {
  type AnswerFrame,
  CloseCode,
  encodeErrorNotice,
  encodeHello,
  Payload,
  type PresenceEvent,
} from "../protocol/mod.ts";
import type { Backplane, BackplaneMessage } from "./backplane.ts";
import {
  type HistoryPage,
  type HistoryStore,
  MemoryHistory,
  type Position,
  type ReadOptions,
} from "./history.ts";
import { Closer } from "./closer.ts";
import type { Connection, ConnectionHost } from "./connection.ts";
import { Delivery, yieldToEventLoop } from "./delivery.ts";
import { callbackError, Dispatcher, type MessageHandler } from "./dispatch.ts";
import { EventQueue } from "./event_queue.ts";
import { Heartbeat } from "./heartbeat.ts";
import type { Logger } from "./logger.ts";
import { HandOffs } from "./metrics.ts";
import type { DisconnectInfo, ResolvedOptions } from "./options.ts";
import type { RateLimiter, ResolvedRateLimit } from "./rate_limit.ts";
import { IDLE_TIMEOUT_REASON, type ReaderHost } from "./reader.ts";
import { type PresenceEntry, Registry } from "./registry.ts";
import { type AuthorizeJoin, Rooms } from "./rooms.ts";
import { InboundRequest, type RequestHandler, type RequestOptions, Requests } from "./requests.ts";
import { Shutdown } from "./shutdown.ts";
import { detach } from "./socket.ts";
import { Counters, type HubStats } from "./stats.ts";

/** How long the loop may apply events without letting the event loop run, in ms. */
const SLICE = 10;
/** How many events it applies between two looks at the clock. */
const SLICE_CHECK = 64;

/** Everything that changes the hub's state or sends something. */
export type HubEvent =
  | { type: "register"; connection: Connection }
  | { type: "unregister"; connection: Connection; code: number; reason: string; byHub: boolean }
  | { type: "broadcast"; payload: Payload; done: (count: number) => void }
  | { type: "user"; user: string; payload: Payload; done: (count: number) => void }
  | { type: "send"; connection: Connection; payload: Payload }
  | { type: "joinRequest"; connection: Connection; id: number; room: string; since?: Position }
  | {
    type: "joinDecided";
    connection: Connection;
    id: number;
    room: string;
    verdict: boolean | Error;
    since?: Position;
  }
  | {
    type: "join";
    connection: Connection;
    room: string;
    id?: number;
    since?: Position;
    done?: (joined: boolean) => void;
  }
  | {
    type: "historyRead";
    connection: Connection;
    room: string;
    id: number | undefined;
    since: Position | undefined;
    page: HistoryPage | undefined;
  }
  | { type: "appendFailed"; ref: number }
  | {
    type: "leave";
    connection: Connection;
    room: string;
    id?: number;
    done?: (left: boolean) => void;
  }
  | {
    type: "publish";
    room: string;
    payload: Payload;
    except: Connection | undefined;
    done: (count: number) => void;
  }
  | { type: "presence"; room: string; done: (entries: PresenceEntry[]) => void }
  | { type: "remote"; message: BackplaneMessage }
  | { type: "remotePresence"; event: PresenceEvent; origin: boolean }
  | { type: "message"; connection: Connection; message: unknown; bytes: number }
  | { type: "handled"; connection: Connection }
  | { type: "shutdown" }
  | { type: "stop" };

/** The application's callbacks, bound to the hub. */
export interface SchedulerCallbacks {
  /** A socket the hub closed was released by force (Deno may fire no `close` event for it). */
  released: (socket: WebSocket) => void;
  onMessage?: MessageHandler;
  onRequest?: RequestHandler;
  onConnect?: (connection: Connection) => void;
  onDisconnect?: (connection: Connection, info: DisconnectInfo) => void;
  authorizeJoin?: AuthorizeJoin;
  onPresence?: (event: PresenceEvent) => void;
  reportError: (error: Error, connection: Connection | undefined) => void;
}

/** The loop, the registry it owns, and the helpers it drives. */
export class Scheduler implements ConnectionHost, ReaderHost {
  readonly registry: Registry = new Registry();
  readonly maxMessageBytes: number;
  readonly acceptBinary: boolean;
  readonly decode: ((data: string | Uint8Array) => unknown) | undefined;
  readonly logger: Logger;
  readonly rateLimit: ResolvedRateLimit | undefined;
  /** Bytes and delivery waits, counted by every writer at its hand-offs (metrics). */
  readonly handOffs: HandOffs = new HandOffs();
  readonly #options: ResolvedOptions<unknown, unknown>;
  readonly #callbacks: SchedulerCallbacks;
  readonly #events = new EventQueue<HubEvent>();
  readonly #counters = new Counters();
  readonly #heartbeat: Heartbeat;
  readonly #delivery: Delivery;
  readonly #dispatcher: Dispatcher;
  readonly #shutdown: Shutdown;
  readonly #closer: Closer;
  readonly #rooms: Rooms;
  readonly #backplane: Backplane | undefined;
  readonly #history: HistoryStore;
  #prunedAt = 0;
  readonly #requests: Requests;
  /** Resolves once the loop has ended and every timer is cleared. */
  readonly stopped: Promise<void>;

  constructor(options: ResolvedOptions<unknown, unknown>, callbacks: SchedulerCallbacks) {
    this.#options = options;
    this.#callbacks = callbacks;
    this.maxMessageBytes = options.maxMessageBytes;
    this.acceptBinary = options.acceptBinary;
    this.decode = options.decode;
    this.logger = options.logger;
    this.rateLimit = options.rateLimit;
    this.#heartbeat = new Heartbeat(options, {
      connections: () => this.registry.connections(),
      closeConnection: (connection, code, reason, byHub) =>
        this.closeConnection(connection, code, reason, byHub),
      expire: (now) => {
        this.#requests.expire(now);
        // Streams in memory whose publications all expired go, once a second at most.
        if (now - this.#prunedAt >= 1000 && this.#history instanceof MemoryHistory) {
          this.#prunedAt = now;
          this.#history.prune();
        }
      },
    });
    this.#requests = new Requests({
      onRequest: callbacks.onRequest,
      maxRequestsInFlight: options.maxRequestsInFlight,
      requestTimeout: options.requestTimeout,
      decode: options.decode,
    }, {
      sendTo: (connection, payload) => this.sendTo(connection, payload),
      dispatch: (connection, request, bytes) => this.received(connection, request, bytes),
      closeConnection: (connection, code, reason, byHub) =>
        this.closeConnection(connection, code, reason, byHub),
      reportError: (error, connection) => this.reportError(error, connection),
    });
    const heartbeat = this.#heartbeat;
    const events = this.#events;
    this.#closer = new Closer(options, this.#counters, callbacks.released);
    this.#delivery = new Delivery(options.writeTimeout, this.#counters, this.#closer, {
      get now() {
        return heartbeat.now;
      },
      get stopped() {
        return events.closed;
      },
      overflowed: (connection) => {
        connection.requestClose();
        this.#counters.slowConsumers++;
        this.#unregister(
          connection,
          CloseCode.SlowConsumer,
          "send queue overflow: the client reads too slowly",
          true,
        );
      },
    });
    this.#dispatcher = new Dispatcher(this.#requests.route(callbacks.onMessage), options, {
      handled: (connection) => this.push({ type: "handled", connection }),
      closeConnection: (connection, code, reason, byHub) =>
        this.closeConnection(connection, code, reason, byHub),
      reportError: (error, connection) => this.reportError(error, connection),
    });
    this.#backplane = options.backplane;
    this.#history = options.backplane?.history ?? new MemoryHistory();
    this.#rooms = new Rooms(this.registry, {
      history: options.history,
      store: this.#history,
      maxRecover: options.maxRecover,
      authorizeJoin: callbacks.authorizeJoin,
      maxRoomsPerConnection: options.maxRoomsPerConnection,
      presenceEvents: options.presenceEvents,
      onPresence: callbacks.onPresence,
      backplane: options.backplane,
    }, {
      deliver: (connection, payload) => this.#delivery.deliver(connection, payload),
      hold: (connection) => this.#dispatcher.hold(connection),
      decided: (connection, room, id, verdict, since) =>
        this.push({ type: "joinDecided", connection, room, id, verdict, since }),
      read: (connection, room, id, since, page) =>
        this.push({ type: "historyRead", connection, room, id, since, page }),
      appendFailed: (ref) => void this.push({ type: "appendFailed", ref }),
      reportError: (error, connection) => this.reportError(error, connection),
    });
    this.#shutdown = new Shutdown(this.#closer, {
      flushAll: (now) => this.#delivery.flushAll(this.registry.connections(), now),
      stop: () => this.push({ type: "stop" }),
    });
    this.stopped = this.#run();
  }

  /** The hub's coarse clock (see {@linkcode Heartbeat}). */
  get now(): number {
    return this.#heartbeat.now;
  }

  /** Whether shutdown has begun. */
  get shuttingDown(): boolean {
    return this.#shutdown.started;
  }

  /** Sockets released by force that may still hold a descriptor (see {@linkcode Closer}). */
  get leakedSockets(): number {
    return this.#closer.leaked;
  }

  /**
   * The oversized-message guard caught Deno's read loop failing on some
   * socket: count it, and ping every framed client now, so that the one
   * whose reader died is cut after `pongTimeout` rather than whenever its
   * next ping was due. (A plain one is released by Deno's idle timeout.)
   */
  oversizedMessageCaught(): void {
    this.#counters.oversizedMessages++;
    this.#heartbeat.probeAll(this.registry.connections());
  }

  /** Reads a room's history from wherever it is kept. */
  readHistory(room: string, options: ReadOptions): HistoryPage | Promise<HistoryPage> {
    return this.#history.read(room, options);
  }

  /** A snapshot of the counters. */
  stats(): Omit<HubStats, "sockets" | "refusedForCapacity" | "backplane"> {
    const counters = this.#counters;
    let dropped = counters.dropped;
    let framed = 0;
    for (const connection of this.registry.connections()) {
      dropped += connection.writer.dropped;
      if (connection.framed) framed++;
    }
    return {
      connections: this.registry.size,
      framedConnections: framed,
      users: this.registry.users,
      rooms: this.registry.rooms,
      connected: counters.connected,
      disconnected: counters.disconnected,
      messagesIn: counters.messagesIn,
      deliveries: counters.deliveries,
      bytesOut: this.handOffs.bytes,
      dropped,
      slowConsumers: counters.slowConsumers,
      timedOut: counters.timedOut,
      timeouts: { ...counters.timeouts },
      rateLimited: counters.rateLimited,
      inboxBytes: this.#dispatcher.waiting.bytes,
      closing: this.#closer.pending,
      forcedReleases: counters.forcedReleases,
      leakedSockets: counters.leakedSockets,
      oversizedMessages: counters.oversizedMessages,
      closeCodes: Object.fromEntries(counters.closeCodes),
      requests: this.#requests.stats(),
      recoveries: { ...this.#rooms.recoveries },
    };
  }

  /** Queues an event. Returns `false` if the loop has already stopped. */
  push(event: HubEvent): boolean {
    if (this.#events.closed) return false;
    this.#events.push(event);
    return true;
  }

  /** Begins the graceful shutdown (once). */
  shutdown(): void {
    if (this.#shutdown.begin()) this.push({ type: "shutdown" });
  }

  // ConnectionHost, ReaderHost

  sendTo(connection: Connection, payload: Payload): void {
    this.push({ type: "send", connection, payload });
  }

  closeConnection(connection: Connection, code: number, reason: string, byHub: boolean): void {
    if (!connection.requestClose()) return;
    if (!this.push({ type: "unregister", connection, code, reason, byHub })) {
      this.#closer.close(connection.socket, code, reason, false);
    }
  }

  opened(connection: Connection): void {
    if (!this.push({ type: "register", connection })) {
      this.#closer.close(connection.socket, CloseCode.GoingAway, "server shutting down", false);
    }
  }

  received(connection: Connection, message: unknown, bytes: number): void {
    this.push({ type: "message", connection, message, bytes });
  }

  roomRequest(
    connection: Connection,
    kind: "join" | "leave",
    id: number,
    room: string,
    since?: Position,
  ): void {
    if (kind === "join") this.push({ type: "joinRequest", connection, id, room, since });
    else this.push({ type: "leave", connection, room, id });
  }

  roomsOf(connection: Connection): ReadonlySet<string> {
    return this.registry.roomsOf(connection);
  }

  requested(connection: Connection, id: number, message: unknown, bytes: number): void {
    this.#requests.arrived(connection, id, message, bytes);
  }

  answered(connection: Connection, answer: AnswerFrame): void {
    this.#requests.answered(connection, answer);
  }

  request(connection: Connection, data: unknown, options?: RequestOptions): Promise<unknown> {
    return this.#requests.send(connection, data, options);
  }

  limited(connection: Connection, limiter: RateLimiter): void {
    this.#counters.rateLimited++;
    const limits = this.rateLimit!;
    const what = `more than ${limits.messagesPerSecond} messages or ${limits.bytesPerSecond} ` +
      "bytes a second";
    if (limits.action === "close") {
      this.closeConnection(connection, CloseCode.PolicyViolation, `rate limit: ${what}`, true);
    } else if (connection.framed && limiter.notify(performance.now())) {
      connection.writer.sendControl(encodeErrorNotice({
        error: "rate_limited",
        message: `Messages were dropped: this connection sent ${what}; slow down`,
      }));
    }
  }

  reportError(error: Error, connection: Connection | undefined): void {
    this.#callbacks.reportError(error, connection);
  }

  // The loop

  async #run(): Promise<void> {
    let sliceStart = 0;
    let applied = 0;
    for await (const event of this.#events) {
      if (sliceStart === 0) sliceStart = performance.now();
      try {
        this.#apply(event);
        if (this.#delivery.congested) {
          await this.#delivery.relieve();
          sliceStart = performance.now();
        } else if (this.#events.size === 0) {
          if (this.#delivery.pending) this.#delivery.flush();
          sliceStart = 0; // about to wait: the event loop runs
        } else if (++applied % SLICE_CHECK === 0 && performance.now() - sliceStart > SLICE) {
          // A long run of events: let Deno read and write before going on,
          // so that the hub's own backlog never starves every socket.
          if (this.#delivery.pending) this.#delivery.flush();
          await yieldToEventLoop();
          sliceStart = performance.now();
        }
      } catch (error) {
        this.logger.error("wshub: unexpected error in the scheduler", { error, event: event.type });
      }
    }
    await this.#shutdown.awaitCloseHandshakes();
  }

  #apply(event: HubEvent): void {
    switch (event.type) {
      case "broadcast":
        event.done(this.#broadcast(event.payload));
        this.#backplane?.publish({ kind: "broadcast", data: event.payload.plain });
        return;
      case "user":
        event.done(this.#toUser(event.user, event.payload));
        this.#backplane?.publish({ kind: "user", user: event.user, data: event.payload.plain });
        return;
      case "send":
        if (this.registry.has(event.connection)) {
          this.#delivery.deliver(event.connection, event.payload);
        }
        return;
      case "joinRequest":
        if (this.registry.has(event.connection)) {
          this.#rooms.request(event.connection, event.id, event.room, event.since);
        }
        return;
      case "joinDecided":
        if (this.registry.has(event.connection)) {
          this.#rooms.decide(event.connection, event.room, event.id, event.verdict, event.since);
        }
        // What the client sent after its join request is handled now.
        this.#dispatcher.release(event.connection);
        return;
      case "join": {
        const joined = this.registry.has(event.connection) &&
          this.#rooms.join(event.connection, event.room, event.id, event.since);
        event.done?.(joined);
        return;
      }
      case "historyRead":
        this.#rooms.welcomed(event.connection, event.room, event.id, event.since, event.page);
        return;
      case "appendFailed":
        this.#rooms.appendFailed(event.ref);
        return;
      case "leave": {
        const left = this.registry.has(event.connection) &&
          this.#rooms.leave(event.connection, event.room, event.id);
        event.done?.(left);
        return;
      }
      case "publish":
        this.#rooms.publish(event.room, event.payload, event.except, event.done);
        return;
      case "remote": {
        const { message } = event;
        const payload = new Payload(message.data);
        if (message.kind === "broadcast") this.#broadcast(payload);
        else if (message.kind === "user") this.#toUser(message.user, payload);
        else this.#rooms.deliverRemote(message.room, payload, message.position, message.ref);
        return;
      }
      case "remotePresence":
        this.#rooms.presenceEvent(event.event, event.origin);
        return;
      case "presence":
        event.done(this.registry.presence(event.room));
        return;
      case "message":
        // A message that arrived before its client left is not handed on after
        // onDisconnect.
        if (event.connection.state !== "open") return;
        if (!(event.message instanceof InboundRequest)) this.#counters.messagesIn++;
        this.#dispatcher.dispatch(event.connection, event.message, event.bytes);
        return;
      case "handled":
        this.#dispatcher.resume(event.connection);
        return;
      case "register":
        this.#register(event.connection);
        return;
      case "unregister":
        this.#unregister(event.connection, event.code, event.reason, event.byHub);
        return;
      case "shutdown":
        this.#shutdown.drain(performance.now() + this.#options.drainTimeout);
        return;
      case "stop":
        this.#stop();
        return;
    }
  }

  #broadcast(payload: Payload): number {
    let count = 0;
    for (const connection of this.registry.connections()) {
      this.#delivery.deliver(connection, payload);
      count++;
    }
    return count;
  }

  #toUser(user: string, payload: Payload): number {
    let count = 0;
    for (const connection of this.registry.ofUser(user)) {
      this.#delivery.deliver(connection, payload);
      count++;
    }
    return count;
  }

  #register(connection: Connection): void {
    if (connection.state !== "connecting") return;
    if (this.#shutdown.started) {
      connection.markClosed();
      this.#closer.close(connection.socket, CloseCode.GoingAway, "server shutting down", false);
      return;
    }
    connection.markOpen();
    if (this.registry.add(connection)) {
      this.#backplane?.subscribe({ kind: "user", user: connection.user! });
    }
    this.#counters.connected++;
    this.#heartbeat.watch(connection);
    this.#heartbeat.start();
    if (connection.framed) {
      connection.writer.sendControl(encodeHello({
        v: 1,
        id: connection.id,
        user: connection.user ?? null,
        pingInterval: this.#options.pingInterval,
        pongTimeout: this.#options.pongTimeout,
      }));
    }
    for (const room of connection.initialRooms) this.#rooms.join(connection, room);
    const onConnect = this.#callbacks.onConnect;
    if (onConnect !== undefined) {
      try {
        onConnect(connection);
      } catch (error) {
        this.reportError(callbackError("onConnect", error), connection);
      }
    }
  }

  #unregister(connection: Connection, code: number, reason: string, byHub: boolean): void {
    if (connection.state === "closed") return;
    const wasOpen = connection.markClosed();
    const removed = this.registry.delete(connection);
    if (removed !== undefined) {
      this.#rooms.departed(connection, removed.left);
      if (removed.lastOfUser) {
        this.#backplane?.unsubscribe({ kind: "user", user: connection.user! });
      }
    }
    this.#delivery.forget(connection);
    this.#dispatcher.forget(connection);
    this.#requests.forget(connection, code, reason);
    const writer = connection.writer;
    this.#counters.dropped += writer.dropped;
    if (byHub) {
      if (reason === IDLE_TIMEOUT_REASON) this.#counters.timeout("idle");
      else if (code === CloseCode.HeartbeatTimeout) this.#counters.timeout("heartbeat");
      else if (code === CloseCode.WriteTimeout) this.#counters.timeout("write");
      this.logger.debug("wshub: closing client", { id: connection.id, code, reason });
      // A deliberate close (by the application or the shutdown) goes out
      // after what was queued before it; a close for cause does not wait.
      // One Deno closed itself (its idle timeout) needs nothing more.
      const deliberate = code === CloseCode.Normal || code === CloseCode.GoingAway ||
        isApplicationCode(code);
      if (connection.socket.readyState === WebSocket.CLOSED) writer.dispose();
      else if (deliberate) this.#delivery.closeAfterQueue(connection, code, reason);
      else this.#delivery.closeNow(connection, code, reason);
    } else {
      writer.dispose();
    }
    detach(connection.socket);
    if (this.registry.size === 0) this.#heartbeat.stop();
    if (!wasOpen) return;
    this.#counters.disconnected++;
    this.#counters.closed(code);
    const onDisconnect = this.#callbacks.onDisconnect;
    if (onDisconnect !== undefined) {
      try {
        onDisconnect(connection, { code, reason, byHub });
      } catch (error) {
        this.reportError(callbackError("onDisconnect", error), connection);
      }
    }
  }

  #stop(): void {
    for (const connection of this.registry.connections()) {
      this.#unregister(connection, CloseCode.GoingAway, "server shutting down", true);
    }
    this.#rooms.stopped();
    // Past the drain: what is still queued is dropped, and the close goes out.
    this.#delivery.stop();
    this.#heartbeat.stop();
    this.#shutdown.clearTimers();
    this.#events.close();
  }
}

function isApplicationCode(code: number): boolean {
  return code >= 3000 && code <= 4999 && code !== CloseCode.HeartbeatTimeout &&
    code !== CloseCode.WriteTimeout;
}
