/**
 * A connection's life in the hub: registering it when its socket opens,
 * unregistering it when it leaves (whoever closed it), closing a slow
 * consumer, and the final stop of the graceful shutdown. The loop calls
 * these; each step tells every part that keeps something per connection.
 *
 * @module
 */

import { CloseCode, encodeHello } from "../protocol/mod.ts";
import type { Backplane } from "./backplane.ts";
import type { Closer } from "./closer.ts";
import type { Connection } from "./connection.ts";
import type { Delivery } from "./delivery.ts";
import type { Dispatcher } from "./dispatch.ts";
import { callbackError, type Report } from "./errors.ts";
import type { EventQueue } from "./event_queue.ts";
import type { HubEvent } from "./events.ts";
import type { Heartbeat } from "./heartbeat.ts";
import type { Logger } from "./logger.ts";
import { IDLE_TIMEOUT_REASON } from "./reader.ts";
import type { Registry } from "./registry.ts";
import type { Requests } from "./requests.ts";
import type { Rooms } from "./rooms.ts";
import type { Shutdown } from "./shutdown.ts";
import { detach } from "./socket.ts";
import type { Counters } from "./stats.ts";
import type { Tap } from "./tap.ts";
import type { DisconnectInfo } from "./types.ts";

/** The application's connection callbacks, bound to the hub. */
export interface LifecycleCallbacks {
  onConnect: ((connection: Connection) => void) | undefined;
  onDisconnect: ((connection: Connection, info: DisconnectInfo) => void) | undefined;
  report: Report;
  logger: Logger;
}

/** Everything a connection's life touches. */
export interface LifecycleParts {
  registry: Registry;
  counters: Counters;
  heartbeat: Heartbeat;
  closer: Closer;
  delivery: Delivery;
  dispatcher: Dispatcher;
  requests: Requests;
  rooms: Rooms;
  shutdown: Shutdown;
  backplane: Backplane | undefined;
  events: EventQueue<HubEvent>;
  tap: Tap;
}

/** Registering, unregistering and the final stop. */
export class Lifecycle {
  readonly #parts: LifecycleParts;
  readonly #hello: { pingInterval: number; pongTimeout: number; maxMessageBytes: number };
  readonly #callbacks: LifecycleCallbacks;

  /** `hello` holds the timings and the size limit announced to framed clients. */
  constructor(
    parts: LifecycleParts,
    hello: { pingInterval: number; pongTimeout: number; maxMessageBytes: number },
    callbacks: LifecycleCallbacks,
  ) {
    this.#parts = parts;
    this.#hello = hello;
    this.#callbacks = callbacks;
  }

  /**
   * A socket opened: the connection joins the registry (and the rooms it
   * was admitted with), the heartbeat watches it, a framed client gets its
   * hello, and `onConnect` runs. During shutdown it is closed with 1001.
   */
  register(connection: Connection): void {
    if (connection.state !== "connecting") return;
    const { registry, counters, heartbeat, closer, rooms, shutdown, backplane } = this.#parts;
    if (shutdown.started) {
      connection.markClosed(CloseCode.GoingAway, "server shutting down");
      closer.close(connection.socket, CloseCode.GoingAway, "server shutting down", false);
      return;
    }
    connection.markOpen();
    if (registry.add(connection)) backplane?.subscribe({ kind: "user", user: connection.user! });
    counters.connected++;
    if (this.#parts.tap.on) {
      const { id, user, framed, address } = connection;
      this.#parts.tap.emit({ type: "connect", id, user, framed, address });
    }
    heartbeat.watch(connection);
    heartbeat.start();
    if (connection.framed) {
      connection.writer.sendControl(encodeHello({
        v: connection.json ? 2 : 1,
        id: connection.id,
        user: connection.user ?? null,
        pingInterval: this.#hello.pingInterval,
        pongTimeout: this.#hello.pongTimeout,
        // A B frame is limited as any frame: maxMessageBytes and its tag (reader.ts).
        batch: this.#hello.maxMessageBytes + 1,
        ...(connection.credential === undefined
          ? {}
          : { expiresAt: connection.credential.expiresAt }),
      }));
    }
    for (const room of connection.initialRooms) rooms.join(connection, room);
    const onConnect = this.#callbacks.onConnect;
    if (onConnect !== undefined) {
      try {
        onConnect(connection);
      } catch (error) {
        this.#callbacks.report(callbackError("onConnect", error), connection);
      }
    }
  }

