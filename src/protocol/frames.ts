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
import { BINARY_TAG, MAX_TOKEN_LENGTH, ROOM_BINARY_TAG, Tag } from "./tags.ts";

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
    case Tag.Message:
      return { kind: "message", data: data.slice(1) };
    case Tag.Join:
    case Tag.Leave: {
      const request = parseRoomRequest(data.slice(1));
      if (typeof request === "string") return { kind: "invalid", reason: request };
      return { kind: data[0] === Tag.Join ? "join" : "leave", request };
    }
    case Tag.Who: {
      const query = parsePresenceQuery(data.slice(1));
      return typeof query === "string"
        ? { kind: "invalid", reason: query }
        : { kind: "who", query };
    }
    case Tag.FreshCredential: {
      const token = parseCredential(data.slice(1));
      return typeof token === "string"
        ? { kind: "credential", token }
        : { kind: "invalid", reason: token.problem };
    }
    case Tag.Request:
    case Tag.Answer:
      return decodeRequestFrame(data);
    case Tag.Frames:
      return invalid("a B frame inside a B frame");
    default:
      return controlFrame(data);
  }
}

/**
 * Decodes one frame a server sent: `h`, `m`, `b`, `B`, `r`, `J`, `L`, `u`,
 * `U`, `W`, `t`, `p`, `P`, `e`, `c`, `q`, `a`, or binary `m` and `r`. A `B`
 * batch holds whole frames, never a batch or a hello.
 */
export function decodeServerFrame(data: string | ArrayBuffer | Uint8Array): ServerFrame {
  if (typeof data === "string") return decodeServerText(data, true);
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes[0] === ROOM_BINARY_TAG) {
    const message = parseRoomBinary(bytes);
    return typeof message === "string"
      ? { kind: "invalid", reason: message }
      : { kind: "room", ...message };
  }
  const binary = decodeBinary(bytes);
  return binary.kind === "message" ? { kind: "binary", bytes: binary.data } : binary;
}

function decodeServerText(data: string, outer: boolean): ServerFrame {
  const body = data.slice(1);
  switch (data[0]) {
    case Tag.Message:
      return { kind: "text", texts: [body] };
    case Tag.Batch: {
      if (!outer) return { kind: "invalid", reason: "a batch inside a batch" };
      const texts = splitBatch(body);
      return typeof texts === "string" ? invalid(texts) : { kind: "text", texts };
    }
    case Tag.Frames: {
      if (!outer) return { kind: "invalid", reason: "a batch inside a batch" };
      const items = splitBatch(body);
      if (typeof items === "string") return invalid(items);
      const frames: ServerFrame[] = [];
      for (const item of items) {
        const frame = decodeServerText(item, false);
        if (frame.kind === "invalid") return frame;
        if (frame.kind === "hello") return invalid("a hello inside a batch");
        frames.push(frame);
      }
      return { kind: "frames", frames };
    }
    case Tag.Room: {
      const message = parseRoomText(body);
      return typeof message === "string" ? invalid(message) : { kind: "room", ...message };
    }
    case Tag.Joined: {
      const answer = parseJoinAnswer(body);
      return typeof answer === "string" ? invalid(answer) : { kind: "joined", answer };
    }
    case Tag.Left: {
      const answer = parseLeaveAnswer(body);
      return typeof answer === "string" ? invalid(answer) : { kind: "left", answer };
    }
    case Tag.Presence: {
      const event = parsePresence(body);
      return typeof event === "string" ? invalid(event) : { kind: "presence", event };
    }
    case Tag.PresenceDiff: {
      const diff = parsePresenceDiff(body);
      return typeof diff === "string" ? invalid(diff) : { kind: "presenceDiff", diff };
    }
    case Tag.Credential: {
      const notice = parseCredentialNotice(body);
      return typeof notice === "string" ? invalid(notice) : { kind: "credential", notice };
    }
    case Tag.WhoAnswer: {
      const answer = parsePresenceAnswer(body);
      return typeof answer === "string" ? invalid(answer) : { kind: "who", answer };
    }
    case Tag.Hello: {
      const hello = parseHello(body);
      return typeof hello === "string" ? invalid(hello) : { kind: "hello", hello };
    }
    case Tag.Error: {
      const notice = parseErrorNotice(body);
      return typeof notice === "string" ? invalid(notice) : { kind: "error", notice };
    }
    case Tag.Close: {
      const notice = parseCloseNotice(body);
      return typeof notice === "string" ? invalid(notice) : { kind: "close", notice };
    }
    case Tag.Request:
    case Tag.Answer:
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
