/**
 * A client's writer: its bounded send queue, the watermark on Deno's own
 * write buffer, write coalescing for framed clients, control frames under
 * the same caps, and the bookkeeping for the write deadline.
 *
 * Deno's `send()` never blocks and never refuses: it copies into an unbounded
 * buffer whose size is `bufferedAmount`. The writer hands frames to Deno only
 * while that buffer holds at most `maxBufferedBytes`, and keeps the rest in
 * its own queue of shared payloads, bounded by `sendQueueLimit`.
 *
 * @module
 */

import { encodeBatch, type Payload, utf8Length } from "../protocol/mod.ts";
import type { HandOffs } from "./hand_offs.ts";
import type { OverflowPolicy } from "./types.ts";

/** What {@linkcode Writer.prototype.push} did with a payload. */
export const Push = Object.freeze(
  {
    /** Handed to the socket at once. */
    Sent: 0,
    /** Queued: call {@linkcode Writer.prototype.flush} (at the end of the scheduler's batch). */
    Queued: 1,
    /**
     * Queued past `sendQueueLimit` (policy `"close"`). Either the peer reads
     * too slowly, or the hub has not let Deno write for a while: let the event
     * loop run, flush, and ask {@linkcode Writer.prototype.overLimit} again.
     */
    OverLimit: 2,
  } as const,
);

/** How many slots an emptied queue keeps for the next batch (more are given back). */
const RETAINED_SLOTS = 64;

/** One of the {@linkcode Push} outcomes. */
export type Push = typeof Push[keyof typeof Push];

/** How a writer behaves. */
export interface WriterOptions {
  /** Whether the peer speaks `wshub.v1` or `wshub.v2` (payloads go out tagged). */
  framed: boolean;
  /** Whether it speaks `wshub.v2` (texts go out as JSON). */
  json?: boolean;
  /** Whether queued text payloads are merged into one `b` frame (framed peers only). */
  coalesce: boolean;
  /** Messages that may wait in the queue. */
  sendQueueLimit: number;
  /** What to do when the queue is full. */
  overflow: OverflowPolicy;
  /** Bytes that may wait in Deno's buffer before the writer queues instead. */
  maxBufferedBytes: number;
}

/** The part of a WebSocket a writer uses. */
export interface SendSocket {
  send(data: string | Uint8Array): void;
  readonly bufferedAmount: number;
}

/** A batch frame, the run of payloads it was built from, and whether it is `wshub.v2`'s. */
interface Batch {
  payloads: Payload[];
  json: boolean;
  frame: string;
  bytes: number;
}

/** The batch frame built last (see {@linkcode sharedBatch}). */
let lastBatch: Batch | undefined;

/**
 * The batch frame of `queue[start..end)`: the one built last when it was
 * built from the same payloads, else a new one. At the end of a scheduler
 * batch, writers are flushed one after the other, and consecutive ones
 * mostly hold the same run of payloads (every subscriber of a broadcast,
 * every member of a room): they share one frame instead of building one
 * each. Comparing the runs costs a pointer comparison per payload; building
 * costs a copy of every byte. The last frame and its payloads are kept until
 * another is built.
 */
function sharedBatch(queue: readonly Payload[], start: number, end: number, json: boolean): Batch {
  const last = lastBatch;
  if (last !== undefined && last.json === json && last.payloads.length === end - start) {
    const payloads = last.payloads;
    let i = 0;
    while (i < payloads.length && payloads[i] === queue[start + i]) i++;
    if (i === payloads.length) return last;
  }
  const { frame, bytes } = encodeBatch(queue, start, end, json);
  return lastBatch = { payloads: queue.slice(start, end), json, frame, bytes };
}

/**
 * Writes one client's frames in order, never more than it was told to hold.
 */
