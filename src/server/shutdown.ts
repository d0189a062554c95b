/**
 * The graceful shutdown's timing: letting what was queued drain for up to
 * `drainTimeout`, then waiting a short grace for the close handshakes of the
 * sockets the hub closed (see {@linkcode Closer}).
 *
 * @module
 */

import type { Closer } from "./closer.ts";
import { DRAIN_POLL } from "./delivery.ts";

/**
 * How long `close()` waits for a close handshake after the close frame went
 * out, in ms. (A framed client that ignores its close notice is sent the
 * close frame a second after the notice.)
 */
export const CLOSE_GRACE = 1000;

/** What the shutdown needs from the scheduler. */
export interface ShutdownHost {
  /** Hands what it can to Deno for every connection; returns whether anything is left. */
  flushAll(now: number): boolean;
  /** The drain is over (or timed out): queue the final stop. */
  stop(): void;
}

/** The drain's polling, and the sockets whose close handshake is awaited. */
export class Shutdown {
  readonly #host: ShutdownHost;
  readonly #closer: Closer;
  #started = false;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(closer: Closer, host: ShutdownHost) {
    this.#closer = closer;
    this.#host = host;
  }

  /** Whether shutdown has begun. */
  get started(): boolean {
    return this.#started;
  }

  /** Marks the start of the shutdown. Returns `false` if it had already begun. */
  begin(): boolean {
    if (this.#started) return false;
    this.#started = true;
    return true;
  }

  /** Flushes everything; polls until nothing is left or `deadline` passes, then stops. */
  drain(deadline: number): void {
    this.#drainTimer = undefined;
    const now = performance.now();
    if (this.#host.flushAll(now) && now < deadline) {
      this.#drainTimer = setTimeout(() => this.drain(deadline), DRAIN_POLL);
    } else {
      this.#host.stop();
    }
  }

  /** Stops the drain's timer. */
  clearTimers(): void {
    clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
  }

  /**
   * Waits for the closed sockets to finish their close handshakes, at most
   * {@linkcode CLOSE_GRACE} ms after each one's close frame; then releases
   * the rest by force.
   */
  async awaitCloseHandshakes(): Promise<void> {
    await this.#closer.settle(CLOSE_GRACE);
    this.#closer.stop();
  }
}
