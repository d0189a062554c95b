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
 * `createApi(hub, { key })` serves a JSON HTTP API to the hub (publish,
 * broadcast, message a user, disconnect, presence, history, stats) for
 * backends in any language.
 *
 * Other entry points: `@wshub/hub/client` (the browser and Deno client),
 * `@wshub/hub/redis` (several processes over Redis), `@wshub/hub/backplane`
 * (what a new backplane implements), `@wshub/hub/serve` (`Deno.serve` that
 * survives running out of descriptors). The wire protocol is described in
 * `docs/protocol.md`.
 *
 * @module
 */

export { Hub } from "./src/server/hub.ts";
export { type ApiOptions, createApi } from "./src/api/create_api.ts";
export { HubClosedError } from "./src/server/errors.ts";
export type {
  DisconnectOptions,
  HubApi,
  PublishOptions,
  PublishResult,
  RoomJoinOptions,
} from "./src/server/hub_api.ts";
export type { UpgradeOptions } from "./src/server/admission.ts";
export type { HubOptions } from "./src/server/options.ts";
export type {
  Client,
  DisconnectInfo,
  ExpiringIdentity,
  Identity,
  OverflowPolicy,
  PresenceEntry,
  PresenceStats,
  RequestOptions,
} from "./src/server/types.ts";
export type { HubStats, RequestStats } from "./src/server/stats.ts";
export type { RateLimitOptions } from "./src/server/rate_limit.ts";
export type {
  HistoryOptions,
  HistoryPage,
  HistoryReadOptions,
  Position,
  Publication,
  RecoveryFailure,
} from "./src/server/history.ts";
export type { Backplane, BackplaneStatus } from "./src/server/backplane.ts";
export { type Logger, quietLogger } from "./src/server/logger.ts";
export {
  CloseCode,
  type PresenceDiff,
  type PresenceEvent,
  type PresenceMode,
  protocolToken,
  SUBPROTOCOL,
} from "./src/protocol/mod.ts";
export {
  ConnectionClosedError,
  ReplyError,
  RequestError,
  RequestTimeoutError,
} from "./src/protocol/request_errors.ts";
