/**
 * The names of what `@wshub/hub/redis` keeps in Redis and publishes on it:
 * channels and keys, all under one prefix. `RedisBackplane` and
 * `RedisEmitter` both name things here, so that what an emitter publishes is
 * on the channel a hub listens to. docs/channel-format.md is the contract.
 *
 * @module
 */

import type { BackplaneMessage } from "../server/backplane.ts";

/** The default prefix of every key and channel. */
export const DEFAULT_PREFIX = "wshub";

/**
 * Names under one prefix: `<prefix>:<part>:<part>…`. Room names and user ids
 * go in as they are (a room name never holds a newline; neither needs to be
 * escaped for Redis, whose names are binary-safe).
 *
 * For a Redis Cluster (`cluster` true) the room, the user or the process a
 * name belongs to is a hash tag, `{…}`: a room's channel, stream, position
 * and presence keys hash to one slot, so that each script touches one shard.
 * Names of a single server are unchanged (docs/channel-format.md, version 1).
 *
 * @example
 * ```ts
 * import { Names } from "./names.ts";
 *
 * const names = new Names("wshub");
 * console.log(names.room("news")); // wshub:r:news
 * console.log(names.stream("news")); // wshub:h:news
 * ```
 */
export class Names {
  /** The prefix every name starts with. */
  readonly prefix: string;
  /** Whether names are for a Redis Cluster (hash-tagged). */
  readonly cluster: boolean;

  constructor(prefix: string, cluster = false) {
    this.prefix = prefix;
    this.cluster = cluster;
  }

  /** `name` as a hash tag in cluster mode, as it is on a single server. */
  #tag(name: string): string {
    return this.cluster ? `{${name}}` : name;
  }

  /** Any key or channel: the prefix and the parts, joined by `:`. */
  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(":");
  }

  /** The channel every hub process listens to: broadcasts. */
  broadcast(): string {
    return `${this.prefix}:${this.#tag("b")}`;
  }

  /** A user's channel (messages to the user, disconnections of the user). */
  user(user: string): string {
    return `${this.prefix}:u:${this.#tag(user)}`;
  }

  /** A room's channel (publications, presence events). */
  room(room: string): string {
    return `${this.prefix}:r:${this.#tag(room)}`;
  }

  /** A room's stream position: a hash, `e` (epoch) and `s` (last offset). */
  position(room: string): string {
    return `${this.prefix}:hm:${this.#tag(room)}`;
  }

  /** A room's stream of publications. */
  stream(room: string): string {
    return `${this.prefix}:h:${this.#tag(room)}`;
  }

  /** A room's presence: a hash, user → the cluster's count of the user's connections. */
  presence(room: string): string {
    return `${this.prefix}:p:${this.#tag(room)}`;
  }

  /** A room's count of connections (the sum of its presence hash). */
  presenceCount(room: string): string {
    return `${this.prefix}:pc:${this.#tag(room)}`;
  }

  /** Cluster mode: a process's share in a room, hash user → that process's count. */
  roomShare(room: string, node: string): string {
    return `${this.prefix}:pn:${this.#tag(room)}:${node}`;
  }

  /** A process's share of presence: single server, hash `<room>\0<user>` → count. */
  share(node: string): string {
    return `${this.prefix}:n:${node}:p`;
  }

  /** Cluster mode: the rooms a process may hold a share in, a set. */
  rooms(node: string): string {
    return `${this.prefix}:n:${this.#tag(node)}:rooms`;
  }

  /** A process's lease: it holds presence while this key lives. */
  lease(node: string): string {
    return `${this.prefix}:n:${this.#tag(node)}`;
  }

  /** The set of processes that hold presence. */
  nodes(): string {
    return `${this.prefix}:nodes`;
  }

  /** Who removes a dead process's presence (SET NX). */
  reap(node: string): string {
    return `${this.prefix}:reap:${node}`;
  }

  /** A process's own channel, to measure the round trip through Redis. */
  ping(node: string): string {
    return `${this.prefix}:n:${this.#tag(node)}:ping`;
  }

  /** The channel a message goes out on. */
  channelOf(message: BackplaneMessage): string {
    switch (message.kind) {
      case "broadcast":
        return this.broadcast();
      case "user":
      case "disconnect":
        return this.user(message.user);
      case "room":
        return this.room(message.room);
    }
  }
}

/**
 * Checks a `prefix` option (`owner` names whose): a non-empty string
 * without newlines (nor braces, for a cluster); absent, the default.
 *
 * @throws {TypeError} If it is not one.
 */
export function checkPrefix(owner: string, prefix: unknown, cluster = false): string {
  if (prefix === undefined) return DEFAULT_PREFIX;
  if (typeof prefix !== "string" || prefix === "" || /[\r\n]/.test(prefix)) {
    throw new TypeError(
      `Invalid ${owner} option prefix: ${
        JSON.stringify(prefix)
      }; give a non-empty string without newlines, the same on every process (default "wshub")`,
    );
  }
  if (cluster && /[{}]/.test(prefix)) {
    throw new TypeError(
      `Invalid ${owner} option prefix: ${
        JSON.stringify(prefix)
      }; with cluster, a prefix holds no { or } (names hash-tag rooms, users and processes)`,
    );
  }
  return prefix;
}
