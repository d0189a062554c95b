// Helpers for the liveness and flow-control tests (issue #3): raw TCP peers
// that have upgraded (and what they read), a framed client that answers pings, a
// consumer that checks sequence numbers without keeping payloads, a logger
// that records what it is told, and a seeded random source for fuzzing.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Logger } from "../mod.ts";
import { RawPeer } from "../testing/raw_peer.ts";
import { lifecycle, TestClient, unbatch, within } from "./_helpers.ts";

export { type Drained, readAll, type WireFrame } from "../testing/raw_peer.ts";
export { closeInfo } from "../testing/ws_frames.ts";

/** A raw TCP WebSocket peer; `framed` offers `wshub.v1`. Asserts the 101. */
export async function rawPeer(port: number, framed = false): Promise<RawPeer> {
  return await RawPeer.connect(port, {
    protocols: framed ? ["wshub.v1"] : [],
    expectUpgrade: true,
  });
}

/** Makes a framed TestClient answer every server ping `p<token>` with `P<token>`. */
export function answerPings(client: TestClient): void {
  client.socket.addEventListener("message", (event) => {
    const data = event.data;
    if (typeof data === "string" && data[0] === "p") client.socket.send("P" + data.slice(1));
  });
}

/** A framed or plain client that answers pings (framed) and is registered. */
export async function liveClient(url: string, framed: boolean): Promise<TestClient> {
  const client = await TestClient.open(url, framed ? "wshub.v1" : undefined);
  if (framed) answerPings(client);
  return client;
}

/**
 * A client that expects payloads `"<seq>:<padding>"` with seq 0, 1, 2…, and
 * records only how many arrived in order (and the first mistake), so that a
 * test can push many megabytes without keeping them.
 */
export class SeqClient {
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseEvent>;
  /** The next sequence number expected. */
  next = 0;
  /** The first out-of-order or malformed message, if any. */
  error: string | undefined;
  /** Frames that carried more than one message (framed `b` frames). */
  batches = 0;
  /** The server's close notice (`c` frame), if one arrived. */
  closeNotice: { code: number; reason: string } | undefined;
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(url: string, framed: boolean) {
    this.socket = new WebSocket(url, framed ? "wshub.v1" : undefined);
    ({ opened: this.opened, closed: this.closed } = lifecycle(this.socket));
    this.socket.addEventListener("message", (event) => {
      const data = event.data as string;
      if (typeof data !== "string") return this.#fail("binary frame");
      if (!framed) return this.#take(data);
      switch (data[0]) {
        case "m":
          return this.#take(data.slice(1));
        case "b":
          this.batches++;
          for (const message of unbatch(data)) this.#take(message);
          return;
        case "p":
          this.socket.send("P" + data.slice(1));
          return;
        case "h":
          return;
        case "c":
          this.closeNotice = JSON.parse(data.slice(1));
          return;
        default:
          return this.#fail(`unexpected frame ${data.slice(0, 20)}`);
      }
    });
  }

  static async open(url: string, framed: boolean): Promise<SeqClient> {
    const client = new SeqClient(url, framed);
    await within(client.opened, 5000, "the WebSocket to open");
    return client;
  }

  /** Resolves once `count` messages (seq 0..count-1) arrived; no polling. */
  reach(count: number): Promise<void> {
    if (this.next >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  #take(message: string): void {
    const seq = Number(message.slice(0, message.indexOf(":")));
    if (seq !== this.next) this.#fail(`expected ${this.next}, got ${message.slice(0, 20)}`);
    this.next = seq + 1;
    if (this.#waiters.length > 0) {
      this.#waiters = this.#waiters.filter((waiter) => {
        if (this.next < waiter.count) return true;
        waiter.resolve();
        return false;
      });
    }
  }

  #fail(what: string): void {
    this.error ??= what;
  }

  async close(): Promise<void> {
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close();
    await within(this.closed, 5000, "the WebSocket to close");
  }
}

/** The sequence number at the start of a `"<seq>:…"` payload. */
export function seqOf(message: string): number {
  return Number(message.slice(0, message.indexOf(":")));
}

/** A payload `"<seq>:"` padded with `x` to `size` characters. */
export function seqPayload(seq: number, size: number): string {
  const head = `${seq}:`;
  return head + "x".repeat(Math.max(0, size - head.length));
}

/** A logger that records every call. */
export function recordingLogger(): Logger & {
  entries: { level: string; message: string; properties?: Record<string, unknown> }[];
} {
  const entries: { level: string; message: string; properties?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, properties?: Record<string, unknown>) => {
    entries.push({ level, message, properties });
  };
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/**
 * A small seeded PRNG (mulberry32). The seed comes from WSHUB_FUZZ_SEED when
 * set, so a failing fuzz run can be replayed.
 */
export function random(defaultSeed: number): { seed: number; next: () => number } {
  const fromEnv = Number(Deno.env.get("WSHUB_FUZZ_SEED"));
  const seed = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : defaultSeed;
  let state = seed >>> 0;
  return {
    seed,
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** A random string mixing ASCII, tags, digits, colons, BMP, astral and lone surrogates. */
export function randomString(next: () => number, maxLength: number): string {
  const length = Math.floor(next() * (maxLength + 1));
  const pools = [
    () => String.fromCharCode(0x20 + Math.floor(next() * 0x5f)), // printable ASCII
    () => "mpPbh:0123456789"[Math.floor(next() * 16)], // tags, digits, colons
    () => String.fromCharCode(Math.floor(next() * 0x20)), // control characters
    () => String.fromCharCode(0x80 + Math.floor(next() * 0x780)), // two-byte UTF-8
    () => String.fromCharCode(0x800 + Math.floor(next() * 0xd000)), // three-byte UTF-8
    () => String.fromCodePoint(0x10000 + Math.floor(next() * 0xfffff)), // surrogate pairs
    () => String.fromCharCode(0xd800 + Math.floor(next() * 0x800)), // lone surrogates
  ];
  let out = "";
  for (let i = 0; i < length; i++) out += pools[Math.floor(next() * pools.length)]();
  return out;
}

/** Random bytes, length 0..maxLength. */
export function randomBytes(next: () => number, maxLength: number): Uint8Array {
  const bytes = new Uint8Array(Math.floor(next() * (maxLength + 1)));
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(next() * 256);
  return bytes;
}

/**
 * V8's `gc()`, exposed at run time (no command-line flag needed), so that a
 * memory measurement counts what is alive rather than what awaits collection.
 */
export function exposeGc(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}
