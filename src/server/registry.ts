/**
 * The registry: who is connected, and indexes of the connections by user
 * and by room, with presence counts. Each index reports its first-member and
 * last-member transitions, the moments a key gains its first connection or
 * loses its last — what presence and a cross-process backplane act on. Only
 * the scheduler changes it; anyone may read it.
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import type { PresenceEntry, PresenceStats } from "./types.ts";

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

/** What a join changed: the transitions presence and a backplane act on. */
export interface RoomJoin {
  /** The room had no member before: it was created. */
  firstInRoom: boolean;
  /** The connection's user had no connection in the room before (always `false` when anonymous). */
  userJoined: boolean;
}

/** What a leave changed. */
export interface RoomLeave {
  /** The room. */
  room: string;
  /** The room has no member left: it is gone. */
  lastInRoom: boolean;
  /** The connection's user has no connection left in the room (always `false` when anonymous). */
  userLeft: boolean;
}

/**
 * Every live connection, and indexes of them by user and by room, with the
 * count of each user's connections in each room (presence). Every update is
 * O(1); emptied rooms, users and counts are removed, so nothing is left
 * behind.
 */
export class Registry {
  readonly #connections = new Set<Connection>();
  readonly #byUser = new Index<string>();
  readonly #byRoom = new Index<string>();
  /** Connections in at least one room (each keeps its rooms in `roomSet`). */
  #inRooms = 0;
  /** Per room, per identified user, how many of the user's connections are in it. */
  readonly #presence = new Map<string, Map<string, number>>();
  /** Per room, how many identified connections are in it (the sum of `#presence`'s counts). */
  readonly #identified = new Map<string, number>();

  /** How many connections are registered. */
  get size(): number {
    return this.#connections.size;
  }

  /** How many distinct users have at least one connection. */
  get users(): number {
    return this.#byUser.size;
  }

  /** How many rooms have at least one member. */
  get rooms(): number {
    return this.#byRoom.size;
  }

  /** Every registered connection, in the order they registered. */
  connections(): IterableIterator<Connection> {
    return this.#connections.values();
  }

  /** The connections of `user` (empty when none). */
  ofUser(user: string): ReadonlySet<Connection> {
    return this.#byUser.get(user);
  }

  /** The members of `room` (empty when none). */
  inRoom(room: string): ReadonlySet<Connection> {
    return this.#byRoom.get(room);
  }

  /** Every room with at least one member. */
  roomNames(): IterableIterator<string> {
    return this.#byRoom.keys();
  }

  /** The rooms `connection` is in (empty when none). */
  roomsOf(connection: Connection): ReadonlySet<string> {
    return connection.roomSet ?? NO_ROOMS;
  }

  /** The identified users in `room`, with how many connections each has in it. */
  presence(room: string): PresenceEntry[] {
    const users = this.#presence.get(room);
    if (users === undefined) return [];
    return Array.from(users, ([user, connections]) => ({ user, connections }));
  }

  /**
   * How many identified users are in `room`, and how many of their
   * connections: O(1), no list built.
   */
  presenceStats(room: string): PresenceStats {
    return {
      users: this.#presence.get(room)?.size ?? 0,
      connections: this.#identified.get(room) ?? 0,
    };
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
   * Unregisters a connection and takes it out of every room. Returns
   * `undefined` if it was not registered, else whether it was its user's
   * last connection and what each room it left changed.
   */
  delete(connection: Connection): { lastOfUser: boolean; left: RoomLeave[] } | undefined {
    if (!this.#connections.delete(connection)) return undefined;
    const left: RoomLeave[] = [];
    const rooms = connection.roomSet;
    if (rooms !== undefined) {
      for (const room of [...rooms]) left.push(this.leave(connection, room)!);
    }
    const user = connection.user;
    return { lastOfUser: user !== undefined && this.#byUser.delete(user, connection), left };
  }

  /** Puts a registered connection in `room`. Returns `undefined` when it was already a member. */
  join(connection: Connection, room: string): RoomJoin | undefined {
    let rooms = connection.roomSet;
    if (rooms?.has(room)) return undefined;
    if (rooms === undefined) {
      connection.roomSet = rooms = new Set();
      this.#inRooms++;
    }
    rooms.add(room);
    const firstInRoom = this.#byRoom.add(room, connection);
    const user = connection.user;
    if (user === undefined) return { firstInRoom, userJoined: false };
    let users = this.#presence.get(room);
    if (users === undefined) this.#presence.set(room, users = new Map());
    const count = users.get(user) ?? 0;
    users.set(user, count + 1);
    this.#identified.set(room, (this.#identified.get(room) ?? 0) + 1);
    return { firstInRoom, userJoined: count === 0 };
  }

  /** Takes a connection out of `room`. Returns `undefined` when it was not a member. */
  leave(connection: Connection, room: string): RoomLeave | undefined {
    const rooms = connection.roomSet;
    if (rooms === undefined || !rooms.delete(room)) return undefined;
    if (rooms.size === 0) {
      connection.roomSet = undefined;
      this.#inRooms--;
    }
    const lastInRoom = this.#byRoom.delete(room, connection);
    const user = connection.user;
    if (user === undefined) return { room, lastInRoom, userLeft: false };
    const users = this.#presence.get(room)!;
    const identified = this.#identified.get(room)! - 1;
    if (identified > 0) this.#identified.set(room, identified);
    else this.#identified.delete(room);
    const count = users.get(user)! - 1;
    if (count > 0) {
      users.set(user, count);
      return { room, lastInRoom, userLeft: false };
    }
    users.delete(user);
    if (users.size === 0) this.#presence.delete(room);
    return { room, lastInRoom, userLeft: true };
  }

  /** The sizes of every index, for leak tests: all 0 once everyone has left. */
  indexSizes(): Record<string, number> {
    return {
      connections: this.#connections.size,
      users: this.#byUser.size,
      rooms: this.#byRoom.size,
      roomsOf: this.#inRooms,
      presence: this.#presence.size,
      identified: this.#identified.size,
    };
  }
}

const NO_ROOMS: ReadonlySet<string> = new Set();
