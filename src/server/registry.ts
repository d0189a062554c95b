/**
 * The registry: who is connected, and indexes of the connections by key
 * (by user today). Each index reports its first-member and last-member
 * transitions, the moments a key gains its first connection or loses its
 * last — what presence and a cross-process backplane act on. Only the
 * scheduler changes it; anyone may read it.
 *
 * @module
 */

import type { Connection } from "./connection.ts";

const EMPTY: ReadonlySet<Connection> = new Set();

/**
 * Connections grouped by key. A key exists only while it has members: an
 * emptied key is removed, so nothing is left behind.
 *
 * @typeParam K The key (a user id, a room name).
 */
export class Index<K> {
  readonly #members = new Map<K, Set<Connection>>();

  /** How many keys have at least one member. */
  get size(): number {
    return this.#members.size;
  }

  /** The members of `key` (empty when none). */
  get(key: K): ReadonlySet<Connection> {
    return this.#members.get(key) ?? EMPTY;
  }

  /** Every key with at least one member. */
  keys(): IterableIterator<K> {
    return this.#members.keys();
  }

  /**
   * Adds `connection` to `key`. Returns `true` when it is the key's first
   * member (the key was created); adding a member twice changes nothing and
   * returns `false`.
   */
  add(key: K, connection: Connection): boolean {
    const set = this.#members.get(key);
    if (set === undefined) {
      this.#members.set(key, new Set([connection]));
      return true;
    }
    set.add(connection);
    return false;
  }

  /**
   * Removes `connection` from `key`. Returns `true` when it was the key's
   * last member (the key was removed); removing a non-member returns `false`.
   */
  delete(key: K, connection: Connection): boolean {
    const set = this.#members.get(key);
    if (set === undefined || !set.delete(connection)) return false;
    if (set.size > 0) return false;
    this.#members.delete(key);
    return true;
  }
}

/** Every live connection, and the index of them by user. */
export class Registry {
  readonly #connections = new Set<Connection>();
  readonly #byUser = new Index<string>();

  /** How many connections are registered. */
  get size(): number {
    return this.#connections.size;
  }

  /** How many distinct users have at least one connection. */
  get users(): number {
    return this.#byUser.size;
  }

  /** Every registered connection, in the order they registered. */
  connections(): IterableIterator<Connection> {
    return this.#connections.values();
  }

  /** The connections of `user` (empty when none). */
  ofUser(user: string): ReadonlySet<Connection> {
    return this.#byUser.get(user);
  }

  /** Whether `connection` is registered. */
  has(connection: Connection): boolean {
    return this.#connections.has(connection);
  }

  /**
   * Registers a connection. Returns `true` when it is its user's first
   * connection (always `false` for anonymous ones).
   */
  add(connection: Connection): boolean {
    this.#connections.add(connection);
    const user = connection.user;
    return user !== undefined && this.#byUser.add(user, connection);
  }

  /**
   * Unregisters a connection. Returns `undefined` if it was not registered,
   * else whether it was its user's last connection (the user is then gone
   * from the index).
   */
  delete(connection: Connection): { lastOfUser: boolean } | undefined {
    if (!this.#connections.delete(connection)) return undefined;
    const user = connection.user;
    return { lastOfUser: user !== undefined && this.#byUser.delete(user, connection) };
  }
}
