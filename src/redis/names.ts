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

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** Any key or channel: the prefix and the parts, joined by `:`. */
  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(":");
  }

  /** The channel every hub process listens to: broadcasts. */
  broadcast(): string {
    return `${this.prefix}:b`;
  }

  /** A user's channel (messages to the user, disconnections of the user). */
  user(user: string): string {
    return `${this.prefix}:u:${user}`;
  }

  /** A room's channel (publications, presence events). */
  room(room: string): string {
    return `${this.prefix}:r:${room}`;
  }

  /** A room's stream position: a hash, `e` (epoch) and `s` (last offset). */
  position(room: string): string {
    return `${this.prefix}:hm:${room}`;
  }

  /** A room's stream of publications. */
  stream(room: string): string {
    return `${this.prefix}:h:${room}`;
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
 * without newlines; absent, the default.
 *
 * @throws {TypeError} If it is not one.
 */
export function checkPrefix(owner: string, prefix: unknown): string {
  if (prefix === undefined) return DEFAULT_PREFIX;
  if (typeof prefix !== "string" || prefix === "" || /[\r\n]/.test(prefix)) {
    throw new TypeError(
      `Invalid ${owner} option prefix: ${
        JSON.stringify(prefix)
      }; give a non-empty string without newlines, the same on every process (default "wshub")`,
    );
  }
  return prefix;
}
