/**
 * How `@wshub/hub/redis` connects its node-redis clients: the `url` option
 * checked, reconnects, closing. Shared by `RedisBackplane` and
 * `RedisEmitter`, so that both take the same URLs, back off the same way,
 * and neither leaves a timer behind once closed.
 *
 * @module
 */

/**
 * Checks a `url` option (`owner` names whose): a redis:// or rediss:// URL.
 *
 * @throws {TypeError} If it is not one.
 */
export function checkUrl(owner: string, url: unknown): string {
  if (typeof url !== "string" || !/^rediss?:\/\//.test(url)) {
    throw new TypeError(
      `Invalid ${owner} option url: ${
        url === undefined ? "missing" : JSON.stringify(url)
      }; give the Redis server as redis://host:port (or rediss:// for TLS)${
        url === undefined ? ", or a Redis Cluster's nodes as cluster: [url, …]" : ""
      }`,
    );
  }
  return url;
}

/**
 * The reconnect strategy of a set of clients (50 ms doubling to a 1 s cap,
 * plus up to 0.1 s of jitter; it never gives up), and when its last sleep
 * ends: node-redis's sleep between attempts cannot be cancelled, so a close
 * waits for it ({@linkcode Reconnects.settled}).
 *
 * @example
 * ```ts ignore
 * import { createClient } from "@redis/client";
 * import { Reconnects } from "./connection.ts";
 *
 * const reconnects = new Reconnects();
 * const client = createClient({ socket: { reconnectStrategy: reconnects.strategy } });
 * // …
 * await client.close();
 * await reconnects.settled();
 * ```
 */
export class Reconnects {
  #until = 0;

  /** node-redis's `socket.reconnectStrategy`: the ms to wait before attempt `retries + 1`. */
  readonly strategy = (retries: number): number => {
    const ms = Math.min(50 * 2 ** retries, 1_000) + Math.floor(Math.random() * 100);
    this.#until = Math.max(this.#until, performance.now() + ms);
    return ms;
  };

  /** Resolves once the last sleep between attempts has ended. */
  async settled(): Promise<void> {
    const left = this.#until - performance.now();
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left + 5));
  }
}

/**
 * Closes a node-redis client: gracefully when it is ready (its pending
 * commands answered first), else at once; with `within` (ms), at once if the
 * graceful close takes longer (a Redis that stopped answering). Never throws.
 */
export async function closeClient(
  client: { isReady: boolean; isOpen: boolean; close(): Promise<unknown>; destroy(): void },
  within?: number,
): Promise<void> {
  try {
    if (!client.isReady) {
      if (client.isOpen) client.destroy();
      return;
    }
    if (within === undefined) return void await client.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) =>
      timer = setTimeout(() => resolve("late"), within)
    );
    const closed = client.close().catch(() => {});
    const outcome = await Promise.race([closed, late]);
    clearTimeout(timer);
    if (outcome === "late") {
      client.destroy();
      await closed;
    }
  } catch {
    // already closed
  }
}
