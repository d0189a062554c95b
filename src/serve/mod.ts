/**
 * `keepServing`: `Deno.serve` over TCP that starts a new listener when
 * running out of file descriptors stopped the old one (Deno's own listener
 * stops for good, and its unhandled rejection ends the process). Use it in
 * place of `Deno.serve` for a hub that must outlive a flood of idle TCP
 * connections; the hub's `maxConnections` bounds its WebSockets.
 *
 * @example
 * ```ts
 * import { Hub } from "@wshub/hub";
 * import { keepServing } from "@wshub/hub/serve";
 *
 * const hub = new Hub();
 * const server = keepServing({ port: 0, onListen() {} }, (req) => hub.upgrade(req));
 * await hub.close();
 * await server.shutdown();
 * ```
 *
 * @module
 */

export { keepServing, type KeepServingOptions, type KeptServer } from "../server/keep_serving.ts";
