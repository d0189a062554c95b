/**
 * History: a room's recent publications, each with a position, so that a
 * client that reconnects can be sent exactly what it missed.
 *
 * A position is `{ offset, epoch }`: `offset` counts up by one per
 * publication to the room; `epoch` names the room's stream and changes
 * whenever the stream was lost (a process restart for a memory stream, a
 * Redis stream that expired or was deleted), so that an old offset is never
 * mistaken for a new one. {@linkcode MemoryHistory} keeps streams in this
 * process; a backplane may keep them in its bus instead (`RedisBackplane`
 * does), so that any process can serve a recovery.
 *
 * @module
 */

/**
 * How a room keeps its history: its last `size` publications, each for
 * `ttl` milliseconds.
 *
 * @example
 * ```ts
 * import { Hub, type HistoryOptions } from "@wshub/hub";
 *
 * const keep: HistoryOptions = { size: 100, ttl: 10 * 60_000 };
 * const hub = new Hub({ history: (room) => room.startsWith("chat:") ? keep : undefined });
 * await hub.close();
 * ```
 */
export interface HistoryOptions {
  /** How many publications the room keeps, at most. */
  size: number;
  /** How long each publication is kept, in milliseconds. */
  ttl: number;
  /**
   * How long the room's position (its epoch and last offset) is remembered
   * after its last publication, in milliseconds; at least `ttl`. A client
   * that comes back within it having missed nothing is told it recovered,
   * even when every publication has expired; past it the room starts a new
   * stream (a new epoch). Default: 24 hours, or `ttl` if longer.
   */
  positionTtl?: number;
}

/** The default {@linkcode HistoryOptions.positionTtl}: a day. */
export const DEFAULT_POSITION_TTL = 24 * 60 * 60 * 1000;

/**
 * What {@linkcode HistoryStore.append} is given: the room's history options,
 * and, when the store is a backplane's, a reference for the publication.
 *
 * @example
 * ```ts
 * import { type AppendOptions, MemoryHistory } from "@wshub/hub/backplane";
 *
 * const options: AppendOptions = { size: 100, ttl: 60_000, ref: 1 };
 * const position = new MemoryHistory().append("news", "hello", options);
 * console.log(position.offset); // 1
 * ```
 */
export interface AppendOptions extends HistoryOptions {
  /**
   * Set by the hub when the store is a backplane's: the backplane gives it
   * back on this process's own copy of the publication
   * (`BackplaneMessage.ref`), so that the hub can deliver it in the
   * stream's order. A store in this process ignores it.
   */
  ref?: number;
  /**
   * Whether the publication is the JSON text of a value that was not a
   * string: kept with it, so that reading it gives back the value.
   */
  json?: boolean;
}

/**
 * A position in a room's stream.
 *
 * @example
 * ```ts
 * import type { Position } from "@wshub/hub";
 *
 * const last: Position = { offset: 41, epoch: "d2b1c0" };
 * console.log(`after ${last.offset} of ${last.epoch}`);
 * ```
 */
export interface Position {
  /** The publication's number in the stream, from 1. */
  offset: number;
  /** The stream's name; it changes when the stream was lost. */
  epoch: string;
}

/**
 * One publication kept in a room's history, as `hub.history()` returns it:
 * `data` is the value that was published (a string, bytes, or what a JSON
 * value was).
 *
 * @typeParam T What the hub publishes (its `T`).
 *
 * @example
 * ```ts
 * import { Hub, type Publication } from "@wshub/hub";
 *
 * const hub = new Hub<{ text: string }>({ history: { size: 10, ttl: 60_000 } });
 * await hub.publish("news", { text: "hello" });
 * const { publications } = await hub.history("news");
 * const texts = publications.map((p: Publication<{ text: string }>) => p.data.text);
 * console.log(texts); // ["hello"]
 * await hub.close();
 * ```
 */
export interface Publication<T = unknown> {
  /** Its position's offset. */
  offset: number;
  /** The value published. */
  data: T;
}

/**
 * What `hub.history()` returns: the stream's current position, and the
 * publications asked for, in order.
 *
 * @typeParam T What the hub publishes (its `T`).
 *
 * @example
 * ```ts
 * import { Hub, type HistoryPage } from "@wshub/hub";
 *
 * const hub = new Hub({ history: { size: 10, ttl: 60_000 } });
 * const page: HistoryPage = await hub.history("news", { limit: 5 });
 * console.log(page.epoch, page.offset, page.publications.length);
 * await hub.close();
 * ```
 */
export interface HistoryPage<T = unknown> {
  /** The stream's epoch (`""` when the room has no stream: nothing was ever kept). */
  epoch: string;
  /** The offset of the stream's last publication (0 when it has none). */
  offset: number;
  /** The publications asked for, oldest first. */
  publications: Publication<T>[];
}

/**
 * One publication as a {@linkcode HistoryStore} keeps it: the payload as a
 * plain client gets it, and whether it is the JSON text of a value.
 *
 * @example
 * ```ts
 * import type { StoredPublication } from "@wshub/hub/backplane";
 *
 * const kept: StoredPublication = { offset: 3, data: '{"text":"hi"}', json: true };
 * console.log(kept.json ? JSON.parse(kept.data as string) : kept.data);
 * ```
 */
