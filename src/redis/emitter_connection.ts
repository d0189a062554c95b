/**
 * What a `RedisEmitter` needs from Redis — publish a message, run the
 * history append script, report where its connection is — and the one way
 * to get it today: a single Redis server over one node-redis connection.
 * A Redis Cluster will be a second {@linkcode EmitterConnection} (sharded
 * channels, a client per shard); the emitter itself does not change.
 *
 * @module
 */

import { createClient } from "@redis/client";
import { asBuffer } from "./bytes.ts";
import { closeClient, Reconnects } from "./connection.ts";
import type { AppendRequest } from "./redis_history.ts";
import { HISTORY_APPEND, scripts } from "./scripts.ts";

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
  readonly #settings: ConnectionSettings;
  readonly #reconnects = new Reconnects();
  #status: EmitterStatus = "connecting";

  constructor(url: string, settings: ConnectionSettings) {
    this.#settings = settings;
    this.#client = createClient({
      url,
      maintNotifications: "disabled",
      // While Redis is down a call fails at once rather than waiting in memory.
      disableOfflineQueue: true,
      commandOptions: { timeout: settings.timeout },
      commandsQueueMaxLength: settings.maxPending,
      socket: { connectTimeout: settings.timeout, reconnectStrategy: this.#reconnects.strategy },
      scripts,
    });
    this.#client.on("error", (error: Error) => this.#set("down", error));
    this.#client.on("ready", () => void this.#loadScript());
    this.#client.connect().catch(() => {});
  }

  get status(): EmitterStatus {
    return this.#status;
  }

  publish(channel: string, message: Uint8Array): Promise<number> {
    return this.#client.publish(channel, asBuffer(message));
  }

  append(request: AppendRequest): Promise<[number, string, number]> {
    return this.#client.historyAppend(request.keys, request.args, request.payload) as Promise<
      [number, string, number]
    >;
  }

  async close(): Promise<void> {
    if (this.#status === "closed") return;
    this.#set("closed");
    // Answered calls first, but not forever: a Redis that stopped answering is cut.
    await closeClient(this.#client, this.#settings.timeout);
    await this.#reconnects.settled();
  }

  async #loadScript(): Promise<void> {
    try {
      await this.#client.scriptLoad(HISTORY_APPEND);
    } catch (error) {
      // A lost connection says so itself; anything else (an ACL without SCRIPT) would keep the
      // emitter down for good: say why.
      if (this.#client.isReady) {
        this.#set(
          "down",
          new Error(`Redis refused to load the history script: ${(error as Error).message}`),
        );
      }
      return;
    }
    if (this.#client.isReady) this.#set("up");
  }

  #set(status: EmitterStatus, error?: Error): void {
    if (this.#status === "closed" || status === this.#status) return;
    this.#status = status;
    this.#settings.status(status, error);
  }
}
