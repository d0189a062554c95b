/**
 * `b` frames: several text messages coalesced into one frame,
 * `b<length>:<text><length>:<text>…`, each length the decimal number of
 * UTF-16 code units of the text that follows its colon.
 *
 * @module
 */

import type { Payload } from "./payload.ts";
import { Tag } from "./tags.ts";

/**
 * Builds one `b` frame from the text payloads `payloads[start..end)`, in
 * order. Returns the frame and its UTF-8 size.
 */
export function encodeBatch(
  payloads: readonly Payload[],
  start: number,
  end: number,
): { frame: string; bytes: number } {
  let frame: string = Tag.Batch;
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

/**
 * Splits the body of a `b` frame (the frame without its tag) into its
 * messages. Returns a string that says what is wrong instead of an array
 * when the body is malformed (empty, a length that is not 1–15 digits, or a
 * message running past the end).
 */
export function splitBatch(body: string): string[] | string {
  const texts: string[] = [];
  let at = 0;
  while (at < body.length) {
    const colon = body.indexOf(":", at);
    const digits = colon === -1 ? "" : body.slice(at, colon);
    if (!/^\d{1,15}$/.test(digits)) {
      return `malformed batch frame: expected <length>: at offset ${at + 1}`;
    }
    const end = colon + 1 + Number(digits);
    if (end > body.length) return "malformed batch frame: a message runs past the end of the frame";
    texts.push(body.slice(colon + 1, end));
    at = end;
  }
  if (texts.length === 0) return "empty batch frame";
  return texts;
}
