/**
 * Decoding the frames of a framed connection, for each direction, and
 * encoding the control frames (ping, pong). Decoders never throw: a
 * malformed frame comes back as `{ kind: "invalid", reason }`, with a short
 * reason fit for a close frame.
 *
 * @module
 */

import { splitBatch } from "./batch.ts";
import { type CredentialNotice, parseCredential, parseCredentialNotice } from "./credentials.ts";
import { type Hello, parseHello } from "./hello.ts";
import {
  type CloseNotice,
  type ErrorNotice,
  parseCloseNotice,
  parseErrorNotice,
} from "./notices.ts";
import {
  type JoinAnswer,
  type LeaveAnswer,
  parseJoinAnswer,
  parseLeaveAnswer,
  parsePresence,
  parsePresenceAnswer,
  parsePresenceDiff,
  parsePresenceQuery,
  parseRoomBinary,
  parseRoomRequest,
  parseRoomText,
  type PresenceAnswer,
  type PresenceDiff,
  type PresenceEvent,
  type PresenceQuery,
  type RoomRequest,
} from "./rooms.ts";
import { type AnswerFrame, decodeRequestFrame, type RequestFrame } from "./requests.ts";
import {
  BINARY_TAG,
  MAX_TOKEN_LENGTH,
  ROOM_BINARY_TAG,
  TAG_ANSWER,
  TAG_BATCH,
  TAG_CLOSE,
  TAG_CREDENTIAL,
  TAG_ERROR,
  TAG_FRAMES,
  TAG_FRESH_CREDENTIAL,
  TAG_HELLO,
  TAG_JOIN,
  TAG_JOINED,
  TAG_LEAVE,
  TAG_LEFT,
  TAG_MESSAGE,
  TAG_PING,
  TAG_PONG,
  TAG_PRESENCE,
  TAG_PRESENCE_DIFF,
  TAG_REQUEST,
  TAG_ROOM,
  TAG_WHO,
  TAG_WHO_ANSWER,
} from "./tags.ts";

/** A frame that a client sent, as the server reads it. */
export type ClientFrame =
  | { kind: "message"; data: string | Uint8Array }
  | { kind: "join"; request: RoomRequest }
  | { kind: "leave"; request: RoomRequest }
  | { kind: "who"; query: PresenceQuery }
  | { kind: "credential"; token: string }
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
  | { kind: "room"; room: string; offset?: number; data: string | Uint8Array }
  | { kind: "joined"; answer: JoinAnswer }
  | { kind: "left"; answer: LeaveAnswer }
  | { kind: "presence"; event: PresenceEvent }
  | { kind: "presenceDiff"; diff: PresenceDiff }
  | { kind: "who"; answer: PresenceAnswer }
  | { kind: "credential"; notice: CredentialNotice }
  | { kind: "frames"; frames: ServerFrame[] }
  | { kind: "ping"; token: string }
  | { kind: "pong"; token: string }
  | { kind: "error"; notice: ErrorNotice }
  | { kind: "close"; notice: CloseNotice }
  | { kind: "request"; request: RequestFrame }
  | { kind: "answer"; answer: AnswerFrame }
  /** A `J`, `L` or `W` frame that a client without rooms leaves unread. */
  | { kind: "unread" }
  | { kind: "invalid"; reason: string };

/**
 * Decodes one frame a client sent: `m` (text or binary), `j`, `l`, `w`, `q`,
 * `a`, `p`, `P` or `T`. Every other tag, including the server-only ones, is
 * invalid. A client's `B` frame is split before (the server's reader): a `B`
 * here is one inside another, invalid too.
 */
export function decodeClientFrame(data: string | ArrayBuffer | Uint8Array): ClientFrame {
  if (typeof data !== "string") return decodeBinary(data);
  switch (data[0]) {
    case TAG_MESSAGE:
      return { kind: "message", data: data.slice(1) };
    case TAG_JOIN:
    case TAG_LEAVE: {
      const request = parseRoomRequest(data.slice(1));
      if (typeof request === "string") return { kind: "invalid", reason: request };
      return { kind: data[0] === TAG_JOIN ? "join" : "leave", request };
    }
    case TAG_WHO: {
      const query = parsePresenceQuery(data.slice(1));
      return typeof query === "string"
        ? { kind: "invalid", reason: query }
        : { kind: "who", query };
    }
    case TAG_FRESH_CREDENTIAL: {
      const token = parseCredential(data.slice(1));
      return typeof token === "string"
        ? { kind: "credential", token }
        : { kind: "invalid", reason: token.problem };
    }
    case TAG_REQUEST:
    case TAG_ANSWER:
      return decodeRequestFrame(data);
    case TAG_FRAMES:
      return invalid("a B frame inside a B frame");
    default:
      return controlFrame(data);
  }
}

/**
 * Reads the frames that answer what only a client with rooms sends: `J`,
 * `L` and `W`, given the tag and the frame's body.
 */
export type RoomAnswerReader = (tag: string, body: string) => ServerFrame;

/**
 * Decodes one frame a server sent: `h`, `m`, `b`, `B`, `r`, `J`, `L`, `u`,
 * `U`, `W`, `t`, `p`, `P`, `e`, `c`, `q`, `a`, or binary `m` and `r`. A `B`
 * batch holds whole frames, never a batch or a hello.
 */
export function decodeServerFrame(data: string | ArrayBuffer | Uint8Array): ServerFrame {
  return decodeServerFrameWith(data, readRoomAnswer);
}

/**
 * {@linkcode decodeServerFrame}, with `J`, `L` and `W` frames read by
 * `readAnswer`: {@linkcode readRoomAnswer}, or {@linkcode skipRoomAnswer}
 * for a client without rooms, which ignores them (and whose bundle then
 * holds none of their parsers).
 */
