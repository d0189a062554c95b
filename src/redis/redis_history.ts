/**
 * Room history kept in Redis, for `RedisBackplane`: each room's stream is a
 * Redis stream plus a position hash (see scripts.ts), so that any process
 * can serve a client's recovery, whichever process it was connected to.
 *
 * One Lua script stores a publication and publishes it on the room's
 * channel, with its position, to every process — the publisher included.
 * Every process delivers a room's publications as they come off the
 * channel, so all of them deliver in the stream's order. The publisher's
 * own copy is matched to its `publish` by the `ref` the hub gave: it
 * arrives before or after the script's reply, or — when the process was
 * not yet (or no longer) subscribed to the room — never, and then the
 * reply delivers it instead, once.
 *
 * Reads are made for storms: after a restart, thousands of clients rejoin
 * their rooms within seconds, most of a room's members from the same
 * position. The reads asked in one turn of the event loop go to Redis as
 * one script call, identical ones (same room, same start, same limit) as
 * one read; a read identical to one already on its way waits for it. And a
 * room whose stream was just read keeps that read — its position and
 * publications, kept up to date by the room's channel — for a few seconds
 * ({@linkcode TAIL_LIFETIME}): a later read from a position it covers is
 * answered from it, without Redis. It is dropped as soon as it could be
 * wrong: the subscription lost or ended, a publication missing on the
 * channel (an offset that skips one), a new epoch. So a storm costs Redis
 * about one read per room and distinct position, not one per client.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { clearImmediate, setImmediate } from "node:timers";
import type { BackplaneHost, BackplaneMessage } from "../server/backplane.ts";
import type {
  AppendOptions,
  HistoryReadOptions,
  HistoryStore,
  Position,
  StoredPage,
  StoredPublication,
} from "../server/history.ts";
import { newEpoch, positionTtl } from "../server/history.ts";
import { asBuffer } from "./bytes.ts";
import { encodeAppendHeader } from "./envelope.ts";
import type { Names } from "./names.ts";

/**
 * One run of the append script (scripts.ts `HISTORY_APPEND`): its keys, its
 * arguments but the payload, and the payload.
 */
export interface AppendRequest {
  keys: [position: string, stream: string, channel: string];
  args: string[];
  payload: Buffer;
}

/**
 * The append script's keys and arguments for a publication to `room` from
 * process `origin`: what a hub's history and an emitter both send, so that
 * a room's stream has one format (docs/channel-format.md).
 */
export function appendRequest(
  names: Names,
  origin: string,
  room: string,
  data: string | Uint8Array,
  options: AppendOptions,
): AppendRequest {
  return {
    keys: [names.position(room), names.stream(room), names.room(room)],
    args: [
      String(options.size),
      String(Math.ceil(options.ttl)),
      String(Math.ceil(positionTtl(options))),
      newEpoch(),
      encodeAppendHeader(origin, room, data, options.ref, options.json),
      typeof data !== "string" ? "0" : options.json ? "2" : "1",
    ],
    payload: typeof data === "string" ? Buffer.from(data) : asBuffer(data),
  };
}

/** What the history needs from its backplane. */
export interface HistoryLink {
  /** The process's id (the envelopes' origin). */
  readonly node: string;
  /** Runs the append script; resolves with `[offset, epoch]`. */
  append(request: AppendRequest): Promise<[number, string]>;
  /**
   * Runs the read script for several reads (quadruples room, after, epoch,
   * limit); resolves with Redis's time, then each read's flat reply, every
   * item as bytes.
   */
  read(quadruples: string[]): Promise<[Buffer, ...Buffer[][]]>;
  /** The names of keys and channels. */
  readonly names: Names;
  /**
   * Whether the subscription to `channel` is known to be in effect in Redis
   * (`confirmed`: a copy published from now on will come), asked but not
   * known to be (`pending`: it may come), or not wanted (`none`).
   */
  subscription(channel: string): "confirmed" | "pending" | "none";
  /**
   * Resolves once the subscription to `channel` is in effect (or not
   * wanted, or after a bounded wait): a join reads the room's stream only
   * then, so that what is published after the read comes on the channel.
   */
  confirmation(channel: string): Promise<void>;
  /** The subscriber connection's generation: it changes whenever that connection is lost. */
  generation(): number;
  /** The hub, once started. */
  host(): BackplaneHost | undefined;
}

