/**
 * The backplane flags of the benchmark servers (bench/fanout_server.ts, bench/rooms_server.ts,
 * bench/publish_server.ts): `--redis=URL` for a `RedisBackplane` on that Redis,
 * `--redis-cluster=URL,URL…` for one on a Redis Cluster (its seed nodes), `--nats=URL` for a
 * `NatsBackplane` on that NATS server; the backplane's module is loaded only when its flag is
 * given, and the server waits until it is up before it listens.
 *
 * @module
 */

import type { Backplane, BackplaneStatus } from "../mod.ts";
import { until } from "../testing/async.ts";

/** A backplane whose status can be watched (all of ours). */
export type WatchedBackplane = Backplane & { readonly status: BackplaneStatus };

/** The backplane the flags ask for, or `undefined` without one. */
export async function flagBackplane(
  args: readonly string[],
): Promise<WatchedBackplane | undefined> {
  const flag = (name: string) =>
    args.find((a) => a.startsWith(`--${name}=`))?.slice(`--${name}=`.length);
  const redis = flag("redis");
  const seeds = flag("redis-cluster");
  const nats = flag("nats");
  const given = [redis, seeds, nats].filter((f) => f !== undefined).length;
  if (given > 1) {
    throw new Error("--redis, --redis-cluster and --nats: give one backplane, not several");
  }
  if (redis !== undefined || seeds !== undefined) {
    const { RedisBackplane } = await import("../src/redis/mod.ts");
    return new RedisBackplane(
      redis !== undefined ? { url: redis } : { cluster: seeds!.split(",") },
    );
  }
  if (nats !== undefined) {
    const { NatsBackplane } = await import("../src/nats/mod.ts");
    return new NatsBackplane({ servers: nats });
  }
  return undefined;
}

/**
 * Resolves once `backplane` (started by its hub) is up; exits the process with code 1 after
 * `ms` without it.
 */
export async function backplaneUp(
  backplane: { readonly status: BackplaneStatus },
  ms = 10_000,
): Promise<void> {
  try {
    await until(() => backplane.status === "up", ms, "the backplane", 10);
  } catch {
    console.error(
      `the backplane did not come up within ${
        ms / 1000
      } s: check --redis, --redis-cluster or --nats`,
    );
    Deno.exit(1);
  }
}
