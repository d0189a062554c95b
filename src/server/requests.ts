/**
 * Requests with replies, on the hub's side, in both directions:
 *
 * - **Inbound** (`q` from a client): the reader hands each request here
 *   ({@linkcode Requests.prototype.arrived}); it is checked (ids strictly
 *   increasing, at most `maxRequestsInFlight` in flight per connection) and
 *   goes through the SAME dispatcher inbox as the client's messages, wrapped
 *   in an {@linkcode InboundRequest}, so requests and messages are handled in
 *   the order they were sent and the inbox bounds apply to both. The
 *   handler's reply (or failure) is the answer, queued like any payload
 *   through the connection's writer, whose caps apply.
 * - **Outbound** (`client.request()`): a per-connection counter names each
 *   request; the pending ones wait here with a deadline that the heartbeat's
 *   shared tick checks ({@linkcode Requests.prototype.expire}, O(pending)) —
 *   no timer per request. The reader settles them when the answer arrives.
 *
 * A connection that leaves takes its requests with it: the pending ones are
 * rejected at once with {@linkcode ConnectionClosedError}, the inbound ones
 * are dropped (no answer can be sent).
 *
 * @module
 */

import {
  type AnswerFrame,
  CloseCode,
  ConnectionClosedError,
  encodeAnswer,
  encodeFailure,
  encodePayload,
  encodeRequest,
  framedOnly,
  GENERIC_FAILURE_MESSAGE,
  MAX_REQUEST_ID,
  type Payload,
  ReplyError,
  RequestError,
  RequestErrorCode,
  type RequestFailure,
  RequestTimeoutError,
} from "../protocol/mod.ts";
import { assertKnownOptions } from "../common/unknown_options.ts";
import type { Connection } from "./connection.ts";
import type { Delivery } from "./delivery.ts";
import type { MessageHandler } from "./dispatch.ts";
import { callbackError, type Report } from "./errors.ts";
import { type Push, requestClose } from "./events.ts";
import type { RequestStats } from "./stats.ts";
import type { RequestOptions } from "./types.ts";

/** The application's request handler, bound to the hub: its result is the reply. */
export type RequestHandler = (message: unknown, connection: Connection) => unknown;

/** What the requests act through: delivery (answers, requests), the loop, the error report. */
export interface RequestsParts {
  /** Hands frames to connections' writers. */
  delivery: Delivery;
  /** Queues events (a close for a protocol error). */
  push: Push;
  /** Reports a failing handler or reply. */
  report: Report;
}

/**
 * Checks a `client.request()` call where it is made, before anything is
 * queued: the timeout, a framed and open connection, data that encodes to
 * text. Returns the encoded text and the timeout, or the error to reject
 * with.
 */
export function checkRequest(
  connection: Connection,
  data: unknown,
  options: RequestOptions | undefined,
  requestTimeout: number,
): { payload: Payload; timeout: number } | Error {
  try {
    if (options !== undefined) assertKnownOptions("request option", options, ["timeout"]);
  } catch (error) {
    return error as TypeError;
  }
  const timeout = options?.timeout ?? requestTimeout;
  if (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout < 1) {
    return new RangeError(
      `Invalid request timeout ${
        String(timeout)
      }: expected a finite number of milliseconds, at least 1`,
    );
  }
  if (!connection.framed) {
    return new TypeError(
      "Cannot send a request to a plain client: requests need the wshub.v1 subprotocol",
    );
  }
  if (!connection.open) return new ConnectionClosedError("the client is not connected");
  let payload: Payload;
  try {
    payload = encodePayload(data);
  } catch (error) {
    return error as Error;
  }
  if (typeof payload.plain !== "string") {
    return new TypeError("Cannot send a binary request: requests and replies are text only");
  }
  return { payload, timeout };
}