/**
 * What `hub.history()` rejects with, and why a publication to a room with
 * history was delivered without a position, while the backplane's Redis is
 * not connected (still connecting at start, or down). The backplane
 * reconnects by itself; `hub.ready()` resolves once it is up. A
 * `RedisEmitter`'s calls reject with it too while its Redis is down: then
 * nothing was sent, and the call can be made again.
 *
 * @example
 * ```ts ignore
 * import { Hub } from "@wshub/hub";
 * import { RedisBackplane, RedisDownError } from "@wshub/hub/redis";
 *
 * const hub = new Hub({
 *   backplane: new RedisBackplane({ url: "redis://127.0.0.1:6379" }),
 *   history: { size: 100, ttl: 60_000 },
 * });
 * try {
 *   console.log(await hub.history("news"));
 * } catch (error) {
 *   if (error instanceof RedisDownError) console.log("Redis is down; try again shortly");
 * }
 * ```
 */
export class RedisDownError extends Error {
  /** `message` says what was not done; by default, the backplane's. */
  constructor(
    message =
      "Redis is not connected; the backplane reconnects by itself (hub.ready() waits for it)",
  ) {
    super(message);
    this.name = "RedisDownError";
  }
}

/**
 * How long a room's read answers later reads of the room (kept up to date by
 * its channel), in ms: about how long a crowd of reconnecting clients takes
 * to come back.
 */
export const TAIL_LIFETIME = 5_000;
/** The most publications a room's kept read holds when the stream's size is not known. */
const TAIL_MAX = 10_000;

/** A publication kept with a room's read, and when it expires (`Date.now()` ms). */
interface TailEntry {
  offset: number;
  data: string | Uint8Array;
  json: boolean;
  expires: number;
}

/**
 * A room's recent read, kept up to date by its channel: every publication
 * after `from` up to `offset`, in `entries`.
 */
interface Tail {
  epoch: string;
  from: number;
  offset: number;
  entries: TailEntry[];
  /** When it stops answering (`Date.now()` ms). */
  until: number;
  /** The subscriber connection's generation it was read in. */
  generation: number;
  /** Redis's clock minus this process's, at the read. */
  skew: number;
  /** The most publications it keeps (the stream's size, once known). */
  size: number;
}

/** A publication heard on a room's channel while a read of the room was on its way. */
interface Heard {
  offset: number;
  epoch: string;
  data: string | Uint8Array;
  json: boolean;
  /** When it expires, in Redis's clock (unknown from an older process's envelope). */
  expires: number | undefined;
  size: number | undefined;
}

type Waiter = { resolve: (page: StoredPage) => void; reject: (error: unknown) => void };

/** Identical reads of one turn, going to Redis as one. */
interface Queued {
  key: string;
  room: string;
  options: HistoryReadOptions;
  waiters: Waiter[];
  /** Reads identical to it asked after it went to Redis. */
  late: Waiter[];
  /** What its room's channel carried while it was on its way. */
  heard: Heard[];
  /** Whether the room's subscription was in effect when it went. */
  confirmed: boolean;
}

/** Own publications delivered without waiting for their copy are remembered this long. */
const FORGET_AFTER_MS = 60_000;
/** An own publication whose copy has not come back after this long is delivered without it. */
const COPY_OVERDUE_MS = 5_000;

const decoder = new TextDecoder();

