/**
 * The client's options: their documentation, defaults and validation, and
 * the resolution of the hub's URL.
 *
 * @module
 */

import {
  DEFAULT_MAX_REQUESTS_IN_FLIGHT,
  DEFAULT_REQUEST_TIMEOUT,
  isToken,
  SUBPROTOCOL,
  SUBPROTOCOL_V2,
  TOKEN_PREFIX,
} from "../protocol/mod.ts";
import { type Backoff, type ReconnectOptions, resolveBackoff } from "./reconnect.ts";
import type { GetToken } from "./credentials.ts";

const DEFAULT_QUEUE_LIMIT = 100;
const DEFAULT_CONNECT_TIMEOUT = 10_000;

/**
 * Options of `connect()` from `@wshub/hub/client/core`: every option of the
 * full client's {@linkcode ConnectOptions} but those of requests.
 *
 * @example A light client with a token
 * ```ts
 * import { connect } from "@wshub/hub/client/core";
 *
 * const client = connect<{ text: string }>("ws://127.0.0.1:8000/ws", {
 *   token: "eyJhbGciOi",
 *   reconnect: { initialDelay: 250, maxDelay: 5_000 },
 * });
 * await client.close();
 * ```
 */
export interface CoreOptions<T> {
  /**
   * A credential offered as the second subprotocol `wshub.token.<token>`; the
   * server reads it with `protocolToken(req)` in its `identify` hook. Only
   * RFC 7230 token characters (base64url and JWTs qualify).
   */
  token?: string;
  /**
   * Where fresh credentials come from, for servers whose credentials expire
   * (see "Expiring credentials" in the README): called before the first
   * connection and **before every reconnect** (a token is never sent
   * twice), its result offered like `token`; and called again when the hub
   * asks for a fresh credential before the current one expires, its result
   * sent on the open connection (no reconnect). Give it or `token`, not
   * both. Each call may take up to `connectTimeout`. Throw an
   * {@linkcode UnauthorizedError} to end the client (state `"closed"`,
   * code 4401); any other failure is reported as a {@linkcode TokenError}
   * and retried with the reconnect backoff.
   */
  getToken?: () => string | Promise<string>;
  /** Backoff between reconnect attempts, or `false` to never reconnect. */
  reconnect?: ReconnectOptions | false;
  /**
   * How many messages `send` may queue while the client is not open; they are
   * sent in order once a connection receives its hello. When the queue is
   * full, `send` throws {@linkcode SendQueueFullError}. Default 100.
   */
  queueLimit?: number;
  /**
   * Turns the text of each incoming text message into a `T`. Default
   * `JSON.parse`. If it throws, the message is skipped and an `error` event
   * carries a {@linkcode DecodeError}. Against a hub that speaks `wshub.v2`
   * (this version's hubs), every text is JSON — a string the server sent
   * arrives as a JSON string — so the default gives back the very value the
   * server sent, strings included. Against a `wshub.v1`-only hub, texts
   * arrive as the server gave them.
   */
  decode?: (text: string) => T;
  /**
   * How often the client pings the server to measure {@linkcode CoreClient.rtt},
   * in milliseconds, or `false` for never. Default: the server's
   * `pingInterval` from the hello. The first ping goes out right after the hello.
   */
  pingInterval?: number | false;
  /**
   * How long opening a connection may take, from creating the socket to
   * receiving the hello, before the attempt is dropped and retried, in
   * milliseconds. Default 10 000.
   */
  connectTimeout?: number;
  /**
   * Extra time on top of the server's `pingInterval + pongTimeout` before a
   * silent server is taken as dead, in milliseconds. Default: a quarter of
   * `pingInterval + pongTimeout`, at most 1 000.
   */
  deadlineSlack?: number;
  /** Aborting this signal closes the client, like `close()`. */
  signal?: AbortSignal;
  /** Source of randomness for the backoff jitter, values in `[0, 1)`. Default `Math.random` (tests pass their own). */
  random?: () => number;
}

/**
 * Options of {@linkcode connect}.
 *
 * @example A browser client with a token and JSON messages
 * ```ts
 * import { connect } from "@wshub/hub/client";
 *
 * type Chat = { text: string };
 * const client = connect<Chat>("ws://127.0.0.1:8000/ws", {
 *   token: "eyJhbGciOi",
 *   queueLimit: 50,
 *   reconnect: { initialDelay: 250, maxDelay: 5_000 },
 * });
 * await client.close();
 * ```
 */
export interface ConnectOptions<T> extends CoreOptions<T> {
  /**
   * Answers the server's requests (`client.request()` on the hub's side);
   * see {@linkcode RequestHandler}. Replace it later with
   * {@linkcode HubClient.onRequest}. Default: none (the server's requests
   * are answered `no_handler`).
   */
  onRequest?: RequestHandler<T>;
  /** How long {@linkcode HubClient.request} waits for the answer unless told otherwise, in milliseconds. Default 10 000. */
  requestTimeout?: number;
  /**
   * Requests that may be in flight on one connection in each direction: to
   * the server (past it, `request()` fails at once with a `RequestError`
   * `too_many_requests`) and from it (past it, the server's request is
   * answered `too_many_requests`). Default 64.
   */
  maxRequestsInFlight?: number;
}

/**
 * Answers the server's requests: its return value, or what its promise
 * resolves to, is the reply (a string as it is, anything else JSON-encoded,
 * `undefined` as `null`; text only). Throw a `ReplyError` to fail the
 * request with a message the server may see; anything else thrown is
 * reported as an `error` event and the server gets `handler_error`, "The
 * request failed".
 *
 * @typeParam T What the server sends, decoded with the client's `decode`.
 *
 * @example Answering the server
 * ```ts
 * import { connect, ReplyError, type RequestHandler } from "@wshub/hub/client";
 *
 * const answer: RequestHandler<{ op: string }> = (request) => {
 *   if (request.op === "ping") return "pong";
 *   throw new ReplyError(`unknown op ${request.op}`, "bad_op");
 * };
 * const client = connect<{ op: string }>("ws://127.0.0.1:8000/ws", { onRequest: answer });
 * await client.close();
 * ```
 */
