/**
 * The registry: who is connected, and which connections each user holds.
 * Only the scheduler changes it; anyone may read it.
 *
 * @module
 */

import type { Connection } from "./connection.ts";

/** Every live connection, and an index of them by user. */
export class Registry {
  readonly #connections = new Set<Connection>();
  readonly #byUser = new Map<string, Set<Connection>>();

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
    return this.#byUser.get(user) ?? EMPTY;
  }

  /** Whether `connection` is registered. */
  has(connection: Connection): boolean {
    return this.#connections.has(connection);
  }

  /** Registers a connection. */
  add(connection: Connection): void {
    this.#connections.add(connection);
    const user = connection.user;
    if (user === undefined) return;
    let set = this.#byUser.get(user);
    if (set === undefined) {
      set = new Set();
      this.#byUser.set(user, set);
    }
    set.add(connection);
  }

  /** Unregisters a connection; a user left with none is removed from the index. */
  delete(connection: Connection): boolean {
    if (!this.#connections.delete(connection)) return false;
    const user = connection.user;
    if (user !== undefined) {
      const set = this.#byUser.get(user);
      if (set !== undefined) {
        set.delete(connection);
        if (set.size === 0) this.#byUser.delete(user);
      }
    }
    return true;
  }
}

const EMPTY: ReadonlySet<Connection> = new Set();
