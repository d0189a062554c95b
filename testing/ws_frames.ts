/**
 * RFC 6455 framing for hand-made peers: encoding client frames (masked, or
 * deliberately not), reading frame headers, the opening handshake request,
 * close payloads, and frames put back to back. Used by the raw peer
 * (raw_peer.ts) and by tests that write frames by hand. Not part of the
 * published package.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Opcodes of RFC 6455 §5.2. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** How {@linkcode encodeClientFrame} builds a frame. */
export interface ClientFrameOptions {
  /** The FIN bit (default `true`; `false` for a fragment that is not the last). */
  fin?: boolean;
  /** Mask the payload, as clients must (default `true`; `false` to misbehave). */
  mask?: boolean;
  /** The RSV1–RSV3 bits, as a 3-bit number (default 0; anything else is a protocol error). */
  rsv?: number;
}

/** Encodes one client-to-server frame; by default masked with FIN set, as RFC 6455 requires. */
export function encodeClientFrame(
  opcode: number,
  payload: Uint8Array,
  options: ClientFrameOptions = {},
): Uint8Array {
  const { fin = true, mask = true, rsv = 0 } = options;
  const length = payload.byteLength;
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const maskBytes = mask ? 4 : 0;
  const frame = new Uint8Array(head + maskBytes + length);
  frame[0] = (fin ? 0x80 : 0) | ((rsv & 0x7) << 4) | opcode;
  const maskBit = mask ? 0x80 : 0;
  if (length < 126) {
    frame[1] = maskBit | length;
  } else if (length < 65536) {
    frame[1] = maskBit | 126;
    frame[2] = length >>> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = maskBit | 127;
    const view = new DataView(frame.buffer);
    view.setUint32(2, Math.floor(length / 2 ** 32));
    view.setUint32(6, length >>> 0);
  }
  const body = head + maskBytes;
  if (!mask) {
    frame.set(payload, body);
    return frame;
  }
  const key = crypto.getRandomValues(new Uint8Array(4));
  frame.set(key, head);
  for (let i = 0; i < length; i++) frame[body + i] = payload[i] ^ key[i & 3];
  return frame;
}

/** Encodes one masked client text frame. */
export function encodeClientText(text: string): Uint8Array {
  return encodeClientFrame(Opcode.Text, encoder.encode(text));
}

/** A frame header as read from the wire. */
export interface FrameHeader {
  fin: boolean;
  opcode: number;
  masked: boolean;
  /** Payload length in bytes. */
  length: number;
  /** Header length in bytes (2, 4 or 10, plus 4 for a mask key). */
  headerLength: number;
}

/**
 * Reads the header of the frame starting at `buf[start]`, with `end` the end
 * of the valid bytes. Returns `undefined` when the header is not complete yet.
 */
export function readFrameHeader(
  buf: Uint8Array,
  start: number,
  end: number,
): FrameHeader | undefined {
  if (end - start < 2) return undefined;
  const b0 = buf[start];
  const b1 = buf[start + 1];
  let length = b1 & 0x7f;
  let headerLength = 2;
  if (length === 126) {
    if (end - start < 4) return undefined;
    length = (buf[start + 2] << 8) | buf[start + 3];
    headerLength = 4;
  } else if (length === 127) {
    if (end - start < 10) return undefined;
    const high = buf[start + 2] * 2 ** 24 + (buf[start + 3] << 16) + (buf[start + 4] << 8) +
      buf[start + 5];
    const low = buf[start + 6] * 2 ** 24 + (buf[start + 7] << 16) + (buf[start + 8] << 8) +
      buf[start + 9];
    length = high * 2 ** 32 + low;
    headerLength = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  if (masked) headerLength += 4;
  return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, length, headerLength };
}

/** What {@linkcode handshakeRequest} sends. */
export interface HandshakeOptions {
  /** Host and port for the `Host` header. */
  host: string;
  /** The request target; default `/ws`. */
  path?: string;
  /** `Sec-WebSocket-Key`; default a random one. */
  key?: string;
  /** Offered subprotocols, joined with `", "`; none when empty. */
  protocols?: readonly string[];
  /**
   * More headers. One named like a standard header (case-insensitively)
   * replaces it, or removes it when `null`; others follow the standard ones.
   */
  headers?: Record<string, string | null>;
}

/** A random `Sec-WebSocket-Key`: 16 random bytes in base64. */
export function randomKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

/** The opening handshake request of a WebSocket client, as bytes. */
export function handshakeRequest(options: HandshakeOptions): Uint8Array {
  const headers = new Map<string, [string, string | null]>([
    ["host", ["Host", options.host]],
    ["upgrade", ["Upgrade", "websocket"]],
    ["connection", ["Connection", "Upgrade"]],
    ["sec-websocket-key", ["Sec-WebSocket-Key", options.key ?? randomKey()]],
    ["sec-websocket-version", ["Sec-WebSocket-Version", "13"]],
  ]);
  if (options.protocols !== undefined && options.protocols.length > 0) {
    headers.set("sec-websocket-protocol", ["Sec-WebSocket-Protocol", options.protocols.join(", ")]);
  }
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    headers.set(name.toLowerCase(), [name, value]);
  }
  const lines = [`GET ${options.path ?? "/ws"} HTTP/1.1`];
  for (const [name, value] of headers.values()) if (value !== null) lines.push(`${name}: ${value}`);
  return encoder.encode(lines.join("\r\n") + "\r\n\r\n");
}

/** The position of the `\r\n\r\n` that ends an HTTP head in `buf[0..end)`, or -1. */
export function endOfHead(buf: Uint8Array, end: number): number {
  for (let i = 0; i + 3 < end; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

/** The code and reason of a close frame's payload (1005 when it has none). */
export function closeInfo(payload: Uint8Array): { code: number; reason: string } {
  if (payload.byteLength < 2) return { code: 1005, reason: "" };
  const code = (payload[0] << 8) | payload[1];
  return { code, reason: decoder.decode(payload.subarray(2)) };
}

/** `count` copies of `frame`, back to back (one write for a burst). */
export function repeatFrame(frame: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(frame.length * count);
  for (let i = 0; i < count; i++) out.set(frame, i * frame.length);
  return out;
}

/** `frames`, back to back (the one frame itself when there is only one). */
export function concatFrames(frames: readonly Uint8Array[]): Uint8Array {
  if (frames.length === 1) return frames[0];
  const out = new Uint8Array(frames.reduce((n, frame) => n + frame.length, 0));
  let at = 0;
  for (const frame of frames) {
    out.set(frame, at);
    at += frame.length;
  }
  return out;
}

/** Writes all of `data`, however many writes it takes. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}
