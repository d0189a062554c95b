/**
 * The raw RFC 6455 client peer over TCP, for tests, the benchmark's load
 * generator and the attack scripts: it completes the opening handshake by
 * hand and then does exactly what it is told (send hand-made or malformed
 * frames, flood, never read, vanish). Everything it reads goes through one
 * receive buffer, parsed in place: pulled a frame at a time ({@linkcode
 * RawPeer.next}) or pushed to a handler without copying ({@linkcode
 * RawPeer.run}). It answers protocol pings and the server's close frame only
 * when asked to, masks what it sends unless told otherwise, and does not
 * check `Sec-WebSocket-Accept`. Not part of the published package.
 *
 * @module
 */

import {
  type ClientFrameOptions,
  closeInfo,
  encodeClientFrame,
  encodeClientText,
  endOfHead,
  type FrameHeader,
  handshakeRequest,
  Opcode,
  readFrameHeader,
  repeatFrame,
  writeAll,
} from "./ws_frames.ts";
import { delay } from "./async.ts";

const decoder = new TextDecoder();

/** How {@linkcode RawPeer.connect} connects, and what the peer does by itself. */
export interface PeerOptions {
  /** Default `127.0.0.1`. */
  hostname?: string;
  /** The request target; default `/ws`. */
  path?: string;
  /** Offered subprotocols (`["wshub.v1"]` for a framed peer); none by default. */
  protocols?: readonly string[];
  /**
   * More request headers. One named like a standard header (case-insensitively)
   * replaces it, or removes it when `null`.
   */
  headers?: Record<string, string | null>;
  /** `Sec-WebSocket-Key`; default a random one. */
  key?: string;
  /**
   * Send each write at once (TCP_NODELAY), as a load generator wants; default
   * `false`, the kernel's default (small writes may be coalesced).
   */
  noDelay?: boolean;
  /** Give up on the response head after this many ms (the connection is closed); default never. */
  timeoutMs?: number;
  /** Reject (closing the connection) unless the server answers 101. Default `false`. */
  expectUpgrade?: boolean;
  /** Initial size of the receive buffer (default 64 KiB); it grows to hold a larger frame. */
  bufferSize?: number;
  /** Answer protocol pings with pongs while reading (default `false`). */
  answerPings?: boolean;
  /** Answer the server's close frame with one while reading (default `false`: a zombie). */
  answerClose?: boolean;
}

/** The opening handshake, done: the connection, the response head and what came after it. */
export interface Handshake {
  conn: Deno.TcpConn;
  /** The response head, as text, without its blank line. */
  head: string;
  /** The receive buffer; bytes `[start, end)` came after the head. */
  buffer: Uint8Array;
  start: number;
  end: number;
}

/**
 * Connects to 127.0.0.1 (or `options.hostname`) and sends an upgrade request;
 * resolves once the response head has arrived, whatever its status.
 */
