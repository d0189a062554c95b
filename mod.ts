/**
 * wshub: a WebSocket hub for Deno. One {@linkcode Hub} holds every live
 * connection; each has its own reader and writer; one scheduler loop applies
 * every change in order; application-level heartbeats and deadlines cut off
 * dead and stalled peers.
 *
 * @example A broadcast chat in a few lines
 * ```ts
 * import { Hub } from "@wshub/hub";
 *
 * const hub = new Hub<{ from?: string; text: string }>({
 *   onMessage(message, client, hub) {
 *     if (typeof message === "string") hub.broadcast({ from: client.user, text: message });
 *   },
 * });
 * const server = Deno.serve({ port: 0, onListen() {} }, (req) => hub.upgrade(req));
 * await hub.close();
 * await server.shutdown();
 * ```
 *
 * The browser and Deno client lives in `@wshub/hub/client`; the wire
 * protocol is described in `docs/protocol.md`.
 *
 * @module
 */

export { Hub, type PublishOptions, type UpgradeOptions } from "./src/server/hub.ts";
export type { PresenceEntry } from "./src/server/registry.ts";
export {
  type AppendOptions,
  type HistoryOptions,
  type HistoryPage,
  type HistoryStore,
  MemoryHistory,
  type Position,
  type Publication,
  type ReadOptions as HistoryReadOptions,
  type RecoveryFailure,
} from "./src/server/history.ts";
export type {
  Backplane,
  BackplaneHost,
  BackplaneMessage,
  BackplaneStats,
  BackplaneStatus,
  BackplaneTopic,
} from "./src/server/backplane.ts";
export type { PresenceEvent } from "./src/protocol/mod.ts";
export type { Client } from "./src/server/connection.ts";
export type { DisconnectInfo, HubOptions, Identity, OverflowPolicy } from "./src/server/options.ts";
export type { HubStats } from "./src/server/stats.ts";
export type { RateLimitOptions } from "./src/server/rate_limit.ts";
export { type Logger, quietLogger } from "./src/server/logger.ts";
export { CloseCode, SUBPROTOCOL } from "./src/protocol/mod.ts";
export type { RequestOptions, RequestStats } from "./src/server/requests.ts";
export {
  ConnectionClosedError,
  ReplyError,
  RequestError,
  RequestTimeoutError,
} from "./src/protocol/request_errors.ts";
export {
  keepServing,
  type KeepServingOptions,
  type KeptServer,
} from "./src/server/keep_serving.ts";
export { parseSubprotocols, protocolToken } from "./src/protocol/subprotocols.ts";
