/**
 * What a backplane implements: the interface a message bus fills to make
 * several hub processes act as one ({@linkcode Backplane}), what it may call
 * on its hub ({@linkcode BackplaneHost}), the messages it carries, and the
 * history store a bus that keeps room streams exposes
 * ({@linkcode HistoryStore}; {@linkcode MemoryHistory} is the hub's own, in
 * memory). Applications do not need this module: they pass a ready
 * backplane (`RedisBackplane` from `@wshub/hub/redis`) as the hub's
 * `backplane` option.
 *
 * @example An in-process backplane joining two hubs (tests, one machine)
 * ```ts
 * import { Hub } from "@wshub/hub";
 * import type { Backplane, BackplaneHost, BackplaneMessage } from "@wshub/hub/backplane";
 *
 * const hosts = new Set<BackplaneHost>();
 * function memory(): Backplane {
 *   let self: BackplaneHost | undefined;
 *   return {
 *     status: "up",
 *     start(host) { self = host; hosts.add(host); },
 *     publish(message: BackplaneMessage) {
 *       for (const host of hosts) if (host !== self) host.deliver(message);
 *     },
 *     subscribe() {},
 *     unsubscribe() {},
 *     presenceChanged() {},
 *     presence: () => Promise.resolve([]),
 *     close() { if (self) hosts.delete(self); return Promise.resolve(); },
 *   };
 * }
 * const a = new Hub({ backplane: memory() });
 * const b = new Hub({ backplane: memory() });
 * await a.close();
 * await b.close();
 * ```
 *
 * @module
 */

export type {
  Backplane,
  BackplaneHost,
  BackplaneMessage,
  BackplaneStats,
  BackplaneStatus,
  BackplaneTopic,
} from "../server/backplane.ts";
export {
  type AppendOptions,
  type HistoryOptions,
  type HistoryReadOptions,
  type HistoryStore,
  MemoryHistory,
  type Position,
  type StoredPage,
  type StoredPublication,
} from "../server/history.ts";
export type { Logger } from "../server/logger.ts";
export type { PresenceEntry } from "../server/types.ts";
export type { PresenceEvent } from "../protocol/mod.ts";
