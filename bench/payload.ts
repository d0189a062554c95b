/**
 * What the load generator sends and how it reads what comes back: payloads that carry their
 * send time, the three client dialects (plain, `wshub.v1`, Socket.IO), and a latency histogram.
 *
 * @module
 */

import { splitBatch } from "../src/protocol/mod.ts";
import { type MessageHandler, messages, RawPeer } from "../testing/raw_peer.ts";
import { encodeClientText } from "../testing/ws_frames.ts";

/** How a client talks to the server under test. */
export type Mode = "plain" | "framed" | "socketio";

export const MODES: readonly Mode[] = ["plain", "framed", "socketio"];

/** Microseconds since `base` (an absolute time in ms, `performance.timeOrigin + now()`). */
export function microsSince(base: number): number {
  return Math.round((performance.timeOrigin + performance.now() - base) * 1000);
}

/** Smallest payload size that leaves room for the header `<seq>:<µs>:`. */
export const MIN_SIZE = 24;

/**
 * A payload of exactly `size` ASCII bytes: `<seq>:<send time in µs since base>:` and `x` padding.
 * Plain clients must get it back byte for byte.
 */
export function makePayload(seq: number, sentUs: number, size: number): string {
  const head = `${seq}:${sentUs}:`;
  if (head.length > size) throw new Error(`payload size ${size} < header ${head.length}`);
  return head + "x".repeat(size - head.length);
}

/** The text message a client of `mode` sends to carry `payload`. */
export function wrap(mode: Mode, payload: string): string {
  if (mode === "framed") return "m" + payload;
  if (mode === "socketio") return `42${JSON.stringify(["message", payload])}`;
  return payload;
}

/** The request target for `mode` when the plain path is `path`. */
export function pathFor(mode: Mode, path: string): string {
  return mode === "socketio" ? "/socket.io/?EIO=4&transport=websocket" : path;
}

/** Where a load-generator client connects. */
export interface Target {
  hostname: string;
  port: number;
  /** The request target (see {@linkcode pathFor}). */
  path: string;
  protocols: string[];
  /** The initial receive buffer (small for idle runs with many connections). */
  bufferSize?: number;
}

/**
 * Opens one load-generator client and starts it reading: a raw peer over `Deno.connect`
 * rather than a `WebSocket`, because the load generator must not be the bottleneck (a
 * `WebSocket` costs an op and a `MessageEvent` a message; the raw peer parses whatever a read
 * brings, often dozens of frames, in place). It sends with TCP_NODELAY, answers protocol pings
 * and the close frame, and hands every message to `receiver`; `onReady` fires once the server
 * has taken the client in. Rejects unless the server answers 101.
 */
export async function openClient(
  target: Target,
  receiver: Receiver,
  onReady: () => void,
): Promise<RawPeer> {
  const sock = await RawPeer.connect(target.port, {
    ...target,
    noDelay: true,
    answerPings: true,
    answerClose: true,
    expectUpgrade: true,
  });
  sock.run(messages(receiver.handler(sock, onReady)), receiver.tick).catch(() => {});
  return sock;
}

const LOG_STEP = Math.log(1.01);
const BUCKETS = 2200; // 1.01^2200 µs ≈ 3 × 10^9 µs: far beyond any run

/** Latency histogram in µs with 1 % wide buckets; mergeable across Workers. */
export class Histogram {
  counts: Uint32Array;
  max = 0;
  total = 0;

  constructor(counts?: Uint32Array) {
    this.counts = counts ?? new Uint32Array(BUCKETS);
  }

  record(us: number): void {
    if (us < 1) us = 1;
    const i = Math.min(BUCKETS - 1, Math.ceil(Math.log(us) / LOG_STEP));
    this.counts[i]++;
    this.total++;
    if (us > this.max) this.max = us;
  }

  merge(other: { counts: Uint32Array; max: number; total: number }): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
    if (other.max > this.max) this.max = other.max;
  }

  /** The q-quantile (0..1) in µs: the upper edge of its bucket, capped by the maximum. */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.max, Math.pow(1.01, i));
    }
    return this.max;
  }
}

const P_UPPER = 0x50; // 'P'
const TAG_M = 0x6d;
const TAG_B = 0x62;
const TAG_H = 0x68;
const TAG_P = 0x70;
const COLON = 0x3a;
const X = 0x78;
const SIO_PREFIX = new TextEncoder().encode('42["message","');
const decoder = new TextDecoder();

/**
 * Counts and checks the deliveries of many connections. Call `tick()` once per read (it takes
 * the clock); each connection gets its own handler from `handler()`.
 */
export class Receiver {
  received = 0;
  corrupt = 0;
  protocolErrors = 0;
  /** µs since base of the first and the last delivery. */
  firstUs = 0;
  lastUs = 0;
  now = 0;
  readonly hist = new Histogram();

  constructor(
    readonly mode: Mode,
    readonly size: number,
    readonly base: number,
    readonly counting = true,
  ) {}

  tick = (): void => {
    this.now = microsSince(this.base);
  };

