/**
 * What travels on the Redis channels between hub processes: one header line
 * of JSON (which process sent it, what kind, for whom, text or bytes), a
 * newline, then the payload's bytes exactly as a plain client gets them.
 * Binary-safe, and the header is small next to most payloads.
 *
 * This is a contract (docs/channel-format.md): emitters and publishers in
 * other languages write it too. Its version is the header's `v`, absent in
 * what this release writes, which means 1; a message of any other version
 * is not decoded (the backplane ignores and counts it).
 *
 * @module
 */

import type { BackplaneMessage } from "../server/backplane.ts";
import type { PresenceEvent } from "../protocol/mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NEWLINE = 0x0a;

/** The version of the envelope this release reads and writes. */
export const ENVELOPE_VERSION = 1;

/**
 * A decoded envelope: a message for the hub, or a presence event, and who
 * sent it. A room publication with history also says when it expires from
 * the stream (ms, Redis's clock) and the stream's size, when its append
 * script said so.
 */
export type Envelope =
  | { origin: string; message: BackplaneMessage; expires?: number; size?: number }
  | { origin: string; presence: PresenceEvent };

/**
 * A message whose header says it is of another version than
 * {@linkcode ENVELOPE_VERSION}: not decoded (written by a newer release, or
 * by a publisher that got the format wrong).
 */
export interface UnknownVersion {
  /** The header's `v`, as it was. */
  version: unknown;
  /** The header's `o`, when it is a string. */
  origin: string | undefined;
}

interface Header {
  /** The format's version: absent (what this release writes) or 1. */
  v?: unknown;
  /** The sending process's id. */
  o: string;
  /** Kind: b(roadcast), u(ser), r(oom), p(resence), d(isconnect a user). */
  k: "b" | "u" | "r" | "p" | "d";
  /** The user or room, for u and r. */
  n?: string;
  /** 1 when the payload is a string, 2 the JSON text of a value that was not a string, 0 bytes. */
  t?: 0 | 1 | 2;
  /** A room publication's reference, meaningful to its origin only (see BackplaneMessage.ref). */
  q?: number;
  /** A room publication's offset in the room's stream (set by the append script). */
  x?: number;
  /** The stream's epoch (set by the append script). */
  e?: string;
  /** When the publication expires from the stream, in ms of Redis's clock (the append script). */
  y?: number;
  /** The stream's size, its most publications kept (the append script). */
  z?: number;
}

/** Encodes a message from process `origin`. */
export function encodeMessage(origin: string, message: BackplaneMessage): Uint8Array {
  if (message.kind === "disconnect") {
    const body = JSON.stringify({ code: message.code, reason: message.reason });
    return join({ o: origin, k: "d", n: message.user }, encoder.encode(body));
  }
  const data = message.data;
  const header: Header = {
    o: origin,
    k: message.kind === "broadcast" ? "b" : message.kind === "user" ? "u" : "r",
    t: kindOf(data, message.json),
  };
  if (message.kind === "user") header.n = message.user;
  if (message.kind === "room") header.n = message.room;
  return join(header, typeof data === "string" ? encoder.encode(data) : data);
}

/**
 * The header of a room publication with history, without its closing
 * brace: the append script adds the position (`,"x":<offset>,"e":"<epoch>"}`),
 * the newline and the payload.
 */
export function encodeAppendHeader(
  origin: string,
  room: string,
  data: string | Uint8Array,
  ref: number | undefined,
  json?: boolean,
): string {
  const header: Header = { o: origin, k: "r", n: room, t: kindOf(data, json) };
  if (ref !== undefined) header.q = ref;
  return JSON.stringify(header).slice(0, -1);
}

/** Encodes a presence event from process `origin` (used by the Lua scripts' PUBLISH too). */
export function encodePresenceEnvelope(origin: string, event: PresenceEvent): Uint8Array {
  return join({ o: origin, k: "p" }, encoder.encode(JSON.stringify(event)));
}