export class Writer {
  readonly #socket: SendSocket;
  readonly #framed: boolean;
  /** `wshub.v2`: the tagged forms with JSON texts. */
  readonly #json: boolean;
  readonly #batching: boolean;
  readonly #limit: number;
  readonly #dropOldest: boolean;
  readonly #maxBuffered: number;
  /** The hub's bytes-out counter and delivery-wait histogram (none in unit tests). */
  readonly #handOffs: HandOffs | undefined;
  /**
   * The queue: `#queue[#head..#tail)`. Slots outside that range hold `undefined`, and the array
   * keeps its length when the queue empties (see `flush`).
   */
  #queue: (Payload | undefined)[] = [];
  #head = 0;
  #tail = 0;
  /**
   * A queue of one message is kept here, not in `#queue`: the usual case
   * for a room's member, one message per batch, then touches neither the
   * array nor its slots (two cache misses per member per batch at 10,000
   * clients). A second message moves both to `#queue`: `#single` is set
   * only while `#queue` is empty.
   */
  #single: Payload | undefined;
  /** An upper bound of the socket's `bufferedAmount`, refreshed only when it could exceed the cap. */
  #bound = 0;
  /** Bytes handed to the socket so far. */
  #sent = 0;
  /** Write deadline: when the checkpoint was taken (-1: none), and `#sent` then. */
  #markTime = -1;
  #markSent = 0;
  /** When the queue last went from empty to non-empty, or last made progress (-1: empty). */
  #queuedSince = -1;
  #closed = false;
  /**
   * Control frames waiting for room in Deno's buffer, at most one per tag
   * (a newer pong replaces an older one): they never queue without bound.
   * `undefined` when none waits, so that a delivery or a flush does not
   * touch another object (a cache miss per client at 10,000 clients).
   */
  #controls: string[] | undefined;
  /** Messages dropped by the `"drop-oldest"` policy. */
  dropped = 0;

  /** Creates a writer for `socket`; `handOffs`, when given, counts what it hands to it. */
  constructor(socket: SendSocket, options: WriterOptions, handOffs?: HandOffs) {
    this.#socket = socket;
    this.#framed = options.framed;
    this.#json = options.json ?? false;
    this.#batching = options.framed && options.coalesce;
    this.#limit = options.sendQueueLimit;
    this.#dropOldest = options.overflow === "drop-oldest";
    this.#maxBuffered = options.maxBufferedBytes;
    this.#handOffs = handOffs;
  }

  /** Messages waiting in the writer's own queue. */
  get queued(): number {
    return this.#single !== undefined ? 1 : this.#tail - this.#head;
  }

  /** Whether more than `sendQueueLimit` messages wait (see {@linkcode Push.OverLimit}). */
  get overLimit(): boolean {
    return this.queued > this.#limit;
  }

  /** Bytes handed to the socket so far (as Deno's `bufferedAmount` counts them). */
  get sent(): number {
    return this.#sent;
  }

