/**
 * The inspector's live feed: one per inspector, shared by every page that
 * has it open. While at least one page listens, it listens to the hub's tap
 * (events, publications) and, every interval, reads `hub.stats()` once,
 * computes the rates, and writes one tick — encoded once — to every page's
 * stream (server-sent events). When the last page goes it stops its timer
 * and detaches from the tap: an inspector nobody watches costs nothing.
 *
 * @module
 */

import { DELIVERY_WAIT_BUCKETS } from "../server/metrics.ts";
import type { Hub } from "../server/hub.ts";
import type { Inspection } from "../server/inspection.ts";
import type { TapEvent } from "../server/tap.ts";
import type { HubStats } from "../server/stats.ts";
import type { Hello, LogEvent, PublicationView, Sample, Tick } from "./api.ts";
import { preview } from "./preview.ts";

/** Events kept for pages that open later. */
const EVENTS_KEPT = 500;
/** Events one tick carries at most (the rest are counted as skipped). */
const EVENTS_PER_TICK = 200;
/** Publications kept, over all rooms. */
const PUBLICATIONS_KEPT = 500;
/** How long the charts reach back, in ms. */
const SERIES_SPAN = 5 * 60_000;
/** Ticks a page may leave unread before its stream is ended (it reads too slowly or not at all). */
const UNREAD_TICKS = 30;

const encoder = new TextEncoder();

/** A publication seen by the tap. */
interface Seen extends PublicationView {
  room: string;
}

/** A bounded ring: the newest `capacity` items, oldest first. */
class Ring<T> {
  readonly #items: (T | undefined)[];
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    this.#items = new Array(capacity);
  }

  push(item: T): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.#items.length;
    if (this.#size < this.#items.length) this.#size++;
  }

  /** The items, oldest first. */
  toArray(): T[] {
    const capacity = this.#items.length;
    const out: T[] = [];
    for (let i = 0; i < this.#size; i++) {
      out.push(this.#items[(this.#next - this.#size + i + capacity) % capacity]!);
    }
    return out;
  }

  clear(): void {
    this.#items.fill(undefined);
    this.#next = 0;
    this.#size = 0;
  }
}

/** The live feed of one inspector. */
export class Feed {
  readonly #hub: Hub<unknown, unknown>;
  readonly #inspection: Inspection;
  readonly #interval: number;
  readonly #readonly: boolean;
  readonly #streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #series: Ring<Sample>;
  readonly #events = new Ring<LogEvent>(EVENTS_KEPT);
  readonly #publications = new Ring<Seen>(PUBLICATIONS_KEPT);
  /** Events since the last tick: the newest EVENTS_PER_TICK, and how many there were. */
  readonly #pending = new Ring<LogEvent>(EVENTS_PER_TICK);
  #pendingCount = 0;
  #seq = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #detach: (() => void) | undefined;
  /** The previous tick's counters, for the rates (`undefined` after a pause). */
  #last: { t: number; stats: HubStats } | undefined;

  constructor(
    hub: Hub<unknown, unknown>,
    inspection: Inspection,
    options: { interval: number; readonly: boolean },
  ) {
    this.#hub = hub;
    this.#inspection = inspection;
    this.#interval = options.interval;
    this.#readonly = options.readonly;
    this.#series = new Ring(Math.min(3000, Math.ceil(SERIES_SPAN / options.interval)));
  }

  /** Pages listening now. */
  get listeners(): number {
    return this.#streams.size;
  }

