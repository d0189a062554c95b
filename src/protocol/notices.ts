/**
 * Notices the server sends on its own: error notices (`e`: something the
 * client sent was refused, the connection stays open) and close notices
 * (`c`: the code and reason of the close that follows, sent first because a
 * close frame can be lost when the runtime tears a busy connection down).
 *
 * @module
 */

import { TAG_CLOSE, TAG_ERROR } from "./tags.ts";
import { parseJsonObject } from "./json_object.ts";

/** The body of an error notice: a machine-readable `error` and a human `message`. */
export interface ErrorNotice {
  /** What went wrong, for programs: for example `"rate_limited"`. */
  error: string;
  /** What went wrong and what to do, for people. */
  message: string;
}

/** The body of a close notice. */
export interface CloseNotice {
  /** The close code that follows. */
  code: number;
  /** The close reason that follows. */
  reason: string;
  /**
   * With code 1013 from a hub admitting connections at its pace: come back
   * after this many milliseconds (a client adds jitter), rather than after
   * its own backoff.
   */
  retryAfter?: number;
}

/** Builds an error notice frame: `e` + JSON. */
export function encodeErrorNotice(notice: ErrorNotice): string {
  return TAG_ERROR + JSON.stringify(notice);
}

/** Builds a close notice frame: `c` + JSON. */
export function encodeCloseNotice(notice: CloseNotice): string {
  return TAG_CLOSE + JSON.stringify(notice);
}

/** Reads the body of an error notice; a string says what is wrong with it. */
export function parseErrorNotice(body: string): ErrorNotice | string {
  const value = parseJsonObject(body, "error notice");
  if (typeof value === "string") return value;
  if (typeof value.error !== "string" || typeof value.message !== "string") {
    return "error notice lacks error or message";
  }
  return { error: value.error, message: value.message };
}

/** Reads the body of a close notice; a string says what is wrong with it. */
export function parseCloseNotice(body: string): CloseNotice | string {
  const value = parseJsonObject(body, "close notice");
  if (typeof value === "string") return value;
  if (!Number.isInteger(value.code) || typeof value.reason !== "string") {
    return "close notice lacks code or reason";
  }
  const retryAfter = value.retryAfter;
  if (typeof retryAfter === "number" && Number.isFinite(retryAfter) && retryAfter >= 0) {
    return { code: value.code as number, reason: value.reason, retryAfter };
  }
  return { code: value.code as number, reason: value.reason };
}
