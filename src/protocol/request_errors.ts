/**
 * The errors of requests, the same classes on both sides (the hub exports
 * them from `@wshub/hub`, the client module from `@wshub/hub/client`):
 * {@linkcode ReplyError}, thrown by a request handler to expose a message to
 * the requester, and the rejections of a request — {@linkcode RequestError}
 * (the other side answered with a failure), {@linkcode RequestTimeoutError}
 * and {@linkcode ConnectionClosedError}. Web-standard code only.
 *
 * @module
 */

import { RequestErrorCode } from "./requests.ts";

const CODE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Thrown (or rejected with) by a request handler to fail the request with a
 * message the requester may see. Any other thrown value is kept private: it
 * is reported on the handler's side (the hub's `onError`, the client's
 * `error` event) and the requester gets the code `handler_error` with the
 * generic message "The request failed" — never a stack trace, never the
 * error's own message.
 *
 * @example Refusing a request with a message the client may show
 * ```ts
 * import { Hub, ReplyError } from "@wshub/hub";
 *
 * const hub = new Hub({
 *   onRequest(message) {
 *     if (message !== "balance") throw new ReplyError(`unknown command ${message}`, "bad_command");
 *     return { balance: 42 };
 *   },
 * });
 * await hub.close();
 * ```
 */
export class ReplyError extends Error {
  /** The code sent with the message (default `handler_error`). */
  readonly code: string;

  /**
   * Creates the error.
   *
   * @param message What the requester is told, as it is.
   * @param code A code for programs: 1–64 letters, digits, `_`, `.` or `-`.
   * Default `handler_error`.
   * @throws {RangeError} If the code is not of that form.
   */
  constructor(message: string, code?: string) {
    code ??= RequestErrorCode.HandlerError;
    super(message);
    if (typeof code !== "string" || !CODE.test(code)) {
      throw new RangeError(
        `Invalid ReplyError code ${JSON.stringify(code)}: use 1-64 letters, digits, _ . or -`,
      );
    }
    this.name = "ReplyError";
    this.code = code;
  }
}

/**
 * A request failed on the other side, which said why: the rejection of
 * `request()` when the answer is a failure. `code` is `handler_error` (its
 * handler failed; `message` is what it chose to expose, or "The request
 * failed"), `no_handler` (it answers no requests), `too_many_requests` (it
 * already handles its maximum of requests from this connection; also the
 * code when this side already has its own maximum pending), or the code of
 * a {@linkcode ReplyError}.
 *
 * @example Telling failures apart
 * ```ts
 * import { connect, RequestError, RequestTimeoutError } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws", { reconnect: false });
 * try {
 *   await client.request({ op: "balance" }, { timeout: 2_000 });
 * } catch (error) {
 *   if (error instanceof RequestError) console.warn(error.code, error.message);
 *   else if (error instanceof RequestTimeoutError) console.warn("no answer in time");
 *   else console.warn(error); // ConnectionClosedError: not connected, or the connection dropped
 * }
 * await client.close();
 * ```
 */
export class RequestError extends Error {
  /** What went wrong, for programs. */
  readonly code: string;

  /** Creates the error from a failure answer: `message` is the other side's, as it is. */
  constructor(code: string, message: string) {
    super(message);
    this.name = "RequestError";
    this.code = code;
  }
}

/**
 * No answer arrived within the request's timeout. An answer that arrives
 * later is ignored.
 *
 * @example A short timeout
 * ```ts
 * import { Hub, RequestTimeoutError } from "@wshub/hub";
 *
 * const hub = new Hub({
 *   async onConnect(client) {
 *     try {
 *       console.log(await client.request("ready?", { timeout: 1_000 }));
 *     } catch (error) {
 *       if (error instanceof RequestTimeoutError) client.close(4408, "too slow");
 *     }
 *   },
 * });
 * await hub.close();
 * ```
 */
export class RequestTimeoutError extends Error {
  /** The timeout that passed, in milliseconds. */
  readonly timeout: number;

  /** Creates the error for a request that waited `timeout` ms. */
  constructor(timeout: number) {
    super(`No answer within ${timeout} ms; the request timed out`);
    this.name = "RequestTimeoutError";
    this.timeout = timeout;
  }
}

/**
 * The request could not be sent, or cannot be answered any more: there was
 * no open connection when `request()` was called, or the connection closed
 * while the request waited for its answer. Requests are never sent again on
 * a new connection: the other side may or may not have run it.
 *
 * @example Retrying by hand once the client is open again
 * ```ts
 * import { ConnectionClosedError, connect } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws", { reconnect: false });
 * try {
 *   await client.request("status");
 * } catch (error) {
 *   if (error instanceof ConnectionClosedError) console.warn("not sent or not answered:", error.message);
 * }
 * await client.close();
 * ```
 */
export class ConnectionClosedError extends Error {
  /** The close code of the connection, when the request was pending as it closed. */
  readonly code: number | undefined;

  /** Creates the error; `detail` says what happened, `code` is the close code if known. */
  constructor(detail: string, code?: number) {
    super(`The request did not complete: ${detail}`);
    this.name = "ConnectionClosedError";
    this.code = code;
  }
}
