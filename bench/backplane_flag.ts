/**
 * `--redis=URL` (or `--redis-cluster=URL,URL…`) for the benchmark servers (bench/fanout_server.ts, bench/rooms_server.ts): a
 * `RedisBackplane` on that Redis, its module loaded only when the flag is given, and a wait until
 * it is up before the server listens.
 *
 * @module
 */

import type { RedisBackplane } from "../src/redis/mod.ts";
import { until } from "../testing/async.ts";

/**
 * The backplane `--redis=URL` asks for (or `--redis-cluster=URL,URL…`: a Redis Cluster's seed
 * nodes), or `undefined` without either flag.
 */
export async function redisBackplane(args: readonly string[]): Promise<RedisBackplane | undefined> {
  const url = args.find((a) => a.startsWith("--redis="))?.slice("--redis=".length);
  const seeds = args.find((a) => a.startsWith("--redis-cluster="))?.slice(
    "--redis-cluster=".length,
  );
  if (url === undefined && seeds === undefined) return undefined;
  const { RedisBackplane } = await import("../src/redis/mod.ts");
  return new RedisBackplane(url !== undefined ? { url } : { cluster: seeds!.split(",") });
}

/**
 * Resolves once `backplane` (started by its hub) is up; exits the process with code 1 after
 * `ms` without it.
 */
export async function backplaneUp(backplane: RedisBackplane, ms = 10_000): Promise<void> {
  try {
    await until(() => backplane.status === "up", ms, "the Redis backplane", 10);
  } catch {
    console.error(`the Redis backplane did not come up within ${ms / 1000} s: check --redis=URL`);
    Deno.exit(1);
  }
}
