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

export { Hub, type UpgradeOptions } from "./src/hub.ts";
export type { Client } from "./src/connection.ts";
export type { DisconnectInfo, HubOptions, Identity, OverflowPolicy } from "./src/options.ts";
export type { HubStats } from "./src/scheduler.ts";
export { CloseCode } from "./src/close_codes.ts";
export { type Logger, quietLogger } from "./src/logger.ts";
export { SUBPROTOCOL } from "./src/protocol.ts";
export { parseSubprotocols, protocolToken } from "./src/protocol/subprotocols.ts";
