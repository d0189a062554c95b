/**
 * Waiting, for tests, benchmarks and attack scripts: a pause, a bound on how
 * long a promise may take (failing, or falling back to a value), and polling
 * until a condition holds. Every timer is cleared once the wait is over, so
 * Deno's op sanitizer has nothing to report. Not part of the published
 * package.
 *
 * @module
 */

/** Resolves after `ms` (at once when `ms` ≤ 0). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** What {@linkcode within} and {@linkcode until} reject with when the time runs out. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/**
 * Awaits `promise`, or rejects with a {@linkcode TimeoutError}
 * ("timed out after `ms` ms waiting for `what`") when it takes longer; the
 * timer is cleared when `promise` settles first. The promise itself is left
 * running.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(timedOut(ms, what))), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Awaits `promise` for at most `ms`: its value, or `fallback` when the time
 * runs out (never a timeout error). For a harness that must go on and report
 * what happened rather than fail.
 */
export async function atMost<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  try {
    return await within(promise, ms, "");
  } catch (error) {
    if (error instanceof TimeoutError) return fallback;
    throw error;
  }
}

/**
 * Polls `condition` (it may be async) every `every` ms until it holds;
 * rejects with a {@linkcode TimeoutError} after `ms`. A condition that throws
 * ends the wait with its error.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
  every = 5,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new TimeoutError(timedOut(ms, what));
    await delay(every);
  }
}

function timedOut(ms: number, what: string): string {
  return `timed out after ${ms} ms waiting for ${what}`;
}
