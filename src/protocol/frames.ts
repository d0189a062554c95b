/**
 * Decoding the frames of a framed connection, for each direction, and
 * encoding the control frames (ping, pong). Decoders never throw: a
 * malformed frame comes back as `{ kind: "invalid", reason }`, with a short
 * reason fit for a close frame.
 *
 * @module
 */

import { splitBatch } from "./batch.ts";
import { type Hello, parseHello } from "./hello.ts";
import {
  type CloseNotice,
  type ErrorNotice,
  parseCloseNotice,
  parseErrorNotice,
} from "./notices.ts";
import { BINARY_TAG, MAX_TOKEN_LENGTH, Tag } from "./tags.ts";
import { type AnswerFrame, decodeRequestFrame, type RequestFrame } from "./requests.ts";

/** A frame that a client sent, as the server reads it. */
export type ClientFrame =
  | { kind: "message"; data: string | Uint8Array }
  | { kind: "ping"; token: string }
  | { kind: "pong"; token: string }
  | { kind: "request"; request: RequestFrame }
  | { kind: "answer"; answer: AnswerFrame }
  | { kind: "invalid"; reason: string };

/** A frame that a server sent, as a client reads it. */
export type ServerFrame =
  | { kind: "hello"; hello: Hello }
  | { kind: "text"; texts: string[] }
  | { kind: "binary"; bytes: Uint8Array }
  | { kind: "ping"; token: string }
  | { kind: "pong"; token: string }
  | { kind: "error"; notice: ErrorNotice }
  | { kind: "close"; notice: CloseNotice }
  | { kind: "request"; request: RequestFrame }
  | { kind: "answer"; answer: AnswerFrame }
  | { kind: "invalid"; reason: string };

/**
 * Decodes one frame a client sent: `m` (text or binary), `p`, `P`, `q` or
 * `a`. Every other tag, including the server-only `b` and `h`, is invalid.
 */
export function decodeClientFrame(data: string | ArrayBuffer | Uint8Array): ClientFrame {
  if (typeof data !== "string") return decodeBinary(data);
  switch (data[0]) {
    case Tag.Message:
      return { kind: "message", data: data.slice(1) };
    case Tag.Request:
    case Tag.Answer:
      return decodeRequestFrame(data);
    default:
      return controlFrame(data);
  }
}

/** Decodes one frame a server sent: `h`, `m`, `b`, `p`, `P`, `e`, `c`, `q`, `a`, or binary `m`. */
export function decodeServerFrame(data: string | ArrayBuffer | Uint8Array): ServerFrame {
  if (typeof data !== "string") {
    const binary = decodeBinary(data);
    return binary.kind === "message" ? { kind: "binary", bytes: binary.data } : binary;
  }
  switch (data[0]) {
    case Tag.Message:
      return { kind: "text", texts: [data.slice(1)] };
    case Tag.Batch: {
      const texts = splitBatch(data.slice(1));
      return typeof texts === "string"
        ? { kind: "invalid", reason: texts }
        : { kind: "text", texts };
    }
    case Tag.Hello: {
      const hello = parseHello(data.slice(1));
      return typeof hello === "string"
        ? { kind: "invalid", reason: hello }
        : { kind: "hello", hello };
    }
    case Tag.Error: {
      const notice = parseErrorNotice(data.slice(1));
      return typeof notice === "string"
        ? { kind: "invalid", reason: notice }
        : { kind: "error", notice };
    }
    case Tag.Close: {
      const notice = parseCloseNotice(data.slice(1));
      return typeof notice === "string"
        ? { kind: "invalid", reason: notice }
        : { kind: "close", notice };
    }
    case Tag.Request:
    case Tag.Answer:
      return decodeRequestFrame(data);
    default:
      return controlFrame(data);
  }
}

/** The ping frame `p<token>`. */
export function encodePing(token: string): string {
  return Tag.Ping + token;
}

/** The pong frame `P<token>`, answering the ping with the same token. */
export function encodePong(token: string): string {
  return Tag.Pong + token;
}

function decodeBinary(
  data: ArrayBuffer | Uint8Array,
): { kind: "message"; data: Uint8Array } | { kind: "invalid"; reason: string } {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.byteLength === 0) return { kind: "invalid", reason: "empty frame" };
  if (bytes[0] !== BINARY_TAG) {
    return {
      kind: "invalid",
      reason: `unknown binary frame tag 0x${bytes[0].toString(16).padStart(2, "0")}`,
    };
  }
  return { kind: "message", data: bytes.subarray(1) };
}

/** The frames both sides send: ping and pong; anything else left is invalid. */
function controlFrame(
  data: string,
): { kind: "ping" | "pong"; token: string } | { kind: "invalid"; reason: string } {
  switch (data[0]) {
    case Tag.Ping:
      return tokenFrame("ping", data);
    case Tag.Pong:
      return tokenFrame("pong", data);
    case undefined:
      return { kind: "invalid", reason: "empty frame" };
    default:
      return { kind: "invalid", reason: unknownTag(data) };
  }
}

function tokenFrame(
  kind: "ping" | "pong",
  data: string,
): { kind: "ping" | "pong"; token: string } | { kind: "invalid"; reason: string } {
  const token = data.slice(1);
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    return { kind: "invalid", reason: `${kind} token must be 1-${MAX_TOKEN_LENGTH} characters` };
  }
  return { kind, token };
}

function unknownTag(data: string): string {
  return `unknown text frame tag ${JSON.stringify(String.fromCodePoint(data.codePointAt(0)!))}`;
}