/** Room streams in Redis, with the publisher's own copies delivered once, in order. */
export class RedisHistory implements HistoryStore {
  readonly #link: HistoryLink;
  /** Own publications whose reply came, and whose copy is on its way: ref → message. */
  readonly #awaiting = new Map<
    number,
    { message: Extract<BackplaneMessage, { kind: "room" }>; at: number }
  >();
  /** Own copies that came before their reply: ref → position, and when. */
  readonly #early = new Map<number, { position: Position | undefined; at: number }>();
  /** Own publications delivered without their copy: a copy that comes later is dropped. */
  readonly #delivered = new Map<number, number>();
  /** Appends done; reads asked (answered by Redis or not); reads and appends failed. */
  appends = 0;
  reads = 0;
  failures = 0;
  /** Calls to Redis that read streams (each carrying every distinct read of one turn). */
  readCalls = 0;
  /** Reads answered without a read of their own: from a room's kept read, or one of the same turn or on its way. */
  readsShared = 0;
  /** Reads of this turn, by what they ask; and reads on their way, by what they ask. */
  #batch = new Map<string, Queued>();
  readonly #flying = new Map<string, Queued>();
  #flush: ReturnType<typeof setImmediate> | undefined;
  /** Reads on their way, per room: what the room's channel carries meanwhile is kept for them. */
  readonly #listening = new Map<string, Set<Queued>>();
  /** Rooms' recent reads, kept up to date by their channels. */
  readonly #tails = new Map<string, Tail>();

  constructor(link: HistoryLink) {
    this.#link = link;
  }

  /**
   * Stores the publication and publishes it to every process subscribed to
   * the room. Rejects when Redis did not take it (then no process got it).
   */
  async append(room: string, data: string | Uint8Array, options: AppendOptions): Promise<Position> {
    const link = this.#link;
    const ref = options.ref;
    const channel = link.names.room(room);
    const subscription = link.subscription(channel);
    const generation = link.generation();
    let position: Position;
    try {
      const [offset, epoch] = await link.append(
        appendRequest(link.names, link.node, room, data, options),
      );
      position = { offset, epoch };
      this.appends++;
    } catch (error) {
      const early = ref === undefined ? undefined : this.#early.get(ref);
      if (early?.position !== undefined) {
        // Its copy came back: it was stored and published; only the reply was lost.
        this.#early.delete(ref!);
        return early.position;
      }
      this.failures++;
      if (!(error instanceof RedisDownError)) {
        link.host()?.logger.warn("wshub: could not store a publication in Redis", { room, error });
      }
      throw error;
    }
    if (ref === undefined || this.#early.delete(ref)) return position;
    const message = { kind: "room" as const, room, data, json: options.json, position, ref };
    if (subscription === "confirmed" && generation === link.generation()) {
      this.#awaiting.set(ref, { message, at: performance.now() });
      return position;
    }
    // Not subscribed (yet, or any more): its copy may never come. Deliver it now, once.
    if (subscription === "pending") this.#delivered.set(ref, performance.now());
    link.host()?.deliver(message);
    return position;
  }

  /**
   * Reads a room's stream (see {@linkcode HistoryReadOptions}): from the
   * room's kept read when it covers the request, else with the other reads
   * of this turn, in one call.
   */
  async read(room: string, options: HistoryReadOptions): Promise<StoredPage> {
    const link = this.#link;
    // A member joining: what is appended after the read must come on the room's channel, so the
    // read waits until the subscription is in effect (else a publication between the two is in
    // neither: a gap).
    const channel = link.names.room(room);
    if (link.subscription(channel) === "pending") await link.confirmation(channel);
    this.reads++;
    const kept = this.#fromTail(room, options);
    if (kept !== undefined) {
      this.readsShared++;
      return kept;
    }
    return await this.#queue(room, options);
  }

  /** Queues a read for this turn's call, or joins an identical one queued or on its way. */
  #queue(room: string, options: HistoryReadOptions): Promise<StoredPage> {
    const { promise, resolve, reject } = Promise.withResolvers<StoredPage>();
    const since = options.since;
    const key = [room, since?.offset ?? "", since?.epoch ?? "", options.limit ?? ""].join("\0");
    const flying = this.#flying.get(key);
    if (flying !== undefined) {
      // On its way: answered from the room's kept read once it is back (or read again).
      this.readsShared++;
      flying.late.push({ resolve, reject });
      return promise;
    }
    let queued = this.#batch.get(key);
    if (queued === undefined) {
      queued = { key, room, options, waiters: [], late: [], heard: [], confirmed: false };
      this.#batch.set(key, queued);
    } else this.readsShared++;
    queued.waiters.push({ resolve, reject });
    this.#flush ??= setImmediate(() => this.#send());
    return promise;
  }

