/**
 * The client's rooms: the ones it asked to join (rejoined by itself after a
 * reconnect, before its offline queue is flushed), the ones the server
 * confirmed, and the join and leave requests waiting for their answers.
 *
 * @module
 */

import {
  ConnectionClosedError,
  encodeJoin,
  encodeLeave,
  encodePresenceQuery,
  type JoinAnswer,
  type LeaveAnswer,
  type PresenceAnswer,
  roomNameProblem,
} from "../protocol/mod.ts";
import { ClientClosedError, JoinError } from "./errors.ts";

interface Pending {
  room: string;
  kind: "join" | "leave";
  resolve: (result: JoinResult) => void;
  reject: (error: Error) => void;
  /** A join sent again after a reconnect. */
  rejoin?: boolean;
  /** A join that asked for the room's last publications (when it has no position yet). */
  history?: number;
  /** Callers of `join` who asked while this join was already on its way: they share its answer. */
  joiners?: { resolve: (result: JoinResult) => void; reject: (error: Error) => void }[];
}

/**
 * What a join found: for a room with history, its stream's position; for a
 * join that recovered (after a reconnect, or to repair a gap), whether every
 * publication missed was sent (`recovered`), and if not why.
 *
 * @example
 * ```ts
 * import { connect, type JoinResult } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * const joined: JoinResult = await client.join("news");
 * console.log(joined.epoch, joined.offset);
 * await client.close();
 * ```
 */
export interface JoinResult {
  /** The room. */
  room: string;
  /** The room's stream epoch (rooms with history). */
  epoch?: string;
  /** The offset of the room's last publication when it was joined (rooms with history). */
  offset?: number;
  /** For a recovering join: whether nothing was missed. */
  recovered?: boolean;
  /**
   * Why a recovery was not complete: `epoch_changed`, `expired`, `trimmed`,
   * `too_many`, `no_history`, `unavailable` (see docs/protocol.md).
   */
  reason?: string;
}

/**
 * Options of `client.join(room, options)`.
 *
 * @example
 * ```ts
 * import { connect, type JoinOptions } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * const recent: JoinOptions = { history: 20 };
 * await client.join("news", recent);
 * await client.close();
 * ```
 */
export interface JoinOptions {
  /**
   * In a room with history: first send its last `history` publications
   * (at most the hub's `maxRecover`), then the live ones, with no gap and no
   * duplicate. A rejoin after a reconnect recovers from the last one
   * received instead.
   */
  history?: number;
  /**
   * Whether this client hears about presence in the room (`presence`
   * events, when the hub sends them): `false` asks the hub for none.
   * Default `true`: one `PresenceDiff` per room per window.
   */
  presence?: boolean;
}

/**
 * Told when a room's continuity is checked: after a rejoin (reconnect), a
 * repaired gap, or a new epoch. `recovered: false` means publications may
 * have been missed: reload that room's state.
 *
 * @example Reload only when needed
 * ```ts
 * import { connect, type RecoveryEvent } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * client.on("recovery", (event: RecoveryEvent) => {
 *   if (!event.recovered) console.log(`reload ${event.room}: ${event.reason}`);
 * });
 * await client.close();
 * ```
 */
export interface RecoveryEvent {
  /** The room. */
  room: string;
  /** Whether every publication missed was delivered. */
  recovered: boolean;
  /**
   * When not recovered: why (`epoch_changed`, `expired`, `trimmed`,
   * `too_many`, `no_history`, `unavailable`).
   */
  reason?: string;
}

/** A room's position, and live publications held back while a gap is repaired. */
interface Tracked {
  epoch: string;
  offset: number;
  /** Publications past a gap, by offset, waiting for the ones before them. */
  held: Map<number, () => void>;
  /** Whether a recovery join was sent for the gap. */
  repairing: boolean;
}

/** Rooms wanted, rooms joined, and requests in flight, for one client. */
export class ClientRooms {
  /** What the rooms tell their owner: a rejoin was refused. */
  readonly #onRefused: (error: JoinError) => void;
  /** What the rooms tell their owner: a room's continuity was checked. */
  readonly #onRecovery: (event: RecoveryEvent) => void;
  /** Rooms with history: the position of the last publication delivered. */
  readonly #positions = new Map<string, Tracked>();
  /** Sends a frame on the open connection, or `undefined` while none is. */
  #send: ((frame: string) => void) | undefined;
  /** Rooms joined with `history`: how many publications to ask for again if a recovery fails. */
  readonly #history = new Map<string, number>();
  /** Rooms joined with `presence: false`: rejoined asking for no presence either. */
  readonly #quiet = new Set<string>();
  /** Rooms this client asked to join (and did not leave): rejoined after a reconnect. */
  readonly #wanted = new Set<string>();
  /** Rooms the server says this client is in, on the current connection. */
  readonly #joined = new Set<string>();
  /** Requests sent and not answered yet, by id. */
  readonly #pending = new Map<number, Pending>();
  /** Presence queries sent and not answered yet, by id. */
  readonly #queries = new Map<
    number,
    { resolve: (answer: PresenceAnswer) => void; reject: (error: Error) => void }
  >();
  /** Joins asked while no connection was open, to send on the next one. */
  readonly #waiting: Pending[] = [];
  #nextId = 1;