  /**
   * Sends `payload` at once when nothing is queued and Deno's buffer has
   * room; queues it otherwise. Framed clients with coalescing always queue,
   * so that what one scheduler batch sends them goes out as one frame.
   *
   * @param now The hub's clock, for the write deadline.
   */
  push(payload: Payload, now: number): Push {
    if (this.#closed) return Push.Sent;
    if (!this.#framed && !payload.forPlain) return Push.Sent; // a frame plain clients never get
    if (
      !this.#batching && this.#single === undefined && this.#head === this.#tail &&
      this.#controls === undefined
    ) {
      const data = this.#form(payload);
      const bytes = this.#size(payload);
      if (this.#hasRoom(bytes)) {
        if (this.#write(data, bytes)) this.#handOffs?.handed(payload);
        return Push.Sent;
      }
    }
    // A full queue may only be holding back this batch (a coalescing writer
    // queues everything until the batch ends): hand what fits to the socket
    // before calling the client slow.
    if (this.queued >= this.#limit) this.flush(now);
    let result: Push = Push.Queued;
    if (this.queued >= this.#limit && !(this.#dropOldest && this.#dropOldestMessage())) {
      result = Push.OverLimit;
    }
    if (this.#head === this.#tail) {
      // The array is empty: this is the queue's first message, or its second.
      if (this.#single === undefined) {
        this.#queuedSince = now;
        this.#single = payload;
        return result;
      }
      this.#queue[this.#tail++] = this.#single;
      this.#single = undefined;
    }
    this.#queue[this.#tail++] = payload;
    return result;
  }

  /**
   * Drops the oldest queued application message (`"drop-oldest"`). The
   * protocol's own frames (join and leave answers, presence events,
   * requests and answers: payloads plain clients never get) are never
   * dropped: a client would wait for them forever. Returns `false` when
   * only such frames are queued (the client is then over its limit).
   */
  #dropOldestMessage(): boolean {
    const single = this.#single;
    if (single !== undefined) {
      if (!single.forPlain) return false;
      this.#single = undefined;
      this.dropped++;
      return true;
    }
    const queue = this.#queue;
    const head = this.#head;
    let oldest = head;
    while (oldest < this.#tail && !queue[oldest]!.forPlain) oldest++;
    if (oldest === this.#tail) return false;
    // Move the protocol frames before it up by one, keeping their order, over the dropped one.
    queue.copyWithin(head + 1, head, oldest);
    queue[head] = undefined;
    this.#head++;
    this.dropped++;
    return true;
  }

  /**
   * Hands queued payloads to the socket while Deno's buffer has room,
   * merging consecutive text payloads for framed clients when coalescing.
   *
   * @returns `true` when the queue is empty afterwards.
   */
  flush(now: number): boolean {
    if (this.#closed) return true;
    if (this.#controls !== undefined && !this.#flushControls()) return false;
    const single = this.#single;
    if (single !== undefined) {
      // What the loop below does with a queue of one.
      const bytes = this.#size(single);
      if (!this.#hasRoom(bytes)) return false;
      if (this.#write(this.#form(single), bytes)) this.#handOffs?.handed(single);
      this.#single = undefined;
      this.#queuedSince = -1;
      return true;
    }
    const queue = this.#queue as Payload[]; // [head, end) holds payloads
    let head = this.#head;
    const end = this.#tail;
    const start = head;
    while (head < end) {
      const payload = queue[head];
      if (this.#batching && payload.text) {
        let runEnd = head + 1;
        let bytes = this.#size(payload);
        while (runEnd < end && queue[runEnd].text) {
          // The tagged size bounds either batch's item, plus a generous bound for the prefix.
          bytes += this.#size(queue[runEnd]) + 12;
          // Only a frame of one message may exceed the cap (on an empty buffer).
          if (!this.#hasRoom(bytes, false)) break;
          runEnd++;
        }
        if (runEnd - head === 1) {
          const size = this.#size(payload);
          if (!this.#hasRoom(size)) break;
          if (this.#write(this.#form(payload), size)) this.#handOffs?.handed(payload);
        } else {
          const batch = sharedBatch(queue, head, runEnd, this.#json);
          if (this.#write(batch.frame, batch.bytes)) {
            // The shared batch's own array: the hand-offs see a run they just observed as such.
            this.#handOffs?.handedRun(batch.payloads, 0, batch.payloads.length);
          }
        }
        for (let i = head; i < runEnd; i++) queue[i] = undefined as unknown as Payload;
        head = runEnd;
        continue;
      }
      const bytes = this.#size(payload);
      if (!this.#hasRoom(bytes)) break;
      if (this.#write(this.#form(payload), bytes)) {
        this.#handOffs?.handed(payload);
      }
      queue[head++] = undefined as unknown as Payload;
    }
    if (head === end) {
      // Reuse the array and its slots (all `undefined` now): a coalescing
      // writer empties its queue on every batch. Setting its length to 0
      // would free its backing store, and the next batch's first message
      // would allocate another (~0.1 µs per client per batch, and garbage
      // the young generation must collect). A queue that once grew long
      // gives its slots back.
      if (end > RETAINED_SLOTS) this.#queue = [];
      this.#head = 0;
      this.#tail = 0;
      this.#queuedSince = -1;
      return true;
    }
    if (head > start) this.#queuedSince = now;
    if (head > 1024 && head * 2 > end) {
      this.#queue = queue.slice(head, end);
      this.#tail = end - head;
      head = 0;
    }
    this.#head = head;
    return false;
  }

  /**
   * Sends a control frame (hello, ping, pong, notice) ahead of anything
   * queued — they are small, and their timing is what they measure — but
   * only while Deno's buffer has room, like every other frame. When it has
   * none, the frame waits in a slot of its own tag, replacing an older one
   * (so a flood of pings leaves at most one pong waiting), and goes out
   * first when the buffer has room again.
   *
   * @returns Whether the frame was handed to the socket now.
   */
  sendControl(frame: string): boolean {
    if (this.#closed) return false;
    const bytes = utf8Length(frame);
    if (this.#controls === undefined && this.#hasRoom(bytes)) {
      this.#write(frame, bytes);
      return true;
    }
    const tag = frame[0];
    const controls = this.#controls ??= [];
    const slot = controls.findIndex((waiting) => waiting[0] === tag);
    if (slot >= 0) controls.splice(slot, 1);
    controls.push(frame);
    return false;
  }

  /**
   * Whether a frame has waited longer than `timeout` to be flushed to the
   * peer: either a frame handed to Deno before the last checkpoint is still
   * in Deno's buffer, or the writer's own queue has made no progress.
   * Called on every heartbeat tick.
   */
  overdue(now: number, timeout: number): boolean {
    if (this.#closed) return false;
    if (this.#queuedSince >= 0 && now - this.#queuedSince > timeout) return true;
    if (this.#bound === 0) {
      this.#markTime = -1;
      return false;
    }
    const buffered = this.#socket.bufferedAmount;
    this.#bound = buffered;
    if (this.#markTime >= 0) {
      const flushed = this.#sent - buffered;
      if (flushed >= this.#markSent) this.#markTime = -1;
      else if (now - this.#markTime > timeout) return true;
    }
    if (this.#markTime < 0 && buffered > 0) {
      this.#markTime = now;
      this.#markSent = this.#sent;
    }
    return false;
  }

  /** Whether nothing is queued here nor waiting in Deno's buffer. */
  drained(): boolean {
    if (this.#closed) return true;
    if (this.#single !== undefined || this.#head !== this.#tail || this.#controls !== undefined) {
      return false;
    }
    if (this.#bound === 0) return true;
    this.#bound = this.#socket.bufferedAmount;
    return this.#bound === 0;
  }

  /** Stops writing and releases the queue. Later calls do nothing. */
  dispose(): void {
    this.#closed = true;
    this.#controls = undefined;
    this.#queue = [];
    this.#head = 0;
    this.#tail = 0;
    this.#single = undefined;
    this.#queuedSince = -1;
  }

  /** The form of `payload` this peer gets: plain, or tagged for its version. */
  #form(payload: Payload): string | Uint8Array {
    return this.#framed ? (this.#json ? payload.framed2 : payload.framed) : payload.plain;
  }

  /** The UTF-8 size of the form this peer gets. */
  #size(payload: Payload): number {
    return this.#framed ? (this.#json ? payload.framed2Bytes : payload.framedBytes) : payload.bytes;
  }

  /** Writes the waiting control frames while there is room; returns whether none is left. */
  #flushControls(): boolean {
    const controls = this.#controls!;
    while (controls.length > 0) {
      const frame = controls[0];
      const bytes = utf8Length(frame);
      if (!this.#hasRoom(bytes)) return false;
      controls.shift();
      this.#write(frame, bytes);
    }
    if (this.#controls === controls) this.#controls = undefined;
    return true;
  }

  /**
   * Whether `bytes` more fit under the cap. An empty buffer always takes one
   * message, however large (`single`); several coalesced messages never
   * exceed the cap.
   */
  #hasRoom(bytes: number, single = true): boolean {
    if (this.#bound + bytes <= this.#maxBuffered) return true;
    this.#bound = this.#socket.bufferedAmount;
    return (single && this.#bound === 0) || this.#bound + bytes <= this.#maxBuffered;
  }

  /** Hands a frame to the socket; returns whether it took it. */
  #write(data: string | Uint8Array, bytes: number): boolean {
    if (this.#closed) return false;
    try {
      this.#socket.send(data);
    } catch {
      // The socket is no longer open (the peer closed it; its close event is
      // on its way and will unregister the client). Nothing more can be sent.
      this.dispose();
      return false;
    }
    this.#bound += bytes;
    this.#sent += bytes;
    if (this.#handOffs !== undefined) this.#handOffs.bytes += bytes;
    return true;
  }
}
