/**
 * The heartbeat: one shared timer for every client. On each tick it updates
 * the hub's coarse clock, pings framed clients that are due, and cuts off
 * clients past their read deadline (no frame since a ping, for longer than
 * `pongTimeout`) or their write deadline (`writeTimeout`).
 *
 * One timer serves all clients, whatever their number: a tick costs a pass
 * over the registry, and no timer is created per client or per ping. Each
 * connection's heartbeat state is a `Liveness` (`liveness.ts`), which the
 * reader tells what arrived. After its pass, a tick pushes a `tick` event:
 * the loop then times out what else has a deadline (requests). Expiring
 * credentials are checked in the same pass: a fresh one is asked for before
 * expiry, and a connection still expired `expiredCloseDelay` later is closed.
 *
 * @module
 */

import { CloseCode, encodePing } from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import { askFrame, credentialDue } from "./credentials.ts";
import { type Push, requestClose } from "./events.ts";

/** The heartbeat's timings, in milliseconds. */
export interface HeartbeatOptions {
  pingInterval: number;
  pongTimeout: number;
  writeTimeout: number;
  /** How long a connection whose credential expired is kept (see `credentials.ts`). */
  expiredCloseDelay?: number;
  /** The hub's `refresh` hook: fresh credentials are asked for only when there is one. */
  refresh?: unknown;
}

/**
 * The tick: a quarter of the shortest timing, between 5 ms and 1 s. A dead
 * client is detected at most two ticks after its deadline.
 */
export function tickInterval(options: HeartbeatOptions): number {
  const shortest = Math.min(options.pingInterval, options.pongTimeout, options.writeTimeout);
  return Math.min(1000, Math.max(5, Math.floor(shortest / 4)));
}

/** The shared timer, running only while there are clients. */
export class Heartbeat {
  /** The hub's coarse clock: `performance.now()` as of the last tick. */
  now: number = performance.now();
  readonly tick: number;
  readonly #options: HeartbeatOptions;
  readonly #connections: () => Iterable<Connection>;
  readonly #push: Push;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** `connections` are the ones to watch; `push` queues closes and the `tick` event. */
  constructor(options: HeartbeatOptions, connections: () => Iterable<Connection>, push: Push) {
    this.#options = options;
    this.#connections = connections;
    this.#push = push;
    this.tick = tickInterval(options);
  }

  /** Whether the timer is running. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts the timer, if it is not running. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.now = performance.now();
    this.#timer = setInterval(() => this.#beat(), this.tick);
  }

  /** Stops the timer. */
  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Pings every framed connection at the next tick (see `Liveness.prototype.probe`). */
  probeAll(connections: Iterable<Connection>): void {
    for (const connection of connections) if (connection.framed) connection.liveness.probe();
  }

  /** Starts watching a connection that has just opened. */
  watch(connection: Connection): void {
    this.now = performance.now();
    connection.liveness.start(this.now);
  }

  #beat(): void {
    const now = this.now = performance.now();
    const { pingInterval, pongTimeout, writeTimeout } = this.#options;
    const push = this.#push;
    const epoch = Date.now();
    const timing = {
      delay: this.#options.expiredCloseDelay ?? 0,
      tick: this.tick,
      ask: this.#options.refresh !== undefined,
    };
    for (const connection of this.#connections()) {
      if (connection.closing) continue;
      if (connection.credential !== undefined) {
        const due = credentialDue(connection, epoch, timing);
        if (due === "close") {
          requestClose(push, connection, CloseCode.CredentialsExpired, "credentials expired", true);
          continue;
        }
        if (due === "ask") connection.writer.sendControl(askFrame(connection.credential));
      }
      if (connection.framed) {
        const verdict = connection.liveness.check(now, pingInterval, pongTimeout);
        if (verdict === "dead") {
          requestClose(push, connection, CloseCode.HeartbeatTimeout, "heartbeat timeout", true);
          continue;
        }
        if (verdict !== "ok") connection.writer.sendControl(encodePing(verdict.ping));
      }
      if (connection.writer.overdue(now, writeTimeout)) {
        requestClose(push, connection, CloseCode.WriteTimeout, "write timeout", true);
      }
    }
    push({ type: "tick", now });
  }
}