export interface StoredPublication {
  /** Its position's offset. */
  offset: number;
  /** The payload, as a plain client gets it. */
  data: string | Uint8Array;
  /** Whether `data` is the JSON text of a value that was not a string. */
  json?: boolean;
}

/**
 * What {@linkcode HistoryStore.read} returns: the stream's current
 * position, and the publications asked for, in order, as kept.
 *
 * @example
 * ```ts
 * import { MemoryHistory, type StoredPage } from "@wshub/hub/backplane";
 *
 * const page: StoredPage = new MemoryHistory().read("news", {});
 * console.log(page.epoch === "" ? "no stream yet" : page.offset);
 * ```
 */
export interface StoredPage {
  /** The stream's epoch (`""` when the room has no stream: nothing was ever kept). */
  epoch: string;
  /** The offset of the stream's last publication (0 when it has none). */
  offset: number;
  /** The publications asked for, oldest first. */
  publications: StoredPublication[];
}

/**
 * Options of a history read (`hub.history(room, options)`).
 *
 * @example The ten newest publications
 * ```ts
 * import { Hub, type HistoryReadOptions } from "@wshub/hub";
 *
 * const hub = new Hub({ history: { size: 100, ttl: 60_000 } });
 * const newest: HistoryReadOptions = { limit: 10 };
 * console.log((await hub.history("news", newest)).publications);
 * await hub.close();
 * ```
 */
export interface HistoryReadOptions {
  /**
   * Only publications after this position (none if its epoch is not the
   * stream's; epoch `""` means any: from the stream's start).
   */
  since?: Position;
  /** At most this many publications (the oldest ones after `since`, or the newest without it). */
  limit?: number;
}

/**
 * Where streams are kept: this process ({@linkcode MemoryHistory}), or a
 * backplane's bus (a backplane that keeps history exposes one as its
 * `history`).
 *
 * @example A store that keeps nothing (every read finds no stream)
 * ```ts
 * import type { HistoryStore } from "@wshub/hub/backplane";
 *
 * const nothing: HistoryStore = {
 *   append: () => ({ offset: 1, epoch: crypto.randomUUID() }),
 *   read: () => ({ epoch: "", offset: 0, publications: [] }),
 * };
 * console.log(nothing.read("room", {}));
 * ```
 */
export interface HistoryStore {
  /** Appends a publication to the room's stream (creating it, with a new epoch, if needed). */
  append(
    room: string,
    data: string | Uint8Array,
    options: AppendOptions,
  ): Position | Promise<Position>;
  /** Reads the room's stream. */
  read(room: string, options: HistoryReadOptions): StoredPage | Promise<StoredPage>;
}

interface Entry {
  offset: number;
  data: string | Uint8Array;
  json: boolean;
  expires: number;
}

interface Stream {
  epoch: string;
  /** The last offset given. */
  offset: number;
  /**
   * The publications kept are `entries[head..]`, oldest first, consecutive
   * offsets, at most `size`: dropping the oldest moves `head` (the array is
   * compacted now and then), so an append is O(1) and a read O(its result).
   */
  entries: Entry[];
  head: number;
  /** When the position is forgotten (`positionTtl` after the last publication). */
  expires: number;
}

/**
 * Streams kept in this process: each room's last `size` publications for
 * `ttl` ms, and its position for `positionTtl` after the last publication
 * (then the stream is dropped, and the next publication starts a new
 * epoch). Every epoch is new when the process starts: a client that
 * recovers across a restart is told it could not. Appending is O(1);
 * reading is O(the publications returned).
 *
 * @example
 * ```ts
 * import { MemoryHistory } from "@wshub/hub";
 *
 * const history = new MemoryHistory();
 * const first = history.append("news", "one", { size: 10, ttl: 60_000 });
 * history.append("news", "two", { size: 10, ttl: 60_000 });
 * const page = history.read("news", { since: first });
 * console.log(page.publications); // [{ offset: 2, data: "two" }]
 * ```
 */
export class MemoryHistory implements HistoryStore {
  readonly #streams = new Map<string, Stream>();
  readonly #clock: () => number;

  /** `clock` is the time in ms (tests pass their own). */
  constructor(clock: () => number = () => Date.now()) {
    this.#clock = clock;
  }

  /** How many rooms have a stream. */
  get size(): number {
    return this.#streams.size;
  }

  /** Appends a publication; returns its position. */
  append(room: string, data: string | Uint8Array, options: AppendOptions): Position {
    const now = this.#clock();
    let stream = this.#live(room, now);
    if (stream === undefined) {
      stream = { epoch: newEpoch(), offset: 0, entries: [], head: 0, expires: 0 };
      this.#streams.set(room, stream);
    }
    const offset = ++stream.offset;
    stream.entries.push({ offset, data, json: options.json === true, expires: now + options.ttl });
    stream.expires = now + positionTtl(options);
    const over = stream.entries.length - stream.head - options.size;
    if (over > 0) stream.head += over;
    trim(stream, now);
    return { offset, epoch: stream.epoch };
  }

