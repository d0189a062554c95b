/**
 * Rooms and presence: joining and leaving (asked by the server, or by a
 * framed client and then authorized, within its budget of room changes),
 * publishing to a room's members, recoveries (within the connection's
 * recovery budget), and presence transitions when a user's first connection
 * joins a room or its last one leaves (told to members by
 * {@linkcode Presence}). The scheduler calls these as it applies its events;
 * the membership itself lives in the {@linkcode Registry}.
 *
 * @module
 */

import {
  encodeJoined,
  encodeLeft,
  encodePresenceAnswer,
  framedOnly,
  type JoinAnswer,
  Payload,
  type PresenceAnswer,
  type PresenceEvent,
  roomNameProblem,
  roomPayload,
} from "../protocol/mod.ts";
import { type Backplane, backplanePresenceStats } from "./backplane.ts";
import {
  type HistoryOptions,
  type HistoryReadOptions,
  type HistoryStore,
  MemoryHistory,
  type Position,
  RECOVERY_OUTCOMES,
  type RecoveryFailure,
  recoveryVerdict,
  type StoredPage,
} from "./history.ts";
import type { Connection } from "./connection.ts";
import type { Delivery } from "./delivery.ts";
import type { Dispatcher } from "./dispatch.ts";
import { callbackError, type Report } from "./errors.ts";
import type { JoinAsk, Push } from "./events.ts";
import type { Presence } from "./presence.ts";
import { TokenBucket } from "./rate_limit.ts";
import type { Registry, RoomJoin, RoomLeave } from "./registry.ts";
import type { Counters } from "./stats.ts";
import type { PresenceStats } from "./types.ts";
import type { Tap } from "./tap.ts";

/** Decides whether a client may join a room it asked for; `true` allows. */
export type AuthorizeJoin = (connection: Connection, room: string) => boolean | Promise<boolean>;

/** How rooms behave. */
export interface RoomsOptions {
  /** Decides client-requested joins; absent: every valid join is allowed. */
  authorizeJoin: AuthorizeJoin | undefined;
  /** Rooms one connection may be in. */
  maxRoomsPerConnection: number;
  /** Told of every presence transition, in every room. */
  onPresence: ((event: PresenceEvent) => void) | undefined;
  /**
   * The bus to the other processes, if any: it is told of every change of
   * this process's rooms (to listen only where needed) and of every local
   * presence change, and it decides the cluster-wide presence transitions.
   */
  backplane: Backplane | undefined;
  /** Which rooms keep history, and how much. */
  history: (room: string) => HistoryOptions | undefined;
  /** Where streams are kept: this process, or the backplane's bus. */
  store: HistoryStore;
  /** The most publications sent to one client recovering after a reconnect. */
  maxRecover: number;
  /** Joins and leaves a client may ask for per second, after its burst. */
  roomChangesPerSecond: number;
  /** Joins and leaves a client may ask for at once. */
  roomChangeBurst: number;
  /** Publications one connection may recover at once (refilled at a tenth of it a second). */
  recoveryBudget: number;
}

/**
 * What rooms act through: delivery (answers, publications), the dispatcher
 * (a join being decided holds the client's next messages back), the loop
 * (async verdicts and reads come back as events), the error report.
 */
export interface RoomsParts {
  delivery: Delivery;
  dispatcher: Dispatcher;
  presence: Presence;
  counters: Counters;
  push: Push;
  report: Report;
  /** Told of joins, leaves, refused joins and publications while an inspector listens. */
  tap: Tap;
}

/** A publication of this process waiting for its copy from the backplane. */
interface OwnPublication {
  room: string;
  message: Payload;
  except: Connection | undefined;
  done: (count: number, position?: Position) => void;
}

/**
 * A frame for a member whose join is reading the room's stream, held until
 * the read is done: a publication (with its position, when it has one), or
 * the notice that it was left out of one (`skip`).
 */
interface Waiting {
  payload: Payload;
  /** The publication's offset (0: none). */
  offset: number;
  /** The publication's epoch (`undefined`: none). */
  epoch: string | undefined;
}

