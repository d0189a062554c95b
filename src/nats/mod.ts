/**
 * `@wshub/hub/nats`: several hub processes as one, over NATS. Give a
 * {@linkcode NatsBackplane} to each hub as its `backplane` option: a
 * broadcast, a user message or a room publish made on any process reaches
 * the right connections on every process, and presence answers for the
 * whole cluster (kept in a JetStream key-value bucket: run `nats-server
 * -js`). It keeps no room history: a hub given `history` with it throws.
 * Uses nats.js (`@nats-io/transport-node`, `@nats-io/jetstream`,
 * `@nats-io/kv`); the core module does not import it.
 *
 * @example Serve one hub per process, all sharing one NATS
 * ```ts ignore
 * import { Hub } from "@wshub/hub";
 * import { NatsBackplane } from "@wshub/hub/nats";
 *
 * const hub = new Hub({
 *   backplane: new NatsBackplane({ servers: "nats://127.0.0.1:4222", presenceTtl: 10_000 }),
 * });
 * Deno.serve({ port: 8000, reusePort: true }, (req) => hub.upgrade(req));
 * ```
 *
 * @module
 */

export {
  NatsBackplane,
  type NatsBackplaneOptions,
  type NatsBackplaneStats,
} from "./nats_backplane.ts";
