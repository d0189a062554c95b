/**
 * What a `RedisBackplane` needs from Redis, and the single-server way to get
 * it: two node-redis connections, one for commands and one for
 * subscriptions (PUBLISH/SUBSCRIBE, the scripts of `scripts.ts`). A Redis
 * Cluster is the other way (`cluster_connection.ts`); the backplane itself
 * does not know which one it has.
 *
 * @module
 */

import { createClient, RESP_TYPES } from "@redis/client";
import { Buffer } from "node:buffer";
import { closeClient, Reconnects } from "./connection.ts";
import type { Names } from "./names.ts";
import type { PresenceLink } from "./presence.ts";
import type { AppendRequest } from "./redis_history.ts";
import { scripts } from "./scripts.ts";

/** What the backplane hears from its connection. */
export interface ConnectionEvents {
  /** A connection became ready (`ready` says whether all are). */
  ready(): void;
  /** A connection (`name`) failed or was lost. */
  down(error: Error, name: string): void;
  /** Subscriptions may have been lost: none is known to be in effect until proven again. */
  subscriberLost(): void;
  /** A message on a subscribed channel. */
  heard(message: Buffer, channel: Buffer): void;
  /** Redis dropped the subscription of these channels by itself (a slot moved): subscribe again. */
  dropped(channels: string[]): void;
}

/** The presence operations a connection runs (see {@linkcode PresenceLink}). */
export type PresenceCommands = Pick<
  PresenceLink,
  "deltas" | "stats" | "sync" | "drop" | "hGetAll" | "set" | "sMembers" | "exists"
>;

/** A way to reach the Redis the hubs share. Nothing here throws synchronously. */
export interface BackplaneConnection {
  /** Whether every connection is ready. */
  readonly ready: boolean;
  /** Whether commands can be sent. */
  readonly commandsReady: boolean;
  /** Connects, telling `events`. */
  start(events: ConnectionEvents): void;
  /** Publishes on a channel the hubs subscribe to. */
  publish(channel: string, message: Buffer | string): Promise<unknown>;
  subscribe(channels: string[]): Promise<void>;
  unsubscribe(channels: string[]): Promise<void>;
  /** Runs the append script. */
  append(request: AppendRequest): Promise<[number, string]>;
  /** Reads streams: quadruples room, after, epoch, limit → Redis's time, then each read. */
  read(quadruples: string[]): Promise<[Buffer, ...Buffer[][]]>;
  /** Presence's operations. */
  readonly presence: PresenceCommands;
  /**
   * Of the channels wanted (and believed subscribed), those that are not
   * subscribed any more, without Redis having said so: subscribe again.
   */
  lost(wanted: Iterable<string>): string[];
  /**
   * Forgets what the client believes of these channels' subscriptions,
   * before they are subscribed again (they are not in effect, whatever it
   * believes).
   */
  forget(channels: string[]): void;
  /** Closes every connection, and waits for the last reconnect attempt's sleep. */
  close(): Promise<void>;
}

/** How to connect (from `RedisBackplane`'s options). */
export interface ConnectionOptions {
  /** This process's id (presence scripts' origin). */
  node: string;
  names: Names;
  /** `presenceTtl`, in ms. */
  ttl: number;
}

/** The plain commands presence uses, of a node-redis client or cluster client. */
export interface KeyClient {
  hGetAll(key: string): Promise<unknown>;
  set(key: string, value: string, options: { NX?: true; PX: number }): Promise<unknown>;
  sMembers(key: string): Promise<unknown>;
  exists(key: string): Promise<number>;
}

/** Presence's plain commands, on `client`. */
export function keyCommands(
  client: KeyClient,
): Pick<PresenceCommands, "hGetAll" | "set" | "sMembers" | "exists"> {
  return {
    hGetAll: (key) => client.hGetAll(key) as Promise<Record<string, string>>,
    set: (key, value, ttl, nx) =>
      client.set(key, value, nx ? { NX: true, PX: ttl } : { PX: ttl }) as Promise<string | null>,
    sMembers: (key) => client.sMembers(key) as Promise<string[]>,
    exists: async (key) => await client.exists(key) > 0,
  };
}