  constructor(onRefused: (error: JoinError) => void, onRecovery: (event: RecoveryEvent) => void) {
    this.#onRefused = onRefused;
    this.#onRecovery = onRecovery;
  }

  /** The rooms the server confirmed this client is in. */
  get rooms(): ReadonlySet<string> {
    return this.#joined;
  }

  /**
   * Asks to join `room`; `send` writes a frame when the client is open, and
   * is `undefined` while it is not (the join then goes out on the next
   * connection).
   *
   * @throws {RangeError} If `room` is not a valid room name.
   */
  join(
    room: string,
    send: ((frame: string) => void) | undefined,
    options: JoinOptions = {},
  ): Promise<JoinResult> {
    assertRoom(room);
    const { history, presence } = options;
    if (history !== undefined && (!Number.isSafeInteger(history) || history < 1)) {
      throw new RangeError(`Invalid join option history: ${history}; expected an integer >= 1`);
    }
    if (presence !== undefined && typeof presence !== "boolean") {
      throw new RangeError(`Invalid join option presence: ${presence}; expected true or false`);
    }
    this.#wanted.add(room);
    const { promise, resolve, reject } = Promise.withResolvers<JoinResult>();
    // A join of this room already on its way (a rejoin after a reconnect, a repair, another
    // call): share its answer rather than ask twice (and recover twice).
    const inFlight = [...this.#pending.values(), ...this.#waiting].find((pending) =>
      pending.kind === "join" && pending.room === room
    );
    if (inFlight !== undefined) {
      (inFlight.joiners ??= []).push({ resolve, reject });
      return promise;
    }
    if (history !== undefined) this.#history.set(room, history);
    if (presence === false) this.#quiet.add(room);
    else this.#quiet.delete(room);
    const pending: Pending = { room, kind: "join", resolve, reject, history };
    if (send === undefined) this.#waiting.push(pending);
    else this.#request(pending, send);
    return promise;
  }

