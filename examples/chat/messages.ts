/**
 * The chat's messages and rules, shared by the server (main.ts) and the page
 * (app.ts).
 *
 * @module
 */

/**
 * What a browser sends: a line for a channel, or a private line for a named
 * user. (Who is in a room and a channel's recent lines need no message of
 * the chat's own: the client module asks the hub, `client.presence(room)` and
 * `client.join(room, { history })`.)
 */
export type ChatRequest =
  | { type: "say"; room: string; text: string }
  | { type: "whisper"; to: string; text: string };

/**
 * What the server sends. A channel's lines are published to its room, so
 * they arrive with `meta.room` set; private lines and notices come alone.
 */
export type ChatEvent =
  /** A chat line; `to` is set on a private message (sent to `to` and back to `from`). */
  | { type: "message"; from: string; text: string; at: number; to?: string }
  /** Something only this user should see, e.g. "bob is not online". */
  | { type: "notice"; text: string };

/** A chat line: the `message` event. */
export type ChatMessage = Extract<ChatEvent, { type: "message" }>;

/** How many recent lines a page is given when it joins a channel. */
export const HISTORY_LINES = 50;

/** The room every connection is put in by the server: its presence is the online list. */
export const LOBBY = "lobby";

/** The channel only the user `admin` may join (to show `authorizeJoin`). */
export const ADMINS = "#admins";

/** Channels offered on the page; a page starts in the first. */
export const CHANNELS: readonly string[] = ["#general", "#random", "#deno", ADMINS];

/** Longest accepted chat line, in UTF-16 code units. */
export const MAX_TEXT = 500;

/** A valid user name: it doubles as the demo's token, so only token characters. */
export const NAME_PATTERN: RegExp = /^[A-Za-z0-9_-]{1,20}$/;

/**
 * A valid channel: `#` and 1-30 lowercase letters, digits, `_` or `-`. A
 * channel is a room of that name; rooms without the `#` (the lobby) are not
 * channels, so no page can join or post to them.
 */
export const CHANNEL_PATTERN: RegExp = /^#[a-z0-9][a-z0-9_-]{0,29}$/;

/**
 * Whether `user` may join the room `room`, and so post to it and see who is
 * in it: any channel, but {@linkcode ADMINS} only for `admin`.
 */
export function mayJoin(user: string | undefined, room: string): boolean {
  return CHANNEL_PATTERN.test(room) && (room !== ADMINS || user === "admin");
}

/**
 * Parses and checks one request; throws on anything else (the hub then
 * closes that client with 1007).
 */
export function parseRequest(data: string | Uint8Array): ChatRequest {
  if (typeof data !== "string") throw new TypeError("binary messages are not chat requests");
  const value = JSON.parse(data);
  const text = typeof value?.text === "string" ? value.text.trim().slice(0, MAX_TEXT) : "";
  if (!text) throw new TypeError("a chat request needs a non-empty text");
  if (value.type === "say" && typeof value.room === "string") {
    return { type: "say", room: value.room, text };
  }
  if (value.type === "whisper" && typeof value.to === "string" && NAME_PATTERN.test(value.to)) {
    return { type: "whisper", to: value.to, text };
  }
  throw new TypeError(`not a chat request: ${data.slice(0, 80)}`);
}
