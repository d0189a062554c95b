/**
 * A `RedisBackplane` on a Redis Cluster: one node-redis cluster client
 * (`createCluster`), which keeps a connection to each master for commands
 * and one per master for sharded subscriptions. Channels are sharded
 * (SSUBSCRIBE/SPUBLISH): a message goes to the shard that owns its
 * channel's slot, not to every node. Every script touches one slot
 * (`cluster_scripts.ts`): what the single-server scripts do for many rooms
 * in one call, this does with one call per room, all at once.
 *
 * Subscriptions that Redis drops by itself are taken again: when a slot
 * moves to another master, Redis sends SUNSUBSCRIBE for its channels, and
 * node-redis's own attempt to follow them fails when it asks a node that
 * does not know the new owner yet (it then only emits
 * `sharded-channel-moved-error`). The backplane hears of it (`dropped`) and
 * subscribes again; and `lost()` finds wanted channels that no master's
 * subscriber listens to any more, for the backplane's periodic check.
 *
 * Presence, one slot per script: a process's share in a room is its own
 * hash in the room's slot (`<p>:pn:{<room>}:<node>`), and the rooms it may
 * hold a share in are a set in its own slot (`<p>:n:{<node>}:rooms`),
 * written before its first change in a room. Removing a process's presence
 * (it closes, or its lease lapsed) runs one script per room of that set.
 *
 * @module
 */

import { createCluster, RESP_TYPES } from "@redis/client";
import { Buffer } from "node:buffer";
import {
  type BackplaneConnection,
  type ConnectionEvents,
  type ConnectionOptions,
  keyCommands,
  type PresenceCommands,
} from "./backplane_connection.ts";
import { checkUrl, closeClient, Reconnects } from "./connection.ts";
import { clusterScripts, type RoomPresenceKeys } from "./cluster_scripts.ts";
import type { Names } from "./names.ts";
import type { AppendRequest } from "./redis_history.ts";

/** How long after a node's first reconnection attempt the cluster's slots are asked again, in ms. */
const TOPOLOGY_REFRESH = 1_000;

/**
 * Checks the `url` and `cluster` options (`owner` names whose): exactly
 * one is given; resolves with the server's URL or the cluster's seeds.
 *
 * @throws {TypeError} If both are given, or neither, or either is invalid.
 */
export function checkServers(
  owner: string,
  options: { url?: unknown; cluster?: unknown },
): { url: string; seeds?: undefined } | { url?: undefined; seeds: string[] } {
  if (options.url !== undefined && options.cluster !== undefined) {
    throw new TypeError(
      `${owner} needs exactly one of url (one Redis server) and cluster (a Redis Cluster's seed nodes)`,
    );
  }
  return options.cluster === undefined
    ? { url: checkUrl(owner, options.url) }
    : { seeds: checkSeeds(owner, options.cluster) };
}

/**
 * Checks a `cluster` option (`owner` names whose): a non-empty list of
 * redis:// or rediss:// URLs, the seed nodes.
 *
 * @throws {TypeError} If it is not one.
 */
export function checkSeeds(owner: string, seeds: unknown): string[] {
  if (!Array.isArray(seeds) || seeds.length === 0) {
    throw new TypeError(
      `Invalid ${owner} option cluster: ${
        JSON.stringify(seeds)
      }; give the cluster's seed nodes as a non-empty list of redis://host:port URLs`,
    );
  }
  return seeds.map((seed) => checkUrl(owner, seed));
}

/**
 * The options of node-redis's `createCluster` for `seeds`, with our
 * reconnect strategy on every node's connection.
 */
export function clusterOptions(seeds: string[], reconnects: Reconnects, timeout: number) {
  return {
    rootNodes: seeds.map((url) => ({ url })),
    // While a node is being reconnected to, ask the cluster who owns what every second (node-redis
    // waits 5 s by default): a promoted replica is found ~3 s sooner after a master dies.
    topologyRefreshOnReconnectionAttemptStrategy: TOPOLOGY_REFRESH,
    defaults: {
      maintNotifications: "disabled" as const,
      disableOfflineQueue: true,
      socket: { connectTimeout: timeout, reconnectStrategy: reconnects.strategy },
    },
    scripts: clusterScripts,
  };
}

/** A Redis Cluster, through one node-redis cluster client. */
export class ClusterConnection implements BackplaneConnection {
  readonly #client;
  readonly #binary;
  readonly #names: Names;
  readonly #node: string;
  readonly #reconnects = new Reconnects();
  #listener: ((message: Buffer, channel: Buffer) => void) | undefined;
  /** Rooms this process's rooms set is known to hold. */
  readonly #registered = new Set<string>();
  /** Rooms with changes of this process's share on their way to Redis, and how many calls. */
  readonly #inFlight = new Map<string, number>();
  /** The first connection (discovering the cluster's slots), once started. */
  #connecting: Promise<unknown> = Promise.resolve();
  readonly presence: PresenceCommands;

