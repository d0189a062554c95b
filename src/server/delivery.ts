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
 * A writer whose queue goes past `sendQueueLimit` is not called slow at
 * once: Deno writes to sockets only when the event loop runs, so a hub busy
 * with a long batch fills every healthy client's queue too. Such writers are
 * "suspects": the scheduler stops, lets the event loop run
 * ({@linkcode Delivery.prototype.relieve}), flushes them again, and only the
 * ones still past the limit — whose peer did not take what Deno had for it —
 * are slow consumers.
 *
 * @module
 */

import { setImmediate } from "node:timers";

import { CloseCode } from "../protocol/mod.ts";
import type { Closer } from "./closer.ts";
import type { Connection } from "./connection.ts";
import type { Counters } from "./stats.ts";
import { Push } from "./writer.ts";
import type { Payload } from "../protocol/mod.ts";

/** How often backlogged writers are retried, in ms. */
export const DRAIN_POLL = 5;

/** How many slots of the list of writers to flush are kept for the next batch, at least. */
const RETAINED_SLOTS = 1024;

/** How many event-loop turns a suspect writer gets to drain before it is called slow. */
const RELIEF_TURNS = 4;

/**
 * Lets the event loop run once (timers, I/O: Deno's socket writes), then
 * resumes. `setImmediate` costs ~5 µs and lets Deno write within one or two
 * turns; a nested `setTimeout(0)` is clamped to milliseconds, and a
 * `MessageChannel` took ~100 turns to let writes through (measured, Deno 2.9).
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** What delivery needs from the scheduler. */
export interface DeliveryHost {
  /**
   * The hub's coarse clock (the heartbeat: its `now` is a field, read once
   * per delivery, where a getter was a call per member not inlined).
   */
  readonly clock: { readonly now: number };
  /** Whether the loop has stopped (no timer may be started then). */
  readonly stopped: boolean;
  /** A writer stayed past its queue limit under the `"close"` policy: a slow consumer (1013). */
  overflowed(connection: Connection): void;
}

