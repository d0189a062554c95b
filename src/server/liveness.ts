/**
 * One connection's heartbeat state ({@linkcode Liveness}): when a frame
 * last arrived, the ping awaiting its pong, and the measured round trip.
 * The reader tells it what arrived; the heartbeat (`heartbeat.ts`) decides.
 *
 * @module
 */

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
