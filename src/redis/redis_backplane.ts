/**
 * `RedisBackplane`: several hub processes as one, over Redis pub/sub, with
 * presence kept in Redis and a per-process lease so that a process that
 * dies without a goodbye has its members removed within about `presenceTtl`
 * (at most ⁴⁄₃ of it).
 *
 * Two connections, as node-redis recommends: one for commands (PUBLISH, the
 * presence scripts, leases), one for subscriptions. A process subscribes to
 * one channel for broadcasts, and to a room's (or a user's) channel only
 * while it has a local member; changes made in one turn of the event loop
 * (one batch of the hub's scheduler) go out as one SUBSCRIBE and one
 * UNSUBSCRIBE. Everything is fire-and-forget
 * for the hub: nothing here ever throws into it, and while Redis is down
 * the hub goes on delivering locally.
 *
 * @module
 */

import { clearImmediate, setImmediate } from "node:timers";
import { assertKnownOptions } from "../common/unknown_options.ts";
import { Waiters } from "../common/waiters.ts";
import type { Buffer } from "node:buffer";
import type {
  Backplane,
  BackplaneHost,
  BackplaneMessage,
  BackplaneStats,
  BackplaneStatus,
  BackplaneTopic,
} from "../server/backplane.ts";
import type { HistoryStore } from "../server/history.ts";
import type { PresenceEntry, PresenceStats } from "../server/types.ts";
import { asBuffer } from "./bytes.ts";
import { decodeEnvelope, encodeMessage, unknownVersionWarning } from "./envelope.ts";
import { checkPrefix, Names } from "./names.ts";
import { type BackplaneConnection, SingleConnection } from "./backplane_connection.ts";
import { checkServers, ClusterConnection } from "./cluster_connection.ts";
import { RedisPresence } from "./presence.ts";
import { RedisDownError, RedisHistory } from "./redis_history.ts";

/**
 * Options of {@linkcode RedisBackplane}.
 *
 * @example
 * ```ts ignore
 * import { RedisBackplane } from "@wshub/hub/redis";
 *
 * const backplane = new RedisBackplane({
 *   url: "redis://127.0.0.1:6379",
 *   presenceTtl: 10_000,
 *   onStatus: (status) => console.log("backplane", status),
 * });
 * ```
 *
 * @example A Redis Cluster instead of one server
 * ```ts ignore
 * import { RedisBackplane } from "@wshub/hub/redis";
 *
 * const backplane = new RedisBackplane({
 *   cluster: ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000", "redis://10.0.0.3:7000"],
 * });
 * ```
 */
export interface RedisBackplaneOptions {
  /** The Redis server, as `redis://[user:password@]host:port[/db]` (or give `cluster`). */
  url?: string;
  /**
   * A Redis Cluster (Redis ≥ 7), instead of one server: some of its nodes
   * as `redis://host:port` URLs (the seeds; the others are discovered).
   * Channels are then sharded (SSUBSCRIBE/SPUBLISH), and names carry hash
   * tags (docs/channel-format.md); see docs/clusters.md. Exactly one of
   * `url` and `cluster` is given.
   */
  cluster?: string[];
  /**
   * How long a process's presence outlives it when it dies without closing
   * (kill -9, a lost machine), in milliseconds: its lease expires after this
   * long without renewal, and a surviving process then removes its members
   * (leave events fire). Renewed every third of it. Default 15,000.
   */
  presenceTtl?: number;
  /** The prefix of every key and channel, to share one Redis between apps. Default `"wshub"`. */
  prefix?: string;
  /** Called on each status change (with the error when it goes down). */
  onStatus?: (status: BackplaneStatus, error?: Error) => void;
}

/**
 * Counters of what a {@linkcode RedisBackplane} has done: those of every
 * backplane (its `roundTrip` is measured on a ping it publishes to itself
 * every third of `presenceTtl`), and its history's.
 *
 * @example
 * ```ts ignore
 * import { RedisBackplane } from "@wshub/hub/redis";
 *
 * const backplane = new RedisBackplane({ url: "redis://127.0.0.1:6379" });
 * const { published, roundTrip } = backplane.stats();
 * console.log(published, roundTrip);
 * ```
 */
