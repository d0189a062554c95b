/**
 * The graceful shutdown's timing: letting what was queued drain for up to
 * `drainTimeout`, then waiting a short grace for the close handshakes of the
 * sockets the hub closed.
 *
 * @module
 */

import { DRAIN_POLL } from "./delivery.ts";

/** How long `close()` waits for close handshakes after the close frames went out, in ms. */
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
  #started = false;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #closing: WebSocket[] = [];

  constructor(host: ShutdownHost) {
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

  /** A socket the hub closed during the shutdown: its close handshake is awaited. */
  track(socket: WebSocket): void {
    if (this.#started) this.#closing.push(socket);
  }

  /** Stops the drain's timer. */
  clearTimers(): void {
    clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
  }

  /** Waits, at most {@linkcode CLOSE_GRACE} ms, for the closed sockets to finish their close handshakes. */
  async awaitCloseHandshakes(): Promise<void> {
    const sockets = this.#closing.filter((socket) => socket.readyState !== WebSocket.CLOSED);
    this.#closing = [];
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
