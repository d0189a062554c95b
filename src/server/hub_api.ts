/**
 * {@linkcode HubApi}: what the application's callbacks are handed as their
 * `hub` argument — the hub's public methods. `Hub` implements it; the
 * options (`options.ts`) name it, so that they need not import the class.
 *
 * @module
 */

import type { PresenceMode } from "../protocol/mod.ts";
import type { BackplaneStatus } from "./backplane.ts";
import type { HistoryPage, HistoryReadOptions, Position } from "./history.ts";
import type { HubStats } from "./stats.ts";
import type { Client, PresenceEntry, PresenceStats } from "./types.ts";

/**
 * Options of {@linkcode HubApi.publish}.
 *
 * @example
 * ```ts
 * import { Hub, type PublishOptions } from "@wshub/hub";
 *
 * const hub = new Hub<string>({
 *   onMessage(message, client, hub) {
 *     const options: PublishOptions<string> = { except: client };
 *     hub.publish("lobby", String(message), options);
 *   },
 * });
 * await hub.close();
 * ```
 */
export interface PublishOptions<T = unknown> {
  /** A client in the room that is not sent the message. */
  except?: Client<T>;
}

/**
 * Options of {@linkcode HubApi.join}.
 *
 * @example A room the client hears no presence in
 * ```ts
 * import { Hub, type RoomJoinOptions } from "@wshub/hub";
 *
 * const quiet: RoomJoinOptions = { presence: "none" };
 * const hub = new Hub({ presenceEvents: true, onConnect: (client, hub) => hub.join(client, "feed", quiet) });
 * await hub.close();
 * ```
 */
export interface RoomJoinOptions {
  /**
   * How the client hears about presence in the room: `"events"` (default:
   * one `u` frame per user who joined or left, which every framed client
   * understands), `"diffs"` (one `U` frame per window; only for clients
   * known to read it, such as this version's client module), or `"none"`.
   * A client that is already in the room keeps the mode it joined with.
   */
  presence?: PresenceMode;
}

/**
 * What {@linkcode HubApi.publishWithPosition} resolves to.
 *
 * @example
 * ```ts
 * import { Hub, type PublishResult } from "@wshub/hub";
 *
 * const hub = new Hub<string>({ history: { size: 100, ttl: 60_000 } });
 * const result: PublishResult = await hub.publishWithPosition("news", "hello");
 * console.log(result.count, result.position?.offset); // 0 1
 * await hub.close();
 * ```
 */
export interface PublishResult {
  /** How many of this process's connections it was queued for. */
  count: number;
  /**
   * Its position in the room's stream, in a room with history. Absent in a
   * room without history, and when the stream could not take it (the
   * backplane's Redis down): it was then delivered to this process's members
   * only, without a position.
   */
  position?: Position;
}

/**
 * Options of {@linkcode HubApi.disconnectUser}.
 *
 * @example
 * ```ts
 * import { type DisconnectOptions, Hub } from "@wshub/hub";
 *
 * const hub = new Hub();
 * const banned: DisconnectOptions = { code: 4003, reason: "banned" };
 * await hub.disconnectUser("mallory", banned);
 * await hub.close();
 * ```
 */
export interface DisconnectOptions {
  /** The close code: 4003 (revoked) by default, or 1000 or 3000–4999. */
  code?: number;
  /** The close reason, at most 123 UTF-8 bytes. Default "access revoked". */
  reason?: string;
}

/**
 * The hub as its callbacks see it (the `hub` argument of `onMessage`,
 * `onConnect`…): every public method of `Hub`, which is the one
 * implementation. See `Hub` for each method's documentation.
 *
 * @typeParam T What `broadcast`, `sendToUser`, `publish` and `client.send` accept.
 *
 * @example A callback that uses the hub it is given
 * ```ts
 * import { Hub, type HubApi } from "@wshub/hub";
 *
 * function announce(hub: HubApi<string>, text: string) {
 *   return hub.broadcast(text);
 * }
 * const hub = new Hub<string>({ onConnect: (client, hub) => void announce(hub, `hello ${client.id}`) });
 * await hub.close();
 * ```
 */
export interface HubApi<T = unknown> {
  /** How many connections are registered. */
  readonly size: number;
  /** Whether `close()` has been called (or the signal aborted). */
  readonly closed: boolean;
  /** Where the backplane's connection to its bus is; `"none"` without a backplane. */
  readonly backplaneStatus: BackplaneStatus | "none";
  /** Queues a message for every registered connection; resolves with their number. */
  broadcast(data: T): Promise<number>;
  /** Queues a message for every connection of one user; resolves with their number. */
  sendToUser(user: string, data: T): Promise<number>;
  /** Queues a message for every member of a room; resolves with their number. */
  publish(room: string, data: T, options?: PublishOptions<T>): Promise<number>;
  /** {@linkcode HubApi.publish}, resolving with the count and the publication's position. */
  publishWithPosition(
    room: string,
    data: T,
    options?: PublishOptions<T>,
  ): Promise<PublishResult>;
  /** Puts a client in a room; resolves with whether it is in it. */
  join(client: Client<T>, room: string, options?: RoomJoinOptions): Promise<boolean>;
  /** Takes a client out of a room; resolves with whether it was in it. */
  leave(client: Client<T>, room: string): Promise<boolean>;
  /** Closes every connection of a user, on every process; resolves with this process's count. */
  disconnectUser(user: string, options?: DisconnectOptions): Promise<number>;
  /** Who is in a room: one entry per identified user. */
  presence(room: string): Promise<PresenceEntry[]>;
  /** How many identified users, and connections of theirs, are in a room (no list built). */
  presenceStats(room: string): Promise<PresenceStats>;
  /** A room's recent publications and its stream's position. */
  history(room: string, options?: HistoryReadOptions): Promise<HistoryPage<T>>;
  /** Resolves once the backplane (if any) is connected. */
  ready(options?: { signal?: AbortSignal }): Promise<void>;
  /** The connections registered now. */
  clients(): Client<T>[];
  /** The connections of one user. */
  clientsOf(user: string): Client<T>[];
  /** The connections in a room. */
  clientsIn(room: string): Client<T>[];
  /** Counters for metrics. */
  stats(): HubStats;
  /** The metrics in the Prometheus text format. */
  metrics(): string;
  /** Shuts the hub down gracefully. */
  close(): Promise<void>;
}