  /**
   * Asks to leave `room` (and not to rejoin it). Resolves at once when the
   * client is not connected: it is in no room then.
   *
   * @throws {RangeError} If `room` is not a valid room name.
   */
  leave(room: string, send: ((frame: string) => void) | undefined): Promise<void> {
    assertRoom(room);
    this.#wanted.delete(room);
    this.#history.delete(room);
    this.#quiet.delete(room);
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      const waiting = this.#waiting[i];
      if (waiting.room === room) {
        this.#waiting.splice(i, 1);
        const error = new JoinError(room, "left", "left before the join was sent");
        waiting.reject(error);
        for (const joiner of waiting.joiners ?? []) joiner.reject(error);
      }
    }
    this.#positions.delete(room);
    if (send === undefined) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#request({ room, kind: "leave", resolve: () => resolve(), reject }, send);
    return promise;
  }

  /**
   * A connection opened: join every wanted room again (answers to these
   * rejoins settle nothing but the joins that were waiting), then the joins
   * asked while offline.
   */
  opened(send: (frame: string) => void): void {
    this.#send = send;
    const waiting = this.#waiting.splice(0);
    const asked = new Set(waiting.map((pending) => pending.room));
    for (const room of this.#wanted) {
      if (asked.has(room)) continue;
      this.#request({ room, kind: "join", resolve: NOOP, reject: NOOP, rejoin: true }, send);
    }
    for (const pending of waiting) this.#request(pending, send);
  }

  /** The server answered a join (or joined this client on its own, or told a new epoch: no id). */
  answered(answer: JoinAnswer): void {
    const pending = answer.id === undefined ? undefined : this.#take(answer.id, "join");
    if (answer.error !== undefined) {
      const error = new JoinError(
        answer.room,
        answer.error,
        answer.message ?? answer.error,
        undefined,
        answer.retryAfter,
      );
      this.#wanted.delete(answer.room);
      this.#positions.delete(answer.room);
      if (pending === undefined) return;
      for (const joiner of pending.joiners ?? []) joiner.reject(error);
      if (pending.resolve === NOOP) {
        if (pending.joiners === undefined) this.#onRefused(error); // a rejoin nobody waits for
      } else pending.reject(error);
      return;
    }
    this.#joined.add(answer.room);
    this.#track(answer);
    if (pending?.rejoin === true && answer.epoch === undefined && answer.recovered === undefined) {
      // A room without history: what was published while away is lost.
      this.#onRecovery({ room: answer.room, recovered: false, reason: "no_history" });
    }
    const result: JoinResult = { room: answer.room };
    if (answer.epoch !== undefined) {
      Object.assign(result, { epoch: answer.epoch, offset: answer.offset });
    }
    if (answer.recovered !== undefined) {
      result.recovered = answer.recovered;
      if (answer.reason !== undefined) result.reason = answer.reason;
    }
    pending?.resolve(result);
    for (const joiner of pending?.joiners ?? []) joiner.resolve(result);
  }

  /**
   * A publication with a position arrived in `room`: deliver it now (the
   * next one), drop it (a duplicate, already delivered), or hold it back
   * behind a gap — and ask the server for what is missing.
   */
  accept(room: string, offset: number, deliver: () => void): void {
    const tracked = this.#positions.get(room);
    if (tracked === undefined) return deliver();
    if (offset <= tracked.offset) return; // already delivered
    if (offset === tracked.offset + 1) {
      tracked.offset = offset;
      deliver();
      this.#drain(tracked);
      return;
    }
    tracked.held.set(offset, deliver);
    if (!tracked.repairing && this.#send !== undefined) {
      tracked.repairing = true;
      const since = { offset: tracked.offset, epoch: tracked.epoch };
      this.#sendJoin(room, since, this.#send);
    }
  }

  /**
   * Takes a join answer's position: a fresh join, a recovery's verdict, a
   * new epoch, or (no id, the same epoch) a publication this client was
   * left out of, whose offset it counts as delivered.
   */
  #track(answer: JoinAnswer): void {
    const room = answer.room;
    if (answer.epoch === undefined) {
      // No position in the answer: a room without history, or its history could not be read.
      if (answer.recovered === false) {
        this.#onRecovery({ room, recovered: false, reason: answer.reason });
        // Unavailable: keep the position, to recover from it once the store is back; what was
        // held behind a gap goes out now, in order (the gap cannot be filled for now).
        const tracked = this.#positions.get(room);
        if (answer.reason === "unavailable" && tracked !== undefined) {
          tracked.repairing = false;
          this.#release(tracked);
          return;
        }
      }
      return void this.#positions.delete(room);
    }
    const tracked = this.#positions.get(room);
    if (
      answer.id === undefined && answer.recovered === undefined && tracked !== undefined &&
      tracked.epoch === answer.epoch && answer.offset !== undefined
    ) {
      return this.accept(room, answer.offset, NOOP);
    }
    if (answer.recovered === true && tracked !== undefined) {
      // Everything missed follows this answer: keep counting from where we were.
      tracked.epoch = answer.epoch;
      tracked.repairing = false;
      this.#onRecovery({ room, recovered: true });
      return;
    }
    const offset = answer.offset ?? 0;
    if (answer.recovered === false) {
      this.#onRecovery({ room, recovered: false, reason: answer.reason });
    } else if (tracked !== undefined && tracked.epoch !== "" && tracked.epoch !== answer.epoch) {
      this.#onRecovery({ room, recovered: false, reason: "epoch_changed" });
    }
    const next: Tracked = {
      epoch: answer.epoch,
      offset,
      held: tracked?.held ?? new Map(),
      repairing: false,
    };
    this.#positions.set(room, next);
    this.#release(next);
  }

  /** What was held back behind a gap that can no longer be filled goes out now, in order. */
  #release(tracked: Tracked): void {
    const held = [...tracked.held].sort(([a], [b]) => a - b);
    tracked.held.clear();
    for (const [heldOffset, deliver] of held) {
      if (heldOffset > tracked.offset) tracked.offset = heldOffset;
      deliver();
    }
  }

  #drain(tracked: Tracked): void {
    let deliver;
    while ((deliver = tracked.held.get(tracked.offset + 1)) !== undefined) {
      tracked.held.delete(tracked.offset + 1);
      tracked.offset++;
      deliver();
    }
  }

  /**
   * Asks who is in `room` (`counts`: only how many); `send` writes on the
   * open connection (`undefined` while none is: the question fails at once,
   * it is not queued).
   */
  presence(
    room: string,
    counts: boolean,
    send: ((frame: string) => void) | undefined,
  ): Promise<PresenceAnswer> {
    assertRoom(room);
    if (send === undefined) {
      return Promise.reject(
        new ConnectionClosedError("the client is not connected; presence is asked while open"),
      );
    }
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<PresenceAnswer>();
    this.#queries.set(id, { resolve, reject });
    send(encodePresenceQuery(counts ? { id, room, counts } : { id, room }));
    return promise;
  }

  /** The server answered a presence query. */
  answeredPresence(answer: PresenceAnswer): void {
    const query = this.#queries.get(answer.id);
    if (query === undefined) return;
    this.#queries.delete(answer.id);
    if (answer.error === undefined) return query.resolve(answer);
    query.reject(
      new JoinError(answer.room, answer.error, answer.message ?? answer.error, "ask who is in"),
    );
  }

  /** The server answered a leave (or removed this client on its own, with no id). */
  answeredLeave(answer: LeaveAnswer): void {
    this.#joined.delete(answer.room);
    if (answer.id === undefined) {
      this.#wanted.delete(answer.room); // the server's decision: do not rejoin
      return;
    }
    this.#take(answer.id, "leave")?.resolve({ room: answer.room });
  }

  /**
   * The connection was lost: the client is in no room until it rejoins.
   * Pending joins are sent again on the next connection; pending leaves are
   * done (a lost connection is in no room).
   */
  lost(): void {
    this.#send = undefined;
    this.#joined.clear();
    this.#failQueries(new ConnectionClosedError("the connection closed before the answer came"));
    for (const tracked of this.#positions.values()) {
      // The rejoin recovers from the last publication delivered; held ones come again.
      tracked.held.clear();
      tracked.repairing = false;
    }
    for (const pending of this.#pending.values()) {
      if (pending.kind === "leave") pending.resolve({ room: pending.room });
      else if (pending.resolve !== NOOP || pending.joiners !== undefined) {
        this.#waiting.push(pending);
      }
    }
    this.#pending.clear();
  }

  /** Fails every presence query waiting for its answer. */
  #failQueries(error: Error): void {
    for (const query of this.#queries.values()) query.reject(error);
    this.#queries.clear();
  }

  /** The client is closed for good: every waiting request fails. */
  closed(reason: string): void {
    this.#failQueries(new ClientClosedError(reason, "ask who is in a room"));
    for (const pending of [...this.#pending.values(), ...this.#waiting.splice(0)]) {
      const error = new ClientClosedError(reason, `${pending.kind} ${pending.room}`);
      if (pending.kind === "join") {
        pending.reject(error);
        for (const joiner of pending.joiners ?? []) joiner.reject(error);
      } else pending.resolve({ room: pending.room });
    }
    this.#pending.clear();
    this.#joined.clear();
    this.#wanted.clear();
    this.#history.clear();
    this.#quiet.clear();
    this.#positions.clear();
    this.#send = undefined;
  }

  #request(pending: Pending, send: (frame: string) => void): void {
    const id = this.#nextId++;
    this.#pending.set(id, pending);
    if (pending.kind === "leave") return send(encodeLeave({ id, room: pending.room }));
    // A rejoin recovers from the last publication delivered; if it cannot, a room joined with
    // history is sent its last ones again instead (the hub falls back in the same answer).
    const tracked = this.#positions.get(pending.room);
    const history = pending.history ?? this.#history.get(pending.room);
    const since = tracked === undefined
      ? undefined
      : { offset: tracked.offset, epoch: tracked.epoch };
    const presence = this.#quiet.has(pending.room) ? "none" : "diffs";
    send(encodeJoin({ id, room: pending.room, since, history, presence }));
  }

  /** A recovery join for a gap: nobody waits for its answer but the room's position. */
  #sendJoin(room: string, since: { offset: number; epoch: string }, send: (frame: string) => void) {
    const id = this.#nextId++;
    this.#pending.set(id, { room, kind: "join", resolve: NOOP, reject: NOOP });
    send(encodeJoin({ id, room, since }));
  }

  #take(id: number, kind: "join" | "leave"): Pending | undefined {
    const pending = this.#pending.get(id);
    if (pending === undefined || pending.kind !== kind) return undefined;
    this.#pending.delete(id);
    return pending;
  }
}

function NOOP(): void {}

function assertRoom(room: string): void {
  const problem = roomNameProblem(room);
  if (problem !== undefined) throw new RangeError(`Invalid room name: ${problem}`);
}