/** The options the requests use. */
export interface RequestsConfig {
  onRequest: RequestHandler | undefined;
  maxRequestsInFlight: number;
  requestTimeout: number;
  decode: ((data: string | Uint8Array) => unknown) | undefined;
}

/** One connection's requests, both directions. */
class ConnectionRequests {
  /** The id of the next outbound request. */
  nextId = 1;
  /** Outbound requests waiting for their answer, by id (in id order). */
  readonly pending = new Map<number, PendingRequest>();
  /** The highest inbound id seen: the next one must be higher. */
  lastInbound = 0;
  /** Inbound requests received and not answered yet. */
  inFlight = 0;
  /** The connection has left: nothing more is sent or counted for it. */
  gone = false;
}

interface PendingRequest {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  /** `performance.now()` past which it times out. */
  deadline: number;
  timeout: number;
}

/**
 * An inbound request on its way through the dispatcher's inbox, among the
 * client's messages. The dispatcher's handler hands it to
 * {@linkcode Requests.prototype.handle}.
 */
export class InboundRequest {
  readonly id: number;
  readonly message: unknown;
  readonly owner: ConnectionRequests;

  constructor(id: number, message: unknown, owner: ConnectionRequests) {
    this.id = id;
    this.message = message;
    this.owner = owner;
  }
}

