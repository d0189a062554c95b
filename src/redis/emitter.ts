/**
 * `RedisEmitter`: publish to the hubs' clients from a process that holds no
 * socket and runs no hub (a job worker, a cron, a webhook handler). What it
 * sends goes on the channels the hubs' `RedisBackplane`s listen to, in the
 * same envelope, and a publication to a room with history goes through the
 * room's stream by the same script: every hub process delivers it exactly
 * as if a hub had sent it. docs/channel-format.md is the contract.
 *
 * @module
 */

import { assertKnownOptions } from "../common/unknown_options.ts";
import { Waiters } from "../common/waiters.ts";
import {
  assertApplicationCloseCode,
  CloseCode,
  closeReasonProblem,
  encodePayload,
  roomNameProblem,
} from "../protocol/mod.ts";
import type { BackplaneMessage } from "../server/backplane.ts";
import { REVOKED_REASON } from "../server/credentials.ts";
import type { HistoryOptions, Position } from "../server/history.ts";
import type { DisconnectOptions } from "../server/hub_api.ts";
import { historyChooser } from "../server/options.ts";
import { encodeMessage } from "./envelope.ts";
import {
  ClusterServers,
  type EmitterConnection,
  type EmitterStatus,
  SingleServer,
} from "./emitter_connection.ts";
import { checkServers } from "./cluster_connection.ts";
import { Deadlines } from "./deadlines.ts";
import { checkPrefix, Names } from "./names.ts";
import { appendRequest, RedisDownError } from "./redis_history.ts";

export type { EmitterStatus };

/**
 * Options of {@linkcode RedisEmitter}.
 *
 * @example
 * ```ts ignore
 * import { RedisEmitter, type RedisEmitterOptions } from "@wshub/hub/redis";
 *
 * const options: RedisEmitterOptions = {
 *   url: "redis://127.0.0.1:6379",
 *   history: (room) => room.startsWith("chat:") ? { size: 100, ttl: 60_000 } : undefined,
 * };
 * const emitter = new RedisEmitter(options);
 * await emitter.close();
 * ```
 *
 * @example On a Redis Cluster, as the hubs' backplanes
 * ```ts ignore
 * import { RedisEmitter } from "@wshub/hub/redis";
 *
 * const emitter = new RedisEmitter({ cluster: ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"] });
 * await emitter.broadcast("reaches every hub process on the cluster");
 * await emitter.close();
 * ```
 */
export interface RedisEmitterOptions {
  /**
   * The Redis server the hubs' `RedisBackplane`s share, as
   * `redis://[user:password@]host:port[/db]` (or `rediss://`). Or give
   * `cluster`.
   */
  url?: string;
  /**
   * The Redis Cluster the hubs' `RedisBackplane`s share (their `cluster`
   * option): some of its nodes as `redis://host:port` URLs. The emitter
   * then speaks the cluster's channels and keys (sharded channels, hash
   * tags: docs/channel-format.md). Exactly one of `url` and `cluster` is
   * given.
   */
  cluster?: string[];
  /** The prefix of every key and channel: the hubs' `RedisBackplane` `prefix`. Default `"wshub"`. */
  prefix?: string;
  /**
   * Which rooms keep history, and how much: give the hubs' own `history`
   * option. A publication to such a room is stored in its stream (it gets
   * an offset and can be recovered); to any other room it is only
   * published. Default: none.
   */
  history?: HistoryOptions | ((room: string) => HistoryOptions | undefined);
  /**
   * How long a call may wait, in ms: for the first connection (calls made
   * right after `new RedisEmitter` wait for it), and for Redis's answer.
   * Default 5,000.
   */
  timeout?: number;
  /**
   * Calls that may wait for Redis at once; past it a call fails at once
   * rather than buffering without bound. Default 10,000.
   */
  maxPending?: number;
  /** Called on each status change (with the error when it goes down). */
  onStatus?: (status: EmitterStatus, error?: Error) => void;
}

