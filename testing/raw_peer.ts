/**
 * Raw TCP WebSocket peers for tests: they complete the opening handshake by
 * hand and then do exactly what a test tells them (send malformed frames,
 * never read, vanish), and read the server's frames one by one. Not part of
 * the published package.
 *
 * @module
 */

import {
  type ClientFrameOptions,
  closeInfo,
  encodeClientFrame,
  handshakeRequest,
  Opcode,
  readFrameHeader,
  writeAll,
} from "./ws_frames.ts";

/**
 * A raw TCP peer: sends an upgrade request by hand, reads the response head,
 * then does only what the test tells it (for example, never read).
 */
export class RawPeer {
  readonly conn: Deno.TcpConn;
  /** The response status (101 when upgraded). */
  readonly status: number;
  /** The response head, as text. */
  readonly headers: string;

  private constructor(conn: Deno.TcpConn, status: number, headers: string) {
    this.conn = conn;
    this.status = status;
    this.headers = headers;
  }

  /**
   * Connects and sends an upgrade request with the given extra headers (one
   * named like a standard header replaces it, or removes it when `null`);
   * reads the response head and nothing more.
   */
  static async connect(
    port: number,
    extraHeaders: Record<string, string | null> = {},
    key = "dGhlIHNhbXBsZSBub25jZQ==",
  ): Promise<RawPeer> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(
      conn,
      handshakeRequest({ host: `127.0.0.1:${port}`, key, headers: extraHeaders }),
    );
    // Read the response head byte by byte: up to the blank line, nothing more.
    const buffer = new Uint8Array(1);
    let head = "";
    while (!head.endsWith("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      head += String.fromCharCode(buffer[0]);
    }
    const status = Number(head.split(" ")[1]);
    return new RawPeer(conn, status, head);
  }

  /** Sends one frame, masked unless told otherwise (opcode 1 text, 2 binary, 8 close…). */
  async sendFrame(
    opcode: number,
    payload: Uint8Array,
    fin = true,
    options: Omit<ClientFrameOptions, "fin"> = {},
  ): Promise<void> {
    await writeAll(this.conn, encodeClientFrame(opcode, payload, { ...options, fin }));
  }

  /** Closes the TCP connection. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

/** One frame as a server sent it (servers never mask). */
export interface WireFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** Reads whole server frames from a TCP connection, buffering as needed. */
export class FrameReader {
  readonly #conn: Deno.Conn;
  #buffer = new Uint8Array(0);
  #eof = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next frame, or `null` at EOF (or once the connection is closed). */
  async next(): Promise<WireFrame | null> {
    while (true) {
      const frame = this.#parse();
      if (frame !== undefined) return frame;
      if (this.#eof) return null;
      const chunk = new Uint8Array(256 * 1024);
      let n: number | null;
      try {
        n = await this.#conn.read(chunk);
      } catch {
        n = null;
      }
      if (n === null) {
        this.#eof = true;
        continue;
      }
      const merged = new Uint8Array(this.#buffer.byteLength + n);
      merged.set(this.#buffer);
      merged.set(chunk.subarray(0, n), this.#buffer.byteLength);
      this.#buffer = merged;
    }
  }

  #parse(): WireFrame | undefined {
    const b = this.#buffer;
    const header = readFrameHeader(b, 0, b.byteLength);
    if (header === undefined) return undefined;
    if (header.masked) throw new Error("a server frame must not be masked");
    const end = header.headerLength + header.length;
    if (b.byteLength < end) return undefined;
    const frame = {
      fin: header.fin,
      opcode: header.opcode,
      payload: b.slice(header.headerLength, end),
    };
    this.#buffer = b.slice(end);
    return frame;
  }
}

/** What a raw peer read until the server's close frame or EOF. */
export interface Drained {
  /** Text and binary data frames, in order. */
  data: (string | Uint8Array)[];
  /** The close frame, if one arrived. */
  close?: { code: number; reason: string };
}

/** Reads every frame until a close frame or EOF. Bounded by `limit` frames. */
export async function readAll(reader: FrameReader, limit = 1_000_000): Promise<Drained> {
  const decoder = new TextDecoder();
  const out: Drained = { data: [] };
  for (let i = 0; i < limit; i++) {
    const frame = await reader.next();
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
