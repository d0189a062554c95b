/**
 * The chat's messages, shared by the server (main.ts) and the page (app.ts).
 *
 * @module
 */

/** What a browser sends: a message to everyone, or a private one to a named user. */
export type ChatRequest =
  | { type: "say"; text: string }
  | { type: "whisper"; to: string; text: string };

/** What the server sends. */
export type ChatEvent =
  /** A chat line; `to` is set on a private message (sent to `to` and back to `from`). */
  | { type: "message"; from: string; text: string; at: number; to?: string }
  /** Who is online now (sent to everyone whenever it changes). */
  | { type: "presence"; users: string[] }
  /** Something only this user should see, e.g. "bob is not online". */
  | { type: "notice"; text: string };

/** Longest accepted chat line, in UTF-16 code units. */
export const MAX_TEXT = 500;

/** A valid user name: it doubles as the demo's token, so only token characters. */
export const NAME_PATTERN: RegExp = /^[A-Za-z0-9_-]{1,20}$/;

/**
 * Parses and checks one request; throws on anything else (the hub then
 * closes that client with 1007).
 */
export function parseRequest(data: string | Uint8Array): ChatRequest {
  if (typeof data !== "string") throw new TypeError("binary messages are not chat requests");
  const value = JSON.parse(data);
  const text = typeof value?.text === "string" ? value.text.trim().slice(0, MAX_TEXT) : "";
  if (!text) throw new TypeError("a chat request needs a non-empty text");
  if (value.type === "say") return { type: "say", text };
  if (value.type === "whisper" && typeof value.to === "string" && NAME_PATTERN.test(value.to)) {
    return { type: "whisper", to: value.to, text };
  }
  throw new TypeError(`not a chat request: ${data.slice(0, 80)}`);
}
