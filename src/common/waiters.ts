/**
 * Callers waiting for something to happen (a connection to be up), each
 * allowed to stop waiting with an `AbortSignal`: the `ready()` of the
 * backplanes and the emitter.
 *
 * @module
 */

/**
 * A set of waiting promises, settled together.
 *
 * @example
 * ```ts
 * import { Waiters } from "./waiters.ts";
 *
 * const waiters = new Waiters();
 * const ready = waiters.wait(AbortSignal.timeout(1_000));
 * waiters.settle();
 * await ready;
 * ```
 */
export class Waiters {
  readonly #waiting = new Set<(error?: unknown) => void>();

  /** How many wait. */
  get size(): number {
    return this.#waiting.size;
  }

  /**
   * A promise settled by the next {@linkcode Waiters.prototype.settle}, or
   * rejected with the signal's reason when it aborts first.
   */
  wait(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const onAbort = () => {
      this.#waiting.delete(waiter);
      reject(signal!.reason);
    };
    const waiter = (error?: unknown) => {
      signal?.removeEventListener("abort", onAbort);
      if (error === undefined) resolve();
      else reject(error);
    };
    this.#waiting.add(waiter);
    signal?.addEventListener("abort", onAbort, { once: true });
    return promise;
  }

  /** Resolves every waiting promise, or rejects them all with `error`. */
  settle(error?: unknown): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const waiter of waiting) waiter(error);
  }
}
