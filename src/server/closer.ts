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
 *   and a ping, and the socket stays open until the peer closes it (the
 *   reference client does at once), or answers the ping — proof that it has
 *   read the notice — or {@linkcode NOTICE_GRACE} passes; only then does the
 *   hub send its close frame. A peer that keeps sending instead
 *   ({@linkcode NOTICE_PATIENCE} frames after the notice: a flooder) is sent
 *   the close frame at once: every frame Deno reads from it meanwhile costs
 *   the event loop, and under a flood of small frames that starves the
 *   hub's timers for seconds.
 * - After `close()`, a peer that never answers the close frame keeps the
 *   socket and its descriptor forever: Deno has no close timeout and no way
 *   to abort a socket. After `closeTimeout` the closer drops the socket
 *   through Deno's internal `tryClose` when it exists (feature-detected: it
 *   is private), and counts what may still hold a descriptor.
 *
 * @module
 */

import {
  type CloseNotice,
  encodeCloseNotice,
  encodePing,
  encodePong,
  truncateReason,
} from "../protocol/mod.ts";
import { closeSocket, forceRelease } from "./socket.ts";

/** How long a framed peer sent a close notice has to read it and close the connection itself, in ms. */
export const NOTICE_GRACE = 1000;
/**
 * Frames a framed peer may send after its close notice before the hub stops
 * waiting for it to read the notice and sends the close frame.
 */
export const NOTICE_PATIENCE = 64;
/** The token of the ping that follows a close notice. */
const NOTICE_PING = "close";
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
  /** Told of each socket released by force: Deno may fire no `close` event for it. */
  readonly #onForced: (socket: WebSocket) => void;
  readonly #closing = new Map<WebSocket, Closing>();
  /** When each leaked descriptor was let go, oldest first. */
  readonly #leaks: number[] = [];
  /** Woken when a socket is released or its close frame goes out (see `settle`). */
  readonly #waiters: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  constructor(
    options: CloserOptions,
    counters: CloserCounters,
    onForced: (socket: WebSocket) => void,
  ) {
    this.#options = options;
    this.#counters = counters;
    this.#onForced = onForced;
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
   * A `notice` object adds its fields to the notice (`retryAfter`).
   * Closing a socket twice does nothing.
   */
  close(
    socket: WebSocket,
    code: number,
    reason: string,
    notice: boolean | { retryAfter: number },
  ): void {
    if (this.#closing.has(socket) || socket.readyState === WebSocket.CLOSED) return;
    const now = performance.now();
    reason = truncateReason(reason);
    socket.addEventListener("close", () => this.#released(socket), { once: true });
    const extra = typeof notice === "object" ? notice : undefined;
    if (notice !== false && this.#sendNotice(socket, { code, reason, ...extra })) {
      this.#closing.set(socket, { code, reason, phase: "notice", deadline: now + NOTICE_GRACE });
      const pong = encodePong(NOTICE_PING);
      let frames = 0;
      const read = (event: MessageEvent) => {
        // Its pong: it has read the notice. Too many other frames: it is not listening.
        if (event.data !== pong && ++frames <= NOTICE_PATIENCE) return;
        socket.removeEventListener("message", read);
        this.#noticeRead(socket);
      };
      socket.addEventListener("message", read);
      socket.addEventListener("close", () => socket.removeEventListener("message", read), {
        once: true,
      });
    } else {
      closeSocket(socket, code, reason);
      this.#closing.set(socket, {
        code,
        reason,
        phase: "closing",
        deadline: now + this.#options.closeTimeout,
      });
    }
    this.#schedule(this.#closing.get(socket)!.deadline);
  }

  /**
   * Resolves once every socket is released, or once each one still held has
   * had `grace` ms since its close frame went out (a socket still waiting for
   * its close notice to be read gets its close frame first: at most
   * {@linkcode NOTICE_GRACE} later).
   */
  async settle(grace: number): Promise<void> {
    while (this.#closing.size > 0) {
      const now = performance.now();
      let until = now;
      for (const closing of this.#closing.values()) {
        const frameSent = closing.phase === "closing"
          ? closing.deadline - this.#options.closeTimeout
          : closing.deadline; // the notice's deadline is when its close frame goes
        until = Math.max(until, frameSent + grace);
      }
      if (until <= now) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const changed = new Promise<void>((resolve) => this.#waiters.push(resolve));
      // Wake at the bound, or when a socket is released or sent its close frame
      // (a notice read early moves its bound earlier); re-check either way.
      const wake = new Promise<void>((resolve) => timer = setTimeout(resolve, until - now));
      await Promise.race([changed, wake]);
      clearTimeout(timer);
    }
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

  #sendNotice(socket: WebSocket, notice: CloseNotice): boolean {
    if (socket.readyState !== WebSocket.OPEN) return false;
    if (socket.bufferedAmount > this.#options.maxBufferedBytes + NOTICE_ROOM) return false;
    try {
      socket.send(encodeCloseNotice(notice));
      socket.send(encodePing(NOTICE_PING));
      return true;
    } catch {
      return false;
    }
  }

  #changed(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /**
   * The peer answered the ping after the notice (it has read it), or kept
   * sending past {@linkcode NOTICE_PATIENCE}: the close frame goes now.
   */
  #noticeRead(socket: WebSocket): void {
    const closing = this.#closing.get(socket);
    if (closing === undefined || closing.phase !== "notice") return;
    closeSocket(socket, closing.code, closing.reason);
    closing.phase = "closing";
    closing.deadline = performance.now() + this.#options.closeTimeout;
    this.#schedule(closing.deadline);
    this.#changed();
  }

  #released(socket: WebSocket): void {
    if (!this.#closing.delete(socket)) return;
    if (this.#closing.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
    }
    this.#changed();
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
    this.#onForced(socket);
  }

  /** Makes sure the timer fires by `deadline` (O(1): deadlines only move later). */
  #schedule(deadline: number): void {
    if (deadline >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = deadline;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, deadline - performance.now()));
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
        this.#changed();
      } else {
        this.#force(socket);
      }
    }
    let next = Infinity;
    for (const closing of this.#closing.values()) next = Math.min(next, closing.deadline);
    if (next < Infinity) this.#schedule(next);
  }
}
