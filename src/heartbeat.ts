/**
 * The heartbeat: one shared timer for every client. On each tick it updates
 * the hub's coarse clock, pings framed clients that are due, and cuts off
 * clients past their read deadline (no frame since a ping, for longer than
 * `pongTimeout`) or their write deadline (`writeTimeout`).
 *
 * One timer serves all clients, whatever their number: a tick costs a pass
 * over the registry, and no timer is created per client or per ping.
 *
 * @module
 */

import { CloseCode } from "./close_codes.ts";
import type { Connection } from "./connection.ts";

/** The heartbeat's timings, in milliseconds. */
export interface HeartbeatOptions {
  pingInterval: number;
  pongTimeout: number;
  writeTimeout: number;
}

/** What the heartbeat needs from the hub. */
export interface HeartbeatHost {
  /** The connections to watch. */
  connections(): Iterable<Connection>;
  /** Cut off a connection that missed a deadline. */
  closeConnection(connection: Connection, code: number, reason: string, byHub: boolean): void;
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
  readonly #host: HeartbeatHost;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: HeartbeatOptions, host: HeartbeatHost) {
    this.#options = options;
    this.#host = host;
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

  /** Starts watching a connection that has just opened. */
  watch(connection: Connection): void {
    this.now = performance.now();
    connection.lastSeen = this.now;
    connection.pingAt = this.now;
  }

  #beat(): void {
    const now = this.now = performance.now();
    const { pingInterval, pongTimeout, writeTimeout } = this.#options;
    for (const connection of this.#host.connections()) {
      if (connection.closing) continue;
      if (connection.framed) {
        // Nothing has arrived since the last ping: its deadline runs. No new
        // ping is sent meanwhile, or (when pingInterval <= pongTimeout) each
        // new ping would restart the deadline and a dead client would never
        // be cut.
        const awaiting = connection.lastSeen < connection.pingAt;
        if (awaiting && now - connection.pingAt > pongTimeout) {
          this.#host.closeConnection(
            connection,
            CloseCode.HeartbeatTimeout,
            "heartbeat timeout",
            true,
          );
          continue;
        }
        if (!awaiting && now - connection.pingAt >= pingInterval) {
          const token = String(++connection.pingCount);
          connection.pingAt = now;
          connection.pingToken = token;
          connection.pingSentAt = now;
          connection.writer.sendControl("p" + token);
        }
      }
      if (connection.writer.overdue(now, writeTimeout)) {
        this.#host.closeConnection(connection, CloseCode.WriteTimeout, "write timeout", true);
      }
    }
  }
}
