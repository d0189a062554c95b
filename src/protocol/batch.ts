/**
 * Batches: several text frames coalesced into one WebSocket message, each
 * item `<length>:<text>` with its length the decimal number of UTF-16 code
 * units of the text after the colon. A `b` frame carries application texts
 * (each one an `m` frame without its tag); a `B` frame carries whole tagged
 * frames (`r…`, `u…`, `m…`).
 *
 * @module
 */

import type { Payload } from "./payload.ts";
import { TAG_BATCH, TAG_FRAMES } from "./tags.ts";

/**
 * Builds one batch frame from the text payloads `payloads[start..end)`, in
 * order: a `b` frame of their texts when every one is a plain application
 * message, else a `B` frame of their tagged forms (room messages, presence
 * events…); the texts and forms of `wshub.v2` (always JSON) when `json`.
 * Returns the frame and its UTF-8 size.
 */
export function encodeBatch(
  payloads: readonly Payload[],
  start: number,
  end: number,
  json = false,
): { frame: string; bytes: number } {
  let tagged = false;
  for (let i = start; i < end && !tagged; i++) tagged = payloads[i].tagged;
  let frame: string = tagged ? TAG_FRAMES : TAG_BATCH;
  let bytes = 1;
  for (let i = start; i < end; i++) {
    const payload = payloads[i];
    let text: string, size: number;
    if (tagged) {
      text = (json ? payload.framed2 : payload.framed) as string;
      size = json ? payload.framed2Bytes : payload.framedBytes;
    } else if (json && !payload.json) {
      text = payload.jsonText; // a string value, as a JSON string
      size = payload.framed2Bytes - 1; // framed2 is "m" + it
    } else {
      text = payload.plain as string;
      size = payload.bytes;
    }
    const prefix = text.length + ":";
    frame += prefix + text;
    bytes += prefix.length + size;
  }
  return { frame, bytes };
}

/**
 * Joins whole frames into one `B` frame, in order: `B` + `<length>:<frame>`
 * for each (the length in UTF-16 code units).
 */
export function joinFrames(frames: readonly string[]): string {
  let frame: string = TAG_FRAMES;
  for (const item of frames) frame += item.length + ":" + item;
  return frame;
}

/**
 * Splits the body of a `b` or `B` frame (the frame without its tag) into
 * its items. Returns a string that says what is wrong instead of an array
 * when the body is malformed (empty, a length that is not 1–15 digits, or a
 * message running past the end).
 */
export function splitBatch(body: string): string[] | string {
  const texts: string[] = [];
  for (let at = 0; at < body.length;) {
    const item = batchItem(body, at);
    if (typeof item === "string") return item;
    texts.push(body.slice(item.start, item.end));
    at = item.end;
  }
  if (texts.length === 0) return "empty batch frame";
  return texts;
}

/**
 * The item of the body of a `b` or `B` frame that begins at `at`: where its
 * text starts and ends in `body`, or a string that says what is wrong (a
 * length that is not 1–15 digits, or a message running past the end). For
 * reading a batch one item at a time; {@linkcode splitBatch} reads all.
 */
export function batchItem(body: string, at: number): { start: number; end: number } | string {
  const colon = body.indexOf(":", at);
  const digits = colon === -1 ? "" : body.slice(at, colon);
  if (!/^\d{1,15}$/.test(digits)) {
    return `malformed batch frame: expected <length>: at offset ${at + 1}`;
  }
  const end = colon + 1 + Number(digits);
  if (end > body.length) return "malformed batch frame: a message runs past the end of the frame";
  return { start: colon + 1, end };
}
