/**
 * The backplane: what the hub needs from a message bus to make several hub
 * processes act as one. The core module defines the interface and depends
 * on nothing; `@wshub/hub/redis` implements it over Redis.
 *
 * The hub always delivers to its own connections first and then hands the
 * message to the backplane for the other processes; messages from other
 * processes enter the hub's one event queue like everything else, so
 * ordering has one definition. A backplane never throws into the hub: when
 * its bus is down, local delivery goes on and cross-process traffic is lost
 * until it is back (see its `status`).
 *
 * @module
 */

import type { PresenceEvent } from "../protocol/mod.ts";
import type { Logger } from "./logger.ts";
import type { HistoryStore, Position } from "./history.ts";
import type { PresenceEntry, PresenceStats } from "./types.ts";

/**
 * A message for, or from, the other processes: to every connection, to one
 * user's connections, or to one room's members. `data` is the payload as a
 * plain client gets it; `json` says it is the JSON text of a value that was
 * not a string (so that `wshub.v2` clients get the same value back).
 */
export type BackplaneMessage =
  | { kind: "broadcast"; data: string | Uint8Array; json?: boolean }
  /**
   * Close every connection of `user` with `code` and `reason`
   * (`hub.disconnectUser`): travels where the user's messages do.
   */
  | { kind: "disconnect"; user: string; code: number; reason: string }
  | { kind: "user"; user: string; data: string | Uint8Array; json?: boolean }
  | {
    kind: "room";
    room: string;
    data: string | Uint8Array;
    /** Whether `data` is the JSON text of a value that was not a string (any kind). */
    json?: boolean;
    /** Its position in the room's stream (rooms with history). */
    position?: Position;
    /**
     * Only on this process's own publication to a room with history, given
     * back by the backplane: the `ref` the hub passed to `history.append`.
     */
    ref?: number;
  };

/**
 * A topic a process listens to while it has a local connection concerned:
 * a room with a local member, a user with a local connection. Every process
 * listens to broadcasts.
 */
export type BackplaneTopic = { kind: "room"; room: string } | { kind: "user"; user: string };

/** Where a backplane's connection to its bus is. */
export type BackplaneStatus = "connecting" | "up" | "down" | "closed";

/**
 * Counters a backplane may report (`Backplane.stats`); the hub exposes them
 * in its metrics (`wshub_backplane_*`, `wshub_history_*`).
 *
 * @example
 * ```ts
 * import type { BackplaneStats } from "@wshub/hub";
 *
 * const stats: BackplaneStats = {
 *   published: 10, received: 12, dropped: 0, malformed: 0, channels: 3, roundTrip: 0.4,
 * };
 * console.log(`${stats.published} published, round trip ${stats.roundTrip} ms`);
 * ```
 */
export interface BackplaneStats {
  /** Messages published to the bus. */
  published: number;
  /** Messages received from other processes. */
  received: number;
  /** Messages that could not be published (the bus down): other processes did not get them. */
  dropped: number;
  /** Malformed messages received and ignored. */
  malformed: number;
  /**
   * Messages of a format version this process does not know, received and
   * ignored (backplanes whose messages carry a version: a newer release, or
   * a publisher that got the format wrong).
   */
  unknownVersion?: number;
  /** Topics (channels) listened to now. */
  channels: number;
  /** The last round trip through the bus, in ms (`undefined` before the first). */
  roundTrip: number | undefined;
  /** Publications stored in room streams by this process (backplanes that keep history). */
  historyAppends?: number;
  /** Room stream reads asked (recoveries, `hub.history`), answered by the bus or shared. */
  historyReads?: number;
  /** Calls to the bus that read streams (several reads may share one). */
  historyReadCalls?: number;
  /** Reads answered without a call of their own (an identical read, a room's recent read). */
  historyReadsShared?: number;
  /** Calls to the bus that carried presence changes (several changes may share one). */
  presenceCalls?: number;
  /** Appends and reads that failed. */
  historyFailures?: number;
}

