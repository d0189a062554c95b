/**
 * Rooms and presence: joining and leaving (asked by the server, or by a
 * framed client and then authorized), publishing to a room's members, and
 * presence events when a user's first connection joins a room or its last
 * one leaves. The scheduler calls these as it applies its events; the
 * membership itself lives in the {@linkcode Registry}.
 *
 * @module
 */

import {
  encodeJoined,
  encodeLeft,
  encodePresence,
  framedOnly,
  type JoinAnswer,
  type Payload,
  type PresenceEvent,
  roomNameProblem,
  roomPayload,
} from "../protocol/mod.ts";
import type { Backplane } from "./backplane.ts";
import type { Connection } from "./connection.ts";
import { callbackError } from "./dispatch.ts";
import type { Registry, RoomJoin, RoomLeave } from "./registry.ts";

/** Decides whether a client may join a room it asked for; `true` allows. */
export type AuthorizeJoin = (connection: Connection, room: string) => boolean | Promise<boolean>;

/** How rooms behave. */
export interface RoomsOptions {
  /** Decides client-requested joins; absent: every valid join is allowed. */
  authorizeJoin: AuthorizeJoin | undefined;
  /** Rooms one connection may be in. */
  maxRoomsPerConnection: number;
  /** Whether framed members of a room are sent presence events. */
  presenceEvents: (room: string) => boolean;
  /** Told of every presence transition, in every room. */
  onPresence: ((event: PresenceEvent) => void) | undefined;
  /**
   * The bus to the other processes, if any: it is told of every change of
   * this process's rooms (to listen only where needed) and of every local
   * presence change, and it decides the cluster-wide presence transitions.
   */
  backplane: Backplane | undefined;
}

/** What rooms need from the scheduler. */
export interface RoomsHost {
  /** Hands a payload to a connection's writer. */
  deliver(connection: Connection, payload: Payload): void;
  /** An authorized join: queue it, to be applied in order with everything else. */
  authorized(connection: Connection, room: string, id: number): void;
  /**
   * An async `authorizeJoin` settled: queue its verdict (`true`, `false`, or
   * what it threw), to be applied by the scheduler like everything else.
   */
  decided(connection: Connection, room: string, id: number, verdict: boolean | Error): void;
  /** A failing callback. */
  reportError(error: Error, connection: Connection | undefined): void;
}

/** Joins, leaves, publishes and presence, on top of the registry. */
export class Rooms {
  readonly #registry: Registry;
  readonly #options: RoomsOptions;
  readonly #host: RoomsHost;

  constructor(registry: Registry, options: RoomsOptions, host: RoomsHost) {
    this.#registry = registry;
    this.#options = options;
    this.#host = host;
  }

