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
 * @module
 */

import { Buffer } from "node:buffer";
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
  /** Runs the read script; resolves with its flat reply, every item as bytes. */
  read(keys: [position: string, stream: string], args: string[]): Promise<Buffer[]>;
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
  /** Appends and reads done, and failed. */
  appends = 0;
  reads = 0;
  failures = 0;

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

  /** Reads a room's stream (see {@linkcode HistoryReadOptions}). */
  async read(room: string, options: HistoryReadOptions): Promise<StoredPage> {
    const link = this.#link;
    const since = options.since;
    // A member joining: what is appended after the read must come on the room's channel, so the
    // read waits until the subscription is in effect (else a publication between the two is in
    // neither: a gap).
    const channel = link.names.room(room);
    if (link.subscription(channel) === "pending") await link.confirmation(channel);
    let reply: Buffer[];
    try {
      reply = await link.read(
        [link.names.position(room), link.names.stream(room)],
        [
          since === undefined ? "" : String(since.offset),
          since?.epoch ?? "",
          options.limit === undefined ? "" : String(options.limit),
        ],
      );
      this.reads++;
    } catch (error) {
      this.failures++;
      if (!(error instanceof RedisDownError)) {
        link.host()?.logger.warn("wshub: could not read a room's history from Redis", {
          room,
          error,
        });
      }
      throw error;
    }
    const publications: StoredPublication[] = [];
    for (let i = 2; i + 2 < reply.length; i += 3) {
      // The stream's t field: "1" a string, "2" the JSON text of a value, "0" bytes.
      const kind = reply[i + 1].toString();
      const offset = Number(reply[i].toString());
      if (kind === "0") publications.push({ offset, data: new Uint8Array(reply[i + 2]) });
      else if (kind === "2") {
        publications.push({ offset, data: decoder.decode(reply[i + 2]), json: true });
      } else publications.push({ offset, data: decoder.decode(reply[i + 2]) });
    }
    return { epoch: reply[0].toString(), offset: Number(reply[1].toString()), publications };
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
