/**
 * The HTTP API's answers: JSON bodies with the headers every answer carries,
 * and {@linkcode ApiError}, how a route refuses a request with a status and
 * a message (never a stack trace).
 *
 * @module
 */

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