/** Joins, leaves, publishes and presence, on top of the registry. */
export class Rooms {
  readonly #registry: Registry;
  readonly #options: RoomsOptions;
  readonly #parts: RoomsParts;
  /**
   * Connections joining a room whose history is being read: what is
   * published to the room meanwhile waits here, to follow what they missed.
   */
  readonly #recovering = new Map<Connection, Map<string, Waiting[]>>();
  /** The epoch last sent to the members of each room with history and members here. */
  readonly #epochs = new Map<string, string>();
  /** The highest offset delivered to each room's members here (in its epoch in `#epochs`). */
  readonly #high = new Map<string, number>();
  /**
   * Members whose join was answered from a stream read ahead of what this
   * process has delivered live (the read saw publications still on their way
   * here): the live copies up to that position are not sent to them again.
   */
  readonly #ahead = new Map<Connection, Map<string, Position>>();
  /**
   * This process's publications to rooms whose stream the backplane keeps,
   * by `ref`, until their copy comes back through the backplane (then they
   * are delivered here, in the stream's order) or the append fails.
   */
  readonly #own = new Map<number, OwnPublication>();
  #nextRef = 0;
  /** When the streams in memory were last pruned (see `upkeep`). */
  #prunedAt = 0;
  /** Recoveries asked for (joins with `since`), by outcome. */
  readonly recoveries: Record<"recovered" | RecoveryFailure, number> = Object.fromEntries(
    RECOVERY_OUTCOMES.map((outcome) => [outcome, 0]),
  ) as Record<"recovered" | RecoveryFailure, number>;

  constructor(registry: Registry, options: RoomsOptions, parts: RoomsParts) {
    this.#registry = registry;
    this.#options = options;
    this.#parts = parts;
  }