export interface RedisBackplaneStats extends BackplaneStats {
  /** Messages of an envelope version this process does not know, ignored (docs/channel-format.md). */
  unknownVersion: number;
  /** Publications stored in room streams by this process. */
  historyAppends: number;
  /** Room stream reads asked (recoveries, `hub.history`), answered by Redis or shared. */
  historyReads: number;
  /** Calls to Redis that read streams: each carries every distinct read of one turn. */
  historyReadCalls: number;
  /**
   * Reads answered without a read of their own: from a room's recent read
   * (kept a few seconds, up to date by its channel), or an identical read
   * of the same turn or on its way.
   */
  historyReadsShared: number;
  /** Calls to Redis that carried presence changes: each carries every change of one turn. */
  presenceCalls: number;
  /** Appends and reads that failed (Redis down or erroring). */
  historyFailures: number;
  /** This process's publications kept to match their copy from Redis (bounded; for leak checks). */
  historyPending: number;
  /**
   * Subscriptions taken again because Redis dropped them by itself (a
   * Redis Cluster's slot moved to another master).
   */
  resubscribed: number;
}

const DEFAULT_PRESENCE_TTL = 15_000;
/** The longest a join's history read waits for its room's subscription, in ms. */
const CONFIRMATION_WAIT = 2_000;
/** How long after a failed SUBSCRIBE it is sent again, in ms. */
const RETRY_WAIT = 250;

/**
 * Makes several hub processes act as one over Redis: a broadcast, a user
 * message or a room publish made on any process reaches the right
 * connections on every process, and presence answers for the whole cluster.
 * Give it to a hub as its `backplane` option.
 *
 * What it guarantees, and what it does not:
 * - Messages one process publishes reach every other process's connections
 *   in the order it published them, each once (a process never gets its own
 *   back). Counts returned by `broadcast`, `sendToUser` and `publish` are of
 *   local connections.
 * - Rooms with history (the hub's `history` option) are kept in Redis
 *   streams: every process delivers a room's publications in the stream's
 *   order (its own too, as they come back from Redis), and a client that
 *   reconnects to any process is sent what it missed.
 * - While Redis is down, each process keeps delivering to its own
 *   connections; what crosses processes meanwhile is lost (Redis pub/sub
 *   keeps nothing). It reconnects by itself (back-off up to ~1 s) and
 *   resubscribes; cross-process traffic resumes without a restart.
 * - On a Redis Cluster (`cluster`), the same per shard: a shard failing
 *   over loses what crosses processes on its rooms' and users' channels
 *   for a few seconds, and subscriptions Redis drops when a slot moves are
 *   taken again (docs/clusters.md).
 * - A process subscribes to a room's channel only while it has a member in
 *   the room (and to a user's while it has a connection of the user).
 * - Presence is cluster-wide: `hub.presence(room)` reads Redis; join and
 *   leave events fire once per user in the whole cluster. A process that
 *   dies without closing has its members removed when its lease lapses:
 *   `presenceTtl` after its last renewal, noticed within a third of it (so
 *   at most ⁴⁄₃ of `presenceTtl` after it died); one
 *   that closes removes them at once.
 *
 * @example Two processes, one Redis
 * ```ts ignore
 * import { Hub } from "@wshub/hub";
 * import { RedisBackplane } from "@wshub/hub/redis";
 *
 * const hub = new Hub({ backplane: new RedisBackplane({ url: "redis://127.0.0.1:6379" }) });
 * Deno.serve({ port: Number(Deno.env.get("PORT") ?? 8000) }, (req) => hub.upgrade(req));
 * hub.broadcast("reaches every process's clients");
 * ```
 */