  /** Sends this turn's reads as one call. */
  #send(): void {
    this.#flush = undefined;
    const batch = [...this.#batch.values()];
    this.#batch = new Map();
    if (batch.length === 0) return;
    const link = this.#link;
    const generation = link.generation();
    const quadruples: string[] = [];
    for (const queued of batch) {
      const { room, options } = queued;
      quadruples.push(
        room,
        options.since === undefined ? "" : String(options.since.offset),
        options.since?.epoch ?? "",
        options.limit === undefined ? "" : String(options.limit),
      );
      queued.confirmed = link.subscription(link.names.room(room)) === "confirmed";
      this.#flying.set(queued.key, queued);
      let listening = this.#listening.get(room);
      if (listening === undefined) this.#listening.set(room, listening = new Set());
      listening.add(queued);
    }
    this.readCalls++;
    let reading: Promise<[Buffer, ...Buffer[][]]>;
    try {
      reading = link.read(quadruples);
    } catch (error) {
      reading = Promise.reject(error);
    }
    reading.then((reply) => {
      const redisNow = Number(reply[0].toString());
      const skew = redisNow - Date.now();
      batch.forEach((queued, i) => {
        this.#landed(queued);
        const raw = reply[i + 1] as Buffer[];
        const page = pageOf(raw, redisNow);
        this.#keep(queued, raw, skew, generation);
        for (const waiter of queued.waiters) waiter.resolve(page);
        for (const waiter of queued.late) {
          const kept = this.#fromTail(queued.room, queued.options);
          if (kept !== undefined) waiter.resolve(kept);
          else this.#queue(queued.room, queued.options).then(waiter.resolve, waiter.reject);
        }
      });
    }, (error) => {
      if (!(error instanceof RedisDownError)) {
        link.host()?.logger.warn("wshub: could not read rooms' history from Redis", { error });
      }
      for (const queued of batch) {
        this.#landed(queued);
        for (const waiter of [...queued.waiters, ...queued.late]) {
          this.failures++;
          waiter.reject(error);
        }
      }
    });
  }

  /** A read came back: it no longer listens to its room's channel. */
  #landed(queued: Queued): void {
    if (this.#flying.get(queued.key) === queued) this.#flying.delete(queued.key);
    const listening = this.#listening.get(queued.room);
    listening?.delete(queued);
    if (listening?.size === 0) this.#listening.delete(queued.room);
  }

