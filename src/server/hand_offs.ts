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

  /**
   * What the last call of `handed` or `handedRun` observed, to observe it
   * again without looking at each payload: at the end of a batch, writers
   * are flushed one after the other and mostly hand off the same payloads
   * (every subscriber of a broadcast, every member of a room). With the same
   * clock reading, the same payloads have the same waits: the same buckets
   * and the same sum. `#last` is the payload, or the array of the run (a
   * writer passes the same array for the same run: see `writer.ts`),
   * `#lastClock` the reading (-1: none), `#lastBuckets` pairs of bucket and
   * count (`#lastPairs` of them), `#lastSum` the sum of the waits.
   */
  #last: Payload | readonly Payload[] | undefined;
  #lastFrom = 0;
  #lastTo = 0;
  #lastClock = -1;
  readonly #lastBuckets: number[] = [];
  #lastPairs = 0;
  #lastSum = 0;

  /** One payload was handed to a socket: observe its wait, if it carries a stamp. */
  handed(payload: Payload): void {
    const queuedAt = payload.queuedAt;
    if (queuedAt < 0) return;
    const now = this.#clock();
    if (payload === this.#last && now === this.#lastClock) {
      this.waits.add(this.#lastBuckets[0], 1, this.#lastSum);
      return;
    }
    const wait = now - queuedAt > 0 ? now - queuedAt : 0;
    this.#lastBuckets[0] = this.waits.observeNear(wait, 0);
    this.#lastBuckets[1] = 1;
    this.#lastPairs = 1;
    this.#remember(payload, 0, 0, now, wait);
  }

  /** `payloads[from]` to `payloads[to - 1]` were handed to a socket in one frame. */
  handedRun(payloads: readonly Payload[], from: number, to: number): void {
    if (
      payloads === this.#last && from === this.#lastFrom && to === this.#lastTo &&
      this.#lastClock >= 0
    ) {
      const now = this.#clock();
      if (now === this.#lastClock) {
        const buckets = this.#lastBuckets;
        const waits = this.waits;
        waits.add(buckets[0], buckets[1], this.#lastSum);
        for (let i = 1; i < this.#lastPairs; i++) waits.add(buckets[2 * i], buckets[2 * i + 1], 0);
        return;
      }
      return this.#observeRun(payloads, from, to, now);
    }
    this.#observeRun(payloads, from, to, -1);
  }

  /** Observes each stamped payload's wait (`now`: the clock, if already read, else -1). */
  #observeRun(payloads: readonly Payload[], from: number, to: number, now: number): void {
    const buckets = this.#lastBuckets;
    let pairs = 0;
    let bucket = 0;
    let sum = 0;
    for (let i = from; i < to; i++) {
      const queuedAt = payloads[i].queuedAt;
      if (queuedAt < 0) continue;
      if (now < 0) now = this.#clock();
      const wait = now - queuedAt > 0 ? now - queuedAt : 0;
      // Queued in order, handed at once: each wait is close to the previous one's.
      bucket = this.waits.observeNear(wait, bucket);
      sum += wait;
      if (pairs > 0 && buckets[2 * pairs - 2] === bucket) buckets[2 * pairs - 1]++;
      else {
        buckets[2 * pairs] = bucket;
        buckets[2 * pairs + 1] = 1;
        pairs++;
      }
    }
    this.#lastPairs = pairs;
    this.#remember(payloads, from, to, pairs === 0 ? -1 : now, sum);
  }

  #remember(
    last: Payload | readonly Payload[],
    from: number,
    to: number,
    clock: number,
    sum: number,
  ): void {
    this.#last = last;
    this.#lastFrom = from;
    this.#lastTo = to;
    this.#lastClock = clock;
    this.#lastSum = sum;
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
