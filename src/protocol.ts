/**
 * The `wshub.v1` wire format (see `docs/protocol.md`): the subprotocol name,
 * the tags, the hello, the encoding of outbound payloads (once per message,
 * shared by every recipient) and the decoding of inbound frames. Web-standard
 * code only: the client module (`src/client/frames.ts`) shares its constants
 * and types, in browsers too.
 *
 * @module
 */

/** The hub's WebSocket subprotocol. */
export const SUBPROTOCOL = "wshub.v1";

/** The prefix of the subprotocol entry that carries a credential. */
export const TOKEN_PREFIX = "wshub.token.";

/** The first byte of a binary application message on a framed connection. */
export const BINARY_TAG = 0x6d; // "m"

/**
 * The hello frame: the first frame a hub sends on every framed connection.
 * Shared by the server (which sends it) and `@wshub/hub/client` (which reads it).
 *
 * @example Reading the hello
 * ```ts
 * import { connect } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * client.on("open", (hello) => console.log(`connected as ${hello.id}, user ${hello.user}`));
 * ```
 */
export interface Hello {
  /** Protocol version; always 1 for `wshub.v1`. */
  v: number;
  /** The server's id for this connection. */
  id: string;
  /** The user the server's `identify` hook returned, or `null` when anonymous. */
  user: string | null;
  /** How often the server pings, in milliseconds. */
  pingInterval: number;
  /** How long the server waits for an answer to its ping, in milliseconds. */
  pongTimeout: number;
}

/**
 * One outbound message, encoded once and shared by every recipient: the form
 * for plain clients (the payload exactly as given) and the tagged form for
 * framed clients, each with its size in bytes as Deno's `bufferedAmount`
 * counts it.
 */
export class Payload {
  /** The payload as sent to plain clients. */
  readonly plain: string | Uint8Array;
  /** UTF-8 bytes of `plain`. */
  readonly bytes: number;
  #framed: string | Uint8Array | undefined;

  /** Wraps data that is already a string or bytes. */
  constructor(plain: string | Uint8Array) {
    this.plain = plain;
    this.bytes = typeof plain === "string" ? utf8Length(plain) : plain.byteLength;
  }

  /** Whether this is a text message. */
  get text(): boolean {
    return typeof this.plain === "string";
  }

  /** The tagged form for framed clients, built on first use. */
  get framed(): string | Uint8Array {
    if (this.#framed === undefined) {
      const plain = this.plain;
      if (typeof plain === "string") {
        this.#framed = "m" + plain;
      } else {
        const tagged = new Uint8Array(plain.byteLength + 1);
        tagged[0] = BINARY_TAG;
        tagged.set(plain, 1);
        this.#framed = tagged;
      }
    }
    return this.#framed;
  }
}

/**
 * Encodes an application value once: strings and bytes are taken as they
 * are, anything else is JSON-encoded.
 *
 * @throws {TypeError} If the value cannot be JSON-encoded (a cycle, a BigInt)
 * or encodes to nothing (`undefined`, a function).
 */
export function encodePayload(data: unknown): Payload {
  if (typeof data === "string") return new Payload(data);
  if (data instanceof Uint8Array) return new Payload(data);
  if (data instanceof ArrayBuffer) return new Payload(new Uint8Array(data));
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw new TypeError(
      `Cannot send this message: JSON.stringify failed (${(error as Error).message}); ` +
        "send a string, a Uint8Array or a JSON-serialisable value",
    );
  }
  if (json === undefined) {
    throw new TypeError(
      `Cannot send this message: a ${typeof data} has no JSON form; ` +
        "send a string, a Uint8Array or a JSON-serialisable value",
    );
  }
  return new Payload(json);
}

/** Builds the hello frame. */
export function encodeHello(hello: Hello): string {
  return "h" + JSON.stringify(hello);
}

/**
 * Builds one `b` frame from text payloads, in order:
 * `b<length>:<text><length>:<text>…`, lengths in UTF-16 code units.
 * Returns the frame and its UTF-8 size.
 */
export function encodeBatch(
  payloads: readonly Payload[],
  start: number,
  end: number,
): { frame: string; bytes: number } {
  let frame = "b";
  let bytes = 1;
  for (let i = start; i < end; i++) {
    const payload = payloads[i];
    const text = payload.plain as string;
    const prefix = text.length + ":";
    frame += prefix + text;
    bytes += prefix.length + payload.bytes;
  }
  return { frame, bytes };
}

/** A decoded inbound frame on a framed connection. */
export type InboundFrame =
  | { kind: "message"; data: string | Uint8Array }
  | { kind: "ping"; token: string }
  | { kind: "pong"; token: string }
  | { kind: "invalid"; reason: string };

const MAX_TOKEN_LENGTH = 32;

/**
 * Decodes one frame a framed client sent. Never throws: anything malformed
 * comes back as `{ kind: "invalid" }` with a short reason for the close frame.
 */
export function decodeFrame(data: string | ArrayBuffer | Uint8Array): InboundFrame {
  if (typeof data === "string") {
    if (data.length === 0) return { kind: "invalid", reason: "empty frame" };
    switch (data.charCodeAt(0)) {
      case 0x6d: // m
        return { kind: "message", data: data.slice(1) };
      case 0x70: // p
        return tokenFrame("ping", data);
      case 0x50: // P
        return tokenFrame("pong", data);
      default:
        return { kind: "invalid", reason: "unknown text frame tag" };
    }
  }
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.byteLength === 0) return { kind: "invalid", reason: "empty frame" };
  if (bytes[0] !== BINARY_TAG) return { kind: "invalid", reason: "unknown binary frame tag" };
  return { kind: "message", data: bytes.subarray(1) };
}

function tokenFrame(kind: "ping" | "pong", data: string): InboundFrame {
  const token = data.slice(1);
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    return { kind: "invalid", reason: `${kind} token must be 1-${MAX_TOKEN_LENGTH} characters` };
  }
  return { kind, token };
}

/**
 * The number of bytes `text` takes in UTF-8, without encoding it. A lone
 * surrogate counts 3 bytes, as its replacement character does on the wire.
 */
export function utf8Length(text: string): number {
  const length = text.length;
  let bytes = length;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) {
      bytes += 1;
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // 4 bytes for 2 code units
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}
