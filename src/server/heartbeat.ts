/**
 * The heartbeat: one shared timer for every client. On each tick it updates
 * the hub's coarse clock, pings framed clients that are due, and cuts off
 * clients past their read deadline (no frame since a ping, for longer than
 * `pongTimeout`) or their write deadline (`writeTimeout`).
 *
 * One timer serves all clients, whatever their number: a tick costs a pass
 * over the registry, and no timer is created per client or per ping. Each
 * connection's heartbeat state is a {@linkcode Liveness}, which the reader
 * tells what arrived.
 *
 * @module
 */

import { CloseCode, encodePing } from "../protocol/mod.ts";
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
  /** Times out what is past its deadline besides connections (requests), on each tick. */
  expire?(now: number): void;
}

/**
 * The tick: a quarter of the shortest timing, between 5 ms and 1 s. A dead
 * client is detected at most two ticks after its deadline.
 */
export function tickInterval(options: HeartbeatOptions): number {
  const shortest = Math.min(options.pingInterval, options.pongTimeout, options.writeTimeout);
  return Math.min(1000, Math.max(5, Math.floor(shortest / 4)));
}

/**
 * One connection's heartbeat state: when a frame last arrived, the ping
 * awaiting its pong, and the measured round trip. The reader reports what
 * arrives ({@linkcode Liveness.prototype.heard}, {@linkcode Liveness.prototype.pong});
 * the heartbeat decides ({@linkcode Liveness.prototype.check}).
 */
export class Liveness {
  /** Hub clock when any frame last arrived. */
  #lastSeen = 0;
  /** Hub clock when the last ping was sent (or when the connection opened). */
  #pingAt = 0;
  /** The token of the ping awaiting its pong (`""`: none), and when it left (precise clock). */
  #pingToken = "";
  #pingSentAt = 0;
  #pingCount = 0;
  #rtt: number | undefined;

  /** The last measured round trip, in milliseconds. */
  get rtt(): number | undefined {
    return this.#rtt;
  }

  /** Starts the clocks of a connection that has just opened. */
  start(now: number): void {
    this.#lastSeen = now;
    this.#pingAt = now;
  }

  /** A frame arrived (any frame extends the read deadline). */
  heard(now: number): void {
    this.#lastSeen = now;
  }

  /** Makes the next check send a ping at once, unless one is already awaited. */
  probe(): void {
    if (this.#lastSeen >= this.#pingAt) this.#pingAt = -Infinity;
  }

  /** A pong arrived: if it answers the ping in flight, the round trip is measured. */
  pong(token: string): void {
    if (token === this.#pingToken) {
      this.#rtt = performance.now() - this.#pingSentAt;
      this.#pingToken = "";
    }
  }

  /**
   * What the heartbeat must do for this connection at `now`: nothing, send a
   * ping (its token is returned), or cut it off (`"dead"`).
   *
   * Nothing has arrived since the last ping: its deadline runs. No new ping
   * is sent meanwhile, or (when pingInterval <= pongTimeout) each new ping
   * would restart the deadline and a dead client would never be cut.
   */
  check(now: number, pingInterval: number, pongTimeout: number): "ok" | "dead" | { ping: string } {
    const awaiting = this.#lastSeen < this.#pingAt;
    if (awaiting) return now - this.#pingAt > pongTimeout ? "dead" : "ok";
    if (now - this.#pingAt < pingInterval) return "ok";
    const token = String(++this.#pingCount);
    this.#pingAt = now;
    this.#pingToken = token;
    this.#pingSentAt = now;
    return { ping: token };
  }
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

  /** Pings every framed connection at the next tick (see {@linkcode Liveness.prototype.probe}). */
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
    for (const connection of this.#host.connections()) {
      if (connection.closing) continue;
      if (connection.framed) {
        const verdict = connection.liveness.check(now, pingInterval, pongTimeout);
        if (verdict === "dead") {
          this.#host.closeConnection(
            connection,
            CloseCode.HeartbeatTimeout,
            "heartbeat timeout",
            true,
          );
          continue;
        }
        if (verdict !== "ok") connection.writer.sendControl(encodePing(verdict.ping));
      }
      if (connection.writer.overdue(now, writeTimeout)) {
        this.#host.closeConnection(connection, CloseCode.WriteTimeout, "write timeout", true);
      }
    }
    this.#host.expire?.(now);
  }
}
