/**
 * The frames of rooms and presence: room names, join and leave requests
 * (`j`, `l`, client to server) and their answers (`J`, `L`), messages
 * published to a room (`r`), presence events (`u`), and presence queries
 * (`w`, client to server) and their answers (`W`), and presence diffs (`U`,
 * to the members that asked for them). Bodies of `j`, `l`, `J`, `L`, `u`,
 * `U`, `w` and `W` are JSON objects; unknown fields are ignored, so they can
 * grow (history positions) without breaking anyone.
 *
 * @module
 */

import {
  ROOM_BINARY_TAG,
  TAG_JOIN,
  TAG_JOINED,
  TAG_LEAVE,
  TAG_LEFT,
  TAG_PRESENCE,
  TAG_PRESENCE_DIFF,
  TAG_WHO,
  TAG_WHO_ANSWER,
} from "./tags.ts";
import { parseJsonObject } from "./json_object.ts";

/** The longest room name, in characters. */
export const MAX_ROOM_LENGTH = 128;

/**
 * What a room name may contain: 1–128 ASCII letters, digits and
 * `_ - . : @ / # + = ~ !` — enough for `chat:general`, `doc/42`,
 * `tenant@acme`; nothing that needs escaping in a URL path, a log line or a
 * Redis channel name.
 */
