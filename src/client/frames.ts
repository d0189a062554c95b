/**
 * The `wshub.v1` frame codec (see docs/protocol.md): pure functions, no I/O.
 *
 * @module
 */

import { BINARY_TAG, type Hello, SUBPROTOCOL, TOKEN_PREFIX } from "../protocol.ts";
import { ProtocolError } from "./errors.ts";

/** The subprotocol name every framed connection negotiates. */
export const PROTOCOL: string = SUBPROTOCOL;

export { TOKEN_PREFIX };
export type { Hello };

/** RFC 7230 `token` characters: what a subprotocol name may contain. */
const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** One decoded frame. */
export type Frame =
  | { kind: "hello"; hello: Hello }
  | { kind: "text"; texts: string[] }
  | { kind: "binary"; bytes: Uint8Array }
  | { kind: "ping"; token: string }
  | { kind: "pong"; token: string };

/** Whether `token` may be offered as `wshub.token.<token>`. */
export function isProtocolToken(token: string): boolean {
  return TOKEN_CHARS.test(token);
}

/**
 * Encodes one application message the way the hub does: a string goes out as
 * text (`m` + the string), a `Uint8Array` or `ArrayBuffer` as binary (`0x6d` +
 * the bytes), anything else as JSON text. The result never shares memory with `data`.
 */
export function encodeMessage(data: unknown): string | Uint8Array {
  if (typeof data === "string") return "m" + data;
  const bytes = data instanceof Uint8Array
    ? data
    : data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : undefined;
  if (bytes) {
    const frame = new Uint8Array(bytes.byteLength + 1);
    frame[0] = BINARY_TAG;
    frame.set(bytes, 1);
    return frame;
  }
  const json = JSON.stringify(data);
  if (json === undefined) {
    throw new TypeError(
      `Cannot send ${typeof data}: JSON.stringify turns it into nothing. ` +
        "Send a string, bytes, or a JSON-serializable value.",
    );
  }
  return "m" + json;
}

/** Encodes a ping (`p<token>`) or a pong (`P<token>`). */
export function encodeControl(kind: "ping" | "pong", token: string): string {
  return (kind === "ping" ? "p" : "P") + token;
}

/**
 * Decodes one WebSocket message received on a framed connection.
 *
 * @throws {ProtocolError} on an empty frame, an unknown tag or a malformed body.
 */
export function parseFrame(data: string | ArrayBuffer): Frame {
  if (typeof data !== "string") {
    const bytes = new Uint8Array(data);
    if (bytes.length === 0 || bytes[0] !== BINARY_TAG) {
      throw new ProtocolError(
        bytes.length === 0
          ? "empty binary frame"
          : `unknown binary frame tag 0x${bytes[0].toString(16).padStart(2, "0")}`,
      );
    }
    return { kind: "binary", bytes: bytes.subarray(1) };
  }
  const tag = data[0];
  const body = data.slice(1);
  switch (tag) {
    case "m":
      return { kind: "text", texts: [body] };
    case "b":
      return { kind: "text", texts: parseBatch(body) };
    case "h":
      return { kind: "hello", hello: parseHello(body) };
    case "p":
    case "P":
      if (body.length < 1 || body.length > 32) {
        throw new ProtocolError(`${tag === "p" ? "ping" : "pong"} token must be 1-32 characters`);
      }
      return { kind: tag === "p" ? "ping" : "pong", token: body };
    case undefined:
      throw new ProtocolError("empty text frame");
    default:
      throw new ProtocolError(`unknown text frame tag ${JSON.stringify(tag)}`);
  }
}

/**
 * Splits the body of a `b` frame (`<length>:<text>` repeated, length in UTF-16
 * code units) into its messages.
 *
 * @throws {ProtocolError} when the body is not well formed.
 */
export function parseBatch(body: string): string[] {
  const texts: string[] = [];
  let at = 0;
  while (at < body.length) {
    const colon = body.indexOf(":", at);
    const digits = colon === -1 ? "" : body.slice(at, colon);
    if (!/^\d{1,15}$/.test(digits)) {
      throw new ProtocolError(`malformed batch frame: expected <length>: at offset ${at + 1}`);
    }
    const end = colon + 1 + Number(digits);
    if (end > body.length) {
      throw new ProtocolError(`malformed batch frame: a message runs past the end of the frame`);
    }
    texts.push(body.slice(colon + 1, end));
    at = end;
  }
  if (texts.length === 0) throw new ProtocolError("empty batch frame");
  return texts;
}

function parseHello(body: string): Hello {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new ProtocolError("hello frame is not JSON");
  }
  if (typeof value !== "object" || value === null) {
    throw new ProtocolError("hello frame is not a JSON object");
  }
  const hello = value as Record<string, unknown>;
  if (hello.v !== 1) {
    throw new ProtocolError(`hello announces protocol version ${hello.v}; this client speaks 1`);
  }
  const positive = (n: unknown) => typeof n === "number" && Number.isFinite(n) && n > 0;
  if (
    typeof hello.id !== "string" ||
    !(hello.user === null || typeof hello.user === "string") ||
    !positive(hello.pingInterval) || !positive(hello.pongTimeout)
  ) {
    throw new ProtocolError("hello frame lacks id, user, pingInterval or pongTimeout");
  }
  return {
    v: 1,
    id: hello.id,
    user: hello.user as string | null,
    pingInterval: hello.pingInterval as number,
    pongTimeout: hello.pongTimeout as number,
  };
}
