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
import type { Connection } from "./connection.ts";
import { callbackError, type MessageHandler } from "./dispatch.ts";

/**
 * Options of one `client.request()` call.
 *
 * @example A request that may take longer than the hub's `requestTimeout`
 * ```ts
 * import { Hub, type RequestOptions } from "@wshub/hub";
 *
 * const slow: RequestOptions = { timeout: 60_000 };
 * const hub = new Hub({
 *   onConnect(client) {
 *     client.request("confirm?", slow).then(console.log, console.warn);
 *   },
 * });
 * await hub.close();
 * ```
 */
export interface RequestOptions {
  /**
   * How long to wait for the answer, in milliseconds, before the request
   * fails with `RequestTimeoutError`. Default: the hub's `requestTimeout`.
   * Checked on the hub's shared tick, so it may fire up to one tick late.
   */
  timeout?: number;
}

/**
 * What the hub's requests did, in `hub.stats().requests`. Inbound:
 * `received` = `answered` + `failed` + `refused` + `dropped` + `inFlight`.
 * Outbound: `sent` = `succeeded` + `rejected` + `timedOut` + `aborted` +
 * `pending`.
 *
 * @example Requests in the metrics
 * ```ts
 * import { Hub } from "@wshub/hub";
 *
 * const hub = new Hub();
 * const { received, failed, timedOut } = hub.stats().requests;
 * console.log(received, failed, timedOut);
 * await hub.close();
 * ```
 */
export interface RequestStats {
  /** Requests clients sent (valid `q` frames from open connections). */
  received: number;
  /** Of those, answered with the handler's reply. */
  answered: number;
  /** Answered with a failure: the handler failed (`handler_error`) or there is none (`no_handler`). */
  failed: number;
  /** Refused at once with `too_many_requests`: `maxRequestsInFlight` from that client were in flight. */
  refused: number;
  /** Left unanswered because the client was gone before the handler finished. */
  dropped: number;
  /** Received and not answered yet (waiting in an inbox or being handled), all clients. */
  inFlight: number;
  /** Requests sent to clients with `client.request()`. */
  sent: number;
  /** Of those, resolved with the client's reply. */
  succeeded: number;
  /** Rejected: the client answered with a failure, or an answer `decode` refused. */
  rejected: number;
  /** Rejected with `RequestTimeoutError`. */
  timedOut: number;
  /** Rejected with `ConnectionClosedError`: the connection closed first. */
  aborted: number;
  /** Sent and waiting for an answer now, all clients. */
  pending: number;
  /** `client.request()` calls that failed at once: `maxRequestsInFlight` were pending for that client. */
  limited: number;
  /** Answers that came after their request timed out (ignored). */
  late: number;
}

/** The application's request handler, bound to the hub: its result is the reply. */
export type RequestHandler = (message: unknown, connection: Connection) => unknown;

/** What the requests need from the hub. */
export interface RequestsHost {
  /** Queues a frame for one connection, through its writer (the scheduler's `send` event). */
  sendTo(connection: Connection, payload: Payload): void;
  /** Hands an inbound request to the dispatcher, in order with the client's messages. */
  dispatch(connection: Connection, request: InboundRequest, bytes: number): void;
  /** Closes a connection that broke the protocol. */
  closeConnection(connection: Connection, code: number, reason: string, byHub: boolean): void;
  /** Reports a failing handler or reply. */
  reportError(error: Error, connection: Connection | undefined): void;
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
  readonly #host: RequestsHost;
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

