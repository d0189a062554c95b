/**
 * The scheduler: the one loop that applies every change to the hub's state.
 *
 * It is an async iterator over one event queue. Public methods, readers and
 * the heartbeat only push events; the loop takes them in order and applies
 * them: registering and unregistering connections, fanning payloads out to
 * writers, calling `onMessage`. When the queue runs empty, the writers that
 * were handed payloads in that batch are flushed — which is where queued
 * messages for framed clients are coalesced, without any timer.
 *
 * @module
 */

import { CloseCode } from "./close_codes.ts";
import { closeSocket, type Connection, type ConnectionHost } from "./connection.ts";
import { EventQueue } from "./event_queue.ts";
import { Heartbeat, type HeartbeatHost } from "./heartbeat.ts";
import type { Logger } from "./logger.ts";
import type { DisconnectInfo, ResolvedOptions } from "./options.ts";
import { encodeHello, type Payload } from "./protocol.ts";
import type { ReaderHost } from "./reader.ts";
import { Registry } from "./registry.ts";
import { Push } from "./writer.ts";

/** Everything that changes the hub's state or sends something. */
export type HubEvent =
  | { type: "register"; connection: Connection }
  | { type: "unregister"; connection: Connection; code: number; reason: string; byHub: boolean }
  | { type: "broadcast"; payload: Payload; done: (count: number) => void }
  | { type: "user"; user: string; payload: Payload; done: (count: number) => void }
  | { type: "send"; connection: Connection; payload: Payload }
  | { type: "message"; connection: Connection; message: unknown }
  | { type: "handled"; connection: Connection }
  | { type: "shutdown" }
  | { type: "stop" };

/** The application's callbacks, bound to the hub. */
export interface SchedulerCallbacks {
  onMessage?: (message: unknown, connection: Connection) => void | Promise<void>;
  onConnect?: (connection: Connection) => void;
  onDisconnect?: (connection: Connection, info: DisconnectInfo) => void;
  reportError: (error: Error, connection: Connection | undefined) => void;
}

/** How often backlogged writers are retried, and the drain is polled, in ms. */
const DRAIN_POLL = 5;
/** How long `close()` waits for close handshakes after the close frames went out, in ms. */
const CLOSE_GRACE = 1000;

/** Counters of what the hub has done, for metrics. */
export interface HubStats {
  /** Live connections. */
  connections: number;
  /** Distinct users with at least one live connection. */
  users: number;
  /** Connections accepted since the hub started. */
  connected: number;
  /** Connections unregistered since the hub started. */
  disconnected: number;
  /** Application messages received. */
  messagesIn: number;
  /** Application messages queued or sent to clients (one per recipient). */
  deliveries: number;
  /** Messages dropped by the `"drop-oldest"` overflow policy, from closed clients too. */
  dropped: number;
  /** Clients closed because their send queue overflowed (1013). */
  slowConsumers: number;
  /** Clients cut off by a heartbeat or write deadline (4000, 4001). */
  timedOut: number;
}

