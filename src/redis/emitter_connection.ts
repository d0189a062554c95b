/**
 * What a `RedisEmitter` needs from Redis — publish a message, run the
 * history append script, report where its connection is — and the two ways
 * to get it: a single Redis server over one node-redis connection
 * ({@linkcode SingleServer}), or a Redis Cluster through a node-redis
 * cluster client, on sharded channels ({@linkcode ClusterServers}); the
 * emitter itself does not change.
 *
 * @module
 */

import { createClient, createCluster } from "@redis/client";
import { asBuffer } from "./bytes.ts";
import { closeClient, Reconnects } from "./connection.ts";
import type { AppendRequest } from "./redis_history.ts";
import { HISTORY_APPEND, scripts } from "./scripts.ts";
import { CLUSTER_HISTORY_APPEND } from "./cluster_scripts.ts";
import { clusterOptions } from "./cluster_connection.ts";

/** Where an emitter's connection to Redis is. */
export type EmitterStatus = "connecting" | "up" | "down" | "closed";

/**
 * A way to reach the Redis that the hubs share. Calls are only made while
 * `status` is `up`; they go out in the order they are made.
 */
export interface EmitterConnection {
  /** Where the connection is. */
  readonly status: EmitterStatus;
  /** PUBLISHes `message` on `channel`; resolves with how many subscribers Redis handed it to. */
  publish(channel: string, message: Uint8Array): Promise<number>;
  /** Runs the append script; resolves with the offset, the epoch, and the subscribers reached. */
  append(request: AppendRequest): Promise<[offset: number, epoch: string, receivers: number]>;
  /** Disconnects for good (calls waiting for Redis reject). */
  close(): Promise<void>;
}

/** How to connect, for every kind of connection. */
export interface ConnectionSettings {
  /** How long a connection attempt and each call's answer may take, in ms. */
  timeout: number;
  /** Calls waiting for Redis's answer, at most: past it a call fails at once. */
  maxPending: number;
  /** Told of every status change (with the error when it goes down). */
  status(status: EmitterStatus, error?: Error): void;
}

/**
 * One Redis server: one connection, which node-redis reconnects by itself.
 * It is `up` once connected and the append script is loaded (so that a
 * script call never falls back from EVALSHA to EVAL, which would let a
 * later call overtake it), and `down` from the moment it is lost until
 * both are true again.
 */
export class SingleServer implements EmitterConnection {
  readonly #client;
  readonly #life: Lifecycle;

  constructor(url: string, settings: ConnectionSettings) {
    const life = this.#life = new Lifecycle(settings);
    this.#client = createClient({
      url,
      maintNotifications: "disabled",
      // While Redis is down a call fails at once rather than waiting in memory.
      disableOfflineQueue: true,
      commandOptions: { timeout: settings.timeout },
      commandsQueueMaxLength: settings.maxPending,
      socket: { connectTimeout: settings.timeout, reconnectStrategy: life.reconnects.strategy },
      scripts,
    });
    this.#client.on("error", (error: Error) => life.set("down", error));
    this.#client.on("ready", () => void this.#loadScript());
    this.#client.connect().catch(() => {});
  }

  get status(): EmitterStatus {
    return this.#life.status;
  }

  publish(channel: string, message: Uint8Array): Promise<number> {
    return this.#client.publish(channel, asBuffer(message));
  }

  append(request: AppendRequest): Promise<[number, string, number]> {
    return this.#client.historyAppend(request.keys, request.args, request.payload) as Promise<
      [number, string, number]
    >;
  }

  close(): Promise<void> {
    return this.#life.close(this.#client);
  }

  async #loadScript(): Promise<void> {
    try {
      await this.#client.scriptLoad(HISTORY_APPEND);
    } catch (error) {
      // A lost connection says so itself; anything else (an ACL without SCRIPT) would keep the
      // emitter down for good: say why.
      if (this.#client.isReady) this.#life.refused(error);
      return;
    }
    if (this.#client.isReady) this.#life.set("up");
  }
}

/** What both ways share: the status, the reconnects, and closing. */
class Lifecycle {
  readonly reconnects = new Reconnects();
  readonly #settings: ConnectionSettings;
  #status: EmitterStatus = "connecting";

  constructor(settings: ConnectionSettings) {
    this.#settings = settings;
  }

  get status(): EmitterStatus {
    return this.#status;
  }

  set(status: EmitterStatus, error?: Error): void {
    if (this.#status === "closed" || status === this.#status) return;
    this.#status = status;
    this.#settings.status(status, error);
  }

  /** Redis refused the append script: down, saying why. */
  refused(error: unknown): void {
    this.set(
      "down",
      new Error(`Redis refused to load the history script: ${(error as Error).message}`),
    );
  }

  async close(client: Parameters<typeof closeClient>[0]): Promise<void> {
    if (this.#status === "closed") return;
    this.set("closed");
    // Answered calls first, but not forever: a Redis that stopped answering is cut.
    await closeClient(client, this.#settings.timeout);
    await this.reconnects.settled();
  }
}

/**
 * A Redis Cluster: one node-redis cluster client, which keeps a connection
 * to each master. Messages go out with SPUBLISH on the channels a
 * cluster-mode backplane subscribes to, the append script runs on the
 * room's shard. It is `up` once the cluster's slots are known and the
 * append script is loaded on every master (again whenever a node
 * connects, a new master after a failover included); a call to a shard
 * that is failing over rejects by itself meanwhile, the others go on.
 * Calls on one channel keep their order (one connection per shard); calls
 * on channels of different shards have none between them.
 */
export class ClusterServers implements EmitterConnection {
  readonly #client;
  readonly #life: Lifecycle;

  constructor(seeds: string[], settings: ConnectionSettings) {
    const life = this.#life = new Lifecycle(settings);
    const options = clusterOptions(seeds, life.reconnects, settings.timeout);
    this.#client = createCluster({
      ...options,
      defaults: { ...options.defaults, commandsQueueMaxLength: settings.maxPending },
    });
    this.#client.on("error", (error: Error) => {
      if (!this.#client.isReady) life.set("down", error);
    });
    this.#client.on("node-ready", () => void this.#loadScript());
    this.#client.connect().then(() => this.#loadScript(), () => {});
  }

  get status(): EmitterStatus {
    return this.#life.status;
  }

  publish(channel: string, message: Uint8Array): Promise<number> {
    return this.#client.sPublish(channel, asBuffer(message));
  }

  append(request: AppendRequest): Promise<[number, string, number]> {
    return this.#client.historyAppend(request.keys, request.args, request.payload) as Promise<
      [number, string, number]
    >;
  }

  close(): Promise<void> {
    return this.#life.close(this.#client);
  }

  async #loadScript(): Promise<void> {
    if (!this.#client.isReady) return;
    try {
      await Promise.all(
        this.#client.masters.map(async (master) =>
          (await this.#client.nodeClient(master)).scriptLoad(CLUSTER_HISTORY_APPEND)
        ),
      );
    } catch (error) {
      // A master failing over loads it when it is back (node-ready); until then its calls fail.
      if (this.#life.status === "connecting") this.#life.refused(error);
      return;
    }
    if (this.#client.isReady) this.#life.set("up");
  }
}