export function decodeServerFrameWith(
  data: string | ArrayBuffer | Uint8Array,
  readAnswer: RoomAnswerReader,
): ServerFrame {
  if (typeof data === "string") return decodeServerText(data, readAnswer, true);
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes[0] === ROOM_BINARY_TAG) {
    const message = parseRoomBinary(bytes);
    return typeof message === "string" ? invalid(message) : { kind: "room", ...message };
  }
  const binary = decodeBinary(bytes);
  return binary.kind === "message" ? { kind: "binary", bytes: binary.data } : binary;
}

/** Reads a `J`, `L` or `W` frame in full. */
export function readRoomAnswer(tag: string, body: string): ServerFrame {
  switch (tag) {
    case TAG_JOINED: {
      const answer = parseJoinAnswer(body);
      return typeof answer === "string" ? invalid(answer) : { kind: "joined", answer };
    }
    case TAG_LEFT: {
      const answer = parseLeaveAnswer(body);
      return typeof answer === "string" ? invalid(answer) : { kind: "left", answer };
    }
    default: {
      const answer = parsePresenceAnswer(body);
      return typeof answer === "string" ? invalid(answer) : { kind: "who", answer };
    }
  }
}

/** Leaves a `J`, `L` or `W` frame unread (`{ kind: "unread" }`): a client without rooms. */
export function skipRoomAnswer(): ServerFrame {
  return { kind: "unread" };
}

function decodeServerText(data: string, readAnswer: RoomAnswerReader, outer: boolean): ServerFrame {
  const body = data.slice(1);
  switch (data[0]) {
    case TAG_MESSAGE:
      return { kind: "text", texts: [body] };
    case TAG_BATCH: {
      if (!outer) return invalid("a batch inside a batch");
      const texts = splitBatch(body);
      return typeof texts === "string" ? invalid(texts) : { kind: "text", texts };
    }
    case TAG_FRAMES: {
      if (!outer) return invalid("a batch inside a batch");
      const items = splitBatch(body);
      if (typeof items === "string") return invalid(items);
      const frames: ServerFrame[] = [];
      for (const item of items) {
        const frame = decodeServerText(item, readAnswer, false);
        if (frame.kind === "invalid") return frame;
        if (frame.kind === "hello") return invalid("a hello inside a batch");
        frames.push(frame);
      }
      return { kind: "frames", frames };
    }
    case TAG_ROOM: {
      const message = parseRoomText(body);
      return typeof message === "string" ? invalid(message) : { kind: "room", ...message };
    }
    case TAG_JOINED:
    case TAG_LEFT:
    case TAG_WHO_ANSWER:
      return readAnswer(data[0], body);
    case TAG_PRESENCE: {
      const event = parsePresence(body);
      return typeof event === "string" ? invalid(event) : { kind: "presence", event };
    }
    case TAG_PRESENCE_DIFF: {
      const diff = parsePresenceDiff(body);
      return typeof diff === "string" ? invalid(diff) : { kind: "presenceDiff", diff };
    }
    case TAG_CREDENTIAL: {
      const notice = parseCredentialNotice(body);
      return typeof notice === "string" ? invalid(notice) : { kind: "credential", notice };
    }
    case TAG_HELLO: {
      const hello = parseHello(body);
      return typeof hello === "string" ? invalid(hello) : { kind: "hello", hello };
    }
    case TAG_ERROR: {
      const notice = parseErrorNotice(body);
      return typeof notice === "string" ? invalid(notice) : { kind: "error", notice };
    }
    case TAG_CLOSE: {
      const notice = parseCloseNotice(body);
      return typeof notice === "string" ? invalid(notice) : { kind: "close", notice };
    }
    case TAG_REQUEST:
    case TAG_ANSWER:
      return decodeRequestFrame(data);
    default:
      return controlFrame(data);
  }
}

function invalid(reason: string): { kind: "invalid"; reason: string } {
  return { kind: "invalid", reason };
}

/** The ping frame `p<token>`. */
export function encodePing(token: string): string {
  return TAG_PING + token;
}

/** The pong frame `P<token>`, answering the ping with the same token. */
export function encodePong(token: string): string {
  return TAG_PONG + token;
}

function decodeBinary(
  data: ArrayBuffer | Uint8Array,
): { kind: "message"; data: Uint8Array } | { kind: "invalid"; reason: string } {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.byteLength === 0) return invalid("empty frame");
  if (bytes[0] !== BINARY_TAG) {
    return invalid(`unknown binary frame tag 0x${bytes[0].toString(16).padStart(2, "0")}`);
  }
  return { kind: "message", data: bytes.subarray(1) };
}

/** The frames both sides send: ping and pong; anything else left is invalid. */
function controlFrame(
  data: string,
): { kind: "ping" | "pong"; token: string } | { kind: "invalid"; reason: string } {
  switch (data[0]) {
    case TAG_PING:
      return tokenFrame("ping", data);
    case TAG_PONG:
      return tokenFrame("pong", data);
    case undefined:
      return invalid("empty frame");
    default:
      return invalid(unknownTag(data));
  }
}

function tokenFrame(
  kind: "ping" | "pong",
  data: string,
): { kind: "ping" | "pong"; token: string } | { kind: "invalid"; reason: string } {
  const token = data.slice(1);
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    return invalid(`${kind} token must be 1-${MAX_TOKEN_LENGTH} characters`);
  }
  return { kind, token };
}

function unknownTag(data: string): string {
  return `unknown text frame tag ${JSON.stringify(String.fromCodePoint(data.codePointAt(0)!))}`;
}