  constructor(config: RequestsConfig, host: RequestsHost) {
    this.#config = config;
    this.#host = host;
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

  /** Sends a request to a client; the promise settles with its answer. Never throws. */
  send(
    connection: Connection,
    data: unknown,
    options: RequestOptions | undefined,
  ): Promise<unknown> {
    const timeout = options?.timeout ?? this.#config.requestTimeout;
    if (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout < 1) {
      return Promise.reject(
        new RangeError(
          `Invalid request timeout ${
            String(timeout)
          }: expected a finite number of milliseconds, at least 1`,
        ),
      );
    }
    if (!connection.framed) {
      return Promise.reject(
        new TypeError(
          "Cannot send a request to a plain client: requests need the wshub.v1 subprotocol",
        ),
      );
    }
    if (!connection.open) {
      return Promise.reject(new ConnectionClosedError("the client is not connected"));
    }
    let payload: Payload;
    try {
      payload = encodePayload(data);
    } catch (error) {
      return Promise.reject(error);
    }
    if (typeof payload.plain !== "string") {
      return Promise.reject(
        new TypeError("Cannot send a binary request: requests and replies are text only"),
      );
    }
    const state = this.#stateOf(connection);
    const max = this.#config.maxRequestsInFlight;
    if (state.pending.size >= max) {
      this.#counts.limited++;
      return Promise.reject(
        new RequestError(
          RequestErrorCode.TooManyRequests,
          `${max} requests to this client are already waiting for their answer ` +
            "(maxRequestsInFlight); wait for some before sending more",
        ),
      );
    }
    if (state.nextId > MAX_REQUEST_ID) {
      return Promise.reject(
        new RangeError("This connection has used every request id; reconnect it"),
      );
    }
    const id = state.nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    state.pending.set(id, { resolve, reject, deadline: performance.now() + timeout, timeout });
    this.#awaiting.add(state);
    this.#counts.sent++;
    this.#counts.pending++;
    this.#host.sendTo(connection, framedOnly(encodeRequest(id, payload.plain)));
    return promise;
  }

  /**
   * An answer arrived (called by the reader). An answer to an id this side
   * never sent is a protocol error (1002); one to a request that timed out
   * is ignored.
   */
  answered(connection: Connection, answer: AnswerFrame): void {
    const state = this.#states.get(connection);
    if (state === undefined || answer.id >= state.nextId) {
      this.#host.closeConnection(
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
    const decode = this.#config.decode;
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

  /** Rejects the requests past their deadline (called on each heartbeat tick). */
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
   * A request arrived (called by the reader, its text already decoded).
   * Checks its id and the bound, then hands it to the dispatcher — or
   * answers at once when there is no handler or too many are in flight.
   */
  arrived(connection: Connection, id: number, message: unknown, bytes: number): void {
    const state = this.#stateOf(connection);
    if (id <= state.lastInbound) {
      this.#host.closeConnection(
        connection,
        CloseCode.ProtocolError,
        `request id ${id} does not increase (last ${state.lastInbound})`,
        true,
      );
      return;
    }
    state.lastInbound = id;
    this.#counts.received++;
    if (this.#config.onRequest === undefined) {
      this.#counts.failed++;
      this.#fail(connection, id, {
        error: RequestErrorCode.NoHandler,
        message: "This server answers no requests",
      });
      return;
    }
    const max = this.#config.maxRequestsInFlight;
    if (state.inFlight >= max) {
      this.#counts.refused++;
      this.#fail(connection, id, {
        error: RequestErrorCode.TooManyRequests,
        message: `${max} requests from this connection are already being handled ` +
          "(maxRequestsInFlight); wait for their answers before sending more",
      });
      return;
    }
    state.inFlight++;
    this.#counts.inFlight++;
    this.#host.dispatch(connection, new InboundRequest(id, message, state), bytes);
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
    const why = `the connection closed (${code}${reason === "" ? "" : ` ${reason}`}) ` +
      "before the answer came";
    for (const request of pending) request.reject(new ConnectionClosedError(why, code));
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
    let text: string | undefined;
    let failure: RequestFailure | undefined;
    if ("reply" in outcome) {
      text = this.#encodeReply(outcome.reply, connection);
    } else if (outcome.error instanceof ReplyError) {
      failure = { error: outcome.error.code, message: outcome.error.message };
    } else {
      this.#host.reportError(callbackError("onRequest", outcome.error), connection);
    }
    if (state.gone) return; // counted as dropped: no answer can be sent
    if (text !== undefined) {
      this.#counts.answered++;
      this.#host.sendTo(connection, framedOnly(encodeAnswer(request.id, text)));
      return;
    }
    this.#counts.failed++;
    this.#fail(
      connection,
      request.id,
      failure ?? { error: RequestErrorCode.HandlerError, message: GENERIC_FAILURE_MESSAGE },
    );
  }

  /** The reply's text, or `undefined` (reported) when it has none. `undefined` replies `null`. */
  #encodeReply(reply: unknown, connection: Connection): string | undefined {
    let payload: Payload;
    try {
      payload = encodePayload(reply === undefined ? null : reply);
    } catch (error) {
      this.#host.reportError(callbackError("onRequest", error), connection);
      return undefined;
    }
    if (typeof payload.plain !== "string") {
      this.#host.reportError(
        new TypeError(
          "The onRequest callback replied with bytes: replies are text only; " +
            "return a string or a JSON-serialisable value",
        ),
        connection,
      );
      return undefined;
    }
    return payload.plain;
  }

  #fail(connection: Connection, id: number, failure: RequestFailure): void {
    this.#host.sendTo(connection, framedOnly(encodeFailure(id, failure)));
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as PromiseLike<unknown>).then === "function";
}