/** One Redis server: a commands connection and a subscriber connection. */
export class SingleConnection implements BackplaneConnection {
  readonly #commands;
  /** The commands connection, replying with bytes (history reads). */
  readonly #binary;
  readonly #subscriber;
  readonly #reconnects = new Reconnects();
  readonly #names: Names;
  #listener: ((message: Buffer, channel: Buffer) => void) | undefined;
  readonly presence: PresenceCommands;

  constructor(url: string, options: ConnectionOptions) {
    const { ttl, names, node } = options;
    this.#names = names;
    // Never gives up; close() waits for the last sleep between attempts to end.
    const reconnectStrategy = this.#reconnects.strategy;
    const commands = this.#commands = createClient({
      url,
      maintNotifications: "disabled",
      disableOfflineQueue: true,
      commandOptions: { timeout: 0 },
      pingInterval: Math.min(5_000, Math.max(100, Math.floor(ttl / 3))),
      socket: { connectTimeout: 2_000, socketTimeout: Math.max(1_000, ttl), reconnectStrategy },
      scripts,
    });
    this.#binary = commands.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    // The subscriber keeps its offline queue: (un)subscribes made while Redis is
    // down are applied once it is back.
    this.#subscriber = commands.duplicate({ disableOfflineQueue: false });
    const prefix = names.prefix;
    this.presence = {
      deltas: (nodeKey, header, triples) =>
        commands.presenceDeltas(prefix, nodeKey, header, triples) as Promise<string[]>,
      stats: (room) => commands.presenceStats(prefix, room),
      sync: (nodeKey, nodesKey, leaseKey, node, leaseMs, entries) =>
        commands.presenceSync(nodeKey, nodesKey, leaseKey, prefix, node, leaseMs, entries),
      drop: (nodeKey, nodesKey, leaseKey, dropped) =>
        commands.presenceDropNode(nodeKey, nodesKey, leaseKey, prefix, dropped, node),
      ...keyCommands(commands),
    };
  }

  get ready(): boolean {
    return this.#commands.isReady && this.#subscriber.isReady;
  }

  get commandsReady(): boolean {
    return this.#commands.isReady;
  }

  start(events: ConnectionEvents): void {
    this.#listener = (message, channel) => events.heard(message, channel);
    for (
      const [name, client] of [["commands", this.#commands], [
        "subscriber",
        this.#subscriber,
      ]] as const
    ) {
      client.on("error", (error: Error) => events.down(error, name));
      client.on("ready", () => events.ready());
    }
    // Subscriptions lost with the subscriber's connection are renewed by
    // node-redis; until a message proves one in effect again, it is not.
    this.#subscriber.on("error", () => events.subscriberLost());
    this.#subscriber.on("reconnecting", () => events.subscriberLost());
    this.#commands.connect().catch(() => {});
    this.#subscriber.connect().catch(() => {});
  }

  publish(channel: string, message: Buffer | string): Promise<unknown> {
    return this.#commands.publish(channel, message);
  }

  subscribe(channels: string[]): Promise<void> {
    return this.#subscriber.subscribe(channels, this.#listener!, true);
  }

  unsubscribe(channels: string[]): Promise<void> {
    return this.#subscriber.unsubscribe(channels);
  }

  append({ keys, args, payload }: AppendRequest): Promise<[number, string]> {
    return this.#commands.historyAppend(keys, args, payload) as Promise<[number, string]>;
  }

  read(quadruples: string[]): Promise<[Buffer, ...Buffer[][]]> {
    return this.#binary.historyReadMany(this.#names.prefix, quadruples) as Promise<
      [Buffer, ...Buffer[][]]
    >;
  }

  lost(): string[] {
    return []; // node-redis renews a single server's subscriptions by itself
  }

  forget(): void {}

  async close(): Promise<void> {
    await Promise.all([closeClient(this.#commands), closeClient(this.#subscriber)]);
    await this.#reconnects.settled();
  }
}