  /**
   * The connection leaves: out of the registry and its rooms, its writer,
   * inbox and requests released, its socket closed (after what was queued,
   * for a deliberate close; at once for a close for cause), and
   * `onDisconnect` told.
   */
  unregister(connection: Connection, code: number, reason: string, byHub: boolean): void {
    if (connection.state === "closed") return;
    const { registry, counters, heartbeat, delivery, dispatcher, requests, rooms, backplane } =
      this.#parts;
    const wasOpen = connection.markClosed(code, reason);
    const removed = registry.delete(connection);
    if (removed !== undefined) {
      rooms.departed(connection, removed.left);
      if (removed.lastOfUser) backplane?.unsubscribe({ kind: "user", user: connection.user! });
    }
    delivery.forget(connection);
    dispatcher.forget(connection);
    requests.forget(connection, code, reason);
    const writer = connection.writer;
    counters.dropped += writer.dropped;
    if (byHub) {
      if (reason === IDLE_TIMEOUT_REASON) counters.timeout("idle");
      else if (code === CloseCode.HeartbeatTimeout) counters.timeout("heartbeat");
      else if (code === CloseCode.WriteTimeout) counters.timeout("write");
      else if (code === CloseCode.CredentialsExpired) counters.expired++;
      this.#callbacks.logger.debug("wshub: closing client", { id: connection.id, code, reason });
      // A deliberate close (by the application or the shutdown) goes out
      // after what was queued before it; a close for cause does not wait.
      // One Deno closed itself (its idle timeout) needs nothing more.
      const deliberate = code === CloseCode.Normal || code === CloseCode.GoingAway ||
        isApplicationCode(code);
      if (connection.socket.readyState === WebSocket.CLOSED) writer.dispose();
      else if (deliberate) delivery.closeAfterQueue(connection, code, reason);
      else delivery.closeNow(connection, code, reason);
    } else {
      writer.dispose();
    }
    detach(connection.socket);
    if (registry.size === 0) heartbeat.stop();
    if (!wasOpen) return;
    if (this.#parts.tap.on) {
      const { id, user } = connection;
      this.#parts.tap.emit({ type: "disconnect", id, user, code, reason, byHub });
    }
    counters.disconnected++;
    counters.closed(code);
    const onDisconnect = this.#callbacks.onDisconnect;
    if (onDisconnect !== undefined) {
      try {
        onDisconnect(connection, { code, reason, byHub });
      } catch (error) {
        this.#callbacks.report(callbackError("onDisconnect", error), connection);
      }
    }
  }

  /** A writer stayed past its queue limit under the `"close"` policy: a slow consumer (1013). */
  slow(connection: Connection): void {
    connection.requestClose();
    this.#parts.counters.slowConsumers++;
    this.unregister(
      connection,
      CloseCode.SlowConsumer,
      "send queue overflow: the client reads too slowly",
      true,
    );
  }

  /**
   * The end of the graceful shutdown: every connection is closed with 1001
   * (what is still queued is dropped), publications waiting for their copy
   * settle, every timer stops, and the queue closes (the loop then ends).
   */
  stop(): void {
    const { registry, rooms, delivery, heartbeat, shutdown, events } = this.#parts;
    for (const connection of registry.connections()) {
      this.unregister(connection, CloseCode.GoingAway, "server shutting down", true);
    }
    rooms.stopped();
    delivery.stop();
    heartbeat.stop();
    shutdown.clearTimers();
    events.close();
  }
}

/**
 * An application's own close code (deliberate: it goes out after what was
 * queued), not one of the hub's codes for cause — deadlines, and access that
 * ended (revoked, expired, forbidden), which close at once.
 */
function isApplicationCode(code: number): boolean {
  return code >= 3000 && code <= 4999 && code !== CloseCode.HeartbeatTimeout &&
    code !== CloseCode.WriteTimeout && code !== CloseCode.Revoked &&
    code !== CloseCode.CredentialsExpired && code !== CloseCode.Forbidden;
}