  /** A handler for one connection; `onReady` fires once the server has taken the client in. */
  handler(sock: RawPeer, onReady: () => void): MessageHandler {
    const mode = this.mode;
    let ready = mode === "plain";
    if (ready) queueMicrotask(onReady);
    return (opcode, buf, s, e) => {
      if (mode === "plain") {
        this.#payload(buf, s, e);
        return;
      }
      if (s === e) {
        this.protocolErrors++;
        return;
      }
      const tag = buf[s];
      if (mode === "framed") {
        if (tag === TAG_M) this.#payload(buf, s + 1, e);
        else if (tag === TAG_B && opcode === 1) this.#batch(buf, s + 1, e);
        else if (tag === TAG_P && opcode === 1) {
          sock.sendText("P" + decoder.decode(buf.subarray(s + 1, e)));
        } else if (tag === TAG_H && opcode === 1) {
          if (!ready) {
            ready = true;
            onReady();
          }
        } else if (tag !== P_UPPER) this.protocolErrors++;
        return;
      }
      // Socket.IO over Engine.IO v4: "0{…}" open, "40{…}" connected, "2" ping, "42[…]" event.
      if (tag === 0x32 && e - s === 1) {
        sock.send(encodeClientText("3"));
      } else if (tag === 0x34 && e - s >= 2 && buf[s + 1] === 0x32) {
        this.#socketIoEvent(buf, s, e);
      } else if (tag === 0x34 && e - s >= 2 && buf[s + 1] === 0x30) {
        if (!ready) {
          ready = true;
          onReady();
        }
      } else if (tag === 0x30) {
        sock.sendText("40");
      }
    };
  }

  #socketIoEvent(buf: Uint8Array, s: number, e: number): void {
    let fast = e - s >= SIO_PREFIX.length + 2 && buf[e - 2] === 0x22 && buf[e - 1] === 0x5d;
    for (let i = 0; fast && i < SIO_PREFIX.length; i++) fast = buf[s + i] === SIO_PREFIX[i];
    for (let i = s + SIO_PREFIX.length; fast && i < e - 2; i++) fast = buf[i] !== 0x5c;
    if (fast) {
      this.#payload(buf, s + SIO_PREFIX.length, e - 2);
      return;
    }
    try {
      const [name, data] = JSON.parse(decoder.decode(buf.subarray(s + 2, e)));
      if (name === "message" && typeof data === "string") this.#payloadString(data);
      else this.corrupt++;
    } catch {
      this.protocolErrors++;
    }
  }

  /** `<len>:<text>` repeated, `len` in UTF-16 code units (bytes, when the frame is ASCII). */
  #batch(buf: Uint8Array, s: number, e: number): void {
    for (let i = s; i < e; i++) {
      if (buf[i] >= 0x80) {
        this.#batchString(decoder.decode(buf.subarray(s, e)));
        return;
      }
    }
    let p = s;
    while (p < e) {
      let len = 0;
      let digits = 0;
      while (p < e && buf[p] !== COLON) {
        len = len * 10 + (buf[p++] - 0x30);
        digits++;
      }
      if (p >= e || digits === 0 || p + 1 + len > e) {
        this.protocolErrors++;
        return;
      }
      p++;
      this.#payload(buf, p, p + len);
      p += len;
    }
  }

  #batchString(text: string): void {
    const texts = splitBatch(text);
    if (typeof texts === "string") {
      this.protocolErrors++;
      return;
    }
    for (const message of texts) this.#payloadString(message);
  }

  #payload(buf: Uint8Array, s: number, e: number): void {
    if (!this.counting) return;
    if (e - s !== this.size || buf[e - 1] !== X && buf[e - 1] !== COLON) {
      this.corrupt++;
      return;
    }
    let p = s;
    while (p < e && buf[p] !== COLON) p++;
    p++;
    let sent = 0;
    while (p < e && buf[p] !== COLON) sent = sent * 10 + (buf[p++] - 0x30);
    this.#delivered(sent);
  }

  #payloadString(text: string): void {
    if (!this.counting) return;
    const parts = text.split(":");
    if (text.length !== this.size || parts.length !== 3) {
      this.corrupt++;
      return;
    }
    this.#delivered(Number(parts[1]));
  }

  #delivered(sentUs: number): void {
    const now = this.now;
    if (this.received === 0) this.firstUs = now;
    this.received++;
    this.lastUs = now;
    this.hist.record(now - sentUs);
  }
}

/** Sent by the main thread to start a Worker. */
export interface StartMessage extends Target {
  type: "start";
  mode: Mode;
  count: number;
  size: number;
  messages: number;
  base: number;
  concurrency: number;
}

/** What a Worker reports at the end. */
export interface WorkerResult {
  type: "result";
  received: number;
  corrupt: number;
  protocolErrors: number;
  firstUs: number;
  lastUs: number;
  hist: { counts: Uint32Array; max: number; total: number };
  closed: number;
  closeCodes: Record<string, number>;
  threadCpuMs: number;
}

export type WorkerReply =
  | { type: "ready"; connected: number; failed: number; error?: string }
  | { type: "progress"; received: number }
  | { type: "done" }
  | WorkerResult;
