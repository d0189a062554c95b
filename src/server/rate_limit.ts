/**
 * Per-connection inbound rate limits: two token buckets (messages, bytes)
 * refilled from the clock on each use, so a check is O(1) and needs no timer.
 * The same buckets bound a connection's joins and leaves, its recoveries,
 * and the hub's admissions.
 *
 * @module
 */

/**
 * Inbound rate limits for each connection. Every frame a client sends counts:
 * application messages, pings and pongs. Past a limit, `action` applies.
 *
 * @example Allow game clients 60 updates a second, and drop the excess
 * ```ts
 * import { Hub } from "@wshub/hub";
 *
 * const hub = new Hub({
 *   rateLimit: { messagesPerSecond: 60, burst: 1, action: "drop" },
 * });
 * await hub.close();
 * ```
 */
export interface RateLimitOptions {
  /** Messages a client may send per second, on average. Default 100. */
  messagesPerSecond?: number;
  /**
   * Bytes a client may send per second, on average. Text is counted as its
   * length in UTF-16 code units (at most its UTF-8 size), binary by bytes.
   * Default 1 MiB.
   */
  bytesPerSecond?: number;
  /**
   * How many seconds' worth of allowance a client may spend at once: the
   * size of each bucket. Default 2 (a client may send 200 messages at once,
   * then 100 a second). The byte bucket always holds at least one message
   * of `maxMessageBytes`, whatever this says.
   */
  burst?: number;
  /**
   * What happens to a client past a limit:
   *
   * - `"close"`: it is closed with 1008 (policy violation); the reference
   *   client does not reconnect after 1008.
   * - `"drop"`: the frame is dropped and counted (`stats().rateLimited`); a
   *   framed client is sent an error frame `e{"error":"rate_limited",…}` at
   *   most once a second. Dropped pings are not answered.
   *
   * Default `"close"`.
   */
  action?: "close" | "drop";
}

/** {@linkcode RateLimitOptions} with every default filled in. */
export interface ResolvedRateLimit {
  messagesPerSecond: number;
  bytesPerSecond: number;
  burst: number;
  action: "close" | "drop";
  /** The least size of the byte bucket: one largest message and its tag. */
  minByteBurst: number;
}

/** The defaults of {@linkcode RateLimitOptions}. */
export const RATE_LIMIT_DEFAULTS: Required<RateLimitOptions> = Object.freeze({
  messagesPerSecond: 100,
  bytesPerSecond: 1024 * 1024,
  burst: 2,
  action: "close" as const,
});

/**
 * A token bucket: `capacity` tokens, refilled at `perMs` tokens a
 * millisecond, computed from the clock when tokens are taken.
 */
export class TokenBucket {
  readonly #capacity: number;
  readonly #perMs: number;
  #tokens: number;
  #last: number;

  constructor(capacity: number, perMs: number, now: number) {
    this.#capacity = capacity;
    this.#perMs = perMs;
    this.#tokens = capacity;
    this.#last = now;
  }

  /** Takes `count` tokens if there are that many; returns whether it did. */
  take(count: number, now: number): boolean {
    this.#refill(now);
    if (this.#tokens < count) return false;
    this.#tokens -= count;
    return true;
  }

  /**
   * Takes `count` tokens whatever there are: the bucket may go below zero
   * (a debt, paid back by the refill before anything is taken again). For a
   * cost known only after it was allowed.
   */
  charge(count: number, now: number): void {
    this.#refill(now);
    this.#tokens -= count;
  }

  /** How long until `count` tokens are there, in ms (0: now; `Infinity` if never). */
  wait(count: number, now: number): number {
    this.#refill(now);
    const missing = count - this.#tokens;
    if (missing <= 0) return 0;
    return this.#perMs > 0 ? missing / this.#perMs : Infinity;
  }

  #refill(now: number): void {
    if (now > this.#last) {
      this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#last) * this.#perMs);
      this.#last = now;
    }
  }
}

/** How often a client told it was rate-limited may be told again, in ms. */
const NOTICE_INTERVAL = 1000;

/** One connection's inbound limits. */
export class RateLimiter {
  readonly #messages: TokenBucket;
  readonly #bytes: TokenBucket;
  #noticeAt = -Infinity;

  constructor(limits: ResolvedRateLimit, now: number) {
    const { messagesPerSecond, bytesPerSecond, burst, minByteBurst } = limits;
    this.#messages = new TokenBucket(messagesPerSecond * burst, messagesPerSecond / 1000, now);
    const byteBurst = Math.max(bytesPerSecond * burst, minByteBurst);
    this.#bytes = new TokenBucket(byteBurst, bytesPerSecond / 1000, now);
  }

  /** Whether a frame of `bytes` may pass now; it is counted when it does. */
  allow(bytes: number, now: number): boolean {
    // A frame refused for its bytes has still spent its message token: fine,
    // it is refused.
    return this.#messages.take(1, now) && this.#bytes.take(bytes, now);
  }

  /** Whether the client may be told (again) that it was limited: once per second at most. */
  notify(now: number): boolean {
    if (now - this.#noticeAt < NOTICE_INTERVAL) return false;
    this.#noticeAt = now;
    return true;
  }
}
