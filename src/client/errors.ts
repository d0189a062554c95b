/**
 * Errors the client throws from `send` or reports through its `error` event.
 *
 * @module
 */

/**
 * Thrown by `send()` while the client is not connected and its send queue
 * already holds `queueLimit` messages. Nothing was queued.
 *
 * @example Handling a full queue
 * ```ts
 * import { connect, SendQueueFullError } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws", { queueLimit: 10 });
 * try {
 *   client.send({ text: "hi" });
 * } catch (error) {
 *   if (!(error instanceof SendQueueFullError)) throw error;
 *   console.warn("offline: message not sent");
 * }
 * await client.close();
 * ```
 */
export class SendQueueFullError extends Error {
  /** The `queueLimit` that was reached. */
  readonly limit: number;

  /** Creates the error for a queue bounded at `limit` messages. */
  constructor(limit: number) {
    super(
      `Send queue is full: ${limit} messages are already waiting for the connection to open. ` +
        'Wait for state "open" before sending more, or raise the queueLimit option.',
    );
    this.name = "SendQueueFullError";
    this.limit = limit;
  }
}

/**
 * Thrown by `send()` once the client is closed for good: after `close()`, or
 * after the server closed with a code the client does not retry.
 *
 * @example Checking the state first
 * ```ts
 * import { ClientClosedError, connect } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * await client.close();
 * try {
 *   client.send("late");
 * } catch (error) {
 *   console.assert(error instanceof ClientClosedError);
 * }
 * ```
 */
export class ClientClosedError extends Error {
  /**
   * Creates the error; `detail` says why the client is closed, `action` what
   * could not be done (default `"send"`).
   */
  constructor(detail: string, action?: string) {
    action ??= "send";
    super(
      `Cannot ${action}: the client is closed (${detail}). Call connect() again for a new client.`,
    );
    this.name = "ClientClosedError";
  }
}

/**
 * Reported through the `error` event when the server broke the `wshub.v1`
 * protocol (an unknown frame tag, a malformed batch, no hello first, the
 * subprotocol not accepted). The client closes and does not reconnect: the
 * same server would do the same again.
 *
 * @example Logging protocol errors
 * ```ts
 * import { connect, ProtocolError } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * client.on("error", (error) => {
 *   if (error instanceof ProtocolError) console.error("not a wshub server?", error.message);
 * });
 * await client.close();
 * ```
 */
export class ProtocolError extends Error {
  /** Creates the error; `detail` says which rule the server broke. */
  constructor(detail: string) {
    super(`wshub.v1 protocol error: ${detail}`);
    this.name = "ProtocolError";
  }
}

/**
 * Reported through the `error` event when the `decode` option threw on an
 * incoming text message. The message is skipped; the connection stays open.
 *
 * @example Seeing skipped messages
 * ```ts
 * import { connect, DecodeError } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * client.on("error", (error) => {
 *   if (error instanceof DecodeError) console.warn("skipped:", error.text.slice(0, 80));
 * });
 * await client.close();
 * ```
 */
export class DecodeError extends Error {
  /** The text that could not be decoded. */
  readonly text: string;

  /** Creates the error for `text`; `cause` is what `decode` threw. */
  constructor(text: string, cause: unknown) {
    super(
      `Could not decode an incoming message (${
        cause instanceof Error ? cause.message : String(cause)
      }); it was skipped. Pass a decode option that accepts what the server sends.`,
      { cause },
    );
    this.name = "DecodeError";
    this.text = text;
  }
}

/**
 * Reported through the `error` event when the server refused something this
 * client sent but kept the connection open: an error notice (`e` frame).
 * For example `code` `"rate_limited"` when the hub dropped messages because
 * this client sent more than its rate limit allows.
 *
 * @example Slowing down when the server says so
 * ```ts
 * import { connect, ServerError } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * client.on("error", (error) => {
 *   if (error instanceof ServerError && error.code === "rate_limited") console.warn(error.message);
 * });
 * await client.close();
 * ```
 */
