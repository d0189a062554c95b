/**
 * The HTTP API's answers: JSON bodies with the headers every answer carries,
 * and {@linkcode ApiError}, how a route refuses a request with a status and
 * a message (never a stack trace).
 *
 * @module
 */

import { HubClosedError } from "../server/errors.ts";
import type { Logger } from "../server/logger.ts";

/** Headers on every answer of the API. */
const HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
};

/**
 * A refusal: the status and the message the caller reads in `{"error": …}`,
 * and any header it needs (`Allow` for a 405).
 *
 * @example
 * ```ts
 * import { ApiError } from "./api_error.ts";
 *
 * const error = new ApiError(400, "room is missing");
 * console.log(error.response().status); // 400
 * ```
 */
export class ApiError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** Extra headers of the answer. */
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.headers = headers;
  }

  /** The answer: `{"error": message}` with the status. */
  response(): Response {
    return json({ error: this.message }, this.status, this.headers);
  }

  /** A batch's reply for a command that failed: `{"error": {"status", "message"}}`. */
  reply(): { error: { status: number; message: string } } {
    return { error: { status: this.status, message: this.message } };
  }
}

/**
 * What a failure is to the caller: an {@linkcode ApiError} as it is, 503 for
 * a closing hub or an unreachable history store, else 500 (logged, with no
 * detail in the answer).
 *
 * @example
 * ```ts
 * import { problemOf } from "./api_error.ts";
 * import { quietLogger } from "../server/logger.ts";
 *
 * console.log(problemOf(new Error("boom"), quietLogger).status); // 500
 * ```
 */
export function problemOf(error: unknown, logger: Logger): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof HubClosedError) {
    return new ApiError(503, "the hub is closing; try another process");
  }
  if (error instanceof Error && error.name === "RedisDownError") {
    return new ApiError(503, "the history store is not reachable now; try again shortly", {
      "retry-after": "1",
    });
  }
  logger.error("wshub: the HTTP API failed a request", { error });
  return new ApiError(500, "internal error");
}

/**
 * A JSON answer with the API's headers.
 *
 * @example
 * ```ts
 * import { json } from "./api_error.ts";
 *
 * console.log(json({ offset: 3 }).headers.get("content-type"));
 * ```
 */
export function json(
  body: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...HEADERS, ...headers } });
}