/** The loop, the registry it owns, and the timers that feed it. */
export class Scheduler implements ConnectionHost, ReaderHost, HeartbeatHost {
  readonly registry: Registry = new Registry();
  readonly maxMessageBytes: number;
  readonly acceptBinary: boolean;
  readonly decode: ((data: string | Uint8Array) => unknown) | undefined;
  readonly logger: Logger;
  readonly #options: ResolvedOptions<unknown, unknown>;
  readonly #callbacks: SchedulerCallbacks;
  readonly #events = new EventQueue<HubEvent>();
  readonly #heartbeat: Heartbeat;
  /** Connections handed payloads in the current batch, to flush when it ends. */
  readonly #dirty = new Set<Connection>();
  /** Connections whose writer still holds payloads (Deno's buffer was full). */
  readonly #backlog = new Set<Connection>();
  /**
   * Connections closed on purpose (`client.close()`) whose writer still held
   * payloads: already unregistered, their close frame waits until the
   * writer has handed everything to Deno, or has stalled for `writeTimeout`.
   */
  readonly #lingering = new Map<Connection, { code: number; reason: string }>();
  #backlogTimer: ReturnType<typeof setTimeout> | undefined;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #shuttingDown = false;
  #closingSockets: WebSocket[] = [];
  readonly #stats = {
    connected: 0,
    disconnected: 0,
    messagesIn: 0,
    deliveries: 0,
    dropped: 0,
    slowConsumers: 0,
    timedOut: 0,
  };
  /** Resolves once the loop has ended and every timer is cleared. */
  readonly stopped: Promise<void>;

  constructor(options: ResolvedOptions<unknown, unknown>, callbacks: SchedulerCallbacks) {
    this.#options = options;
    this.#callbacks = callbacks;
    this.maxMessageBytes = options.maxMessageBytes;
    this.acceptBinary = options.acceptBinary;
    this.decode = options.decode;
    this.logger = options.logger;
    this.#heartbeat = new Heartbeat(options, this);
    this.stopped = this.#run();
  }

  /** The hub's coarse clock (see {@linkcode Heartbeat}). */
  get now(): number {
    return this.#heartbeat.now;
  }

  /** Whether shutdown has begun. */
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** A snapshot of the counters. */
  stats(): HubStats {
    let dropped = this.#stats.dropped;
    for (const connection of this.registry.connections()) dropped += connection.writer.dropped;
    return {
      connections: this.registry.size,
      users: this.registry.users,
      ...this.#stats,
      dropped,
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
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.push({ type: "shutdown" });
  }

  // ConnectionHost, ReaderHost, HeartbeatHost

  sendTo(connection: Connection, payload: Payload): void {
    this.push({ type: "send", connection, payload });
  }

  closeConnection(connection: Connection, code: number, reason: string, byHub: boolean): void {
    if (connection.closing || connection.state === "closed") return;
    connection.closing = true;
    if (!this.push({ type: "unregister", connection, code, reason, byHub })) {
      closeSocket(connection.socket, code, reason);
    }
  }

  opened(connection: Connection): void {
    if (!this.push({ type: "register", connection })) {
      closeSocket(connection.socket, CloseCode.GoingAway, "server shutting down");
    }
  }

  received(connection: Connection, message: unknown): void {
    this.push({ type: "message", connection, message });
  }

  reportError(error: Error, connection: Connection | undefined): void {
    this.#callbacks.reportError(error, connection);
  }

  connections(): Iterable<Connection> {
    return this.registry.connections();
  }

  // The loop

  async #run(): Promise<void> {
    for await (const event of this.#events) {
      try {
        this.#apply(event);
      } catch (error) {
        this.logger.error("wshub: unexpected error in the scheduler", { error, event: event.type });
      }
      if (this.#events.size === 0 && this.#dirty.size > 0) this.#flushDirty();
    }
    await this.#awaitCloseHandshakes();
  }

  #apply(event: HubEvent): void {
    switch (event.type) {
      case "broadcast": {
        let count = 0;
        for (const connection of this.registry.connections()) {
          this.#deliver(connection, event.payload);
          count++;
        }
        event.done(count);
        return;
      }
      case "user": {
        let count = 0;
        for (const connection of this.registry.ofUser(event.user)) {
          this.#deliver(connection, event.payload);
          count++;
        }
        event.done(count);
        return;
      }
      case "send":
        if (this.registry.has(event.connection)) this.#deliver(event.connection, event.payload);
        return;
      case "message":
        this.#stats.messagesIn++;
        this.#dispatch(event.connection, event.message);
        return;
      case "handled":
        this.#resume(event.connection);
        return;
      case "register":
        this.#register(event.connection);
        return;
      case "unregister":
        this.#unregister(event.connection, event.code, event.reason, event.byHub);
        return;
      case "shutdown":
        this.#drain(performance.now() + this.#options.drainTimeout);
        return;
      case "stop":
        this.#stop();
        return;
    }
  }

  #register(connection: Connection): void {
    if (connection.state !== "connecting") return;
    if (this.#shuttingDown) {
      connection.state = "closed";
      closeSocket(connection.socket, CloseCode.GoingAway, "server shutting down");
      return;
    }
    connection.state = "open";
    this.registry.add(connection);
    this.#stats.connected++;
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
    const wasOpen = connection.state === "open";
    connection.state = "closed";
    connection.closing = true;
    this.registry.delete(connection);
    this.#dirty.delete(connection);
    this.#backlog.delete(connection);
    const writer = connection.writer;
    this.#stats.dropped += writer.dropped;
    if (byHub) {
      if (code === CloseCode.SlowConsumer) this.#stats.slowConsumers++;
      if (code === CloseCode.HeartbeatTimeout || code === CloseCode.WriteTimeout) {
        this.#stats.timedOut++;
      }
      this.logger.debug("wshub: closing client", { id: connection.id, code, reason });
      // A deliberate close (by the application or the shutdown) goes out
      // after what was queued before it; a close for cause does not wait.
      const deliberate = code === CloseCode.Normal || code === CloseCode.GoingAway ||
        isApplicationCode(code);
      if (deliberate && !writer.flush(this.now)) {
        this.#lingering.set(connection, { code, reason });
        this.#scheduleRetry();
      } else {
        this.#finishClose(connection, code, reason);
      }
    } else {
      writer.dispose();
    }
    detach(connection.socket);
    if (this.registry.size === 0) this.#heartbeat.stop();
    if (!wasOpen) return;
    this.#stats.disconnected++;
    const onDisconnect = this.#callbacks.onDisconnect;
    if (onDisconnect !== undefined) {
      try {
        onDisconnect(connection, { code, reason, byHub });
      } catch (error) {
        this.reportError(callbackError("onDisconnect", error), connection);
      }
    }
  }

  /** Sends the close frame (behind whatever Deno still buffers) and releases the writer. */
  #finishClose(connection: Connection, code: number, reason: string): void {
    closeSocket(connection.socket, code, reason);
    if (this.#shuttingDown) this.#closingSockets.push(connection.socket);
    connection.writer.dispose();
  }

  #deliver(connection: Connection, payload: Payload): void {
    this.#stats.deliveries++;
    const result = connection.writer.push(payload, this.now);
    if (result === Push.Queued) {
      this.#dirty.add(connection);
    } else if (result === Push.Overflow) {
      connection.closing = true;
      this.#unregister(
        connection,
        CloseCode.SlowConsumer,
        "send queue overflow: the client reads too slowly",
        true,
      );
    }
  }

  #flushDirty(): void {
    const now = this.now;
    for (const connection of this.#dirty) {
      if (!connection.writer.flush(now)) this.#backlog.add(connection);
    }
    this.#dirty.clear();
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#backlogTimer !== undefined || this.#events.closed) return;
    if (this.#backlog.size === 0 && this.#lingering.size === 0) return;
    this.#backlogTimer = setTimeout(() => this.#retryBacklog(), DRAIN_POLL);
  }

  #retryBacklog(): void {
    this.#backlogTimer = undefined;
    const now = performance.now();
    for (const connection of this.#backlog) {
      if (connection.writer.flush(now)) this.#backlog.delete(connection);
    }
    for (const [connection, close] of this.#lingering) {
      const writer = connection.writer;
      if (writer.flush(now) || writer.overdue(now, this.#options.writeTimeout)) {
        this.#lingering.delete(connection);
        this.#finishClose(connection, close.code, close.reason);
      }
    }
    this.#scheduleRetry();
  }

  // onMessage, in order per client

  #dispatch(connection: Connection, message: unknown): void {
    const inbox = connection.inbox;
    if (inbox === undefined) {
      if (this.#call(connection, message)) connection.inbox = [];
      return;
    }
    if (inbox.length >= this.#options.inboxLimit) {
      this.closeConnection(
        connection,
        CloseCode.PolicyViolation,
        "too many messages waiting for the handler",
        true,
      );
      return;
    }
    inbox.push(message);
  }

  #resume(connection: Connection): void {
    const inbox = connection.inbox;
    if (inbox === undefined) return;
    while (inbox.length > 0) {
      if (this.#call(connection, inbox.shift())) return;
    }
    connection.inbox = undefined;
  }

  /** Calls `onMessage`; returns `true` if it returned a promise that is still running. */
  #call(connection: Connection, message: unknown): boolean {
    const onMessage = this.#callbacks.onMessage;
    if (onMessage === undefined) return false;
    let result: void | Promise<void>;
    try {
      result = onMessage(message, connection);
    } catch (error) {
      this.reportError(callbackError("onMessage", error), connection);
      return false;
    }
    if (result === undefined || typeof (result as Promise<void>).then !== "function") return false;
    const handled = () => this.push({ type: "handled", connection });
    (result as Promise<void>).then(handled, (error) => {
      this.reportError(callbackError("onMessage", error), connection);
      handled();
    });
    return true;
  }

  // Shutdown

  #drain(deadline: number): void {
    this.#drainTimer = undefined;
    if (this.#dirty.size > 0) this.#flushDirty();
    let pending = false;
    const now = performance.now();
    for (const connection of this.registry.connections()) {
      connection.writer.flush(now);
      if (!connection.writer.drained()) pending = true;
    }
    if (this.#lingering.size > 0) pending = true;
    if (pending && now < deadline) {
      this.#drainTimer = setTimeout(() => this.#drain(deadline), DRAIN_POLL);
    } else {
      this.push({ type: "stop" });
    }
  }

  #stop(): void {
    for (const connection of this.registry.connections()) {
      this.#unregister(connection, CloseCode.GoingAway, "server shutting down", true);
    }
    // Past the drain: what is still queued is dropped, and the close goes out.
    for (const [connection, close] of this.#lingering) {
      this.#finishClose(connection, close.code, close.reason);
    }
    this.#lingering.clear();
    this.#heartbeat.stop();
    clearTimeout(this.#backlogTimer);
    clearTimeout(this.#drainTimer);
    this.#backlogTimer = this.#drainTimer = undefined;
    this.#backlog.clear();
    this.#dirty.clear();
    this.#events.close();
  }

  /** Waits, at most {@linkcode CLOSE_GRACE} ms, for the closed sockets to finish their close handshakes. */
  async #awaitCloseHandshakes(): Promise<void> {
    const sockets = this.#closingSockets.filter((socket) => socket.readyState !== WebSocket.CLOSED);
    this.#closingSockets = [];
    if (sockets.length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, CLOSE_GRACE));
    const closed = Promise.all(sockets.map((socket) =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) resolve();
        else socket.addEventListener("close", () => resolve(), { once: true });
      })
    ));
    await Promise.race([closed, timeout]);
    clearTimeout(timer);
  }
}

function isApplicationCode(code: number): boolean {
  return code >= 3000 && code <= 4999 && code !== CloseCode.HeartbeatTimeout &&
    code !== CloseCode.WriteTimeout;
}

/** Stops the socket's events from reaching the hub (its record can then be freed). */
function detach(socket: WebSocket): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onerror = null;
  socket.onclose = null;
}

function callbackError(name: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`The ${name} callback failed: ${message}`, { cause: error });
}