export class ServerError extends Error {
  /** What the server refused, for programs: for example `"rate_limited"`. */
  readonly code: string;

  /** Creates the error from the server's notice. */
  constructor(code: string, message: string) {
    super(`The server refused what this client sent (${code}): ${message}`);
    this.name = "ServerError";
    this.code = code;
  }
}

/**
 * A join the server refused, or that could not complete: the rejection of
 * `client.join(room)`, and the `error` event when a room the client rejoins
 * after a reconnect is refused this time. `code` is the server's: `forbidden`
 * (its `authorizeJoin` said no), `invalid_room`, `too_many_rooms`, `failed`
 * (its `authorizeJoin` threw); or `left` when `leave` came first. A refused
 * presence query (`client.presence()`) is one too.
 *
 * @example Handling a refused join
 * ```ts
 * import { connect, JoinError } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * try {
 *   await client.join("admins");
 * } catch (error) {
 *   if (error instanceof JoinError && error.code === "forbidden") console.warn("not an admin");
 * }
 * await client.close();
 * ```
 */
export class JoinError extends Error {
  /** The room. */
  readonly room: string;
  /**
   * Why: `forbidden`, `invalid_room`, `too_many_rooms`, `failed`, `left`, or
   * `rate_limited` (the connection joined and left rooms faster than the
   * hub allows: see `retryAfter`).
   */
  readonly code: string;
  /** With `rate_limited`: in how many milliseconds a join may be asked again. */
  readonly retryAfter: number | undefined;

  /**
   * Creates the error; `action` says what was refused (default `"join"`),
   * `retryAfter` when it may be asked again.
   */
  constructor(room: string, code: string, message: string, action?: string, retryAfter?: number) {
    action ??= "join";
    super(`Could not ${action} ${room} (${code}): ${message}`);
    this.name = "JoinError";
    this.room = room;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/**
 * Throw it from the `getToken` option to say the user is no longer
 * authorized (signed out, account disabled): the client closes for good
 * (state `"closed"`, close code 4401, no retry) instead of retrying with
 * backoff as it does after any other failure of `getToken`.
 *
 * @example A token endpoint that answers 401 ends the client
 * ```ts
 * import { connect, UnauthorizedError } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws", {
 *   getToken: async () => {
 *     const response = await fetch("http://127.0.0.1:8000/token");
 *     if (response.status === 401) throw new UnauthorizedError("signed out");
 *     if (!response.ok) throw new Error(`token endpoint: ${response.status}`); // retried
 *     return await response.text();
 *   },
 * });
 * await client.close();
 * ```
 */
export class UnauthorizedError extends Error {
  /** Creates the error; `message` says why, and is the close reason the client reports. */
  constructor(message?: string, options?: ErrorOptions) {
    super(message ?? "unauthorized", options);
    this.name = "UnauthorizedError";
  }
}

/**
 * Reported through the `error` event when the `getToken` option failed
 * (threw anything but an {@linkcode UnauthorizedError}, returned something
 * that is not a token, or did not settle in time). The client retries: at
 * the next reconnect attempt, or shortly after when the hub asked for a
 * fresh credential. `cause` is what `getToken` threw.
 *
 * @example Watching token failures
 * ```ts
 * import { connect, TokenError } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws", {
 *   getToken: () => fetch("/token").then((response) => response.text()),
 * });
 * client.on("error", (error) => {
 *   if (error instanceof TokenError) console.warn("no token yet:", error.message);
 * });
 * await client.close();
 * ```
 */
export class TokenError extends Error {
  /** Creates the error; `detail` says what went wrong, `cause` is what `getToken` threw. */
  constructor(detail: string, options?: ErrorOptions) {
    super(`getToken failed: ${detail}; retrying`, options);
    this.name = "TokenError";
  }
}
