/**
 * The closer: every socket the hub closes goes through it, from the close
 * decision until Deno releases the socket, and no further.
 *
 * What Deno does, and why this exists (see `docs/deno-limits.md`):
 *
 * - After `close()`, Deno stops reading at the first frame the peer sends,
 *   and when it then drops the connection the kernel answers the unread
 *   input with a reset that discards what was still unsent — the close frame
 *   included. A peer that keeps talking never learns why it was closed. So a
 *   framed client is first sent a close notice (`c{"code":…,"reason":…}`)
 *   and given a moment to close the connection itself (the reference client
 *   does at once); only then does the hub send its close frame.
 * - After `close()`, a peer that never answers the close frame keeps the
 *   socket and its descriptor forever: Deno has no close timeout and no way
 *   to abort a socket. After `closeTimeout` the closer drops the socket
 *   through Deno's internal `tryClose` when it exists (feature-detected: it
 *   is private), and counts what may still hold a descriptor.
 *
 * @module
 */

import { encodeCloseNotice, truncateReason } from "../protocol/mod.ts";
import { closeSocket, forceRelease } from "./socket.ts";

/** How long a framed peer sent a close notice has to close the connection itself, in ms. */
export const NOTICE_GRACE = 250;
/**
 * How long a descriptor released by force with unsent data counts against
 * `maxConnections`: Linux gives up on a peer that acknowledges nothing after
 * about 15 minutes (`tcp_retries2`), while one that keeps acknowledging a
 * zero window keeps it for good.
 */
export const LEAK_HOLD = 15 * 60_000;
/** Bytes over `maxBufferedBytes` a close notice may still take in Deno's buffer. */
const NOTICE_ROOM = 256;

/** The closer's settings. */
export interface CloserOptions {
  /** How long a closed socket may wait for the peer's close frame before it is released by force, in ms. */
  closeTimeout: number;
  /** The cap on Deno's buffer per socket; a notice is sent only while it is (nearly) respected. */
  maxBufferedBytes: number;
}

/** What the closer counts. */
export interface CloserCounters {
  /** Sockets released by force after `closeTimeout`. */
  forcedReleases: number;
  /** Of those, the ones that still had unsent data (their descriptor may still be held). */
  leakedSockets: number;
}

interface Closing {
  code: number;
  reason: string;
  /** `notice`: told to close, waiting for the peer; `closing`: close frame sent, waiting for the handshake. */
  phase: "notice" | "closing";
  deadline: number;
}

/** The sockets the hub has decided to close and still holds. */
export class Closer {
  readonly #options: CloserOptions;
  readonly #counters: CloserCounters;
  readonly #closing = new Map<WebSocket, Closing>();
  /** When each leaked descriptor was let go, oldest first. */
  readonly #leaks: number[] = [];
  readonly #settled: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  constructor(options: CloserOptions, counters: CloserCounters) {
    this.#options = options;
    this.#counters = counters;
  }

  /** Sockets closed by the hub that Deno has not released yet. */
  get pending(): number {
    return this.#closing.size;
  }

  /** Descriptors released by force with unsent data in the last {@linkcode LEAK_HOLD} ms. */
  get leaked(): number {
    const horizon = performance.now() - LEAK_HOLD;
    while (this.#leaks.length > 0 && this.#leaks[0] < horizon) this.#leaks.shift();
    return this.#leaks.length;
  }

  /**
   * Closes `socket` with `code` and `reason`. With `notice` (a framed peer
   * that may still be reading), a close notice goes first and the peer has
   * {@linkcode NOTICE_GRACE} ms to close the connection itself; otherwise, or
   * when Deno's buffer is too full for the notice, the close frame goes now.
   * Closing a socket twice does nothing.
   */
  close(socket: WebSocket, code: number, reason: string, notice: boolean): void {
    if (this.#closing.has(socket) || socket.readyState === WebSocket.CLOSED) return;
    const now = performance.now();
    reason = truncateReason(reason);
    socket.addEventListener("close", () => this.#released(socket), { once: true });
    if (notice && this.#sendNotice(socket, code, reason)) {
      this.#closing.set(socket, { code, reason, phase: "notice", deadline: now + NOTICE_GRACE });
    } else {
      closeSocket(socket, code, reason);
      this.#closing.set(socket, {
        code,
        reason,
        phase: "closing",
        deadline: now + this.#options.closeTimeout,
      });
    }
    this.#schedule();
  }

  /**
   * Resolves once every socket closed so far is released, or after `ms`,
   * whichever comes first.
   */
  async settle(ms: number): Promise<void> {
    if (this.#closing.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
    const settled = new Promise<void>((resolve) => this.#settled.push(resolve));
    await Promise.race([settled, timeout]);
    clearTimeout(timer);
  }

  /**
   * Ends the wait for every socket still held: the ones still being told
   * get their close frame, and all are released by force. No timer is left.
   */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    for (const [socket, closing] of [...this.#closing]) {
      if (closing.phase === "notice") closeSocket(socket, closing.code, closing.reason);
      this.#force(socket);
    }
  }

  #sendNotice(socket: WebSocket, code: number, reason: string): boolean {
    if (socket.readyState !== WebSocket.OPEN) return false;
    if (socket.bufferedAmount > this.#options.maxBufferedBytes + NOTICE_ROOM) return false;
    try {
      socket.send(encodeCloseNotice({ code, reason }));
      return true;
    } catch {
      return false;
    }
  }

  #released(socket: WebSocket): void {
    if (!this.#closing.delete(socket)) return;
    if (this.#closing.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
      for (const resolve of this.#settled.splice(0)) resolve();
    }
  }

  #force(socket: WebSocket): void {
    this.#counters.forcedReleases++;
    // Read before the release: a released socket reports 0.
    if (socket.bufferedAmount > 0) {
      this.#counters.leakedSockets++;
      this.#leaks.push(performance.now());
    }
    forceRelease(socket);
    this.#released(socket);
  }

  #schedule(): void {
    let next = Infinity;
    for (const closing of this.#closing.values()) next = Math.min(next, closing.deadline);
    if (next === Infinity || next >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = next;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, next - performance.now()));
  }

  #tick(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    for (const [socket, closing] of [...this.#closing]) {
      if (closing.deadline > now) continue;
      if (closing.phase === "notice") {
        closeSocket(socket, closing.code, closing.reason);
        closing.phase = "closing";
        closing.deadline = now + this.#options.closeTimeout;
      } else {
        this.#force(socket);
      }
    }
    this.#schedule();
  }
}