  constructor(seeds: string[], options: ConnectionOptions) {
    this.#names = options.names;
    this.#node = options.node;
    this.#client = createCluster({
      ...clusterOptions(seeds, this.#reconnects, 2_000),
      defaults: {
        ...clusterOptions(seeds, this.#reconnects, 2_000).defaults,
        pingInterval: Math.min(5_000, Math.max(100, Math.floor(options.ttl / 3))),
      },
    });
    this.#binary = this.#client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    const client = this.#client;
    this.presence = {
      deltas: (_nodeKey, header, triples) => this.#deltas(header, triples),
      stats: (room) =>
        client.presenceRoomStats(this.#names.presence(room), this.#names.presenceCount(room)),
      sync: (_nodeKey, _nodesKey, _leaseKey, node, leaseMs, entries) =>
        this.#sync(node, leaseMs, entries),
      drop: (_nodeKey, _nodesKey, _leaseKey, node) => this.#drop(node),
      ...keyCommands(client),
    };
  }

  get ready(): boolean {
    return this.#client.isReady;
  }

  get commandsReady(): boolean {
    return this.#client.isReady;
  }

  start(events: ConnectionEvents): void {
    this.#listener = (message, channel) => events.heard(message, channel);
    const client = this.#client;
    client.on("error", (error: Error) => events.down(error, "cluster"));
    client.on("node-error", (error: Error) => events.down(error, "cluster node"));
    // A node's connection lost: its subscriptions may be (node-redis moves them to the new
    // owner after a failover); until a message proves one in effect again, it is not.
    client.on("node-reconnecting", () => events.subscriberLost());
    client.on("node-ready", () => events.ready());
    client.on("sharded-channel-moved-error", (_error: Error, channel: string) => {
      events.dropped([channel]);
    });
    this.#connecting = client.connect().then(() => events.ready(), () => {});
  }

  publish(channel: string, message: Buffer | string): Promise<unknown> {
    return this.#client.sPublish(channel, message);
  }

  async subscribe(channels: string[]): Promise<void> {
    // Subscriptions asked before the cluster's slots are known wait for them.
    if (!this.#client.isReady) await this.#connecting;
    // One SSUBSCRIBE per channel: a command's channels must share one slot.
    const results = await Promise.allSettled(
      channels.map((channel) => this.#client.sSubscribe(channel, this.#listener!, true)),
    );
    const failed = results.find((result) => result.status === "rejected");
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  }

  async unsubscribe(channels: string[]): Promise<void> {
    const results = await Promise.allSettled(
      channels.map((channel) => this.#client.sUnsubscribe(channel, this.#listener!, true)),
    );
    const failed = results.find((result) => result.status === "rejected");
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  }

  append({ keys, args, payload }: AppendRequest): Promise<[number, string]> {
    return this.#client.historyAppend(keys, args, payload) as Promise<[number, string]>;
  }

  /** One script per read (each in its room's slot), all at once; the first answer's time. */
  async read(quadruples: string[]): Promise<[Buffer, ...Buffer[][]]> {
    const reads: Promise<[Buffer, Buffer[]]>[] = [];
    for (let i = 0; i + 3 < quadruples.length; i += 4) {
      const room = quadruples[i];
      reads.push(
        this.#binary.historyReadRoom(
          [this.#names.position(room), this.#names.stream(room)],
          quadruples[i + 1],
          quadruples[i + 2],
          quadruples[i + 3],
        ) as Promise<[Buffer, Buffer[]]>,
      );
    }
    const pages = await Promise.all(reads);
    return [pages[0]?.[0] ?? Buffer.from(String(Date.now())), ...pages.map(([, page]) => page)];
  }

  lost(wanted: Iterable<string>): string[] {
    if (!this.#client.isReady) return [];
    const listened = new Set<string>();
    for (const master of this.#client.masters) {
      for (const channel of this.#listeners(master)?.keys() ?? []) listened.add(channel);
    }
    const lost: string[] = [];
    for (const channel of wanted) if (!listened.has(channel)) lost.push(channel);
    return lost;
  }

  /**
   * node-redis 6.3.1, following a moved channel, puts its listeners on the
   * new owner's subscriber before that SSUBSCRIBE is answered, and leaves
   * them there when it fails: a later SSUBSCRIBE would then see the channel
   * as subscribed and send nothing. Dropping them makes it send one.
   */
  forget(channels: string[]): void {
    for (const master of this.#client.masters) {
      const listeners = this.#listeners(master);
      for (const channel of channels) listeners?.delete(channel);
    }
  }

  #listeners(master: { pubSub?: { client: { getPubSubListeners(type: never): unknown } } }) {
    return master.pubSub?.client.getPubSubListeners("SHARDED" as never) as
      | Map<string, unknown>
      | undefined;
  }

  async close(): Promise<void> {
    await closeClient(this.#client);
    await this.#reconnects.settled();
  }

  // Presence, one room (one slot) per script

  #keys(room: string, node: string): RoomPresenceKeys {
    const names = this.#names;
    return [
      names.presence(room),
      names.presenceCount(room),
      names.roomShare(room, node),
      names.room(room),
    ];
  }

  /** Applies triples room, user, delta: the rooms set first (for a room new to it), then each room. */
  async #deltas(header: string, triples: string[]): Promise<string[]> {
    const rooms = new Map<string, string[]>();
    for (let i = 0; i + 2 < triples.length; i += 3) {
      let pairs = rooms.get(triples[i]);
      if (pairs === undefined) rooms.set(triples[i], pairs = []);
      pairs.push(triples[i + 1], triples[i + 2]);
    }
    await this.#register([...rooms.keys()]);
    const node = this.#node;
    for (const room of rooms.keys()) this.#inFlight.set(room, (this.#inFlight.get(room) ?? 0) + 1);
    const changes = await Promise.all(
      [...rooms].map(([room, pairs]) =>
        this.#client.presenceRoomDeltas(this.#keys(room, node), room, header, pairs)
          .finally(() => {
            const left = this.#inFlight.get(room)! - 1;
            if (left > 0) this.#inFlight.set(room, left);
            else this.#inFlight.delete(room);
          })
      ),
    );
    // A room where this process has no share left leaves its rooms set (so that the set, and
    // what removing this process costs, follow the rooms it is in, not every room it was in),
    // unless a later change of it is on its way (it may have added a share again).
    const emptied: string[] = [];
    for (const [i, room] of [...rooms.keys()].entries()) {
      if (changes[i].length % 3 !== 1) continue;
      changes[i].pop();
      if (this.#inFlight.has(room)) continue;
      emptied.push(room);
      this.#registered.delete(room);
    }
    if (emptied.length > 0) {
      // Sent before any later SADD of these rooms, on the same connection: applied before it.
      this.#client.sRem(this.#names.rooms(node), emptied).catch(() => {});
    }
    return changes.flat();
  }

  /** Adds the rooms the set does not hold yet to this process's rooms set. */
  async #register(rooms: string[]): Promise<void> {
    const fresh = rooms.filter((room) => !this.#registered.has(room));
    if (fresh.length === 0) return;
    await this.#client.sAdd(this.#names.rooms(this.#node), fresh);
    for (const room of fresh) this.#registered.add(room);
  }

  /** Makes Redis hold exactly `entries` (triples room, user, count) as this process's share. */
  async #sync(node: string, leaseMs: number, entries: string[]): Promise<string[]> {
    const client = this.#client;
    const names = this.#names;
    const wanted = new Map<string, string[]>();
    for (let i = 0; i + 2 < entries.length; i += 3) {
      let pairs = wanted.get(entries[i]);
      if (pairs === undefined) wanted.set(entries[i], pairs = []);
      pairs.push(entries[i + 1], entries[i + 2]);
    }
    this.#registered.clear();
    await this.#register([...wanted.keys()]);
    const held = await client.sMembers(names.rooms(node)) as string[];
    const rooms = new Set([...held, ...wanted.keys()]);
    const header = JSON.stringify({ o: node, k: "p" });
    const changes = await Promise.all(
      [...rooms].map((room) =>
        client.presenceRoomSet(this.#keys(room, node), room, header, wanted.get(room) ?? [])
      ),
    );
    const gone = held.filter((room) => !wanted.has(room));
    if (gone.length > 0) await client.sRem(names.rooms(node), gone);
    await client.set(names.lease(node), "1", { PX: leaseMs });
    await client.sAdd(names.nodes(), node);
    return changes.flat();
  }

  /**
   * Removes process `node`'s whole share (this one's when it closes, a dead
   * one's): leave events are published with this process as their origin.
   * Resolves with room, user pairs of the users that left.
   */
  async #drop(node: string): Promise<string[]> {
    const client = this.#client;
    const names = this.#names;
    const rooms = await client.sMembers(names.rooms(node)) as string[];
    const header = JSON.stringify({ o: this.#node, k: "p" });
    const changes = (await Promise.all(
      rooms.map((room) => client.presenceRoomSet(this.#keys(room, node), room, header, [])),
    )).flat();
    await client.del(names.rooms(node));
    await client.del(names.lease(node));
    await client.sRem(names.nodes(), node);
    if (node === this.#node) this.#registered.clear();
    const left: string[] = [];
    for (let i = 0; i + 2 < changes.length; i += 3) left.push(changes[i], changes[i + 1]);
    return left;
  }
}
