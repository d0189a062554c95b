/**
 * The client's rooms: the ones it asked to join (rejoined by itself after a
 * reconnect, before its offline queue is flushed), the ones the server
 * confirmed, and the join and leave requests waiting for their answers.
 *
 * @module
 */

import {
  encodeJoin,
  encodeLeave,
  type JoinAnswer,
  type LeaveAnswer,
  roomNameProblem,
} from "../protocol/mod.ts";
import { ClientClosedError, JoinError } from "./errors.ts";

interface Pending {
  room: string;
  kind: "join" | "leave";
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Rooms wanted, rooms joined, and requests in flight, for one client. */
export class ClientRooms {
  /** What the rooms tell their owner: a rejoin was refused. */
  readonly #onRefused: (error: JoinError) => void;
  /** Rooms this client asked to join (and did not leave): rejoined after a reconnect. */
  readonly #wanted = new Set<string>();
  /** Rooms the server says this client is in, on the current connection. */
  readonly #joined = new Set<string>();
  /** Requests sent and not answered yet, by id. */
  readonly #pending = new Map<number, Pending>();
  /** Joins asked while no connection was open, to send on the next one. */
  readonly #waiting: Pending[] = [];
  #nextId = 1;

  constructor(onRefused: (error: JoinError) => void) {
    this.#onRefused = onRefused;
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
  join(room: string, send: ((frame: string) => void) | undefined): Promise<void> {
    assertRoom(room);
    this.#wanted.add(room);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const pending: Pending = { room, kind: "join", resolve, reject };
    if (send === undefined) this.#waiting.push(pending);
    else this.#send(pending, send);
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
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      const waiting = this.#waiting[i];
      if (waiting.room === room) {
        this.#waiting.splice(i, 1);
        waiting.reject(new JoinError(room, "left", "left before the join was sent"));
      }
    }
    if (send === undefined) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#send({ room, kind: "leave", resolve, reject }, send);
    return promise;
  }

  /**
   * A connection opened: join every wanted room again (answers to these
   * rejoins settle nothing but the joins that were waiting), then the joins
   * asked while offline.
   */
  opened(send: (frame: string) => void): void {
    const waiting = this.#waiting.splice(0);
    const asked = new Set(waiting.map((pending) => pending.room));
    for (const room of this.#wanted) {
      if (asked.has(room)) continue;
      this.#send({ room, kind: "join", resolve: NOOP, reject: NOOP }, send);
    }
    for (const pending of waiting) this.#send(pending, send);
  }

  /** The server answered a join (or joined this client on its own, with no id). */
  answered(answer: JoinAnswer): void {
    const pending = answer.id === undefined ? undefined : this.#take(answer.id, "join");
    if (answer.error === undefined) {
      this.#joined.add(answer.room);
      pending?.resolve();
      return;
    }
    const error = new JoinError(answer.room, answer.error, answer.message ?? answer.error);
    this.#wanted.delete(answer.room);
    if (pending === undefined) return;
    if (pending.resolve === NOOP) this.#onRefused(error); // a rejoin nobody waits for
    else pending.reject(error);
  }

  /** The server answered a leave (or removed this client on its own, with no id). */
  answeredLeave(answer: LeaveAnswer): void {
    this.#joined.delete(answer.room);
    if (answer.id === undefined) {
      this.#wanted.delete(answer.room); // the server's decision: do not rejoin
      return;
    }
    this.#take(answer.id, "leave")?.resolve();
  }

  /**
   * The connection was lost: the client is in no room until it rejoins.
   * Pending joins are sent again on the next connection; pending leaves are
   * done (a lost connection is in no room).
   */
  lost(): void {
    this.#joined.clear();
    for (const pending of this.#pending.values()) {
      if (pending.kind === "leave") pending.resolve();
      else if (pending.resolve !== NOOP) this.#waiting.push(pending);
    }
    this.#pending.clear();
  }

  /** The client is closed for good: every waiting request fails. */
  closed(reason: string): void {
    const error = new ClientClosedError(reason);
    for (const pending of [...this.#pending.values(), ...this.#waiting.splice(0)]) {
      if (pending.kind === "join") pending.reject(error);
      else pending.resolve();
    }
    this.#pending.clear();
    this.#joined.clear();
    this.#wanted.clear();
  }

  #send(pending: Pending, send: (frame: string) => void): void {
    const id = this.#nextId++;
    this.#pending.set(id, pending);
    const request = { id, room: pending.room };
    send(pending.kind === "join" ? encodeJoin(request) : encodeLeave(request));
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