/** Every connection's requests, in both directions. */
export class Requests {
  readonly #config: RequestsConfig;
  readonly #parts: RequestsParts;
  readonly #states = new Map<Connection, ConnectionRequests>();
  /** Connections with outbound requests pending: what the tick looks at. */
  readonly #awaiting = new Set<ConnectionRequests>();
  readonly #counts = {
    received: 0,
    answered: 0,
    failed: 0,
    refused: 0,
    dropped: 0,
    inFlight: 0,
    sent: 0,
    succeeded: 0,
    rejected: 0,
    timedOut: 0,
    aborted: 0,
    pending: 0,
    limited: 0,
    late: 0,
  };

  constructor(config: RequestsConfig, parts: RequestsParts) {
    this.#config = config;
    this.#parts = parts;
  }

  /** A snapshot of the counters. */
  stats(): RequestStats {
    return { ...this.#counts };
  }

  /**
   * The dispatcher's handler: inbound requests go to
   * {@linkcode Requests.prototype.handle}, messages to `onMessage`.
   */
  route(onMessage: MessageHandler | undefined): MessageHandler {
    return (message, connection) => {
      if (message instanceof InboundRequest) return this.handle(message, connection);
      return onMessage?.(message, connection);
    };
  }

  // Outbound: client.request()

  /**
   * Sends a request to a client (`client.request()`, checked by
   * {@linkcode checkRequest}); `resolve` or `reject` settle it with its
   * answer, a timeout, or the connection's end.
   */
  send(
    connection: Connection,
    payload: Payload,
    timeout: number,
    resolve: (value: unknown) => void,
    reject: (error: Error) => void,
  ): void {
    const closed = connection.closedWith;
    if (closed !== undefined) {
      // It closed between the call and now: aborted, as if it had been pending.
      this.#counts.sent++;
      this.#counts.aborted++;
      return reject(closedError(closed.code, closed.reason));
    }
    const state = this.#stateOf(connection);
    const max = this.#config.maxRequestsInFlight;
    if (state.pending.size >= max) {
      this.#counts.limited++;
      return reject(
        new RequestError(
          RequestErrorCode.TooManyRequests,
          `${max} requests to this client are already waiting for their answer ` +
            "(maxRequestsInFlight); wait for some before sending more",
        ),
      );
    }
    if (state.nextId > MAX_REQUEST_ID) {
      return reject(new RangeError("This connection has used every request id; reconnect it"));
    }
    const id = state.nextId++;
    state.pending.set(id, { resolve, reject, deadline: performance.now() + timeout, timeout });
    this.#awaiting.add(state);
    this.#counts.sent++;
    this.#counts.pending++;
    this.#parts.delivery.deliver(
      connection,
      framedOnly(encodeRequest(id, textOf(payload, connection))),
    );
  }

  /**
   * An answer arrived. An answer to an id this side never sent is a
   * protocol error (1002); one to a request that timed out is ignored.
   */
  answered(connection: Connection, answer: AnswerFrame): void {
    const state = this.#states.get(connection);
    if (state === undefined || answer.id >= state.nextId) {
      requestClose(
        this.#parts.push,
        connection,
        CloseCode.ProtocolError,
        `answer to request ${answer.id}, which was never sent`,
        true,
      );
      return;
    }
    const pending = state.pending.get(answer.id);
    if (pending === undefined) {
      this.#counts.late++;
      return;
    }
    this.#settled(state, answer.id);
    if (!answer.ok) {
      this.#counts.rejected++;
      pending.reject(new RequestError(answer.failure.error, answer.failure.message));
      return;
    }
    const decode = this.#config.decode ?? (connection.json ? JSON.parse : undefined);
    let value: unknown = answer.text;
    if (decode !== undefined) {
      try {
        value = decode(answer.text);
      } catch (error) {
        this.#counts.rejected++;
        const reason = error instanceof Error ? error.message : String(error);
        pending.reject(
          new TypeError(`Could not decode the answer to a request: ${reason}`, { cause: error }),
        );
        return;
      }
    }
    this.#counts.succeeded++;
    pending.resolve(value);
  }

  /** Rejects the requests past their deadline (on each heartbeat tick). */
  expire(now: number): void {
    for (const state of this.#awaiting) {
      for (const [id, pending] of state.pending) {
        if (pending.deadline > now) continue;
        this.#settled(state, id);
        this.#counts.timedOut++;
        pending.reject(new RequestTimeoutError(pending.timeout));
      }
    }
  }

  // Inbound: requests from clients

  /**
   * A request arrived, its text already decoded. Checks its id and the
   * bound; returns it for the dispatcher's inbox (in order with the client's
   * messages), or `undefined` when it was answered at once (no handler, too
   * many in flight) or broke the protocol.
   */
  arrived(connection: Connection, id: number, message: unknown): InboundRequest | undefined {
    const state = this.#stateOf(connection);
    if (id <= state.lastInbound) {
      requestClose(
        this.#parts.push,
        connection,
        CloseCode.ProtocolError,
        `request id ${id} does not increase (last ${state.lastInbound})`,
        true,
      );
      return undefined;
    }
    state.lastInbound = id;
    this.#counts.received++;
    if (this.#config.onRequest === undefined) {
      this.#counts.failed++;
      this.#fail(connection, id, {
        error: RequestErrorCode.NoHandler,
        message: "This server answers no requests",
      });
      return undefined;
    }
    const max = this.#config.maxRequestsInFlight;
    if (state.inFlight >= max) {
      this.#counts.refused++;
      this.#fail(connection, id, {
        error: RequestErrorCode.TooManyRequests,
        message: `${max} requests from this connection are already being handled ` +
          "(maxRequestsInFlight); wait for their answers before sending more",
      });
      return undefined;
    }
    state.inFlight++;
    this.#counts.inFlight++;
    return new InboundRequest(id, message, state);
  }

  /**
   * Runs the handler for a request taken from the inbox; returns a promise
   * (which never rejects) while an async handler runs, so that the
   * dispatcher holds the client's next message or request behind it.
   */
  handle(request: InboundRequest, connection: Connection): void | Promise<void> {
    const onRequest = this.#config.onRequest!;
    let result: unknown;
    try {
      result = onRequest(request.message, connection);
    } catch (error) {
      return this.#finish(request, connection, { error });
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        (reply) => this.#finish(request, connection, { reply }),
        (error) => this.#finish(request, connection, { error }),
      );
    }
    this.#finish(request, connection, { reply: result });
  }

  /**
   * A connection left: its pending requests are rejected at once, its
   * inbound ones dropped.
   */
  forget(connection: Connection, code: number, reason: string): void {
    const state = this.#states.get(connection);
    if (state === undefined) return;
    this.#states.delete(connection);
    this.#awaiting.delete(state);
    state.gone = true;
    this.#counts.dropped += state.inFlight;
    this.#counts.inFlight -= state.inFlight;
    state.inFlight = 0;
    if (state.pending.size === 0) return;
    const pending = [...state.pending.values()];
    state.pending.clear();
    this.#counts.pending -= pending.length;
    this.#counts.aborted += pending.length;
    for (const request of pending) request.reject(closedError(code, reason));
  }

  #stateOf(connection: Connection): ConnectionRequests {
    let state = this.#states.get(connection);
    if (state === undefined) this.#states.set(connection, state = new ConnectionRequests());
    return state;
  }

  /** Removes a pending request that is being settled. */
  #settled(state: ConnectionRequests, id: number): void {
    state.pending.delete(id);
    this.#counts.pending--;
    if (state.pending.size === 0) this.#awaiting.delete(state);
  }

  /** The handler settled: answer, unless the client has left. */
  #finish(
    request: InboundRequest,
    connection: Connection,
    outcome: { reply: unknown } | { error: unknown },
  ): void {
    const state = request.owner;
    if (!state.gone) {
      state.inFlight--;
      this.#counts.inFlight--;
    }
    let reply: Payload | undefined;
    let failure: RequestFailure | undefined;
    if ("reply" in outcome) {
      reply = this.#encodeReply(outcome.reply, connection);
    } else if (outcome.error instanceof ReplyError) {
      failure = { error: outcome.error.code, message: outcome.error.message };
    } else {
      this.#parts.report(callbackError("onRequest", outcome.error), connection);
    }
    if (state.gone) return; // counted as dropped: no answer can be sent
    if (reply !== undefined) {
      this.#counts.answered++;
      this.#answer(connection, framedOnly(encodeAnswer(request.id, textOf(reply, connection))));
      return;
    }
    this.#counts.failed++;
    this.#fail(
      connection,
      request.id,
      failure ?? { error: RequestErrorCode.HandlerError, message: GENERIC_FAILURE_MESSAGE },
    );
  }

  /** The reply, or `undefined` (reported) when it has no text form. `undefined` replies `null`. */
  #encodeReply(reply: unknown, connection: Connection): Payload | undefined {
    let payload: Payload;
    try {
      payload = encodePayload(reply === undefined ? null : reply);
    } catch (error) {
      this.#parts.report(callbackError("onRequest", error), connection);
      return undefined;
    }
    if (typeof payload.plain !== "string") {
      this.#parts.report(
        new TypeError(
          "The onRequest callback replied with bytes: replies are text only; " +
            "return a string or a JSON-serialisable value",
        ),
        connection,
      );
      return undefined;
    }
    return payload;
  }

  #fail(connection: Connection, id: number, failure: RequestFailure): void {
    this.#answer(connection, framedOnly(encodeFailure(id, failure)));
  }

  /**
   * Queues an answer as a `send` event: a handler may settle outside the
   * loop (an async one), and the loop is where frames are handed to writers.
   */
  #answer(connection: Connection, payload: Payload): void {
    this.#parts.push({ type: "send", connection, payload });
  }
}

/** A text payload as `connection` carries it: as JSON for `wshub.v2`, as given for `wshub.v1`. */
function textOf(payload: Payload, connection: Connection): string {
  return connection.json ? payload.jsonText : payload.plain as string;
}

/** The error a request gets when its connection closed with `code` before the answer came. */
function closedError(code: number, reason: string): ConnectionClosedError {
  const why = `the connection closed (${code}${reason === "" ? "" : ` ${reason}`}) ` +
    "before the answer came";
  return new ConnectionClosedError(why, code);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as PromiseLike<unknown>).then === "function";
}