  /**
   * Keeps a read for its room when it can answer later reads: the room's
   * subscription was in effect throughout, the stream exists, the read has
   * every publication from its first to the stream's last, and what the
   * channel carried meanwhile follows it with no offset missing. A room's
   * kept read is replaced only by one that covers as much.
   */
  #keep(queued: Queued, raw: Buffer[], skew: number, generation: number): void {
    const link = this.#link;
    const room = queued.room;
    if (
      !queued.confirmed || generation !== link.generation() ||
      link.subscription(link.names.room(room)) !== "confirmed"
    ) return;
    const epoch = raw[0].toString();
    if (epoch === "") return;
    const offset = Number(raw[1].toString());
    const ttl = Number(raw[2].toString());
    const entries: TailEntry[] = [];
    for (let i = 3; i + 3 < raw.length; i += 4) {
      const entry = entryOf(raw, i);
      entries.push({ ...entry, expires: Number(raw[i + 3].toString()) - skew });
    }
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].offset !== entries[0].offset + i) return; // a hole: cannot tell what is missing
    }
    if (entries.length > 0 && entries.at(-1)!.offset !== offset) return; // not up to the end
    const tail: Tail = {
      epoch,
      from: entries.length > 0 ? entries[0].offset - 1 : offset,
      offset,
      entries,
      until: Date.now() + (ttl >= 0 ? Math.min(TAIL_LIFETIME, ttl) : TAIL_LIFETIME),
      generation,
      skew,
      size: TAIL_MAX,
    };
    for (const heard of queued.heard) {
      if (!extend(tail, heard)) return;
    }
    const kept = this.#tails.get(room);
    if (
      kept !== undefined && kept.epoch === epoch && kept.from <= tail.from &&
      kept.generation === generation && Date.now() < kept.until
    ) return;
    this.#tails.set(room, tail);
  }

  /** The answer to a read from the room's kept read, or `undefined` when it does not cover it. */
  #fromTail(room: string, options: HistoryReadOptions): StoredPage | undefined {
    const tail = this.#tails.get(room);
    if (tail === undefined) return undefined;
    const link = this.#link;
    const now = Date.now();
    if (
      now >= tail.until || tail.generation !== link.generation() ||
      link.subscription(link.names.room(room)) !== "confirmed"
    ) {
      this.#tails.delete(room);
      return undefined;
    }
    const { since, limit } = options;
    const count = tail.entries.length;
    let start: number, end: number;
    if (since !== undefined) {
      if (since.epoch !== tail.epoch || since.offset < tail.from) return undefined;
      start = Math.min(count, since.offset - tail.from);
      end = limit === undefined ? count : Math.min(count, start + limit);
    } else if (limit === undefined) {
      if (tail.from > 0) return undefined; // older ones may be in the stream
      start = 0;
      end = count;
    } else {
      if (limit > count && tail.from > 0) return undefined;
      start = Math.max(0, count - limit);
      end = count;
    }
    const publications: StoredPublication[] = [];
    for (let i = start; i < end; i++) {
      const { offset, data, json, expires } = tail.entries[i];
      if (expires <= now) continue; // as Redis skips expired ones
      publications.push(json ? { offset, data, json } : { offset, data });
    }
    return { epoch: tail.epoch, offset: tail.offset, publications };
  }

  /**
   * A publication with a position came on its room's channel (this
   * process's own, or another's): reads of the room on their way keep it,
   * and the room's kept read follows it — or is dropped when it cannot (an
   * offset skipped, a new epoch, an expiry not known).
   */
  heard(
    message: Extract<BackplaneMessage, { kind: "room" }>,
    expires: number | undefined,
    size: number | undefined,
  ): void {
    const position = message.position;
    if (position === undefined) return;
    const heard: Heard = {
      offset: position.offset,
      epoch: position.epoch,
      data: message.data,
      json: message.json === true,
      expires,
      size,
    };
    for (const queued of this.#listening.get(message.room) ?? []) queued.heard.push(heard);
    const tail = this.#tails.get(message.room);
    if (tail !== undefined && !extend(tail, heard)) this.#tails.delete(message.room);
  }

  /** The backplane closes: reads of this turn fail, and nothing is kept. */
  stop(): void {
    clearImmediate(this.#flush);
    this.#flush = undefined;
    const error = new Error("The RedisBackplane is closed");
    for (const queued of this.#batch.values()) {
      for (const waiter of queued.waiters) waiter.reject(error);
    }
    this.#batch.clear();
    this.#tails.clear();
  }

  /** How many rooms keep a read now (a test's check). */
  get kept(): number {
    return this.#tails.size;
  }

  /**
   * This process's own publication came back on the room's channel: hand it
   * to the hub, unless it was already delivered without it.
   */
  heardOwn(message: Extract<BackplaneMessage, { kind: "room" }>): void {
    const ref = message.ref;
    if (ref === undefined) return;
    if (this.#delivered.delete(ref)) return;
    if (!this.#awaiting.delete(ref)) {
      this.#early.set(ref, { position: message.position, at: performance.now() });
    }
    this.#link.host()?.deliver(message);
  }

  /**
   * The subscription to `channel` ended (the room has no member here), or
   * the subscriber connection was lost (`channel` undefined): copies still
   * awaited will not come; deliver them now.
   */
  unsubscribed(channel?: string): void {
    // The channel no longer tells of every publication: rooms' kept reads would go stale.
    for (const room of [...this.#tails.keys()]) {
      if (channel === undefined || this.#link.names.room(room) === channel) {
        this.#tails.delete(room);
      }
    }
    for (const [ref, { message }] of this.#awaiting) {
      if (channel !== undefined && this.#link.names.room(message.room) !== channel) continue;
      this.#deliverWithoutCopy(ref, message);
    }
  }

  /**
   * Forgets what is kept for copies that can no longer come, and delivers
   * own publications whose copy is overdue (it should never be: the
   * subscription was confirmed; but a lost copy must not hold a publication
   * back for good — members repair the order by their offsets).
   */
  prune(): void {
    const wall = Date.now();
    for (const [room, tail] of this.#tails) if (wall >= tail.until) this.#tails.delete(room);
    const now = performance.now();
    for (const [ref, { message, at }] of this.#awaiting) {
      if (now - at > COPY_OVERDUE_MS) this.#deliverWithoutCopy(ref, message);
    }
    const before = now - FORGET_AFTER_MS;
    for (const [ref, at] of this.#delivered) if (at < before) this.#delivered.delete(ref);
    for (const [ref, early] of this.#early) if (early.at < before) this.#early.delete(ref);
  }

  #deliverWithoutCopy(ref: number, message: Extract<BackplaneMessage, { kind: "room" }>): void {
    this.#awaiting.delete(ref);
    this.#delivered.set(ref, performance.now());
    this.#link.host()?.deliver(message);
  }

  /** How many own publications are kept for their copy (a test's leak check). */
  get pending(): number {
    return this.#awaiting.size + this.#early.size + this.#delivered.size;
  }
}

/**
 * Adds a publication heard on the channel to a kept read: the next offset
 * is appended (the oldest dropped past the stream's size), an older one is
 * ignored. Returns `false` when the read can no longer be kept: another
 * epoch, an offset skipped, an expiry not known.
 */
function extend(tail: Tail, heard: Heard): boolean {
  if (heard.epoch !== tail.epoch || heard.expires === undefined) return false;
  if (heard.offset <= tail.offset) return true;
  if (heard.offset !== tail.offset + 1) return false;
  tail.entries.push({
    offset: heard.offset,
    data: heard.data,
    json: heard.json,
    expires: heard.expires - tail.skew,
  });
  tail.offset = heard.offset;
  if (heard.size !== undefined) tail.size = heard.size;
  const over = tail.entries.length - tail.size;
  if (over > 0) {
    tail.entries.splice(0, over);
    tail.from += over;
  }
  return true;
}

/** The publication at `raw[i..i + 3)`: its offset, kind ("0" bytes, "1" text, "2" JSON) and data. */
function entryOf(raw: Buffer[], i: number): StoredPublication & { json: boolean } {
  const offset = Number(raw[i].toString());
  const kind = raw[i + 1].toString();
  if (kind === "0") return { offset, data: new Uint8Array(raw[i + 2]), json: false };
  return { offset, data: decoder.decode(raw[i + 2]), json: kind === "2" };
}

/** One read's reply as a page: its position, and its publications not expired at `now` (Redis). */
function pageOf(raw: Buffer[], now: number): StoredPage {
  const publications: StoredPublication[] = [];
  for (let i = 3; i + 3 < raw.length; i += 4) {
    if (Number(raw[i + 3].toString()) <= now) continue;
    const { offset, data, json } = entryOf(raw, i);
    publications.push(json ? { offset, data, json } : { offset, data });
  }
  return { epoch: raw[0].toString(), offset: Number(raw[1].toString()), publications };
}