  /**
   * A framed client asked to join `room` (`j`): check the name and the
   * limit, then ask `authorizeJoin`; an allowed join is applied, a refused
   * one answered with an error. The connection is never closed for it.
   * Whatever the client sent after the request is handled after the join:
   * at once when `authorizeJoin` answers at once, else its messages are held
   * back until it settles.
   */
  request(connection: Connection, id: number, room: string, ask: JoinAsk = {}): void {
    const problem = roomNameProblem(room);
    if (problem !== undefined) return this.#refuse(connection, id, room, "invalid_room", problem);
    if (this.#registry.roomsOf(connection).has(room)) {
      return void this.join(connection, room, id, ask); // a member asking again: recovery only
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
    const changes = this.#budgets(connection).roomChanges;
    const now = performance.now();
    if (!changes.take(1, now)) {
      this.#parts.counters.roomChangesRefused++;
      const { roomChangeBurst, roomChangesPerSecond } = this.#options;
      const retryAfter = Math.ceil(Math.min(changes.wait(1, now), 3_600_000));
      return this.#answer(connection, {
        id,
        room,
        error: "rate_limited",
        message: `this connection joined or left rooms more than ${roomChangeBurst} times at ` +
          `once or ${roomChangesPerSecond} a second; join again in ${retryAfter} ms`,
        retryAfter,
      });
    }
    const authorize = this.#options.authorizeJoin;
    if (authorize === undefined) return void this.join(connection, room, id, ask);
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = authorize(connection, room);
    } catch (error) {
      return this.#failed(connection, id, room, error);
    }
    if (verdict instanceof Promise) {
      this.#parts.dispatcher.hold(connection);
      const decided = (verdict: boolean | Error) =>
        void this.#parts.push({ type: "joinDecided", connection, room, id, verdict, ask });
      verdict.then(
        (allowed) => decided(allowed === true),
        (error) => decided(error instanceof Error ? error : new Error(String(error))),
      );
    } else {
      this.decide(connection, room, id, verdict, ask);
    }
  }

  /** Applies `authorizeJoin`'s verdict on a join a client asked for. */
  decide(
    connection: Connection,
    room: string,
    id: number,
    verdict: boolean | Error,
    ask: JoinAsk = {},
  ): void {
    if (connection.state !== "open") return;
    if (verdict instanceof Error) return this.#failed(connection, id, room, verdict);
    if (verdict === true) this.join(connection, room, id, ask);
    else this.#refuse(connection, id, room, "forbidden", `joining ${room} is not allowed`);
  }

  /**
   * Puts `connection` in `room` (authorized, or asked by the server) and
   * answers it (`J`, with the request's `id` if it asked; with the room's
   * position when it keeps history). With `ask.since`, the publications
   * missed after that position follow the answer, before anything newer;
   * with `ask.history`, the room's last ones. Returns `false` when the
   * connection already is in the most rooms allowed.
   */
  join(connection: Connection, room: string, id?: number, ask: JoinAsk = {}): boolean {
    const member = this.#registry.roomsOf(connection).has(room);
    if (!member && this.#full(connection)) {
      if (id !== undefined) {
        this.#refuse(connection, id, room, "too_many_rooms", "too many rooms for this connection");
      }
      return false;
    }
    const change = member ? undefined : this.#registry.join(connection, room) as RoomJoin;
    if (change !== undefined) {
      this.#parts.presence.joined(connection, room, ask.presence ?? "events");
    }
    const backplane = this.#options.backplane;
    // Subscribed before the stream is read: what is published after the read comes on the channel.
    if (change?.firstInRoom && backplane !== undefined) backplane.subscribe({ kind: "room", room });
    this.#welcome(connection, room, id, ask);
    if (change === undefined) return true;
    if (this.#parts.tap.on) this.#tapped("join", connection, room);
    if (backplane === undefined) {
      if (change.userJoined) {
        this.presenceEvent({ room, user: connection.user!, event: "join" }, true);
      }
    } else if (connection.user !== undefined) {
      backplane.presenceChanged(room, connection.user, 1);
    }
    return true;
  }

  /** Answers a join: at once for a room without history, after reading its stream otherwise. */
  #welcome(connection: Connection, room: string, id: number | undefined, ask: JoinAsk): void {
    const since = ask.since;
    const history = this.#historyOf(room);
    if (history === undefined || !connection.framed) {
      if (since === undefined) return this.#answer(connection, { id, room });
      this.#counted("no_history");
      return this.#answer(connection, { id, room, recovered: false, reason: "no_history" });
    }
    if (
      (since !== undefined || ask.history !== undefined) &&
      this.#budgets(connection).recoveries.wait(1, performance.now()) > 0
    ) {
      // The connection spent its recovery budget: the room's position only, and the client is
      // told it was not recovered.
      if (since !== undefined) this.#counted("rate_limited");
      return this.#read(connection, room, id, { failed: "rate_limited" }, { limit: 0 });
    }
    // A recovery reads what was missed (one more than sent, to tell "too many"); a join with
    // history the room's last ones, at most maxRecover; any other join only the position.
    const limit = since !== undefined
      ? this.#options.maxRecover + 1
      : Math.min(ask.history ?? 0, this.#options.maxRecover);
    this.#read(connection, room, id, ask, { since, limit });
  }

  /** Reads the room's stream for a join; `welcomed` answers when the page is there. */
  #read(
    connection: Connection,
    room: string,
    id: number | undefined,
    ask: JoinAsk,
    options: HistoryReadOptions,
  ): void {
    let reading: StoredPage | Promise<StoredPage>;
    try {
      reading = this.#options.store.read(room, options);
    } catch {
      return this.welcomed(connection, room, id, ask, undefined);
    }
    if (!(reading instanceof Promise)) {
      return this.welcomed(connection, room, id, ask, reading);
    }
    // Meanwhile the client is a member: what is published now waits behind what it missed.
    let rooms = this.#recovering.get(connection);
    if (rooms === undefined) this.#recovering.set(connection, rooms = new Map());
    if (!rooms.has(room)) rooms.set(room, []);
    const read = (page: StoredPage | undefined) =>
      void this.#parts.push({ type: "historyRead", connection, room, id, ask, page });
    reading.then(read, () => read(undefined));
  }

  /**
   * The room's stream was read for a join: answer with its position (and,
   * with `since`, whether the client missed nothing), send the publications
   * missed (or, with `history`, the last ones), then what was published while
   * reading, without duplicates. A recovery that fails for a join that also
   * asked for `history` falls back to the room's last publications: one more
   * read, then one answer (`recovered: false`, the reason, and the offset
   * before the first of them).
   */
  welcomed(
    connection: Connection,
    room: string,
    id: number | undefined,
    ask: JoinAsk,
    page: StoredPage | undefined,
  ): void {
    const since = ask.since;
    if (connection.state !== "open" || !this.#registry.roomsOf(connection).has(room)) {
      this.#takeWaiting(connection, room);
      return;
    }
    if (page === undefined) {
      // The store failed (its bus is down): the client is told it may have missed some.
      const waiting = this.#takeWaiting(connection, room);
      const reason = ask.failed ?? (since === undefined ? undefined : "unavailable");
      if (since !== undefined) this.#counted("unavailable");
      const failed = reason === undefined ? {} : { recovered: false, reason };
      this.#answer(connection, { id, room, ...failed });
      for (const { payload } of waiting) this.#parts.delivery.deliver(connection, payload);
      return;
    }
    let verdict: ReturnType<typeof recoveryVerdict> | undefined;
    if (since !== undefined) {
      verdict = recoveryVerdict(since, page, this.#options.maxRecover);
      this.#counted(verdict.recovered ? "recovered" : verdict.reason);
      if (!verdict.recovered && ask.history !== undefined) {
        const limit = Math.min(ask.history, this.#options.maxRecover);
        return this.#read(connection, room, id, { history: ask.history, failed: verdict.reason }, {
          limit,
        });
      }
    }
    const waiting = this.#takeWaiting(connection, room);
    const answer: JoinAnswer = { id, room, epoch: page.epoch, offset: page.offset };
    let last = page.offset;
    let missed = page.publications;
    if (verdict !== undefined) {
      answer.recovered = verdict.recovered;
      if (verdict.recovered) last = missed.at(-1)?.offset ?? since!.offset;
      else {
        answer.reason = verdict.reason;
        missed = [];
      }
    } else if (ask.history !== undefined) {
      // The last ones: the client counts from just before the first of them.
      if (missed.length > 0) answer.offset = missed[0].offset - 1;
      if (ask.failed !== undefined) {
        answer.recovered = false;
        answer.reason = ask.failed;
      }
    } else {
      missed = [];
      if (ask.failed !== undefined) {
        // Refused by the recovery budget: the position, and nothing sent.
        answer.recovered = false;
        answer.reason = ask.failed;
      }
    }
    if (since !== undefined || ask.history !== undefined) {
      this.#budgets(connection).recoveries.charge(missed.length, performance.now());
    }
    if (page.epoch !== "" && !this.#epochs.has(room)) this.#epochs.set(room, page.epoch);
    this.#answer(connection, answer);
    for (const publication of missed) {
      const message = new Payload(publication.data, { json: publication.json });
      this.#parts.delivery.deliver(
        connection,
        roomPayload(room, message, String(publication.offset)),
      );
    }
    // What was published while the stream was read: only what the read did not return. A
    // publication of another epoch (the stream started again meanwhile) is announced first, as
    // `deliver` announces it to the other members.
    let epoch = page.epoch;
    for (const { payload, offset, epoch: its } of waiting) {
      if (its !== undefined && its !== epoch) {
        epoch = its;
        last = offset - 1;
        this.#parts.delivery.deliver(
          connection,
          framedOnly(encodeJoined({ room, epoch, offset: last })),
        );
      }
      if (offset === 0) this.#parts.delivery.deliver(connection, payload);
      else if (offset > last) {
        last = offset;
        this.#parts.delivery.deliver(connection, payload);
      }
    }
    // The read may have seen publications not delivered here yet: their live copies, when they
    // come, are not for this member.
    if (
      epoch !== "" && !(this.#epochs.get(room) === epoch && (this.#high.get(room) ?? 0) >= last)
    ) {
      let rooms = this.#ahead.get(connection);
      if (rooms === undefined) this.#ahead.set(connection, rooms = new Map());
      rooms.set(room, { epoch, offset: last });
    }
  }

  /**
   * The room's history options. A `history` function that throws or
   * returns invalid options is reported, and the room keeps no history.
   */
  #historyOf(room: string): HistoryOptions | undefined {
    try {
      return this.#options.history(room);
    } catch (error) {
      this.#parts.report(callbackError("history", error), undefined);
      return undefined;
    }
  }

  #counted(outcome: "recovered" | RecoveryFailure): void {
    this.recoveries[outcome]++;
  }

  #takeWaiting(connection: Connection, room: string): Waiting[] {
    const rooms = this.#recovering.get(connection);
    const waiting = rooms?.get(room);
    if (rooms === undefined || waiting === undefined) return [];
    rooms.delete(room);
    if (rooms.size === 0) this.#recovering.delete(connection);
    return waiting;
  }

  /**
   * Takes `connection` out of `room` and answers it (`L`, with the
   * request's `id` if it asked). Returns whether it was a member.
   */
  leave(connection: Connection, room: string, id?: number): boolean {
    const change = this.#registry.leave(connection, room);
    if (change !== undefined || id !== undefined) {
      this.#parts.delivery.deliver(connection, framedOnly(encodeLeft({ id, room })));
    }
    if (change === undefined) return false;
    if (this.#parts.tap.on) this.#tapped("leave", connection, room);
    // A leave the client asked for counts against its room changes, but is never refused.
    if (id !== undefined) this.#budgets(connection).roomChanges.take(1, performance.now());
    this.#left(connection, change);
    return true;
  }

  /** A connection that left the hub left these rooms (no answer: it is gone). */
  departed(connection: Connection, leaves: readonly RoomLeave[]): void {
    this.#recovering.delete(connection);
    for (const change of leaves) this.#left(connection, change);
    this.#parts.presence.departed(connection);
  }

  /** The connection's budgets of room changes and recoveries, made on first use. */
  #budgets(connection: Connection): NonNullable<Connection["budgets"]> {
    if (connection.budgets !== undefined) return connection.budgets;
    const now = performance.now();
    const { roomChangeBurst, roomChangesPerSecond, recoveryBudget } = this.#options;
    return connection.budgets = {
      roomChanges: new TokenBucket(roomChangeBurst, roomChangesPerSecond / 1000, now),
      recoveries: new TokenBucket(recoveryBudget, recoveryBudget / 10_000, now),
    };
  }

  /**
   * Queues `message` for every member of `room` but `except`, encoded once
   * for all of them, and calls `done` with how many it was queued for (and
   * its position, in a room with history whose stream took it); then
   * hands it to the backplane, if any, for the other processes. A room with
   * history first gets the publication its position: at once from
   * this process's store; from a backplane's store, the publication is
   * delivered here when its copy comes back (`deliverRemote`), so that
   * every process delivers the room's publications in the stream's order.
   */
  publish(
    room: string,
    message: Payload,
    except: Connection | undefined,
    done: (count: number, position?: Position) => void,
  ): void {
    const history = this.#historyOf(room);
    if (history === undefined) {
      done(this.deliver(room, message, undefined, except));
      // To the other processes, after local delivery. (With history, the
      // backplane's store publishes it, with its position.)
      this.#options.backplane?.publish({
        kind: "room",
        room,
        data: message.plain,
        json: message.json,
      });
      return;
    }
    const store = this.#options.store;
    if (this.#options.backplane?.history !== store) {
      // This process's store (MemoryHistory) gives the position at once.
      let position: Position | undefined;
      try {
        position = store.append(room, message.plain, {
          ...history,
          json: message.json,
        }) as Position;
      } catch {
        // delivered without a position, as when a backplane's store fails
      }
      return done(this.deliver(room, message, position, except), position);
    }
    const ref = ++this.#nextRef;
    this.#own.set(ref, { room, message, except, done });
    let appended: Position | Promise<Position>;
    try {
      appended = store.append(room, message.plain, { ...history, ref, json: message.json });
    } catch {
      return this.appendFailed(ref);
    }
    if (appended instanceof Promise) {
      appended.catch(() => void this.#parts.push({ type: "appendFailed", ref }));
    }
  }

  /** An append to the backplane's store failed: deliver here, without a position. */
  appendFailed(ref: number): void {
    const own = this.#own.get(ref);
    if (own === undefined) return;
    this.#own.delete(ref);
    own.done(this.deliver(own.room, own.message, undefined, own.except));
  }

  /**
   * A room message from the backplane: another process's, or this one's
   * own coming back (with its `ref`), which is delivered now with its
   * `except` and settles its `publish`.
   */
  deliverRemote(room: string, message: Payload, position?: Position, ref?: number): void {
    const own = ref === undefined ? undefined : this.#own.get(ref);
    if (own === undefined) return void this.deliver(room, message, position, undefined);
    this.#own.delete(ref!);
    own.done(this.deliver(own.room, own.message, position, own.except), position);
  }

  /**
   * Upkeep on the heartbeat's tick: streams kept in this process whose
   * publications all expired are dropped, once a second at most.
   */
  upkeep(now: number): void {
    this.#parts.presence.upkeep(now);
    const store = this.#options.store;
    if (now - this.#prunedAt < 1000 || !(store instanceof MemoryHistory)) return;
    this.#prunedAt = now;
    store.prune();
  }

  /** The hub stops: publications still waiting for their copy settle with 0. */
  stopped(): void {
    for (const own of this.#own.values()) own.done(0);
    this.#own.clear();
    this.#parts.presence.stop();
  }

  /**
   * Queues a publication for the room's members here (but `except`), with
   * its position when it has one; members whose recovery is being read get
   * it after what they missed. When a position's epoch is not the one these
   * members last had (the stream was lost and started again), framed ones
   * are told first (`J` with no id, the new epoch and the offset before this
   * one). Returns how many it was queued for.
   */
  deliver(
    room: string,
    message: Payload,
    position: Position | undefined,
    except: Connection | undefined,
  ): number {
    const members = this.#registry.inRoom(room);
    const tap = this.#parts.tap;
    if (tap.on) {
      const offset = position?.offset ?? 0;
      tap.emit({ type: "publish", room, payload: message, members: members.size, offset });
    }
    if (members.size === 0) return 0;
    let notice: Payload | undefined;
    if (position !== undefined && this.#epochs.get(room) !== position.epoch) {
      this.#epochs.set(room, position.epoch);
      notice = framedOnly(
        encodeJoined({ room, epoch: position.epoch, offset: position.offset - 1 }),
      );
    }
    const offset = position?.offset ?? 0;
    const epoch = position?.epoch;
    if (position !== undefined) this.#high.set(room, offset);
    const payload = roomPayload(room, message, position === undefined ? "" : String(offset));
    let count = 0;
    for (const connection of members) {
      const ahead = this.#ahead.get(connection)?.get(room);
      if (ahead !== undefined && position !== undefined) {
        if (ahead.epoch === epoch && offset <= ahead.offset) {
          count++; // sent already, with what its join read
          continue;
        }
        this.#behind(connection, room);
      }
      const waiting = this.#recovering.get(connection)?.get(room);
      if (waiting !== undefined) {
        // Its join is reading the stream: its answer carries the epoch, and `welcomed` announces
        // a newer one. A notice now would come before that answer, and the client would count
        // the offset before this one as delivered: one publication lost.
        if (connection === except) {
          // A framed member left out still counts the offset: told it, it sees no gap to repair.
          if (position !== undefined) {
            waiting.push({ payload: this.#skip(room, position), offset, epoch });
          }
          continue;
        }
        waiting.push({ payload, offset, epoch });
      } else {
        if (notice !== undefined && connection.framed) {
          this.#parts.delivery.deliver(connection, notice);
        }
        if (connection === except) {
          if (position !== undefined && connection.framed) {
            this.#parts.delivery.deliver(connection, this.#skip(room, position));
          }
          continue;
        }
        this.#parts.delivery.deliver(connection, payload);
      }
      count++;
    }
    return count;
  }

  /** `connection` is no longer ahead of the live publications of `room`. */
  #behind(connection: Connection, room: string): void {
    const rooms = this.#ahead.get(connection);
    if (rooms === undefined || !rooms.delete(room)) return;
    if (rooms.size === 0) this.#ahead.delete(connection);
  }

  /** The notice that the publication at `position` is not for a member (`J` with no id). */
  #skip(room: string, position: Position): Payload {
    return framedOnly(encodeJoined({ room, epoch: position.epoch, offset: position.offset }));
  }

  #left(connection: Connection, change: RoomLeave): void {
    this.#takeWaiting(connection, change.room);
    this.#behind(connection, change.room);
    this.#parts.presence.left(connection, change.room);
    if (change.lastInRoom) {
      this.#epochs.delete(change.room);
      this.#high.delete(change.room);
    }
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
   * A framed client asked who is in `room` (`w`), or with `counts` how many:
   * a member may ask; another client as `authorizeJoin` would let it join.
   * The answer (`W`) comes from the backplane when it is up (the whole
   * cluster), else from this process; a refusal carries the join's codes.
   */
  presenceQuery(connection: Connection, id: number, room: string, counts: boolean): void {
    const problem = roomNameProblem(room);
    if (problem !== undefined) {
      return this.#answerPresence(connection, {
        id,
        room,
        error: "invalid_room",
        message: problem,
      });
    }
    const authorize = this.#options.authorizeJoin;
    if (this.#registry.roomsOf(connection).has(room) || authorize === undefined) {
      return this.#presenceFor(connection, id, room, counts);
    }
    const decided = (verdict: boolean | Error) => {
      if (verdict instanceof Error) {
        this.#parts.report(callbackError("authorizeJoin", verdict), connection);
        return this.#answerPresence(connection, {
          id,
          room,
          error: "failed",
          message: "the server could not decide; try again later",
        });
      }
      if (verdict) return this.#presenceFor(connection, id, room, counts);
      this.#answerPresence(connection, {
        id,
        room,
        error: "forbidden",
        message: `asking who is in ${room} is not allowed`,
      });
    };
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = authorize(connection, room);
    } catch (error) {
      return decided(error instanceof Error ? error : new Error(String(error)));
    }
    if (verdict instanceof Promise) {
      verdict.then(
        (allowed) => decided(allowed === true),
        (error) => decided(error instanceof Error ? error : new Error(String(error))),
      );
    } else decided(verdict === true);
  }

  /**
   * Answers a presence query with the room's presence (or its counts, built
   * without a list), cluster-wide when the backplane is up.
   */
  #presenceFor(connection: Connection, id: number, room: string, counts: boolean): void {
    const backplane = this.#options.backplane;
    const up = backplane !== undefined && backplane.status === "up";
    if (counts) {
      const answer = (stats: PresenceStats) =>
        this.#answerPresence(connection, { id, room, ...stats });
      const local = this.#registry.presenceStats(room);
      if (!up) return answer(local);
      backplanePresenceStats(backplane, room).then(answer, () => answer(local));
      return;
    }
    const answer = (presence: { user: string; connections: number }[]) =>
      this.#answerPresence(connection, { id, room, presence });
    const local = this.#registry.presence(room);
    if (!up) return answer(local);
    backplane.presence(room).then(answer, () => answer(local));
  }

  /**
   * Sends a `W` answer: through an event, since it may come from an async
   * verdict or a backplane read, outside the loop. A list starts the
   * client's view of the room's presence (see `presence.ts`).
   */
  #answerPresence(connection: Connection, answer: PresenceAnswer): void {
    if (!connection.framed) return;
    this.#parts.push({
      type: "presenceAnswer",
      connection,
      room: answer.room,
      payload: framedOnly(encodePresenceAnswer(answer)),
      listed: answer.presence !== undefined,
    });
  }

  /**
   * A presence transition (this process's own, or the cluster's through the
   * backplane): `onPresence` hears it where it originated, and framed
   * members of the room are told when the room has presence events on
   * (at the end of the room's window, see {@linkcode Presence}).
   */
  presenceEvent(event: PresenceEvent, origin: boolean): void {
    const onPresence = this.#options.onPresence;
    if (origin && onPresence !== undefined) {
      try {
        onPresence(event);
      } catch (error) {
        this.#parts.report(callbackError("onPresence", error), undefined);
      }
    }
    this.#parts.presence.changed(event);
  }

  #full(connection: Connection): boolean {
    return this.#registry.roomsOf(connection).size >= this.#options.maxRoomsPerConnection;
  }

  #failed(connection: Connection, id: number, room: string, error: unknown): void {
    this.#parts.report(callbackError("authorizeJoin", error), connection);
    if (connection.state !== "open") return;
    this.#refuse(connection, id, room, "failed", "the server could not decide; try again later");
  }

  #refuse(connection: Connection, id: number, room: string, error: string, message: string): void {
    const tap = this.#parts.tap;
    if (tap.on) {
      tap.emit({ type: "joinRefused", id: connection.id, user: connection.user, room, error });
    }
    this.#answer(connection, { id, room, error, message });
  }

  /** Tells the tap (listening: the caller checked) that `connection` joined or left `room`. */
  #tapped(type: "join" | "leave", connection: Connection, room: string): void {
    this.#parts.tap.emit({ type, id: connection.id, user: connection.user, room });
  }

  #answer(connection: Connection, answer: JoinAnswer): void {
    if (connection.framed) {
      this.#parts.delivery.deliver(connection, framedOnly(encodeJoined(answer)));
    }
  }
}
