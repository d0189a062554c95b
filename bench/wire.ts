/**
 * A lean WebSocket client over `Deno.connect`, for the load generator.
 *
 * Why not `WebSocket`: the load generator must not be the bottleneck. Deno's `WebSocket` costs
 * one op and one `MessageEvent` per message; this client reads whatever bytes the kernel has
 * (often dozens of frames at once) and parses them in place, so a receiving core goes much
 * further. It speaks RFC 6455 as a client must: it masks what it sends, answers protocol pings
 * with pongs and reassembles fragmented messages. It does not check `Sec-WebSocket-Accept`
 * (only the 101 status and the echoed subprotocol) and has no extensions.
 *
 * @module
 */

import {
  encodeClientFrame,
  encodeClientText,
  endOfHead,
  handshakeRequest,
  Opcode,
  readFrameHeader,
  writeAll,
} from "../testing/ws_frames.ts";

/** Called for every complete data message: `opcode` 1 (text) or 2 (binary), payload `[start, end)` of `buf`. */
export type MessageHandler = (opcode: number, buf: Uint8Array, start: number, end: number) => void;

export interface ConnectOptions {
  hostname: string;
  port: number;
  /** Request target, e.g. `/ws` or `/socket.io/?EIO=4&transport=websocket`. */
  path: string;
  /** Offered subprotocols (`Sec-WebSocket-Protocol`), none when empty. */
  protocols?: string[];
  /** Initial receive buffer size; it grows to fit a larger frame. */
  bufferSize?: number;
}

const decoder = new TextDecoder();

/** Encodes one masked client text frame. */
export const encodeText: (text: string) => Uint8Array = encodeClientText;

/** A client WebSocket connection on a raw TCP stream. */
export class WireSocket {
  /** The subprotocol the server echoed (`""` when none). */
  readonly protocol: string;
  /** True once the stream ended, a close frame arrived, or `close()` was called. */
  closed = false;
  /** Close code received from the server, if any. */
  closeCode = 0;
  #conn: Deno.TcpConn;
  #buf: Uint8Array;
  #start = 0;
  #end: number;
  #writing: Promise<void> = Promise.resolve();
  #fragments: Uint8Array[] = [];
  #fragmentOpcode = 0;

  private constructor(conn: Deno.TcpConn, buf: Uint8Array, end: number, protocol: string) {
    this.#conn = conn;
    this.#buf = buf;
    this.#end = end;
    this.protocol = protocol;
  }

  /** Opens a TCP connection and performs the opening handshake. */
  static async connect(opts: ConnectOptions): Promise<WireSocket> {
    const conn = await Deno.connect({ hostname: opts.hostname, port: opts.port });
    try {
      conn.setNoDelay(true);
      const request = handshakeRequest({
        host: `${opts.hostname}:${opts.port}`,
        path: opts.path,
        protocols: opts.protocols,
      });
      await writeAll(conn, request);
      let buf = new Uint8Array(opts.bufferSize ?? 16384);
      let end = 0;
      for (;;) {
        if (end === buf.length) {
          const bigger = new Uint8Array(buf.length * 2);
          bigger.set(buf);
          buf = bigger;
        }
        const n = await conn.read(buf.subarray(end));
        if (n === null) throw new Error("connection closed during the handshake");
        end += n;
        const headEnd = endOfHead(buf, end);
        if (headEnd < 0) continue;
        const head = decoder.decode(buf.subarray(0, headEnd));
        const [status, ...headers] = head.split("\r\n");
        if (!/^HTTP\/1\.1 101/.test(status)) throw new Error(`handshake refused: ${status}`);
        let protocol = "";
        for (const h of headers) {
          const colon = h.indexOf(":");
          if (h.slice(0, colon).trim().toLowerCase() === "sec-websocket-protocol") {
            protocol = h.slice(colon + 1).trim();
          }
        }
        buf.copyWithin(0, headEnd + 4, end);
        return new WireSocket(conn, buf, end - headEnd - 4, protocol);
      }
    } catch (e) {
      try {
        conn.close();
      } catch { /* already closed */ }
      throw e;
    }
  }

  /**
   * Reads until the stream ends, calling `onMessage` for each data message. `onChunk` runs
   * once per read, before that read's messages (the load generator takes the clock there).
   */
  async run(onMessage: MessageHandler, onChunk?: () => void): Promise<void> {
    try {
      if (this.#end > 0) {
        onChunk?.();
        this.#parse(onMessage);
      }
      while (!this.closed) {
        if (this.#end === this.#buf.length) this.#makeRoom(0);
        const n = await this.#conn.read(this.#buf.subarray(this.#end));
        if (n === null) break;
        this.#end += n;
        onChunk?.();
        this.#parse(onMessage);
      }
    } catch (e) {
      if (!this.closed && !(e instanceof Deno.errors.BadResource)) throw e;
    } finally {
      this.closed = true;
    }
  }

  /** Sends bytes that are already framed (see `encodeFrame`); writes are serialized. */
  sendRaw(frames: Uint8Array): Promise<void> {
    const p = this.#writing.then(() => this.closed ? undefined : writeAll(this.#conn, frames));
    this.#writing = p.catch(() => {});
    return p;
  }

  /** Sends one text message. */
  sendText(text: string): Promise<void> {
    return this.sendRaw(encodeText(text));
  }

  /** Closes the TCP connection at once (no closing handshake). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  /** Compacts the pending bytes to the front, growing the buffer if it cannot hold `need`. */
  #makeRoom(need: number): void {
    const pending = this.#end - this.#start;
    if (this.#start > 0 && need <= this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      const bigger = new Uint8Array(Math.max(this.#buf.length * 2, need));
      bigger.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = bigger;
    }
    this.#start = 0;
    this.#end = pending;
  }

  #parse(onMessage: MessageHandler): void {
    const buf = this.#buf;
    const end = this.#end;
    let p = this.#start;
    while (end - p >= 2) {
      const header = readFrameHeader(buf, p, end);
      if (header === undefined) break;
      if (header.masked) throw new Error("server sent a masked frame");
      const { headerLength: head, length: len } = header;
      if (end - p < head + len) {
        // Incomplete frame: make sure the buffer can hold all of it, then read more.
        if (head + len > buf.length) {
          this.#start = p;
          this.#makeRoom(head + len);
          return;
        }
        break;
      }
      const { opcode, fin } = header;
      const s = p + head;
      const e = s + len;
      p = e;
      if (opcode >= 8) {
        if (opcode === Opcode.Ping) this.sendRaw(encodeClientFrame(Opcode.Pong, buf.slice(s, e)));
        else if (opcode === Opcode.Close) {
          this.closeCode = len >= 2 ? (buf[s] << 8) | buf[s + 1] : 1005;
          this.close();
          return;
        }
        continue;
      }
      if (opcode !== 0 && fin) {
        onMessage(opcode, buf, s, e);
        continue;
      }
      if (opcode !== 0) this.#fragmentOpcode = opcode;
      this.#fragments.push(buf.slice(s, e));
      if (fin) {
        const total = this.#fragments.reduce((n, f) => n + f.length, 0);
        const whole = new Uint8Array(total);
        let o = 0;
        for (const f of this.#fragments) {
          whole.set(f, o);
          o += f.length;
        }
        this.#fragments = [];
        onMessage(this.#fragmentOpcode, whole, 0, total);
      }
    }
    if (p === end) {
      this.#start = 0;
      this.#end = 0;
    } else {
      this.#start = p;
      if (p > buf.length >> 1) this.#makeRoom(0);
    }
  }
}