export async function handshake(port: number, options: PeerOptions = {}): Promise<Handshake> {
  const hostname = options.hostname ?? "127.0.0.1";
  const conn = await Deno.connect({ hostname, port });
  let timedOut = false;
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    close(conn);
  }, options.timeoutMs);
  try {
    if (options.noDelay) conn.setNoDelay(true);
    await writeAll(
      conn,
      handshakeRequest({
        host: `${hostname}:${port}`,
        path: options.path,
        key: options.key,
        protocols: options.protocols,
        headers: options.headers,
      }),
    );
    let buffer = new Uint8Array(options.bufferSize ?? 64 * 1024);
    let end = 0;
    while (true) {
      if (end === buffer.length) buffer = grown(buffer, 0, end, buffer.length * 2);
      const n = await conn.read(buffer.subarray(end));
      if (n === null) throw new Error("the connection ended during the handshake");
      end += n;
      const headEnd = endOfHead(buffer, end);
      if (headEnd >= 0) {
        return {
          conn,
          head: decoder.decode(buffer.subarray(0, headEnd)),
          buffer,
          start: headEnd + 4,
          end,
        };
      }
    }
  } catch (error) {
    close(conn);
    if (timedOut) throw new Error(`no handshake response within ${options.timeoutMs} ms`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** One frame as a server sent it (servers never mask). */
export interface WireFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** Called for every frame {@linkcode RawPeer.run} reads; the payload is `buf[start, end)`, valid during the call. */
export type FrameHandler = (
  opcode: number,
  fin: boolean,
  buf: Uint8Array,
  start: number,
  end: number,
) => void;

/** Called for every whole data message: `opcode` 1 (text) or 2 (binary), payload `buf[start, end)`. */
export type MessageHandler = (opcode: number, buf: Uint8Array, start: number, end: number) => void;

/** How {@linkcode RawPeer.flood} paces its frames. */
export interface FloodOptions {
  /** Frames per second; 0 (the default): as fast as TCP takes them. */
  rate?: number;
  /** Stop at this `performance.now()` (default: no time limit). */
  until?: number;
  /** Stop after this many frames (default: no limit). */
  max?: number;
}

/**
 * A raw TCP WebSocket client: sends what it is told, reads frames from one
 * buffer, and records how its connection ended.
 */
export class RawPeer {
  readonly conn: Deno.TcpConn;
  /** The response status (101 when upgraded). */
  readonly status: number;
  /** The response head, as text. */
  readonly headers: string;
  /** The subprotocol the server chose (`""` when none). */
  readonly protocol: string;
  /** `performance.now()` when the handshake completed. */
  readonly openedAt: number = performance.now();
  /** Answer protocol pings with pongs while reading. */
  answerPings: boolean;
  /** Answer the server's close frame with one while reading. */
  answerClose: boolean;
  /** Frames read so far. */
  frames = 0;
  /** Bytes read since the handshake. */
  bytes = 0;
  /** The code of the server's close frame (1005 when it had none), once one arrived. */
  closeCode: number | null = null;
  closeReason: string | null = null;
  /** `performance.now()` when the close frame arrived. */
  closeAt: number | null = null;
  /**
   * How the connection ended, as far as this peer saw: `"open"` until then,
   * `"eof"`, `"reset"`, `"broken pipe"`, `"closed by us"`, or another error.
   */
  end = "open";
  /** `performance.now()` when it ended. */
  endAt: number | null = null;
  /** Resolves once the connection has ended (see {@linkcode end}). */
  readonly ended: Promise<void>;
  #buf: Uint8Array;
  #start: number;
  #end: number;
  #eof = false;
  #closed = false;
  #writing: Promise<unknown> = Promise.resolve();
  #resolveEnded!: () => void;

  /** A peer on a completed {@linkcode handshake}; {@linkcode RawPeer.connect} does both. */
  constructor(done: Handshake, options: PeerOptions = {}) {
    this.conn = done.conn;
    this.headers = done.head;
    this.status = Number(done.head.split(" ")[1]);
    this.protocol = this.header("sec-websocket-protocol") ?? "";
    this.#buf = done.buffer;
    this.#start = done.start;
    this.#end = done.end;
    this.answerPings = options.answerPings ?? false;
    this.answerClose = options.answerClose ?? false;
    this.ended = new Promise((resolve) => this.#resolveEnded = resolve);
  }

  /** Connects and completes the opening handshake (see {@linkcode PeerOptions}). */
  static async connect(port: number, options: PeerOptions = {}): Promise<RawPeer> {
    const peer = new RawPeer(await handshake(port, options), options);
    if (options.expectUpgrade && peer.status !== 101) {
      peer.close();
      throw new Error(`expected 101, got ${peer.status}`);
    }
    return peer;
  }

  /** The value of the response header `name` (any case), or `undefined`. */
  header(name: string): string | undefined {
    const prefix = name.toLowerCase() + ":";
    const line = this.headers.split("\r\n").find((l) => l.toLowerCase().startsWith(prefix));
    return line?.slice(prefix.length).trim();
  }

  /** Whether a close frame arrived, the connection ended, or {@linkcode close} was called. */
  get closed(): boolean {
    return this.#closed || this.closeCode !== null || this.end !== "open";
  }

  // ------------------------------------------------------------ writing

  /**
   * Writes `bytes` as they are (frames made by hand, or anything else), after
   * the writes before it. Rejects when the connection fails, which ends the
   * peer (see {@linkcode end}), or once {@linkcode close} was called.
   */
  write(bytes: Uint8Array): Promise<void> {
    const written = this.#writing.then(() => {
      if (this.#closed) throw new Deno.errors.BadResource("the peer was closed");
      return writeAll(this.conn, bytes);
    });
    this.#writing = written.catch((error) => this.#ended(errorKind(error)));
    return written;
  }

  /** Like {@linkcode write}, but never rejects: `false` when the bytes could not be written. */
  send(bytes: Uint8Array): Promise<boolean> {
    return this.write(bytes).then(() => true, () => false);
  }

  /** Writes one frame, masked unless told otherwise (opcode 1 text, 2 binary, 8 close…). */
  sendFrame(
    opcode: number,
    payload: Uint8Array,
    fin = true,
    options: Omit<ClientFrameOptions, "fin"> = {},
  ): Promise<void> {
    return this.write(encodeClientFrame(opcode, payload, { ...options, fin }));
  }

  /** Sends one masked text frame; never rejects (see {@linkcode send}). */
  sendText(text: string): Promise<boolean> {
    return this.send(encodeClientText(text));
  }

  /**
   * Sends copies of `frame`, back to back in writes of up to 256 KiB, at
   * `rate` a second (0: as fast as TCP takes them) until `until`, `max`
   * frames, or the end of the peer. Resolves with how many were sent.
   */
  async flood(frame: Uint8Array, options: FloodOptions = {}): Promise<number> {
    const { rate = 0, until = Infinity, max = Infinity } = options;
    const perWrite = Math.max(1, Math.min(4096, Math.floor(256 * 1024 / frame.length)));
    const chunk = repeatFrame(frame, perWrite);
    const started = performance.now();
    let sent = 0;
    while (performance.now() < until && sent < max && !this.#closed && this.end === "open") {
      let due = rate > 0
        ? Math.floor((performance.now() - started) * rate / 1000) - sent
        : perWrite;
      due = Math.min(due, perWrite, max - sent);
      if (due <= 0) {
        await delay(2);
        continue;
      }
      if (!await this.send(chunk.subarray(0, due * frame.length))) break;
      sent += due;
    }
    return sent;
  }

  /** Closes the TCP connection at once (no close frame). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    close(this.conn);
    this.#ended("closed by us");
  }

  // ------------------------------------------------------------ reading

  /** The next whole frame (its payload copied), or `null` once the connection has ended. */
  async next(): Promise<WireFrame | null> {
    while (true) {
      const header = this.#whole();
      if (header !== undefined) {
        const from = this.#start + header.headerLength;
        const to = from + header.length;
        const frame = {
          fin: header.fin,
          opcode: header.opcode,
          payload: this.#buf.slice(from, to),
        };
        this.#start = to;
        this.#own(header.opcode, from, to);
        return frame;
      }
      if (!await this.#fill()) return null;
    }
  }

  /**
   * Reads until the connection ends (or {@linkcode close}), handing every
   * frame to `onFrame` in place, without copying; `onChunk` runs once a read,
   * before that read's frames. Resolves when reading stops. One reader at a
   * time: not while a {@linkcode next} is pending.
   */
  async run(onFrame?: FrameHandler, onChunk?: () => void): Promise<void> {
    if (this.#end > this.#start) {
      onChunk?.();
      this.#drain(onFrame);
    }
    while (!this.#closed && await this.#fill()) {
      onChunk?.();
      this.#drain(onFrame);
    }
  }

  /**
   * Raw bytes past the response head (what is buffered first), for a refusal's
   * body; `null` at the end. Not to be mixed with reading frames.
   */
  async readBytes(into: Uint8Array): Promise<number | null> {
    if (this.#end === this.#start && !await this.#fill()) return null;
    const n = Math.min(into.length, this.#end - this.#start);
    into.set(this.#buf.subarray(this.#start, this.#start + n));
    this.#start += n;
    return n;
  }

  /** The header of the frame at the front of the buffer, once all of it is there. */
  #whole(): FrameHeader | undefined {
    const header = readFrameHeader(this.#buf, this.#start, this.#end);
    if (header === undefined) return undefined;
    if (header.masked) throw new Error("a server frame must not be masked");
    const size = header.headerLength + header.length;
    if (this.#end - this.#start >= size) return header;
    if (this.#start + size > this.#buf.length) this.#makeRoom(size);
    return undefined;
  }

  #drain(onFrame: FrameHandler | undefined): void {
    let header: FrameHeader | undefined;
    while (!this.#closed && (header = this.#whole()) !== undefined) {
      const from = this.#start + header.headerLength;
      const to = from + header.length;
      this.#start = to;
      this.#own(header.opcode, from, to);
      onFrame?.(header.opcode, header.fin, this.#buf, from, to);
    }
    if (this.#start === this.#end) this.#start = this.#end = 0;
    else if (this.#start > this.#buf.length >> 1) this.#makeRoom(0);
  }

  /** What the peer does with every frame it reads: counts it, answers pings and the close frame if asked. */
  #own(opcode: number, from: number, to: number): void {
    this.frames++;
    if (opcode === Opcode.Ping && this.answerPings) {
      void this.send(encodeClientFrame(Opcode.Pong, this.#buf.slice(from, to)));
    } else if (opcode === Opcode.Close && this.closeCode === null) {
      const { code, reason } = closeInfo(this.#buf.subarray(from, to));
      this.closeCode = code;
      this.closeReason = reason;
      this.closeAt = performance.now();
      if (this.answerClose) {
        const echoed = code >= 3000 || SENDABLE.includes(code) ? code : 1000;
        void this.send(
          encodeClientFrame(Opcode.Close, new Uint8Array([echoed >> 8, echoed & 0xff])),
        );
      }
    }
  }

  /** Reads once more into the buffer; `false` at the end of the connection. */
  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    if (this.#end === this.#buf.length) this.#makeRoom(0);
    let n: number | null;
    try {
      n = await this.conn.read(this.#buf.subarray(this.#end));
    } catch (error) {
      n = null;
      this.#ended(errorKind(error));
    }
    if (n === null) {
      this.#eof = true;
      this.#ended("eof");
      close(this.conn);
      return false;
    }
    this.#end += n;
    this.bytes += n;
    return true;
  }

  /** Moves the unread bytes to the front, growing the buffer when it cannot hold `need` bytes. */
  #makeRoom(need: number): void {
    const pending = this.#end - this.#start;
    if (this.#start > 0 && need <= this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      this.#buf = grown(this.#buf, this.#start, this.#end, Math.max(this.#buf.length * 2, need));
    }
    this.#start = 0;
    this.#end = pending;
  }

  #ended(kind: string): void {
    if (this.end !== "open") return;
    this.end = kind;
    this.endAt = performance.now();
    this.#resolveEnded();
  }
}

/** Close codes a client may send back as they are (RFC 6455 §7.4.1); others are answered with 1000. */
const SENDABLE = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011];

/**
 * Turns a {@linkcode FrameHandler} into one that reassembles fragmented data
 * messages and calls `onMessage` once a message; control frames are skipped.
 */
export function messages(onMessage: MessageHandler): FrameHandler {
  let fragments: Uint8Array[] = [];
  let fragmentOpcode = 0;
  return (opcode, fin, buf, start, end) => {
    if (opcode >= 8) return;
    if (opcode !== Opcode.Continuation && fin) return onMessage(opcode, buf, start, end);
    if (opcode !== Opcode.Continuation) fragmentOpcode = opcode;
    fragments.push(buf.slice(start, end));
    if (!fin) return;
    const whole = new Uint8Array(fragments.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const fragment of fragments) {
      whole.set(fragment, at);
      at += fragment.length;
    }
    fragments = [];
    onMessage(fragmentOpcode, whole, 0, whole.length);
  };
}

/** What a raw peer read until the server's close frame or the end. */
export interface Drained {
  /** Text and binary data frames, in order. */
  data: (string | Uint8Array)[];
  /** The close frame, if one arrived. */
  close?: { code: number; reason: string };
}

/** Reads every frame until a close frame or the end. Bounded by `limit` frames. */
export async function readAll(peer: RawPeer, limit = 1_000_000): Promise<Drained> {
  const out: Drained = { data: [] };
  for (let i = 0; i < limit; i++) {
    const frame = await peer.next();
    if (frame === null) return out;
    if (frame.opcode === Opcode.Text) out.data.push(decoder.decode(frame.payload));
    else if (frame.opcode === Opcode.Binary) out.data.push(frame.payload);
    else if (frame.opcode === Opcode.Close) {
      out.close = closeInfo(frame.payload);
      return out;
    }
  }
  throw new Error(`more than ${limit} frames`);
}

/** How an error of a read or a write says the connection ended. */
function errorKind(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionReset) return "reset";
  if (error instanceof Deno.errors.BrokenPipe) return "broken pipe";
  if (error instanceof Deno.errors.BadResource) return "closed by us";
  if (error instanceof Deno.errors.Interrupted) return "closed by us";
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/** A buffer of `size` bytes holding `buf[start, end)` at its front. */
function grown(buf: Uint8Array, start: number, end: number, size: number): Uint8Array<ArrayBuffer> {
  const bigger = new Uint8Array(size);
  bigger.set(buf.subarray(start, end));
  return bigger;
}
