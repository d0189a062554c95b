/**
 * What a hub's writers add to when they hand a frame to a socket: the bytes,
 * and how long each application message waited since the API call that
 * queued it ({@linkcode HandOffs}). On the hot path: O(1) per delivery, no
 * allocation, the clock read at most once per few writes.
 *
 * @module
 */

import type { Payload } from "../protocol/mod.ts";
import { DELIVERY_WAIT_BUCKETS } from "./metrics.ts";
import { Histogram } from "./prometheus.ts";

/**
 * How many hand-offs may share one reading of the clock. `performance.now()`
 * costs about 85 ns in Deno 2.9, more than the rest of an observation: one
 * reading serves up to this many socket writes of the same synchronous run
 * (a few microseconds each), which bounds the error to their duration.
 */
const CLOCK_REUSE = 8;

/**
 * What a hub's writers add to when they hand frames to sockets: the bytes,
 * and how long each application message waited between the API call that
 * queued it (`broadcast`, `sendToUser`, `publish`, `client.send`: its
 * payload's `queuedAt`) and its hand-off, once per recipient. One per hub,
 * shared by its writers.
 *
 * The clock is read at most once per {@linkcode CLOCK_REUSE} socket writes,
 * and never reused past the current synchronous run (a microtask forgets
 * it), so an observation costs a few nanoseconds.
 *
 * @example
 * ```ts
 * import { encodePayload } from "../protocol/mod.ts";
 * import { HandOffs } from "./hand_offs.ts";
 *
 * const handOffs = new HandOffs();
 * const payload = encodePayload("hello"); // stamped now
 * handOffs.bytes += payload.bytes;
 * handOffs.handed(payload); // handed to a socket
 * console.log(handOffs.waits.count); // 1
 * ```
 */
export class HandOffs {
  /** Bytes handed to sockets: messages, batches and control frames (payload bytes, as Deno's `bufferedAmount` counts them). */
  bytes = 0;
  /** How long application messages waited before their hand-off (exposed in seconds, observed in ms). */
  readonly waits: Histogram = new Histogram(DELIVERY_WAIT_BUCKETS, 1000);
  #now = 0;
  /** How many more writes may use `#now`; 0: read the clock. */
  #uses = 0;
  #forgetQueued = false;
  readonly #forget = () => {
    this.#uses = 0;
    this.#forgetQueued = false;
  };

  /** One payload was handed to a socket: observe its wait, if it carries a stamp. */
  handed(payload: Payload): void {
    const queuedAt = payload.queuedAt;
    if (queuedAt < 0) return;
    const wait = this.#clock() - queuedAt;
    this.waits.observe(wait > 0 ? wait : 0);
  }

  /** `payloads[from]` to `payloads[to - 1]` were handed to a socket in one frame. */
  handedRun(payloads: readonly Payload[], from: number, to: number): void {
    let now = -1;
    let bucket = 0;
    for (let i = from; i < to; i++) {
      const queuedAt = payloads[i].queuedAt;
      if (queuedAt < 0) continue;
      if (now < 0) now = this.#clock();
      const wait = now - queuedAt;
      // Queued in order, handed at once: each wait is close to the previous one's.
      bucket = this.waits.observeNear(wait > 0 ? wait : 0, bucket);
    }
  }

  #clock(): number {
    if (this.#uses > 0) {
      this.#uses--;
      return this.#now;
    }
    this.#now = performance.now();
    this.#uses = CLOCK_REUSE - 1;
    if (!this.#forgetQueued) {
      this.#forgetQueued = true;
      queueMicrotask(this.#forget);
    }
    return this.#now;
  }
}