export type RequestHandler<T> = (message: T) => unknown;

/** Every option of {@linkcode CoreOptions}. */
export const CORE_OPTION_NAMES = [
  "token",
  "getToken",
  "reconnect",
  "queueLimit",
  "decode",
  "pingInterval",
  "connectTimeout",
  "deadlineSlack",
  "signal",
  "random",
] as const satisfies readonly (keyof CoreOptions<unknown>)[];
/** The options {@linkcode ConnectOptions} adds for requests. */
export const REQUEST_OPTION_NAMES = [
  "onRequest",
  "requestTimeout",
  "maxRequestsInFlight",
] as const satisfies readonly (keyof ConnectOptions<unknown>)[];
/** Every option of {@linkcode ConnectOptions} is in one of the two lists: else a type error. */
type OptionName = typeof CORE_OPTION_NAMES[number] | typeof REQUEST_OPTION_NAMES[number];
const EVERY_CONNECT_OPTION_NAMED: Exclude<keyof ConnectOptions<unknown>, OptionName> extends never
  ? true
  : Exclude<keyof ConnectOptions<unknown>, OptionName> = true;
void EVERY_CONNECT_OPTION_NAMED;

/** {@linkcode CoreOptions} with every default filled in. */
export interface ResolvedOptions<T> {
  /** The subprotocols offered: `wshub.v2`, then `wshub.v1`, and the token when given. */
  protocols: string[];
  getToken: GetToken | undefined;
  backoff: Backoff | false;
  queueLimit: number;
  decode: (text: string) => T;
  pingInterval: number | false | undefined;
  connectTimeout: number;
  deadlineSlack: number | undefined;
  random: () => number;
}

export function resolveUrl(url: string | URL): string {
  let base: string | undefined;
  try {
    base = (globalThis as { location?: { href?: string } }).location?.href;
  } catch {
    base = undefined; // Deno without --location throws on `location`.
  }
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    throw new TypeError(
      `Invalid hub URL ${JSON.stringify(String(url))}: pass an absolute ws:// or wss:// URL.`,
    );
  }
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new TypeError(`Invalid hub URL ${parsed.href}: the scheme must be ws: or wss:.`);
  }
  parsed.hash = "";
  return parsed.href;
}

/**
 * Checks the options of {@linkcode CoreOptions} and fills in their defaults.
 * Unknown names are refused by each `connect()`, which knows its options.
 */
export function resolveOptions<T>(options: CoreOptions<T>): ResolvedOptions<T> {
  // wshub.v2 first (texts as JSON both ways: the same value arrives); wshub.v1 for older hubs.
  const protocols = [SUBPROTOCOL_V2, SUBPROTOCOL];
  if (options.getToken !== undefined && typeof options.getToken !== "function") {
    throw new TypeError(`getToken must be a function, got ${typeof options.getToken}`);
  }
  if (options.token !== undefined && options.getToken !== undefined) {
    throw new TypeError(
      "Pass token or getToken, not both: getToken gives the token of every connection.",
    );
  }
  if (options.token !== undefined) {
    if (!isToken(options.token)) {
      throw new TypeError(
        "The token option may only contain RFC 7230 token characters " +
          "(letters, digits and !#$%&'*+-.^_`|~): encode it as base64url.",
      );
    }
    protocols.push(TOKEN_PREFIX + options.token);
  }
  const queueLimit = options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
  if (!(Number.isInteger(queueLimit) && queueLimit >= 0)) {
    throw new RangeError(`queueLimit must be an integer >= 0, got ${queueLimit}`);
  }
  const connectTimeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
  positive("connectTimeout", connectTimeout);
  if (options.pingInterval !== undefined && options.pingInterval !== false) {
    positive("pingInterval", options.pingInterval);
  }
  if (options.deadlineSlack !== undefined && !(options.deadlineSlack >= 0)) {
    throw new RangeError(`deadlineSlack must be a number >= 0, got ${options.deadlineSlack}`);
  }
  return {
    protocols,
    getToken: options.getToken,
    backoff: options.reconnect === false ? false : resolveBackoff(options.reconnect),
    queueLimit,
    decode: options.decode ?? JSON.parse,
    pingInterval: options.pingInterval,
    connectTimeout,
    deadlineSlack: options.deadlineSlack,
    random: options.random ?? Math.random,
  };
}

/**
 * Checks the options of requests (those {@linkcode ConnectOptions} adds to
 * {@linkcode CoreOptions}) and fills in their defaults; only the full
 * client's bundle holds this.
 */
export function resolveRequestOptions<T>(options: ConnectOptions<T>): {
  onRequest: RequestHandler<T> | undefined;
  requestTimeout: number;
  maxRequestsInFlight: number;
} {
  const requestTimeout = options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT;
  positive("requestTimeout", requestTimeout);
  const maxRequestsInFlight = options.maxRequestsInFlight ?? DEFAULT_MAX_REQUESTS_IN_FLIGHT;
  if (!(Number.isInteger(maxRequestsInFlight) && maxRequestsInFlight >= 1)) {
    throw new RangeError(`maxRequestsInFlight must be an integer >= 1, got ${maxRequestsInFlight}`);
  }
  return { onRequest: options.onRequest, requestTimeout, maxRequestsInFlight };
}

function positive(name: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`${name} must be a finite number > 0 ms, got ${value}`);
  }
}