/** The writers with work pending, and the timer that retries them. */
export class Delivery {
  readonly #writeTimeout: number;
  readonly #counters: Counters;
  readonly #host: DeliveryHost;
  readonly #closer: Closer;
  /**
   * Connections handed payloads in the current batch, to flush when it ends;
   * each once, marked by its `flushPending` (a flag, not a `Set`: a `Set`
   * hashes every connection on every delivery, at 10,000 members that
   * costs a cache miss each).
   */
  readonly #dirty: (Connection | undefined)[] = [];
  /** How many of `#dirty`'s slots are in use (the array keeps its length between batches). */
  #dirtyCount = 0;
  /** Connections whose writer still holds payloads (Deno's buffer was full). */
  readonly #backlog = new Set<Connection>();
  /**
   * Connections closed on purpose (`client.close()`, shutdown) whose writer
   * still held payloads: already unregistered, their close frame waits until
   * the writer has handed everything to Deno, or has stalled for `writeTimeout`.
   */
  readonly #lingering = new Map<Connection, { code: number; reason: string }>();
  /** Connections whose queue went past `sendQueueLimit` in this batch (see the module doc). */
  readonly #suspects = new Set<Connection>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(writeTimeout: number, counters: Counters, closer: Closer, host: DeliveryHost) {
    this.#writeTimeout = writeTimeout;
    this.#counters = counters;
    this.#closer = closer;
    this.#host = host;
  }

  /** Whether payloads were handed to writers in the current batch. */
  get pending(): boolean {
    return this.#dirtyCount > 0;
  }

  /** Whether a writer went past its queue limit: the scheduler must call {@linkcode Delivery.prototype.relieve}. */
  get congested(): boolean {
    return this.#suspects.size > 0;
  }

  /** Whether a deliberate close still waits for its queue to drain. */
  get lingering(): boolean {
    return this.#lingering.size > 0;
  }

  /** Hands `payload` to the connection's writer; an overflow closes it (see the host). */
  deliver(connection: Connection, payload: Payload): void {
    this.#counters.deliveries++;
    const result = connection.writer.push(payload, this.#host.clock.now);
    if (result === Push.Sent) return;
    if (!connection.flushPending) {
      connection.flushPending = true;
      this.#dirty[this.#dirtyCount++] = connection;
    }
    if (result === Push.OverLimit) this.#suspects.add(connection);
  }

  /**
   * Lets the event loop run (so that Deno writes what it holds) until every
   * suspect is back under its queue limit, at most {@linkcode RELIEF_TURNS}
   * turns; the ones still over are slow consumers (see the host's
   * `overflowed`). Until it resolves the scheduler applies nothing else, so
   * a queue goes past its limit by at most one event's worth.
   */
  async relieve(): Promise<void> {
    this.flush();
    for (let turn = 0; turn < RELIEF_TURNS && this.#suspects.size > 0; turn++) {
      await yieldToEventLoop();
      const now = performance.now();
      for (const connection of this.#suspects) {
        const writer = connection.writer;
        if (connection.state !== "open" || (writer.flush(now) || !writer.overLimit)) {
          this.#suspects.delete(connection);
        }
      }
    }
    for (const connection of this.#suspects) this.#host.overflowed(connection);
    this.#suspects.clear();
  }

  /** Flushes the writers handed payloads in this batch; keeps the ones Deno could not take. */
  flush(): void {
    const now = this.#host.clock.now;
    const dirty = this.#dirty;
    // A writer's flush may deliver nothing more, so the count stays as it is during the loop.
    const count = this.#dirtyCount;
    for (let i = 0; i < count; i++) {
      const connection = dirty[i]!;
      dirty[i] = undefined;
      if (!connection.flushPending) continue; // forgotten meanwhile
      connection.flushPending = false;
      if (!connection.writer.flush(now)) this.#backlog.add(connection);
    }
    this.#dirtyCount = 0;
    if (dirty.length > RETAINED_SLOTS && count * 4 < dirty.length) dirty.length = count;
    this.#scheduleRetry();
  }

  /** Forgets a connection that was unregistered. */
  forget(connection: Connection): void {
    connection.flushPending = false;
    this.#backlog.delete(connection);
    this.#suspects.delete(connection);
  }

  /**
   * Closes after what is queued: at once if the writer can hand everything
   * to Deno now, else once it has (or has stalled for `writeTimeout`). A
   * framed client is sent a close notice after its last message.
   */
  closeAfterQueue(connection: Connection, code: number, reason: string): void {
    if (connection.writer.flush(this.#host.clock.now)) {
      this.#close(connection, code, reason);
      return;
    }
    this.#lingering.set(connection, { code, reason });
    this.#scheduleRetry();
  }

  /**
   * Closes now, dropping what is queued. A framed client that may still be
   * reading is sent a close notice first (not after a heartbeat timeout: it
   * is gone).
   */
  closeNow(connection: Connection, code: number, reason: string): void {
    connection.writer.dispose();
    const notice = connection.framed && code !== CloseCode.HeartbeatTimeout;
    this.#closer.close(connection.socket, code, reason, notice);
  }

  #close(connection: Connection, code: number, reason: string): void {
    connection.writer.dispose();
    this.#closer.close(connection.socket, code, reason, connection.framed);
  }

  /** Hands what it can to Deno for every connection given; returns whether anything is left. */
  flushAll(connections: Iterable<Connection>, now: number): boolean {
    if (this.#dirtyCount > 0) this.flush();
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
      this.#close(connection, close.code, close.reason);
    }
    this.#lingering.clear();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#backlog.clear();
    for (let i = 0; i < this.#dirtyCount; i++) this.#dirty[i]!.flushPending = false;
    this.#dirty.length = 0;
    this.#dirtyCount = 0;
    this.#suspects.clear();
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
        this.#close(connection, close.code, close.reason);
      }
    }
    this.#scheduleRetry();
  }
}