  /**
   * A framed client asked to join `room` (`j`): check the name and the
   * limit, then ask `authorizeJoin`; an allowed join is queued, a refused
   * one answered with an error. The connection is never closed for it.
   */
  request(connection: Connection, id: number, room: string): void {
    const problem = roomNameProblem(room);
    if (problem !== undefined) return this.#refuse(connection, id, room, "invalid_room", problem);
    if (this.#registry.roomsOf(connection).has(room)) {
      return this.#answer(connection, { id, room });
    }
    if (this.#full(connection)) {
      return this.#refuse(
        connection,
        id,
        room,
        "too_many_rooms",
        `this connection is in ${this.#options.maxRoomsPerConnection} rooms, the most allowed`,
      );
    }
    const authorize = this.#options.authorizeJoin;
    if (authorize === undefined) return this.#host.authorized(connection, room, id);
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = authorize(connection, room);
    } catch (error) {
      return this.#failed(connection, id, room, error);
    }
    if (verdict instanceof Promise) {
      verdict.then(
        (allowed) => this.#host.decided(connection, room, id, allowed === true),
        (error) =>
          this.#host.decided(
            connection,
            room,
            id,
            error instanceof Error ? error : new Error(String(error)),
          ),
      );
    } else {
      this.decide(connection, room, id, verdict);
    }
  }

  /** Applies `authorizeJoin`'s verdict on a join a client asked for. */
  decide(connection: Connection, room: string, id: number, verdict: boolean | Error): void {
    if (connection.state !== "open") return;
    if (verdict instanceof Error) return this.#failed(connection, id, room, verdict);
    if (verdict === true) this.#host.authorized(connection, room, id);
    else this.#refuse(connection, id, room, "forbidden", `joining ${room} is not allowed`);
  }

  /**
   * Puts `connection` in `room` (authorized, or asked by the server) and
   * answers it (`J`, with the request's `id` if it asked). Returns `false`
   * when the connection already is in the most rooms allowed.
   */
  join(connection: Connection, room: string, id?: number): boolean {
    if (this.#registry.roomsOf(connection).has(room)) {
      this.#answer(connection, { id, room });
      return true;
    }
    if (this.#full(connection)) {
      if (id !== undefined) {
        this.#refuse(connection, id, room, "too_many_rooms", "too many rooms for this connection");
      }
      return false;
    }
    const change = this.#registry.join(connection, room) as RoomJoin;
    this.#answer(connection, { id, room });
    const backplane = this.#options.backplane;
    if (backplane === undefined) {
      if (change.userJoined) {
        this.presenceEvent({ room, user: connection.user!, event: "join" }, true);
      }
    } else {
      if (change.firstInRoom) backplane.subscribe({ kind: "room", room });
      if (connection.user !== undefined) backplane.presenceChanged(room, connection.user, 1);
    }
    return true;
  }

  /**
   * Takes `connection` out of `room` and answers it (`L`, with the
   * request's `id` if it asked). Returns whether it was a member.
   */
  leave(connection: Connection, room: string, id?: number): boolean {
    const change = this.#registry.leave(connection, room);
    if (change !== undefined || id !== undefined) {
      this.#host.deliver(connection, framedOnly(encodeLeft({ id, room })));
    }
    if (change === undefined) return false;
    this.#left(connection, change);
    return true;
  }

  /** A connection that left the hub left these rooms (no answer: it is gone). */
  departed(connection: Connection, leaves: readonly RoomLeave[]): void {
    for (const change of leaves) this.#left(connection, change);
  }

  /**
   * Queues `message` for every member of `room` but `except`, encoded once
   * for all of them. Returns how many it was queued for.
   */
  publish(room: string, message: Payload, except: Connection | undefined): number {
    const members = this.#registry.inRoom(room);
    if (members.size === 0) return 0;
    const payload = roomPayload(room, message);
    let count = 0;
    for (const connection of members) {
      if (connection === except) continue;
      this.#host.deliver(connection, payload);
      count++;
    }
    return count;
  }

  #left(connection: Connection, change: RoomLeave): void {
    const backplane = this.#options.backplane;
    if (backplane === undefined) {
      if (change.userLeft) {
        this.presenceEvent({ room: change.room, user: connection.user!, event: "leave" }, true);
      }
      return;
    }
    if (change.lastInRoom) backplane.unsubscribe({ kind: "room", room: change.room });
    if (connection.user !== undefined) backplane.presenceChanged(change.room, connection.user, -1);
  }

  /**
   * A presence transition (this process's own, or the cluster's through the
   * backplane): framed members of the room are told when the room has
   * presence events on, and `onPresence` hears it where it originated.
   */
  presenceEvent(event: PresenceEvent, origin: boolean): void {
    const onPresence = this.#options.onPresence;
    if (origin && onPresence !== undefined) {
      try {
        onPresence(event);
      } catch (error) {
        this.#host.reportError(callbackError("onPresence", error), undefined);
      }
    }
    if (!this.#options.presenceEvents(event.room)) return;
    const payload = framedOnly(encodePresence(event));
    for (const member of this.#registry.inRoom(event.room)) {
      if (member.framed) this.#host.deliver(member, payload);
    }
  }

  #full(connection: Connection): boolean {
    return this.#registry.roomsOf(connection).size >= this.#options.maxRoomsPerConnection;
  }

  #failed(connection: Connection, id: number, room: string, error: unknown): void {
    this.#host.reportError(callbackError("authorizeJoin", error), connection);
    if (connection.state !== "open") return;
    this.#refuse(connection, id, room, "failed", "the server could not decide; try again later");
  }

  #refuse(connection: Connection, id: number, room: string, error: string, message: string): void {
    this.#answer(connection, { id, room, error, message });
  }

  #answer(connection: Connection, answer: JoinAnswer): void {
    if (connection.framed) this.#host.deliver(connection, framedOnly(encodeJoined(answer)));
  }
}
