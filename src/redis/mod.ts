/**
 * `@wshub/hub/redis`: several hub processes as one, over Redis. Give a
 * {@linkcode RedisBackplane} to each hub as its `backplane` option: a
 * broadcast, a user message or a room publish made on any process reaches
 * the right connections on every process, and presence answers for the
 * whole cluster. Uses node-redis (`@redis/client`); the core module does not
 * import it.
 *
 * A process that runs no hub publishes to the hubs' clients with a
 * {@linkcode RedisEmitter} (a job worker, a cron): what it sends reaches
 * them exactly as if a hub had sent it. What it writes on Redis is
 * documented in docs/channel-format.md, for publishers in other languages.
 *
 * @example Serve one hub per process, all sharing one Redis
 * ```ts ignore
 * import { Hub } from "@wshub/hub";
 * import { RedisBackplane } from "@wshub/hub/redis";
 *
 * const hub = new Hub({
 *   backplane: new RedisBackplane({ url: "redis://127.0.0.1:6379", presenceTtl: 10_000 }),
 * });
 * Deno.serve({ port: 8000, reusePort: true }, (req) => hub.upgrade(req));
 * ```
 *
 * @module
 */

export {
  type EmittedPublication,
  type EmitterStatus,
  RedisEmitter,
  type RedisEmitterOptions,
} from "./emitter.ts";
export {
  RedisBackplane,
  type RedisBackplaneOptions,
  type RedisBackplaneStats,
} from "./redis_backplane.ts";
export { RedisDownError } from "./redis_history.ts";