/**
 * Decodes an envelope; `undefined` for anything malformed, an
 * {@linkcode UnknownVersion} for a header of another version (both are
 * dropped, and counted by the caller). A room publication's `ref` is kept
 * only when `self` sent it: another process's refs mean nothing here.
 */
export function decodeEnvelope(
  bytes: Uint8Array,
  self: string,
): Envelope | UnknownVersion | undefined {
  const newline = bytes.indexOf(NEWLINE);
  if (newline < 0) return undefined;
  let header: Header;
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(0, newline)));
  } catch {
    return undefined;
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) return undefined;
  // The version first: another version may lay out the rest differently.
  if (header.v !== undefined && header.v !== ENVELOPE_VERSION) {
    return { version: header.v, origin: typeof header.o === "string" ? header.o : undefined };
  }
  if (typeof header.o !== "string") return undefined;
  const body = bytes.subarray(newline + 1);
  const origin = header.o;
  if (header.k === "p") {
    try {
      const event = JSON.parse(decoder.decode(body));
      if (
        typeof event !== "object" || event === null || typeof event.room !== "string" ||
        typeof event.user !== "string" || (event.event !== "join" && event.event !== "leave")
      ) {
        return undefined;
      }
      return { origin, presence: event as PresenceEvent };
    } catch {
      return undefined;
    }
  }
  if (header.k === "d") {
    try {
      const { code, reason } = JSON.parse(decoder.decode(body));
      if (typeof header.n !== "string" || !Number.isInteger(code) || typeof reason !== "string") {
        return undefined;
      }
      return { origin, message: { kind: "disconnect", user: header.n, code, reason } };
    } catch {
      return undefined;
    }
  }
  // Bytes from a subscription may share their buffer: copy them for the hub.
  const data = header.t === 1 || header.t === 2 ? decoder.decode(body) : body.slice();
  const json = header.t === 2 ? { json: true } : {};
  if (header.k === "b") return { origin, message: { kind: "broadcast", data, ...json } };
  if (typeof header.n !== "string") return undefined;
  if (header.k === "u") return { origin, message: { kind: "user", user: header.n, data, ...json } };
  if (header.k !== "r") return undefined;
  const message: BackplaneMessage = { kind: "room", room: header.n, data, ...json };
  if (Number.isSafeInteger(header.x) && typeof header.e === "string") {
    message.position = { offset: header.x!, epoch: header.e };
  }
  if (origin === self && Number.isSafeInteger(header.q)) message.ref = header.q;
  const stream = Number.isSafeInteger(header.y) && Number.isSafeInteger(header.z)
    ? { expires: header.y!, size: header.z! }
    : {};
  return { origin, message, ...stream };
}

/**
 * What to log, once, when a message of an unknown version arrives: which
 * version, from which process, and what to do about it.
 */
export function unknownVersionWarning(unknown: UnknownVersion): string {
  return `wshub: ignored a message of envelope version ${JSON.stringify(unknown.version)} from ` +
    `process ${unknown.origin ?? "(unknown)"}: this process reads version ${ENVELOPE_VERSION} ` +
    "(docs/channel-format.md); upgrade it, or fix the publisher. Further ones are only counted " +
    "(wshub_backplane_unknown_version_total)";
}

/** The header's `t`: 1 a string, 2 the JSON text of a value, 0 bytes. */
function kindOf(data: string | Uint8Array, json: boolean | undefined): 0 | 1 | 2 {
  return typeof data !== "string" ? 0 : json ? 2 : 1;
}

function join(header: Header, body: Uint8Array): Uint8Array {
  const head = encoder.encode(JSON.stringify(header));
  const out = new Uint8Array(head.byteLength + 1 + body.byteLength);
  out.set(head);
  out[head.byteLength] = NEWLINE;
  out.set(body, head.byteLength + 1);
  return out;
}