/**
 * What a backplane can call on its hub. Every method may be called at any
 * time from the backplane's own callbacks; none throws.
 *
 * @example A backplane that logs what it hears
 * ```ts
 * import type { BackplaneHost, BackplaneMessage } from "@wshub/hub";
 *
 * function hear(host: BackplaneHost, message: BackplaneMessage) {
 *   host.logger.debug("from another process", { kind: message.kind });
 *   host.deliver(message);
 * }
 * void hear;
 * ```
 */
export interface BackplaneHost {
  /** A message another process published: deliver it to the local connections concerned. */
  deliver(message: BackplaneMessage): void;
  /**
   * A presence transition across the cluster: a user's first connection in
   * the cluster joined a room, or its last one left. `origin` is `true` on
   * the one process whose change caused it (where the hub calls
   * `onPresence`); every process tells its local framed members.
   */
  presence(event: PresenceEvent, origin: boolean): void;
  /** The backplane's status changed (`error` says why when it went down). */
  status(status: BackplaneStatus, error?: Error): void;
  /** Where the backplane logs. */
  readonly logger: Logger;
}

/**
 * A message bus that makes several hub processes act as one, given to a hub
 * as its `backplane` option. `@wshub/hub/redis` provides `RedisBackplane`;
 * any other bus can be plugged in by implementing this.
 *
 * Contract: methods other than `presence` and `close` return at once and
 * never throw; failures are reported through `status` and the host's
 * logger. Messages published by one process reach the others in the order
 * it published them.
 *
 * @example An in-process backplane joining two hubs (tests, one machine)
 * ```ts
 * import { type Backplane, type BackplaneHost, type BackplaneMessage, Hub } from "@wshub/hub";
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
 */
export interface Backplane {
  /** Where its connection to the bus is. */
  readonly status: BackplaneStatus;
  /**
   * Streams kept in the bus, so that any process can serve a recovery. When
   * present, the hub keeps room history there (with the `history` option).
   * Its `append` stores a publication and publishes it with its position
   * to every process subscribed to the room, this one included (the hub
   * does not `publish` it too): it reaches this process's host through
   * `deliver` with the `ref` the hub gave `append`, so that every process
   * delivers a room's publications in the stream's order, the publisher's
   * own among them. Without it, a hub with a backplane cannot keep history.
   */
  readonly history?: HistoryStore;
  /** Called once by the hub that uses it, when the hub is created. */
  start(host: BackplaneHost): void;
  /** Publishes a message to the other processes (never back to this one; see `history`). */
  publish(message: BackplaneMessage): void;
  /** This process has its first local connection concerned by `topic`. */
  subscribe(topic: BackplaneTopic): void;
  /** This process has no local connection concerned by `topic` any more. */
  unsubscribe(topic: BackplaneTopic): void;
  /**
   * This process's count of `user`'s connections in `room` changed by
   * `delta` (+1 or -1). The backplane keeps the cluster's counts and calls
   * the host's `presence` on cluster-wide transitions.
   */
  presenceChanged(room: string, user: string, delta: 1 | -1): void;
  /** The identified users in `room` across the cluster, with their connection counts. */
  presence(room: string): Promise<PresenceEntry[]>;
  /**
   * How many identified users are in `room` across the cluster, and how
   * many of their connections, without building the list (optional:
   * without it the hub counts the entries of `presence(room)`).
   */
  presenceStats?(room: string): Promise<PresenceStats>;
  /** Leaves the cluster (this process's presence is removed at once) and disconnects. */
  close(): Promise<void>;
  /** Its counters, for the hub's metrics (optional). */
  stats?(): BackplaneStats;
}

/**
 * A room's presence counts from a backplane: its `presenceStats` when it
 * has one, else counted from its `presence` list.
 *
 * @example
 * ```ts ignore
 * import { backplanePresenceStats } from "./backplane.ts";
 *
 * const { users } = await backplanePresenceStats(backplane, "lobby");
 * ```
 */
export function backplanePresenceStats(backplane: Backplane, room: string): Promise<PresenceStats> {
  if (backplane.presenceStats !== undefined) return backplane.presenceStats(room);
  return backplane.presence(room).then((entries) => ({
    users: entries.length,
    connections: entries.reduce((sum, entry) => sum + entry.connections, 0),
  }));
}
