/**
 * Answer deadlines for calls in flight, with one timer for all of them:
 * node-redis bounds how long a command waits to be written, not how long
 * its answer takes, so a Redis that stops answering (frozen, a silent
 * network) would hold a call forever. Calls get their deadlines in the
 * order they are made, so only the oldest unanswered one needs a timer.
 *
 * @module
 */

interface Entry {
  deadline: number;
  settled: boolean;
  expire: () => void;
}

/**
 * Races calls against a deadline `ms` after each was made.
 *
 * @example
 * ```ts
 * import { Deadlines } from "./deadlines.ts";
 *
 * const deadlines = new Deadlines(1_000);
 * const answer = await deadlines.track(Promise.resolve(1), () => new Error("no answer"));
 * console.log(answer); // 1
 * deadlines.clear();
 * ```
 */
export class Deadlines {
  readonly #ms: number;
  /** Calls in flight, oldest first, from `#head` on (the array is compacted now and then). */
  #entries: Entry[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #cleared = false;

  constructor(ms: number) {
    this.#ms = ms;
  }

  /** How many calls are tracked (answered ones at the tail are dropped once older ones are). */
  get size(): number {
    return this.#entries.length - this.#head;
  }

  /**
   * `call`'s outcome, or a rejection with `expired()` when it has not
   * settled within the deadline (it may still settle later: that is ignored).
   */
  track<R>(call: Promise<R>, expired: () => Error): Promise<R> {
    const { promise, resolve, reject } = Promise.withResolvers<R>();
    const entry: Entry = {
      deadline: performance.now() + this.#ms,
      settled: false,
      expire: () => reject(expired()),
    };
    this.#entries.push(entry);
    this.#arm();
    call.then(
      (value) => this.#settle(entry, () => resolve(value)),
      (error) => this.#settle(entry, () => reject(error)),
    );
    return promise;
  }

  /** Stops the timer for good: the calls still tracked settle as their calls do. */
  clear(): void {
    this.#cleared = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #settle(entry: Entry, settle: () => void): void {
    if (entry.settled) return;
    entry.settled = true;
    settle();
    this.#dropSettled();
  }

  #dropSettled(): void {
    const entries = this.#entries;
    while (this.#head < entries.length && entries[this.#head].settled) this.#head++;
    if (this.#head === entries.length) {
      this.#entries = [];
      this.#head = 0;
      clearTimeout(this.#timer);
      this.#timer = undefined;
    } else if (this.#head >= 1024 && this.#head * 2 >= entries.length) {
      this.#entries = entries.slice(this.#head);
      this.#head = 0;
    }
  }

  /** A timer for the oldest call in flight, unless one is set. */
  #arm(): void {
    if (this.#timer !== undefined || this.size === 0 || this.#cleared) return;
    const wait = Math.max(0, this.#entries[this.#head].deadline - performance.now());
    this.#timer = setTimeout(() => this.#expire(), wait);
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    const entries = this.#entries;
    while (this.#head < entries.length) {
      const entry = entries[this.#head];
      if (!entry.settled) {
        if (entry.deadline > now) break;
        entry.settled = true;
        entry.expire();
      }
      this.#head++;
    }
    this.#dropSettled();
    this.#arm();
  }
}