  /** A new page's stream: `hello` at once, then a tick every interval. Ends when the hub closes. */
  open(): ReadableStream<Uint8Array> {
    let self: ReadableStreamDefaultController<Uint8Array>;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        self = controller;
        if (this.#hub.closed) return controller.close();
        this.#start();
        this.#streams.add(controller);
        const hello: Hello = {
          readonly: this.#readonly,
          interval: this.#interval,
          buckets: DELIVERY_WAIT_BUCKETS,
          backplane: this.#inspection.backplane() !== undefined,
          series: this.#series.toArray(),
          events: this.#events.toArray().slice(-EVENTS_PER_TICK),
          tick: this.tick(false),
        };
        controller.enqueue(
          encoder.encode(`retry: 2000\nevent: hello\ndata: ${JSON.stringify(hello)}\n\n`),
        );
      },
      cancel: () => this.#drop(self),
    });
  }

  /**
   * The state now: `hub.stats()`, the delivery waits, the backplane. With
   * `advance`, also the rates since the previous tick and the events since
   * then (which it takes).
   */
  tick(advance: boolean): Tick {
    const t = Date.now();
    const stats = this.#hub.stats();
    const waits = this.#inspection.waits;
    const tick: Tick = {
      t,
      stats,
      waits: { counts: Array.from(waits.counts), sum: waits.sum },
      backplane: this.#inspection.backplane(),
      events: [],
      skipped: 0,
    };
    if (!advance) return tick;
    const last = this.#last;
    if (last !== undefined && t > last.t) {
      const seconds = (t - last.t) / 1000;
      tick.rates = {
        t,
        connections: stats.connections,
        messagesIn: (stats.messagesIn - last.stats.messagesIn) / seconds,
        messagesOut: (stats.deliveries - last.stats.deliveries) / seconds,
        bytesOut: (stats.bytesOut - last.stats.bytesOut) / seconds,
      };
      this.#series.push(tick.rates);
    }
    this.#last = { t, stats };
    tick.events = this.#pending.toArray();
    tick.skipped = this.#pendingCount - tick.events.length;
    this.#pending.clear();
    this.#pendingCount = 0;
    return tick;
  }

  /** Publications to `room` seen since a page was opened (the newest `limit`), oldest first. */
  publications(room: string, limit: number): PublicationView[] {
    const out: PublicationView[] = [];
    for (const seen of this.#publications.toArray()) {
      if (seen.room === room) {
        out.push({
          offset: seen.offset,
          preview: seen.preview,
          size: seen.size,
          t: seen.t,
          members: seen.members,
        });
      }
    }
    return out.slice(-limit);
  }

  #start(): void {
    if (this.#timer !== undefined) return;
    this.#detach = this.#inspection.tap.listen((event) => this.#heard(event));
    this.#record({ type: "watch" });
    this.#last = undefined;
    this.tick(true); // the baseline of the first rates
    this.#timer = setInterval(() => this.#broadcast(), this.#interval);
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#detach?.();
    this.#detach = undefined;
    this.#publications.clear(); // payload previews: not kept while nobody looks
  }

  #broadcast(): void {
    if (this.#hub.closed) {
      for (const stream of [...this.#streams]) {
        this.#drop(stream);
        try {
          stream.close();
        } catch {
          // closed already
        }
      }
      return;
    }
    const chunk = encoder.encode(`event: tick\ndata: ${JSON.stringify(this.tick(true))}\n\n`);
    for (const stream of this.#streams) {
      if ((stream.desiredSize ?? 0) < -UNREAD_TICKS) {
        this.#drop(stream);
        try {
          stream.error(new Error("the page reads its stream too slowly"));
        } catch {
          // closed already
        }
        continue;
      }
      stream.enqueue(chunk);
    }
  }

  #drop(stream: ReadableStreamDefaultController<Uint8Array>): void {
    if (!this.#streams.delete(stream)) return;
    if (this.#streams.size === 0) this.#stop();
  }

  #heard(event: TapEvent): void {
    if (event.type === "publish") {
      const { room, payload, members, offset } = event;
      this.#publications.push({ room, offset, members, t: Date.now(), ...preview(payload.plain) });
      return;
    }
    this.#record(event);
  }

  #record(event: Exclude<TapEvent, { type: "publish" }> | { type: "watch" }): void {
    const logged: LogEvent = { ...event, seq: ++this.#seq, t: Date.now() };
    this.#events.push(logged);
    this.#pending.push(logged);
    this.#pendingCount++;
  }
}
