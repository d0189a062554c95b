/**
 * Requests and their answers on a framed connection, in both directions:
 *
 * - `q<id>:<text>` — a request; the receiver answers it once.
 * - `a<id>:<text>` — the answer: the receiver's reply.
 * - `a<id>!<json>` — the answer: the request failed; `<json>` is
 *   `{"error":"<code>","message":"<text>"}`.
 *
 * `<id>` is 1–15 decimal digits without a leading zero (1 to
 * 999,999,999,999,999): a counter of the sender, per connection and per
 * direction, starting at 1 and strictly increasing. The two directions are
 * separate spaces, so an id names one request without ambiguity. `<text>` is
 * encoded like an `m` payload (a string as it is, any other value
 * `JSON.stringify`'d). Text only: there is no binary request or answer.
 *
 * Pure functions; decoders never throw (a malformed frame comes back as
 * `{ kind: "invalid", reason }`, with a reason fit for a close frame).
 *
 * @module
 */

import { TAG_ANSWER, TAG_REQUEST } from "./tags.ts";
import { parseJsonObject } from "./json_object.ts";

/** The largest request id: 15 decimal digits. */
export const MAX_REQUEST_ID = 999_999_999_999_999;

/** The default number of requests in flight per connection and direction. */
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT = 64;

/** The default time a request waits for its answer, in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT = 10_000;

/** The error codes the hub and the reference client put in failure answers. */
export const RequestErrorCode = Object.freeze(
  {
    /** The receiver's handler failed (threw or rejected). */
    HandlerError: "handler_error",
    /** The receiver has no handler for requests. */
    NoHandler: "no_handler",
    /** The receiver already handles its maximum of requests from this connection. */
    TooManyRequests: "too_many_requests",
  } as const,
);

/** The generic message of a `handler_error` whose handler chose to expose nothing. */
export const GENERIC_FAILURE_MESSAGE = "The request failed";

/** The body of a failure answer: a code for programs and a sentence for people. */
export interface RequestFailure {
  /** What went wrong, for programs: `handler_error`, `no_handler`, `too_many_requests`, or the code of a `ReplyError`. */
  error: string;
  /** What went wrong, for people: only what the handler chose to expose. */
  message: string;
}

/** A request frame, decoded. */
export interface RequestFrame {
  /** The sender's id of this request. */
  id: number;
  /** The request's text (the payload, not yet decoded). */
  text: string;
}

/** An answer frame, decoded: the reply's text, or the failure. */
export type AnswerFrame =
  | { id: number; ok: true; text: string }
  | { id: number; ok: false; failure: RequestFailure };

/** Builds a request frame `q<id>:<text>`. */
export function encodeRequest(id: number, text: string): string {
  return `${TAG_REQUEST}${id}:${text}`;
}

/** Builds a success answer `a<id>:<text>`. */
export function encodeAnswer(id: number, text: string): string {
  return `${TAG_ANSWER}${id}:${text}`;
}

/** Builds a failure answer `a<id>!{"error":…,"message":…}`. */
export function encodeFailure(id: number, failure: RequestFailure): string {
  return `${TAG_ANSWER}${id}!${JSON.stringify({ error: failure.error, message: failure.message })}`;
}

/** Whether `id` is a valid request id: an integer from 1 to {@linkcode MAX_REQUEST_ID}. */
export function isRequestId(id: number): boolean {
  return Number.isInteger(id) && id >= 1 && id <= MAX_REQUEST_ID;
}

/**
 * Decodes the body of a request frame (the frame without its `q`).
 * Returns the request, or a string that says what is wrong.
 */
export function parseRequest(body: string): RequestFrame | string {
  const head = readId(body, "request");
  if (typeof head === "string") return head;
  if (body[head.end] !== ":") return "malformed request frame: expected q<id>:<text>";
  return { id: head.id, text: body.slice(head.end + 1) };
}

/**
 * Decodes the body of an answer frame (the frame without its `a`).
 * Returns the answer, or a string that says what is wrong.
 */
export function parseAnswer(body: string): AnswerFrame | string {
  const head = readId(body, "answer");
  if (typeof head === "string") return head;
  const { id, end } = head;
  const separator = body[end];
  if (separator === ":") return { id, ok: true, text: body.slice(end + 1) };
  if (separator !== "!") return "malformed answer frame: expected a<id>:<text> or a<id>!<json>";
  const value = parseJsonObject(body.slice(end + 1), "malformed answer frame: the failure");
  if (typeof value === "string") return value;
  const { error, message } = value;
  if (typeof error !== "string" || error.length === 0 || typeof message !== "string") {
    return "malformed answer frame: the failure lacks error or message";
  }
  return { id, ok: false, failure: { error, message } };
}

/** Reads the id at the start of `body`: 1–15 digits, no leading zero. */
function readId(body: string, what: string): { id: number; end: number } | string {
  let end = 0;
  while (end < body.length && end <= 15) {
    const code = body.charCodeAt(end);
    if (code < 0x30 || code > 0x39) break;
    end++;
  }
  if (end === 0 || end > 15 || body[0] === "0") {
    return `malformed ${what} frame: the id must be 1-15 digits, without a leading zero`;
  }
  return { id: Number(body.slice(0, end)), end };
}

/** A decoded `q` or `a` frame, as both directions see it. */
export type RequestOrAnswer =
  | { kind: "request"; request: RequestFrame }
  | { kind: "answer"; answer: AnswerFrame }
  | { kind: "invalid"; reason: string };

/** Decodes a whole frame whose tag is `q` or `a` (frames.ts calls it for both directions). */
export function decodeRequestFrame(data: string): RequestOrAnswer {
  if (data[0] === TAG_REQUEST) {
    const request = parseRequest(data.slice(1));
    return typeof request === "string"
      ? { kind: "invalid", reason: request }
      : { kind: "request", request };
  }
  const answer = parseAnswer(data.slice(1));
  return typeof answer === "string"
    ? { kind: "invalid", reason: answer }
    : { kind: "answer", answer };
}
