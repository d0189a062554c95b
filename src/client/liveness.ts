/**
 * The client's side of the heartbeat: the read deadline (a server silent
 * for its `pingInterval + pongTimeout` plus a slack is taken as dead) and the
 * client's own pings, which measure the round trip.
 *
 * @module
 */

import { encodePing, type Hello } from "../protocol/mod.ts";

/** The deadline timer, the ping timer and the round trip of one client. */
export class ClientLiveness {
  readonly #onDead: (idle: number) => void;
  #lastHeard = 0;
  #deadline = 0;
  #pingSeq = 0;
  #pingToken = "";
  #pingAt = 0;
  #rtt: number | undefined;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;

  /** `onDead` is called with the silence in ms when the deadline passes. */
  constructor(onDead: (idle: number) => void) {
    this.#onDead = onDead;
  }

  /** The latest measured round trip, in milliseconds. */
  get rtt(): number | undefined {
    return this.#rtt;
  }

  /** Something arrived from the server. */
  heard(): void {
    this.#lastHeard = performance.now();
  }

  /**
   * A connection received its hello: the read deadline starts, at the
   * hello's `pingInterval + pongTimeout` plus `slack` (default: a quarter
   * of that, at most 1 s).
   */
  watch(hello: Hello, slack: number | undefined): void {
    const silence = hello.pingInterval + hello.pongTimeout;
    this.#deadline = silence + (slack ?? Math.min(1_000, silence / 4));
    this.#arm(this.#deadline);
  }

  /** Pings at once and then every `every` ms; `send` writes the frame (and may drop it). */
  startPinging(every: number, send: (frame: string) => void): void {
    const ping = () => {
      this.#pingToken = String(++this.#pingSeq % 1e9);
      this.#pingAt = performance.now();
      send(encodePing(this.#pingToken));
    };
    ping();
    this.#pingTimer = setInterval(ping, every);
  }

  /** A pong arrived: if it answers the ping in flight, the round trip is measured. */
  pong(token: string): void {
    if (token === this.#pingToken) {
      this.#rtt = performance.now() - this.#pingAt;
      this.#pingToken = "";
    }
  }

  /** Stops both timers (the connection is gone). */
  stop(): void {
    clearTimeout(this.#deadlineTimer);
    clearInterval(this.#pingTimer);
    this.#deadlineTimer = this.#pingTimer = undefined;
    this.#pingToken = "";
  }

  #arm(delay: number): void {
    this.#deadlineTimer = setTimeout(() => {
      this.#deadlineTimer = undefined;
      const idle = performance.now() - this.#lastHeard;
      if (idle < this.#deadline) return this.#arm(this.#deadline - idle);
      this.#onDead(idle);
    }, delay);
  }
}