  /** Reads a room's stream (see {@linkcode HistoryReadOptions}). */
  read(room: string, options?: HistoryReadOptions): StoredPage {
    options ??= {};
    const now = this.#clock();
    const stream = this.#live(room, now);
    if (stream === undefined) return { epoch: "", offset: 0, publications: [] };
    trim(stream, now);
    const { entries, head } = stream;
    const end = entries.length;
    const since = options.since;
    const limit = options.limit;
    let from: number, to: number;
    if (since !== undefined) {
      const same = since.epoch === stream.epoch || since.epoch === "";
      // Offsets are consecutive: the one after `since` is at a known index.
      from = !same || head === end
        ? end
        : Math.max(head, head + since.offset + 1 - entries[head].offset);
      to = limit === undefined ? end : Math.min(end, from + Math.max(0, limit));
    } else {
      to = end;
      from = limit === undefined ? head : Math.max(head, end - Math.max(0, limit));
    }
    const publications: StoredPublication[] = [];
    for (let i = from; i < to; i++) {
      const entry = entries[i];
      if (entry.expires <= now) continue;
      publications.push(
        entry.json
          ? { offset: entry.offset, data: entry.data, json: true }
          : { offset: entry.offset, data: entry.data },
      );
    }
    return { epoch: stream.epoch, offset: stream.offset, publications };
  }

  /** Drops expired publications, and streams whose position has expired. */
  prune(): void {
    const now = this.#clock();
    for (const [room, stream] of this.#streams) {
      if (stream.expires <= now) this.#streams.delete(room);
      else trim(stream, now);
    }
  }

  #live(room: string, now: number): Stream | undefined {
    const stream = this.#streams.get(room);
    if (stream === undefined) return undefined;
    if (stream.expires <= now) {
      this.#streams.delete(room);
      return undefined;
    }
    return stream;
  }
}

/** Drops the expired publications at the stream's start, and compacts its array now and then. */
function trim(stream: Stream, now: number): void {
  const entries = stream.entries;
  while (stream.head < entries.length && entries[stream.head].expires <= now) stream.head++;
  // Compact when the dropped part is both large and larger than what is kept: amortized O(1).
  if (stream.head >= 64 && stream.head * 2 >= entries.length) {
    stream.entries = entries.slice(stream.head);
    stream.head = 0;
  }
}

/** How long a stream's position is kept: `positionTtl`, its default, and never less than `ttl`. */
export function positionTtl(options: HistoryOptions): number {
  return Math.max(options.positionTtl ?? DEFAULT_POSITION_TTL, options.ttl);
}

/** A new epoch: 8 random bytes in hex. */
export function newEpoch(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/**
 * Whether a client at `since` can be sent everything it missed from `page`
 * (read with `since`), and if not, why: the stream's epoch changed (or it
 * expired: then it has no epoch), the oldest kept publication is past the
 * one after `since` (trimmed), or there are more than `maxRecover`.
 *
 * A `since` with epoch `""` (the client joined a room whose stream did not
 * exist yet) recovers from the stream's first publication. A stream that
 * was created and expired entirely while the client was away cannot be
 * told apart from one that never existed: its publications had outlived
 * their `ttl` anyway.
 */
export function recoveryVerdict(
  since: Position,
  page: StoredPage,
  maxRecover: number,
): { recovered: true } | { recovered: false; reason: RecoveryFailure } {
  if (since.epoch === "") {
    // The client joined before the room's stream existed: it missed the
    // stream from its first publication, if the stream still has it.
    if (page.epoch === "") return { recovered: true };
    since = { offset: 0, epoch: page.epoch };
  }
  if (page.epoch === "") return { recovered: false, reason: "expired" };
  if (page.epoch !== since.epoch) return { recovered: false, reason: "epoch_changed" };
  if (page.offset - since.offset > maxRecover) return { recovered: false, reason: "too_many" };
  const first = page.publications[0];
  if (page.offset > since.offset && (first === undefined || first.offset !== since.offset + 1)) {
    return { recovered: false, reason: "trimmed" };
  }
  return { recovered: true };
}

/**
 * Why a recovery was not complete: the room's stream was lost and started
 * again (`epoch_changed`), expired (`expired`), no longer holds the first
 * publication missed (`trimmed`), more were missed than the server sends
 * (`too_many`), the room keeps no history (`no_history`), its history
 * could not be read (`unavailable`: the backplane's store is down), or the
 * connection spent its recovery budget (`rate_limited`: see the hub's
 * `recoveryBudget`).
 */
export type RecoveryFailure =
  | "epoch_changed"
  | "expired"
  | "trimmed"
  | "too_many"
  | "no_history"
  | "unavailable"
  | "rate_limited";

/** Every outcome of a recovery, for counters: `recovered`, or why not. */
export const RECOVERY_OUTCOMES: readonly ("recovered" | RecoveryFailure)[] = Object.freeze([
  "recovered",
  "epoch_changed",
  "expired",
  "trimmed",
  "too_many",
  "no_history",
  "unavailable",
  "rate_limited",
]);
