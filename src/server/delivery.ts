/**
 * Delivery: handing payloads to writers, flushing them when a scheduler
 * batch ends, retrying writers whose Deno buffer was full, and closing
 * connections after what was queued for them ("lingering" closes).
 *
 * Writers are flushed when the event queue runs empty — that is where
 * queued messages for framed clients are coalesced into one frame, without
 * any timer. Only writers that could not hand everything to Deno (a full
 * buffer) are retried, on a short timer that runs only while there are some.
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import { closeSocket } from "./socket.ts";
import type { Counters } from "./stats.ts";
import { Push } from "./writer.ts";
import type { Payload } from "../protocol/mod.ts";

/** How often backlogged writers are retried, in ms. */
export const DRAIN_POLL = 5;

/** What delivery needs from the scheduler. */
export interface DeliveryHost {
  /** The hub's coarse clock. */
  readonly now: number;
  /** Whether the loop has stopped (no timer may be started then). */
  readonly stopped: boolean;
  /** A writer overflowed under the `"close"` policy: close and unregister its connection (1013). */
  overflowed(connection: Connection): void;
  /** A socket was sent its close frame. */
  closed(socket: WebSocket): void;
}

/** The writers with work pending, and the timer that retries them. */
export class Delivery {
  readonly #writeTimeout: number;
  readonly #counters: Counters;
  readonly #host: DeliveryHost;
  /** Connections handed payloads in the current batch, to flush when it ends. */
  readonly #dirty = new Set<Connection>();
  /** Connections whose writer still holds payloads (Deno's buffer was full). */
  readonly #backlog = new Set<Connection>();
  /**
   * Connections closed on purpose (`client.close()`, shutdown) whose writer
   * still held payloads: already unregistered, their close frame waits until
   * the writer has handed everything to Deno, or has stalled for `writeTimeout`.
   */
  readonly #lingering = new Map<Connection, { code: number; reason: string }>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(writeTimeout: number, counters: Counters, host: DeliveryHost) {
    this.#writeTimeout = writeTimeout;
    this.#counters = counters;
    this.#host = host;
  }

  /** Whether payloads were handed to writers in the current batch. */
  get pending(): boolean {
    return this.#dirty.size > 0;
  }

  /** Whether a deliberate close still waits for its queue to drain. */
  get lingering(): boolean {
    return this.#lingering.size > 0;
  }

  /** Hands `payload` to the connection's writer; an overflow closes it (see the host). */
  deliver(connection: Connection, payload: Payload): void {
    this.#counters.deliveries++;
    const result = connection.writer.push(payload, this.#host.now);
    if (result === Push.Queued) {
      this.#dirty.add(connection);
    } else if (result === Push.Overflow) {
      this.#host.overflowed(connection);
    }
  }

  /** Flushes the writers handed payloads in this batch; keeps the ones Deno could not take. */
  flush(): void {
    const now = this.#host.now;
    for (const connection of this.#dirty) {
      if (!connection.writer.flush(now)) this.#backlog.add(connection);
    }
    this.#dirty.clear();
    this.#scheduleRetry();
  }

  /** Forgets a connection that was unregistered. */
  forget(connection: Connection): void {
    this.#dirty.delete(connection);
    this.#backlog.delete(connection);
  }

  /**
   * Sends the close frame after what is queued: at once if the writer can
   * hand everything to Deno now, else once it has (or has stalled for
   * `writeTimeout`).
   */
  closeAfterQueue(connection: Connection, code: number, reason: string): void {
    if (connection.writer.flush(this.#host.now)) {
      this.closeNow(connection, code, reason);
      return;
    }
    this.#lingering.set(connection, { code, reason });
    this.#scheduleRetry();
  }

  /** Sends the close frame (behind whatever Deno still buffers) and releases the writer. */
  closeNow(connection: Connection, code: number, reason: string): void {
    closeSocket(connection.socket, code, reason);
    this.#host.closed(connection.socket);
    connection.writer.dispose();
  }

  /** Hands what it can to Deno for every connection given; returns whether anything is left. */
  flushAll(connections: Iterable<Connection>, now: number): boolean {
    if (this.#dirty.size > 0) this.flush();
    let pending = this.#lingering.size > 0;
    for (const connection of connections) {
      connection.writer.flush(now);
      if (!connection.writer.drained()) pending = true;
    }
    return pending;
  }

  /** Past the drain: lingering closes go out now (what they still queue is dropped); timers stop. */
  stop(): void {
    for (const [connection, close] of this.#lingering) {
      this.closeNow(connection, close.code, close.reason);
    }
    this.#lingering.clear();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#backlog.clear();
    this.#dirty.clear();
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#host.stopped) return;
    if (this.#backlog.size === 0 && this.#lingering.size === 0) return;
    this.#retryTimer = setTimeout(() => this.#retry(), DRAIN_POLL);
  }

  #retry(): void {
    this.#retryTimer = undefined;
    const now = performance.now();
    for (const connection of this.#backlog) {
      if (connection.writer.flush(now)) this.#backlog.delete(connection);
    }
    for (const [connection, close] of this.#lingering) {
      const writer = connection.writer;
      if (writer.flush(now) || writer.overdue(now, this.#writeTimeout)) {
        this.#lingering.delete(connection);
        this.closeNow(connection, close.code, close.reason);
      }
    }
    this.#scheduleRetry();
  }
}