const ROOM_NAME = /^[A-Za-z0-9_\-.:@/#+=~!]{1,128}$/;

/** Whether `room` is a valid room name (see {@linkcode roomNameProblem}). */
export function isRoomName(room: unknown): room is string {
  return typeof room === "string" && ROOM_NAME.test(room);
}

/** What is wrong with a room name, or `undefined` when it is valid. */
export function roomNameProblem(room: unknown): string | undefined {
  if (typeof room !== "string") return `a room name is a string, not a ${typeof room}`;
  if (room.length === 0 || room.length > MAX_ROOM_LENGTH) {
    return `a room name has 1-${MAX_ROOM_LENGTH} characters, not ${room.length}`;
  }
  if (!ROOM_NAME.test(room)) {
    return `room name ${
      JSON.stringify(room)
    } may only contain ASCII letters, digits and _-.:@/#+=~!`;
  }
  return undefined;
}

/**
 * How a member of a room hears about presence there: `"events"`, one `u`
 * frame per user who joined or left (what every client understands);
 * `"diffs"`, one `U` frame per window with every user who joined and left
 * (a client asks for it when it joins); `"none"`, nothing.
 */
export type PresenceMode = "events" | "diffs" | "none";

const PRESENCE_MODES: readonly string[] = ["events", "diffs", "none"];

/** A client's request to join or leave a room (`j`, `l`). */
export interface RoomRequest {
  /** The client's number for this request, echoed in the answer: a positive safe integer. */
  id: number;
  /** The room. */
  room: string;
  /**
   * On a join: the position of the last publication the client received in
   * this room, to be sent what it missed since (rooms with history).
   */
  since?: { offset: number; epoch: string };
  /**
   * On a join: send the room's last `history` publications (rooms with
   * history) before the live ones, with no gap and no duplicate. With
   * `since`, only if the recovery fails (the answer then says
   * `recovered: false`, and its offset is the one before the first sent).
   */
  history?: number;
  /**
   * On a join: how this member hears about presence in the room (see
   * {@linkcode PresenceMode}); absent, `"events"`. Kept while it is a
   * member: a later join of a room it is in does not change it.
   */
  presence?: PresenceMode;
}

/** The answer to a join (`J`), also sent without `id` when the server joined the client itself. */
export interface JoinAnswer {
  /** The request's `id`; absent when the server joined the client on its own. */
  id?: number;
  /** The room. */
  room: string;
  /** Why the join was refused (`forbidden`, `invalid_room`, `too_many_rooms`, `failed`); absent when joined. */
  error?: string;
  /** What went wrong, for people; with `error`. */
  message?: string;
  /** For a room with history: its stream's epoch now. */
  epoch?: string;
  /**
   * For a room with history: the offset of its last publication (publications that follow are
   * newer); for a join with `history`, the offset just before the first publication sent with it.
   */
  offset?: number;
  /**
   * For a join with `since`: whether every publication missed follows this
   * answer (`true`), or not (`false`, with `reason`).
   */
  recovered?: boolean;
  /**
   * Why a recovery was not complete: `epoch_changed`, `expired`, `trimmed`,
   * `too_many`, `no_history`, `unavailable`, `rate_limited`.
   */
  reason?: string;
  /**
   * With the error `rate_limited`: in how many milliseconds the connection
   * may join again.
   */
  retryAfter?: number;
}

/** The answer to a leave (`L`), also sent without `id` when the server removed the client itself. */
export interface LeaveAnswer {
  /** The request's `id`; absent when the server removed the client on its own. */
  id?: number;
  /** The room. */
  room: string;
}

/** A client's question: who is in a room (`w`); with `counts`, only how many. */
export interface PresenceQuery {
  /** The client's number for this question, echoed in the answer: a positive safe integer. */
  id: number;
  /** The room. */
  room: string;
  /** Only the numbers of users and connections, not the list. */
  counts?: boolean;
}

/**
 * The answer to a presence query (`W`): the room's users with their
 * connection counts (or, for `counts`, only the totals), cluster-wide with a
 * backplane; or why it was refused (the same codes as a join).
 */
export interface PresenceAnswer {
  /** The query's `id`. */
  id: number;
  /** The room. */
  room: string;
  /** One entry per identified user: its connections in the room. */
  presence?: { user: string; connections: number }[];
  /** How many identified users are in the room (with `counts`). */
  users?: number;
  /** How many of their connections are in the room (with `counts`). */
  connections?: number;
  /** Why it was refused (`forbidden`, `invalid_room`, `failed`). */
  error?: string;
  /** What went wrong, for people; with `error`. */
  message?: string;
}

/** A presence event (`u`): a user's first connection joined a room, or its last one left. */
export interface PresenceEvent {
  /** The room. */
  room: string;
  /** The user. */
  user: string;
  /** Whether the user joined or left. */
  event: "join" | "leave";
}

/**
 * A presence diff (`U`): over one window, the users whose first connection
 * joined the room (`joins`) and whose last one left it (`leaves`). A user
 * appears at most once, in the list of where it ended; a join and a leave
 * of the same user inside the window cancel out. Apply it as set
 * operations: add every `joins` user, remove every `leaves` user.
 */
export interface PresenceDiff {
  /** The room. */
  room: string;
  /** Users who joined (present at the window's end). */
  joins: string[];
  /** Users who left (absent at the window's end). */
  leaves: string[];
}

/** A message published to a room, as a framed client reads it (`r`). */
export interface RoomMessage<D = string> {
  /** The room it was published to. */
  room: string;
  /** Its position in the room's history, when the room keeps one. */
  offset?: number;
  /** The message: text, or bytes for a binary one. */
  data: D;
}

/** Builds a join request frame. */
export function encodeJoin(request: RoomRequest): string {
  return TAG_JOIN + JSON.stringify(request);
}

/** Builds a leave request frame. */
export function encodeLeave(request: RoomRequest): string {
  return TAG_LEAVE + JSON.stringify(request);
}

/** Builds a join answer frame. */
export function encodeJoined(answer: JoinAnswer): string {
  return TAG_JOINED + JSON.stringify(answer);
}

/** Builds a leave answer frame. */
export function encodeLeft(answer: LeaveAnswer): string {
  return TAG_LEFT + JSON.stringify(answer);
}

/** Builds a presence query frame (`w`). */
export function encodePresenceQuery(query: PresenceQuery): string {
  return TAG_WHO + JSON.stringify(query);
}

/** Builds a presence answer frame (`W`). */
export function encodePresenceAnswer(answer: PresenceAnswer): string {
  return TAG_WHO_ANSWER + JSON.stringify(answer);
}

/** Reads the body of a presence query. */
export function parsePresenceQuery(body: string): PresenceQuery | string {
  const value = parseJsonObject(body, "the frame's body");
  if (typeof value === "string") return value;
  if (!Number.isSafeInteger(value.id) || (value.id as number) < 1) {
    return "a presence query needs an id, a positive integer";
  }
  if (typeof value.room !== "string") return "a presence query needs a room";
  return value.counts === true
    ? { id: value.id as number, room: value.room, counts: true }
    : { id: value.id as number, room: value.room };
}

/** Reads the body of a presence answer. */
export function parsePresenceAnswer(body: string): PresenceAnswer | string {
  const value = parseJsonObject(body, "the frame's body");
  if (typeof value === "string") return value;
  if (!Number.isSafeInteger(value.id) || typeof value.room !== "string") {
    return "a presence answer needs an id and a room";
  }
  const answer: PresenceAnswer = { id: value.id as number, room: value.room };
  if (typeof value.error === "string") {
    answer.error = value.error;
    answer.message = typeof value.message === "string" ? value.message : value.error;
    return answer;
  }
  if (Array.isArray(value.presence)) {
    const entries = value.presence as { user?: unknown; connections?: unknown }[];
    if (
      !entries.every((entry) =>
        typeof entry === "object" && entry !== null && typeof entry.user === "string" &&
        Number.isSafeInteger(entry.connections)
      )
    ) {
      return "a presence answer's entries are { user, connections }";
    }
    answer.presence = entries as { user: string; connections: number }[];
  }
  if (Number.isSafeInteger(value.users)) answer.users = value.users as number;
  if (Number.isSafeInteger(value.connections)) answer.connections = value.connections as number;
  return answer;
}

/** Builds a presence event frame. */
export function encodePresence(event: PresenceEvent): string {
  return TAG_PRESENCE + JSON.stringify(event);
}

/** Builds a presence diff frame (`U`). */
export function encodePresenceDiff(diff: PresenceDiff): string {
  return TAG_PRESENCE_DIFF + JSON.stringify(diff);
}

/** Reads the body of a presence diff. */
export function parsePresenceDiff(body: string): PresenceDiff | string {
  const value = parseJsonObject(body, "the frame's body");
  if (typeof value === "string") return value;
  const users = (list: unknown) =>
    Array.isArray(list) && list.every((user) => typeof user === "string");
  if (typeof value.room !== "string" || !users(value.joins) || !users(value.leaves)) {
    return "a presence diff needs a room, and joins and leaves as lists of users";
  }
  return { room: value.room, joins: value.joins as string[], leaves: value.leaves as string[] };
}

/**
 * Reads the body of a join or leave request. The room name is not checked
 * here (a bad one gets an answer, not a protocol error); the shape is.
 */
export function parseRoomRequest(body: string): RoomRequest | string {
  const value = parseJsonObject(body, "the frame's body");
  if (typeof value === "string") return value;
  if (!Number.isSafeInteger(value.id) || (value.id as number) < 1) {
    return "a room request needs an id, a positive integer";
  }
  if (typeof value.room !== "string") return "a room request needs a room";
  const history = value.history;
  if (
    history !== undefined && (!Number.isSafeInteger(history) || (history as number) < 1)
  ) {
    return "a join's history is a positive integer";
  }
  const presence = value.presence;
  if (presence !== undefined && !PRESENCE_MODES.includes(presence as string)) {
    return 'a join\'s presence is "events", "diffs" or "none"';
  }
  const since = value.since as { offset?: unknown; epoch?: unknown } | undefined;
  const request: RoomRequest = { id: value.id as number, room: value.room };
  if (since !== undefined) {
    if (
      typeof since !== "object" || since === null || !Number.isSafeInteger(since.offset) ||
      (since.offset as number) < 0 || typeof since.epoch !== "string"
    ) {
      return "a join's since is { offset, epoch }";
    }
    request.since = { offset: since.offset as number, epoch: since.epoch };
  }
  if (history !== undefined) request.history = history as number;
  if (presence !== undefined) request.presence = presence as PresenceMode;
  return request;
}

/** Reads the body of a join answer. */
export function parseJoinAnswer(body: string): JoinAnswer | string {
  const value = parseJsonObject(body, "the frame's body");
  if (typeof value === "string") return value;
  if (typeof value.room !== "string") return "a join answer needs a room";
  if (value.id !== undefined && !Number.isSafeInteger(value.id)) {
    return "a join answer's id is an integer";
  }
  if (value.error !== undefined && typeof value.error !== "string") {
    return "a join error is a string";
  }
  return {
    id: value.id as number | undefined,
    room: value.room,
    error: value.error as string | undefined,
    message: typeof value.message === "string" ? value.message : undefined,
    epoch: typeof value.epoch === "string" ? value.epoch : undefined,
    offset: Number.isSafeInteger(value.offset) ? value.offset as number : undefined,
    recovered: typeof value.recovered === "boolean" ? value.recovered : undefined,
    reason: typeof value.reason === "string" ? value.reason : undefined,
    retryAfter: Number.isFinite(value.retryAfter) && (value.retryAfter as number) >= 0
      ? value.retryAfter as number
      : undefined,
  };
}

/** Reads the body of a leave answer. */
export function parseLeaveAnswer(body: string): LeaveAnswer | string {
  const value = parseJsonObject(body, "the frame's body");
  if (typeof value === "string") return value;
  if (typeof value.room !== "string") return "a leave answer needs a room";
  if (value.id !== undefined && !Number.isSafeInteger(value.id)) {
    return "a leave answer's id is an integer";
  }
  return { id: value.id as number | undefined, room: value.room };
}

/** Reads the body of a presence event. */
export function parsePresence(body: string): PresenceEvent | string {
  const value = parseJsonObject(body, "the frame's body");
  if (typeof value === "string") return value;
  if (
    typeof value.room !== "string" || typeof value.user !== "string" ||
    (value.event !== "join" && value.event !== "leave")
  ) {
    return "a presence event needs a room, a user, and an event join or leave";
  }
  return { room: value.room, user: value.user, event: value.event };
}

/** Reads the body of a text room message: `<room length>:<room><offset>:<text>`. */
export function parseRoomText(body: string): RoomMessage | string {
  const header = roomHeader(body);
  if (typeof header === "string") return header;
  return { room: header.room, offset: header.offset, data: body.slice(header.end) };
}

const decoder = new TextDecoder();

/** Reads a binary room message: 0x72, then the header in ASCII, then the bytes. */
export function parseRoomBinary(bytes: Uint8Array): RoomMessage<Uint8Array> | string {
  if (bytes[0] !== ROOM_BINARY_TAG) return "not a binary room message";
  // The header is ASCII and short: decode at most its longest possible size.
  const head = decoder.decode(bytes.subarray(1, 1 + 3 + 1 + MAX_ROOM_LENGTH + 16 + 1));
  const header = roomHeader(head);
  if (typeof header === "string") return header;
  return { room: header.room, offset: header.offset, data: bytes.subarray(1 + header.end) };
}

function roomHeader(
  body: string,
): { room: string; offset: number | undefined; end: number } | string {
  const colon = body.indexOf(":");
  if (colon < 1 || colon > 3) return "a room message starts with <room length>:";
  const length = Number(body.slice(0, colon));
  if (!Number.isInteger(length) || length < 1 || length > MAX_ROOM_LENGTH) {
    return "a room message's room length is 1-128";
  }
  const room = body.slice(colon + 1, colon + 1 + length);
  if (room.length !== length) return "a room message ends inside its room name";
  const offsetStart = colon + 1 + length;
  const offsetEnd = body.indexOf(":", offsetStart);
  if (offsetEnd === -1 || offsetEnd - offsetStart > 16) {
    return "a room message's offset ends with a colon";
  }
  const digits = body.slice(offsetStart, offsetEnd);
  if (digits !== "" && !/^\d+$/.test(digits)) return "a room message's offset is digits";
  const offset = digits === "" ? undefined : Number(digits);
  if (offset !== undefined && !Number.isSafeInteger(offset)) {
    return "a room offset is a safe integer";
  }
  return { room, offset, end: offsetEnd + 1 };
}