/**
 * What {@linkcode RedisEmitter.prototype.publish} resolves to.
 *
 * @example
 * ```ts ignore
 * import { RedisEmitter, type EmittedPublication } from "@wshub/hub/redis";
 *
 * const emitter = new RedisEmitter({ url: "redis://127.0.0.1:6379", history: { size: 100, ttl: 60_000 } });
 * const sent: EmittedPublication = await emitter.publish("news", "hello");
 * console.log(sent.processes, sent.position?.offset);
 * await emitter.close();
 * ```
 */
export interface EmittedPublication {
  /**
   * How many subscribers Redis handed it to: the hub processes with a member
   * in the room (each listens on one connection), on one Redis server (on a
   * Redis Cluster, on the room's shard: the same processes).
   */
  processes: number;
  /** Its position in the room's stream, for a room with history. */
  position?: Position;
}

const DEFAULT_TIMEOUT = 5_000;
const DEFAULT_MAX_PENDING = 10_000;
const DOWN = "Redis is not connected: nothing was sent; the emitter reconnects by itself";

/** A call waiting for the first connection. */
interface Waiting {
  send: () => void;
  fail: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Publishes to the clients of every hub process joined by `RedisBackplane`,
 * from a process that runs no hub: `broadcast`, `sendToUser`, `publish` and
 * `disconnectUser` reach the right connections on every process, exactly as
 * if a hub had called them. One connection to Redis (to each master of a
 * Redis Cluster, given `cluster`); no subscription.
 *
 * What it guarantees, and what it does not:
 * - **Accepted means sent.** Each call resolves once Redis has taken the
 *   message, with what Redis knows: how many hub processes got it, and for
 *   a room with history its position in the room's stream (it is stored
 *   there, so a client that reconnects recovers it). Hubs deliver it within
 *   about one round trip through Redis.
 * - **The emitter's order.** Calls on one emitter reach each client in the
 *   order they were made (one connection; Redis runs its commands in order).
 *   No order is kept with another emitter's or a hub's calls, but in a room
 *   with history, whose stream gives every publication one order.
 * - **Faults are errors, never silent loss.** While Redis is down a call
 *   rejects at once with {@linkcode RedisDownError} (nothing was sent: make
 *   the call again later); nothing is buffered. Calls made right after
 *   construction wait for the first connection, for up to `timeout`. When
 *   Redis comes back the emitter reconnects by itself. A call that fails
 *   after it was sent (no answer within `timeout`, the connection lost)
 *   rejects with an `Error` whose outcome is unknown: the message may have
 *   been published.
 * - **No delivery receipt.** Like a hub's, what it sends is at most once
 *   for clients: Redis pub/sub keeps nothing for a hub process that was
 *   disconnected from Redis at the time (but a room's stream does).
 *
 * Give it the hubs' `prefix` and `history` options. A room the emitter
 * thinks keeps no history but the hubs do gets publications without a
 * position, which are not in its stream (clients recovering miss them).
 *
 * @typeParam T What it sends: strings and bytes as they are, any other value
 * as JSON — as a hub does.
 *
 * @example A job worker that announces a finished export
 * ```ts ignore
 * import { RedisEmitter } from "@wshub/hub/redis";
 *
 * const emitter = new RedisEmitter({ url: "redis://127.0.0.1:6379" });
 * const processes = await emitter.sendToUser("alice", { type: "export-done", url: "/exports/42" });
 * if (processes === 0) console.log("alice is not connected anywhere");
 * await emitter.close();
 * ```
 */
export class RedisEmitter<T = unknown> implements AsyncDisposable {
  /** Its id on the channels (the envelopes' origin): a hub never takes it for its own. */
  readonly id: string = crypto.randomUUID();
  readonly #names: Names;
  readonly #history: (room: string) => HistoryOptions | undefined;
  readonly #timeout: number;
  readonly #maxPending: number;
  readonly #onStatus: ((status: EmitterStatus, error?: Error) => void) | undefined;
  readonly #connection: EmitterConnection;
  /** Answer deadlines of the calls in flight. */
  readonly #deadlines: Deadlines;
  /** Calls made before the first connection, in order. */
  readonly #waiting: Waiting[] = [];
  /** `ready()` calls waiting for the connection. */
  readonly #readyWaiters = new Waiters();
  #closed: Promise<void> | undefined;

  /**
   * Creates the emitter and starts connecting.
   *
   * @throws {TypeError} If not exactly one of `url` and `cluster` is given, or
   * not as redis:// or rediss:// URLs, or an option is unknown.
   * @throws {RangeError} If `timeout`, `maxPending` or `history` is out of range.
   */
  constructor(options: RedisEmitterOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("RedisEmitter needs options: new RedisEmitter({ url })");
    }
    assertKnownOptions("RedisEmitter option", options, [
      "url",
      "cluster",
      "prefix",
      "history",
      "timeout",
      "maxPending",
      "onStatus",
    ]);
    const { url, seeds } = checkServers("RedisEmitter", options);
    this.#timeout = positiveInteger("timeout", options.timeout, DEFAULT_TIMEOUT);
    this.#maxPending = positiveInteger("maxPending", options.maxPending, DEFAULT_MAX_PENDING);
    const cluster = seeds !== undefined;
    this.#names = new Names(checkPrefix("RedisEmitter", options.prefix, cluster), cluster);
    this.#history = historyChooser(options.history, "RedisEmitter option");
    this.#onStatus = options.onStatus;
    this.#deadlines = new Deadlines(this.#timeout);
    const settings = {
      timeout: this.#timeout,
      maxPending: this.#maxPending,
      status: (status: EmitterStatus, error?: Error) => this.#statusChanged(status, error),
    };
    this.#connection = seeds === undefined
      ? new SingleServer(url, settings)
      : new ClusterServers(seeds, settings);
  }

  /** Where its connection to Redis is: `connecting`, `up`, `down` or `closed`. */
  get status(): EmitterStatus {
    return this.#connection.status;
  }

  /**
   * Resolves once connected to Redis (at once when it is); rejects if the
   * emitter is closed first, or with the signal's reason. Not needed before
   * calling: calls wait for the first connection by themselves.
   *
   * @example Fail fast at start when Redis is unreachable
   * ```ts ignore
   * import { RedisEmitter } from "@wshub/hub/redis";
   *
   * const emitter = new RedisEmitter({ url: "redis://127.0.0.1:6379" });
   * await emitter.ready({ signal: AbortSignal.timeout(5_000) });
   * ```
   */
  ready(options?: { signal?: AbortSignal }): Promise<void> {
    if (options !== undefined) assertKnownOptions("ready option", options, ["signal"]);
    if (this.status === "up") return Promise.resolve();
    if (this.#closed !== undefined) return Promise.reject(closedError());
    return this.#readyWaiters.wait(options?.signal);
  }

  /**
   * Sends a message to every connection of every hub process.
   *
   * @returns A promise of how many hub processes Redis handed it to.
   * @throws {TypeError} If the value has no JSON form.
   *
   * @example
   * ```ts ignore
   * import { RedisEmitter } from "@wshub/hub/redis";
   *
   * const emitter = new RedisEmitter<{ text: string }>({ url: "redis://127.0.0.1:6379" });
   * await emitter.broadcast({ text: "maintenance at 22:00" });
   * ```
   */
  broadcast(data: T): Promise<number> {
    return this.#publish(this.#message({ kind: "broadcast" }, data));
  }

  /**
   * Sends a message to every connection of one user, on every hub process.
   *
   * @returns A promise of how many hub processes had a connection of the
   * user (0: the user is connected nowhere).
   * @throws {TypeError} If `user` is not a non-empty string, or the value has no JSON form.
   *
   * @example
   * ```ts ignore
   * import { RedisEmitter } from "@wshub/hub/redis";
   *
   * const emitter = new RedisEmitter({ url: "redis://127.0.0.1:6379" });
   * await emitter.sendToUser("alice", { type: "invoice-paid", id: 42 });
   * ```
   */
  sendToUser(user: string, data: T): Promise<number> {
    checkUser(user);
    return this.#publish(this.#message({ kind: "user", user }, data));
  }

  /**
   * Publishes to a room's members on every hub process. In a room with
   * history (the `history` option) it is first stored in the room's stream,
   * by the script the hubs use: it gets the next offset, and a client that
   * was away recovers it.
   *
   * @returns A promise of how many hub processes had a member in the room,
   * and the publication's position in a room with history.
   * @throws {RangeError} If `room` is not a valid room name.
   * @throws {TypeError} If the value has no JSON form.
   *
   * @example
   * ```ts ignore
   * import { RedisEmitter } from "@wshub/hub/redis";
   *
   * const emitter = new RedisEmitter({ url: "redis://127.0.0.1:6379", history: { size: 100, ttl: 60_000 } });
   * const { position } = await emitter.publish("news", { title: "Deno 3" });
   * console.log(`offset ${position?.offset} of ${position?.epoch}`);
   * ```
   */
  publish(room: string, data: T): Promise<EmittedPublication> {
    const problem = roomNameProblem(room);
    if (problem !== undefined) throw new RangeError(`Invalid room name: ${problem}`);
    const history = this.#history(room);
    const payload = encodePayload(data);
    if (history === undefined) {
      const message = { kind: "room" as const, room, data: payload.plain, json: payload.json };
      return this.#publish(message).then((processes) => ({ processes }));
    }
    const request = appendRequest(this.#names, this.id, room, payload.plain, {
      ...history,
      json: payload.json,
    });
    return this.#call(() => this.#connection.append(request)).then(
      ([offset, epoch, processes]) => ({ processes, position: { offset, epoch } }),
    );
  }

  /**
   * Closes every connection of `user` on every hub process, as the hub's
   * `disconnectUser` does (4003 "access revoked" by default, which the
   * reference client does not retry).
   *
   * @param options `code`: 1000 or 3000–4999 (default 4003); `reason`: at
   * most 123 UTF-8 bytes (default "access revoked").
   * @returns A promise of how many hub processes had a connection of the user.
   * @throws {TypeError} If `user` is not a non-empty string, or an option is unknown.
   * @throws {RangeError} If the code is not one an application may send, or the reason is too long.
   *
   * @example Ban a user everywhere
   * ```ts ignore
   * import { RedisEmitter } from "@wshub/hub/redis";
   *
   * const emitter = new RedisEmitter({ url: "redis://127.0.0.1:6379" });
   * await emitter.disconnectUser("mallory", { reason: "banned" });
   * ```
   */
  disconnectUser(user: string, options?: DisconnectOptions): Promise<number> {
    checkUser(user);
    if (options !== undefined) assertKnownOptions("disconnect option", options, ["code", "reason"]);
    const code = options?.code ?? CloseCode.Revoked;
    assertApplicationCloseCode(code);
    const reason = options?.reason ?? REVOKED_REASON;
    const problem = closeReasonProblem(reason);
    if (problem !== undefined) throw new RangeError(`Invalid disconnect option reason: ${problem}`);
    return this.#publish({ kind: "disconnect", user, code, reason });
  }

  /**
   * Disconnects from Redis. Calls still waiting for the first connection
   * reject; later calls reject. Calling it again returns the same promise.
   *
   * @example
   * ```ts ignore
   * import { RedisEmitter } from "@wshub/hub/redis";
   *
   * const emitter = new RedisEmitter({ url: "redis://127.0.0.1:6379" });
   * await emitter.close();
   * ```
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const waiting of this.#waiting.splice(0)) {
        clearTimeout(waiting.timer);
        waiting.fail(closedError());
      }
      this.#readyWaiters.settle(closedError());
      await this.#connection.close();
      this.#deadlines.clear();
    })();
    return this.#closed;
  }

  /**
   * Closes the emitter, for `await using`.
   *
   * @example
   * ```ts ignore
   * import { RedisEmitter } from "@wshub/hub/redis";
   *
   * {
   *   await using emitter = new RedisEmitter({ url: "redis://127.0.0.1:6379" });
   *   await emitter.broadcast("hello");
   * } // closed here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A broadcast or user message carrying `data`, encoded as a hub encodes it. */
  #message(
    target: { kind: "broadcast" } | { kind: "user"; user: string },
    data: T,
  ): BackplaneMessage {
    const payload = encodePayload(data);
    return { ...target, data: payload.plain, json: payload.json };
  }

  #publish(message: BackplaneMessage): Promise<number> {
    const channel = this.#names.channelOf(message);
    const envelope = encodeMessage(this.id, message);
    return this.#call(() => this.#connection.publish(channel, envelope));
  }

  /**
   * Makes a call now when Redis is up, after the first connection while it
   * is being made (for up to `timeout`), and never while Redis is down.
   */
  #call<R>(send: () => Promise<R>): Promise<R> {
    if (this.#closed !== undefined) return Promise.reject(closedError());
    const status = this.#connection.status;
    if (status === "up") return this.#send(send);
    if (status !== "connecting") return Promise.reject(new RedisDownError(DOWN));
    if (this.#waiting.length >= this.#maxPending) {
      return Promise.reject(new RedisDownError(this.#tooMany("wait for the first connection")));
    }
    const { promise, resolve, reject } = Promise.withResolvers<R>();
    const waiting: Waiting = {
      send: () => this.#send(send).then(resolve, reject),
      fail: reject,
      timer: setTimeout(() => {
        this.#waiting.splice(this.#waiting.indexOf(waiting), 1);
        reject(
          new RedisDownError(
            `Redis was not connected within ${this.#timeout} ms of the call (the emitter's ` +
              "first connection): nothing was sent; the emitter goes on trying",
          ),
        );
      }, this.#timeout),
    };
    this.#waiting.push(waiting);
    return promise;
  }

  /**
   * Sends now, and waits for the answer for up to `timeout`; a failure
   * says whether the message may have gone out.
   */
  #send<R>(send: () => Promise<R>): Promise<R> {
    let sent: Promise<R>;
    try {
      sent = send();
    } catch (error) {
      return Promise.reject(this.#explain(error));
    }
    const explained = sent.catch((error) => {
      throw this.#explain(error);
    });
    return this.#deadlines.track(
      explained,
      () =>
        new Error(
          `Redis did not answer within ${this.#timeout} ms (timeout): the message may or may ` +
            "not have been published",
        ),
    );
  }

  /** A node-redis failure as the emitter reports it. */
  #explain(error: unknown): Error {
    const name = (error as Error)?.constructor?.name;
    const text = error instanceof Error ? error.message : String(error);
    if (name === "ClientOfflineError" || name === "ClientClosedError") {
      return new RedisDownError(DOWN);
    }
    if (text === "The queue is full") {
      return new RedisDownError(this.#tooMany("wait for Redis's answer"));
    }
    if (name === "TimeoutError") {
      // node-redis's timeout: the command was never written.
      return new RedisDownError(
        `Redis could not take the call within ${this.#timeout} ms (timeout): nothing was sent`,
      );
    }
    return new Error(
      `Redis failed the call (${text}): the message may or may not have been published`,
      { cause: error },
    );
  }

  #tooMany(what: string): string {
    return `${this.#maxPending} calls already ${what} (maxPending): nothing was sent; ` +
      "await calls before making more, or raise maxPending";
  }

  #statusChanged(status: EmitterStatus, error?: Error): void {
    if (status === "up") {
      this.#readyWaiters.settle();
      // The calls made while connecting go out first, in the order they were made.
      for (const waiting of this.#waiting.splice(0)) {
        clearTimeout(waiting.timer);
        waiting.send();
      }
    } else if (status === "down") {
      for (const waiting of this.#waiting.splice(0)) {
        clearTimeout(waiting.timer);
        waiting.fail(
          new RedisDownError(
            `Redis could not be reached (${error?.message ?? "down"}): nothing was sent; ` +
              "the emitter goes on trying",
          ),
        );
      }
    }
    try {
      this.#onStatus?.(status, error);
    } catch {
      // the application's listener must not break the emitter
    }
  }
}

function checkUser(user: unknown): void {
  if (typeof user !== "string" || user === "") {
    throw new TypeError(`Invalid user: ${JSON.stringify(user)}; a user id is a non-empty string`);
  }
}

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `Invalid RedisEmitter option ${name}: ${value}; expected an integer of at least 1`,
    );
  }
  return value;
}

function closedError(): Error {
  return new Error("The RedisEmitter is closed; create a new one to send again");
}