export class RedisBackplane implements Backplane {
  /** This process's id in the cluster. */
  readonly node: string = crypto.randomUUID();
  readonly #names: Names;
  readonly #presenceTtl: number;
  readonly #onStatus: ((status: BackplaneStatus, error?: Error) => void) | undefined;
  readonly #connection: BackplaneConnection;
  readonly #history: RedisHistory;
  /** Channels whose subscription is known to be in effect (this subscriber generation). */
  readonly #confirmed = new Set<string>();
  /**
   * SUBSCRIBE and UNSUBSCRIBE commands sent for each channel and not answered
   * yet. While one is, a message on the channel proves nothing: it may have
   * been published before an UNSUBSCRIBE still on its way took effect.
   */
  readonly #changing = new Map<string, number>();
  /** Who waits for a channel's subscription to be in effect (history reads for joins). */
  readonly #waiters = new Map<string, (() => void)[]>();
  /** Counts the subscriber connection's losses. */
  #generation = 0;
  #host: BackplaneHost | undefined;
  #status: BackplaneStatus = "connecting";
  #closed = false;
  /** Channels wanted now, and what SUBSCRIBE/UNSUBSCRIBE still have to say. */
  readonly #channels = new Set<string>();
  readonly #toSubscribe = new Set<string>();
  readonly #toUnsubscribe = new Set<string>();
  /** Channels whose SUBSCRIBE failed, subscribed again when `#retryTimer` fires. */
  readonly #retrying = new Set<string>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** The end of this turn of the event loop, when the (un)subscribes asked in it go out. */
  #flushScheduled: ReturnType<typeof setImmediate> | undefined;
  readonly #presence: RedisPresence;
  /** `ready()` calls waiting for both connections to be up. */
  readonly #readyWaiters = new Waiters();
  #leaseTimer: ReturnType<typeof setInterval> | undefined;
  readonly #stats: RedisBackplaneStats = {
    published: 0,
    received: 0,
    dropped: 0,
    malformed: 0,
    unknownVersion: 0,
    channels: 0,
    roundTrip: undefined,
    historyAppends: 0,
    historyReads: 0,
    historyReadCalls: 0,
    historyReadsShared: 0,
    presenceCalls: 0,
    historyFailures: 0,
    historyPending: 0,
    resubscribed: 0,
  };

  /**
   * Creates the backplane; it connects when a hub starts it.
   *
   * @throws {RangeError} If `presenceTtl` is not a number of at least 100 ms.
   * @throws {TypeError} If `url` is not a redis:// or rediss:// URL.
   */
  constructor(options: RedisBackplaneOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("RedisBackplane needs options: new RedisBackplane({ url })");
    }
    assertKnownOptions("RedisBackplane option", options, [
      "url",
      "cluster",
      "presenceTtl",
      "prefix",
      "onStatus",
    ]);
    const { url, seeds } = checkServers("RedisBackplane", options);
    const ttl = options.presenceTtl ?? DEFAULT_PRESENCE_TTL;
    if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 100) {
      throw new RangeError(
        `Invalid RedisBackplane option presenceTtl: ${ttl}; expected a number of ms, at least 100`,
      );
    }
    this.#presenceTtl = ttl;
    const cluster = seeds !== undefined;
    this.#names = new Names(checkPrefix("RedisBackplane", options.prefix, cluster), cluster);
    this.#onStatus = options.onStatus;
    const connection = { node: this.node, names: this.#names, ttl };
    this.#connection = seeds === undefined
      ? new SingleConnection(url, connection)
      : new ClusterConnection(seeds, connection);
    this.#history = new RedisHistory({
      node: this.node,
      append: (request) => {
        if (!this.#connection.commandsReady) return Promise.reject(new RedisDownError());
        return this.#connection.append(request);
      },
      read: (quadruples) => {
        if (!this.#connection.commandsReady) return Promise.reject(new RedisDownError());
        return this.#connection.read(quadruples);
      },
      names: this.#names,
      subscription: (channel) =>
        this.#confirmed.has(channel)
          ? "confirmed"
          : this.#channels.has(channel)
          ? "pending"
          : "none",
      confirmation: (channel) => this.#confirmation(channel),
      generation: () => this.#generation,
      host: () => this.#host,
    });
    const commands = this.#connection;
    this.#presence = new RedisPresence({
      node: this.node,
      ready: () => commands.commandsReady,
      names: this.#names,
      host: () => this.#host,
      ...commands.presence,
    }, ttl);
  }

  /**
   * Room streams, kept in Redis: with the hub's `history` option, any
   * process can serve a recovery, and every process delivers a room's
   * publications in the stream's order.
   */
  get history(): HistoryStore {
    return this.#history;
  }

  /** Where its connections to Redis are. */
  get status(): BackplaneStatus {
    return this.#status;
  }

  /**
   * Resolves once both connections to Redis are up (at once when they are);
   * rejects if the backplane is closed first, or with the signal's reason.
   * `hub.ready()` waits for the same.
   *
   * @example
   * ```ts ignore
   * import { RedisBackplane } from "@wshub/hub/redis";
   *
   * const backplane = new RedisBackplane({ url: "redis://127.0.0.1:6379" });
   * // … new Hub({ backplane }) starts it …
   * await backplane.ready({ signal: AbortSignal.timeout(5_000) });
   * ```
   */
  ready(options?: { signal?: AbortSignal }): Promise<void> {
    if (this.#status === "up") return Promise.resolve();
    if (this.#closed) return Promise.reject(new Error("The RedisBackplane is closed"));
    return this.#readyWaiters.wait(options?.signal);
  }

  /** Counters of what it has done. */
  stats(): RedisBackplaneStats {
    return {
      ...this.#stats,
      channels: this.#channels.size,
      historyAppends: this.#history.appends,
      historyReads: this.#history.reads,
      historyReadCalls: this.#history.readCalls,
      historyReadsShared: this.#history.readsShared,
      presenceCalls: this.#presence.calls,
      historyFailures: this.#history.failures,
      historyPending: this.#history.pending,
    };
  }

  /**
   * Called by the hub: connects, subscribes to broadcasts, and takes its
   * lease. Returns at once; a Redis that is down is retried in the background.
   */
  start(host: BackplaneHost): void {
    if (this.#host !== undefined) {
      throw new Error("A RedisBackplane serves one hub; create one per hub");
    }
    this.#host = host;
    this.#connection.start({
      ready: () => this.#ready(),
      down: (error, name) => this.#down(error, name),
      subscriberLost: () => this.#subscriberLost(),
      heard: (message, channel) => this.#heard(message, channel),
      dropped: (channels) => this.#resubscribe(channels),
    });
    this.#want(this.#names.broadcast());
    this.#want(this.#pingChannel());
    this.#leaseTimer = setInterval(
      () => void this.#tick(),
      Math.max(50, Math.floor(this.#presenceTtl / 3)),
    );
  }

  publish(message: BackplaneMessage): void {
    if (this.#closed) return;
    const channel = this.#names.channelOf(message);
    const envelope = encodeMessage(this.node, message);
    if (!this.#connection.commandsReady) {
      this.#stats.dropped++;
      return;
    }
    this.#stats.published++;
    this.#connection.publish(channel, asBuffer(envelope)).catch(() => this.#stats.dropped++);
  }

  subscribe(topic: BackplaneTopic): void {
    this.#want(this.#topicChannel(topic));
  }

  unsubscribe(topic: BackplaneTopic): void {
    const channel = this.#topicChannel(topic);
    if (!this.#channels.delete(channel)) return;
    this.#wake(channel);
    this.#confirmed.delete(channel);
    this.#history.unsubscribed(channel);
    if (!this.#toSubscribe.delete(channel)) this.#toUnsubscribe.add(channel);
    this.#scheduleFlush();
  }

  presenceChanged(room: string, user: string, delta: 1 | -1): void {
    if (this.#closed) return;
    this.#presence.changed(room, user, delta);
  }

  presence(room: string): Promise<PresenceEntry[]> {
    return this.#presence.list(room);
  }

  /** A room's users and connections across the cluster: one small script, no list built. */
  presenceStats(room: string): Promise<PresenceStats> {
    return this.#presence.stats(room);
  }

  /**
   * Leaves the cluster: this process's presence is removed at once (leave
   * events fire for users who had no connection elsewhere), its lease is
   * dropped, and both connections close.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#leaseTimer);
    this.#leaseTimer = undefined;
    clearImmediate(this.#flushScheduled);
    clearTimeout(this.#retryTimer);
    this.#flushScheduled = undefined;
    this.#presence.stop();
    this.#history.stop();
    await this.#presence.leave();
    await this.#connection.close();
    this.#setStatus("closed");
  }

  // Status

  #ready(): void {
    if (this.#closed) return;
    if (!this.#connection.ready) return;
    this.#presence.invalidate();
    this.#setStatus("up");
    void this.#tick();
  }

  #down(error: Error, name: string): void {
    if (this.#closed) return;
    this.#presence.invalidate();
    if (this.#status !== "down") {
      this.#host?.logger.debug("wshub: Redis error", { connection: name, error: error.message });
    }
    this.#setStatus("down", error);
  }

  #setStatus(status: BackplaneStatus, error?: Error): void {
    if (status === this.#status) return;
    this.#status = status;
    if (status === "up" || status === "closed") {
      const failure = status === "closed" ? new Error("The RedisBackplane is closed") : undefined;
      this.#readyWaiters.settle(failure);
    }
    this.#host?.status(status, error);
    try {
      this.#onStatus?.(status, error);
    } catch {
      // the application's listener must not break the backplane
    }
  }

  // Subscriptions, batched per turn of the event loop

  #want(channel: string): void {
    if (this.#channels.has(channel)) return;
    this.#channels.add(channel);
    if (!this.#toUnsubscribe.delete(channel)) this.#toSubscribe.add(channel);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled !== undefined || this.#closed) return;
    // At the end of the turn (the hub's scheduler batch): a storm's thousands of joins and new
    // users' channels go out as a few SUBSCRIBE commands, not one each.
    this.#flushScheduled = setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = undefined;
    if (this.#closed) return;
    if (this.#toUnsubscribe.size > 0) {
      const channels = [...this.#toUnsubscribe];
      this.#toUnsubscribe.clear();
      const generation = this.#generation;
      this.#changes(channels, 1);
      this.#connection.unsubscribe(channels)
        .catch((error: Error) => this.#host?.logger.warn("wshub: UNSUBSCRIBE failed", { error }))
        .finally(() => this.#changed(channels, generation));
    }
    if (this.#toSubscribe.size > 0) {
      const channels = [...this.#toSubscribe];
      this.#toSubscribe.clear();
      const generation = this.#generation;
      this.#changes(channels, 1);
      this.#connection.subscribe(channels).then(
        () => {
          this.#changed(channels, generation);
          if (generation !== this.#generation) return;
          // In effect now, unless it was dropped (or dropped and asked again) meanwhile.
          for (const channel of channels) {
            if (this.#channels.has(channel) && !this.#changing.has(channel)) {
              this.#confirm(channel);
            }
          }
        },
        (error: Error) => {
          this.#changed(channels, generation);
          this.#host?.logger.warn("wshub: SUBSCRIBE failed", { error });
          this.#retryLater(channels);
        },
      );
    }
  }

  /**
   * Subscribes again to `channels` (those still wanted) after
   * {@linkcode RETRY_WAIT} ms: a Redis Cluster refuses an SSUBSCRIBE while
   * its nodes disagree on who owns the slot, for a moment during a
   * migration or a failover.
   */
  #retryLater(channels: string[]): void {
    for (const channel of channels) this.#retrying.add(channel);
    if (this.#retryTimer !== undefined || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      const retrying = [...this.#retrying];
      this.#retrying.clear();
      // Only those still not subscribed: another attempt may have made it meanwhile.
      this.#resubscribe(this.#connection.lost(retrying));
    }, RETRY_WAIT);
  }

  #confirm(channel: string): void {
    this.#confirmed.add(channel);
    this.#wake(channel);
  }

  /** Wakes who waits for `channel`'s subscription: it is in effect, or no longer wanted. */
  #wake(channel: string): void {
    const waiters = this.#waiters.get(channel);
    if (waiters === undefined) return;
    this.#waiters.delete(channel);
    for (const wake of waiters) wake();
  }

  /**
   * Resolves once the subscription to `channel` is in effect, or not wanted
   * any more, or after {@linkcode CONFIRMATION_WAIT} ms (Redis is slow or
   * down: the read goes on, and a gap it leaves is repaired by the client).
   */
  #confirmation(channel: string): Promise<void> {
    if (this.#confirmed.has(channel) || !this.#channels.has(channel)) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, CONFIRMATION_WAIT);
    let waiters = this.#waiters.get(channel);
    if (waiters === undefined) this.#waiters.set(channel, waiters = []);
    waiters.push(() => {
      clearTimeout(timer);
      resolve();
    });
    return promise;
  }

  /** Counts (un)subscribe commands on their way, per channel. */
  #changes(channels: string[], delta: 1 | -1): void {
    for (const channel of channels) {
      const count = (this.#changing.get(channel) ?? 0) + delta;
      if (count > 0) this.#changing.set(channel, count);
      else this.#changing.delete(channel);
    }
  }

  /** (Un)subscribe commands sent on the subscriber connection of `generation` were answered. */
  #changed(channels: string[], generation: number): void {
    // After a reconnect the count started again (commands of a lost connection count no more).
    if (generation === this.#generation) this.#changes(channels, -1);
  }

  #heard(message: Buffer, channel: Buffer): void {
    const name = channel.toString();
    // A message proves the subscription (node-redis renews them by itself after a reconnect),
    // unless a change of it is still on its way.
    if (this.#channels.has(name) && !this.#changing.has(name)) this.#confirm(name);
    if (name === this.#pingChannel()) {
      // Our own ping, through Redis and back: the time it was sent, in ms since the page's origin.
      const sent = Number(message.toString());
      if (Number.isFinite(sent)) this.#stats.roundTrip = performance.now() - sent;
      return;
    }
    const envelope = decodeEnvelope(message, this.node);
    if (envelope === undefined) {
      this.#stats.malformed++;
      return;
    }
    if ("version" in envelope) {
      if (this.#stats.unknownVersion++ === 0) {
        this.#host?.logger.warn(unknownVersionWarning(envelope), { channel: name });
      }
      return;
    }
    // A publication with a position extends the room's recent reads kept in this process.
    if ("message" in envelope && envelope.message.kind === "room") {
      this.#history.heard(envelope.message, envelope.expires, envelope.size);
    }
    if (envelope.origin === this.node) {
      // Delivered locally already, except a room publication with history: its copy is its delivery.
      if ("message" in envelope && envelope.message.kind === "room") {
        this.#history.heardOwn(envelope.message);
      }
      return;
    }
    this.#stats.received++;
    const host = this.#host;
    if (host === undefined) return;
    if ("presence" in envelope) host.presence(envelope.presence, false);
    else host.deliver(envelope.message);
  }

  /** Wanted channels with no (un)subscribe on its way: those believed subscribed. */
  *#settled(): Iterable<string> {
    for (const channel of this.#channels) {
      if (!this.#changing.has(channel) && !this.#toSubscribe.has(channel)) yield channel;
    }
  }

  /**
   * Redis dropped these channels' subscriptions by itself (a cluster's slot
   * moved to another master): those still wanted are subscribed again, at
   * the end of this turn, and none is in effect until that is answered.
   */
  #resubscribe(channels: string[]): void {
    if (this.#closed) return;
    let any = false;
    // Not one with a (un)subscribe on its way: if that fails, it is retried (#retryLater).
    channels = channels.filter((channel) =>
      this.#channels.has(channel) && !this.#toSubscribe.has(channel) &&
      !this.#changing.has(channel)
    );
    this.#connection.forget(channels);
    for (const channel of channels) {
      this.#confirmed.delete(channel);
      this.#history.unsubscribed(channel);
      this.#toSubscribe.add(channel);
      this.#stats.resubscribed++;
      any = true;
    }
    if (any) {
      this.#host?.logger.info("wshub: Redis dropped subscriptions; subscribing again", {
        channels: channels.length,
      });
      this.#scheduleFlush();
    }
  }

  #subscriberLost(): void {
    this.#generation++;
    this.#confirmed.clear();
    this.#changing.clear();
    for (const channel of [...this.#waiters.keys()]) this.#wake(channel);
    this.#history.unsubscribed();
  }

  /** Every third of `presenceTtl`: history upkeep, the round-trip ping, presence upkeep. */
  async #tick(): Promise<void> {
    this.#history.prune();
    if (this.#closed || !this.#connection.commandsReady) return;
    // Subscriptions Redis dropped without a word (a cluster's slot moved): take them again.
    this.#resubscribe(this.#connection.lost(this.#settled()));
    // The round trip a message takes through Redis: PUBLISH here, received on our subscription.
    this.#connection.publish(this.#pingChannel(), String(performance.now())).catch(() => {});
    await this.#presence.upkeep();
  }

  // Names

  #topicChannel(topic: BackplaneTopic): string {
    return topic.kind === "room" ? this.#names.room(topic.room) : this.#names.user(topic.user);
  }

  /** This process's own channel, for measuring the round trip through Redis. */
  #pingChannel(): string {
    return this.#names.ping(this.node);
  }
}
