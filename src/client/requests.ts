/**
 * Requests with replies, on the client's side, in both directions:
 * `client.request()` to the server, and the `onRequest` handler that answers
 * the server's `client.request()`. Each connection has its own ids (a
 * counter from 1 per direction) and its own requests: when it ends, the
 * pending ones are rejected at once with {@linkcode ConnectionClosedError}
 * and the server's requests still being handled are dropped (their answer
 * cannot be sent on another connection). Nothing is sent again after a
 * reconnect: a request is at most once, and the server may or may not have
 * run one whose connection dropped.
 *
 * One timer, only while requests are pending, set for the earliest deadline.
 *
 * @module
 */

import { assertKnownOptions } from "../common/unknown_options.ts";

import {
  type AnswerFrame,
  ConnectionClosedError,
  encodeAnswer,
  encodeFailure,
  encodeRequest,
  GENERIC_FAILURE_MESSAGE,
  MAX_REQUEST_ID,
  ReplyError,
  RequestError,
  RequestErrorCode,
  type RequestFailure,
  type RequestFrame,
  RequestTimeoutError,
} from "../protocol/mod.ts";
import { DecodeError } from "./errors.ts";
import { encodeMessage, type OutgoingMessage } from "./message.ts";
import type { RequestHandler } from "./options.ts";
import { NO_HANDLER } from "./parts.ts";

/**
 * Options of one {@linkcode HubClient.request} call.
 *
 * @example A request that may take a minute
 * ```ts
 * import { connect, type RequestOptions } from "@wshub/hub/client";
 *
 * const slow: RequestOptions = { timeout: 60_000 };
 * const client = connect("ws://127.0.0.1:8000/ws", { reconnect: false });
 * await client.request({ op: "export" }, slow).catch(console.warn);
 * await client.close();
 * ```
 */
export interface RequestOptions {
  /**
   * How long to wait for the answer, in milliseconds, before the request
   * fails with `RequestTimeoutError`. Default: the client's
   * `requestTimeout` option (10 000).
   */
  timeout?: number;
}

/** What the requests need from their client. */
export interface RequestsSettings<T> {
  onRequest: RequestHandler<T> | undefined;
  maxRequestsInFlight: number;
  requestTimeout: number;
  decode: (text: string) => T;
  /** Reports a failing handler or an undecodable request (the client's `error` event). */
  report: (error: Error) => void;
}

interface PendingRequest {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  deadline: number;
  timeout: number;
}

/** One connection's requests, both directions. */
interface Session {
  ws: WebSocket;
  /** Whether the connection speaks `wshub.v2` (texts as JSON). */
  json: boolean;
  nextId: number;
  pending: Map<number, PendingRequest>;
  lastInbound: number;
  inFlight: number;
  gone: boolean;
}

const OPEN = 1; // WebSocket.OPEN

/** A client's requests: the current connection's, and the handler. */
export class ClientRequests<T> {
  readonly #settings: RequestsSettings<T>;
  #handler: RequestHandler<T> | undefined;
  #session: Session | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  constructor(settings: RequestsSettings<T>) {
    this.#settings = settings;
    this.#handler = settings.onRequest;
  }

  /** Replaces the handler of the server's requests (`undefined`: answer `no_handler`). */
  set handler(handler: RequestHandler<T> | undefined) {
    this.#handler = handler;
  }

  /** Requests waiting for their answer. */
  get pending(): number {
    return this.#session?.pending.size ?? 0;
  }

  /** A connection received its hello: requests may go over it (`json`: it speaks `wshub.v2`). */
  attach(ws: WebSocket, json: boolean): void {
    this.#session = {
      ws,
      json,
      nextId: 1,
      pending: new Map(),
      lastInbound: 0,
      inFlight: 0,
      gone: false,
    };
  }

  /**
   * The connection ended: pending requests are rejected at once, the
   * server's requests being handled are dropped.
   */
  detach(code: number, reason: string): void {
    const session = this.#session;
    if (session === undefined) return;
    this.#session = undefined;
    session.gone = true;
    this.#clearTimer();
    if (session.pending.size === 0) return;
    const pending = [...session.pending.values()];
    session.pending.clear();
    const why = `the connection closed (${code}${reason === "" ? "" : ` ${reason}`}) ` +
      "before the answer came";
    for (const request of pending) request.reject(new ConnectionClosedError(why, code));
  }

  /**
   * Sends a request over the current connection; `state` says why there is
   * none. Never throws (it is async): every failure is a rejection.
   */
  async request(
    data: unknown,
    options: RequestOptions | undefined,
    state: string,
  ): Promise<unknown> {
    if (options !== undefined) assertKnownOptions("request option", options, ["timeout"]);
    const timeout = options?.timeout ?? this.#settings.requestTimeout;
    if (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout <= 0) {
      throw new RangeError(
        `Invalid request timeout ${String(timeout)}: expected a number of ms > 0`,
      );
    }
    const session = this.#session;
    if (session === undefined || session.ws.readyState !== OPEN) {
      throw new ConnectionClosedError(
        state === "closed"
          ? "the client is closed"
          : `the client is ${state}, not open; requests are not queued while offline`,
      );
    }
    const payload = encodeMessage(data);
    if (!payload.text) {
      throw new TypeError("Cannot send a binary request: requests and replies are text only");
    }
    const max = this.#settings.maxRequestsInFlight;
    if (session.pending.size >= max) {
      throw new RequestError(
        RequestErrorCode.TooManyRequests,
        `${max} requests are already waiting for their answer (maxRequestsInFlight); ` +
          "wait for some before sending more",
      );
    }
    if (session.nextId > MAX_REQUEST_ID) {
      throw new RangeError("This connection has used every request id");
    }
    const id = session.nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const deadline = performance.now() + timeout;
    session.pending.set(id, { resolve, reject, deadline, timeout });
    session.ws.send(encodeRequest(id, textOf(payload, session)));
    if (deadline < this.#timerAt) this.#schedule(deadline);
    return await promise;
  }

  /**
   * An answer arrived. Returns a protocol error to report when it answers
   * an id never sent on this connection; an answer to a request that timed
   * out is ignored.
   */
  answered(answer: AnswerFrame): string | undefined {
    const session = this.#session;
    if (session === undefined) return undefined;
    if (answer.id >= session.nextId) return `an answer to request ${answer.id}, never sent`;
    const pending = session.pending.get(answer.id);
    if (pending === undefined) return undefined; // late: it timed out
    session.pending.delete(answer.id);
    if (session.pending.size === 0) this.#clearTimer();
    if (!answer.ok) {
      pending.reject(new RequestError(answer.failure.error, answer.failure.message));
      return undefined;
    }
    try {
      pending.resolve(this.#settings.decode(answer.text));
    } catch (error) {
      pending.reject(new DecodeError(answer.text, error));
    }
    return undefined;
  }

  /**
   * A request from the server arrived. Returns a protocol error to report
   * when its id does not increase; otherwise answers it, now or once the
   * handler settles.
   */
  received(request: RequestFrame): string | undefined {
    const session = this.#session;
    if (session === undefined) return undefined;
    const { id } = request;
    if (id <= session.lastInbound) {
      return `request id ${id} does not increase (last ${session.lastInbound})`;
    }
    session.lastInbound = id;
    const handler = this.#handler;
    if (handler === undefined) {
      this.#fail(session, id, NO_HANDLER);
      return undefined;
    }
    const max = this.#settings.maxRequestsInFlight;
    if (session.inFlight >= max) {
      this.#fail(session, id, {
        error: RequestErrorCode.TooManyRequests,
        message: `${max} requests are already being handled by this client ` +
          "(maxRequestsInFlight); wait for their answers before sending more",
      });
      return undefined;
    }
    let message: T;
    try {
      message = this.#settings.decode(request.text);
    } catch (error) {
      this.#settings.report(new DecodeError(request.text, error));
      this.#fail(session, id, {
        error: RequestErrorCode.HandlerError,
        message: GENERIC_FAILURE_MESSAGE,
      });
      return undefined;
    }
    session.inFlight++;
    let result: unknown;
    try {
      result = handler(message);
    } catch (error) {
      this.#finish(session, id, { error });
      return undefined;
    }
    if (typeof (result as PromiseLike<unknown> | null)?.then === "function") {
      Promise.resolve(result).then(
        (reply) => this.#finish(session, id, { reply }),
        (error) => this.#finish(session, id, { error }),
      );
    } else {
      this.#finish(session, id, { reply: result });
    }
    return undefined;
  }

  #finish(session: Session, id: number, outcome: { reply: unknown } | { error: unknown }): void {
    if (session.gone) return;
    session.inFlight--;
    if ("reply" in outcome) {
      let reply: OutgoingMessage | undefined;
      try {
        reply = encodeMessage(outcome.reply === undefined ? null : outcome.reply);
      } catch (error) {
        this.#settings.report(handlerError(error));
      }
      if (reply?.text) {
        this.#write(session, encodeAnswer(id, textOf(reply, session)));
        return;
      }
      if (reply !== undefined) {
        this.#settings.report(
          new TypeError(
            "The onRequest handler replied with bytes: replies are text only; " +
              "return a string or a JSON-serialisable value",
          ),
        );
      }
    } else if (outcome.error instanceof ReplyError) {
      this.#fail(session, id, { error: outcome.error.code, message: outcome.error.message });
      return;
    } else {
      this.#settings.report(handlerError(outcome.error));
    }
    this.#fail(session, id, {
      error: RequestErrorCode.HandlerError,
      message: GENERIC_FAILURE_MESSAGE,
    });
  }

  #fail(session: Session, id: number, failure: RequestFailure): void {
    this.#write(session, encodeFailure(id, failure));
  }

  #write(session: Session, frame: string): void {
    if (session.gone || session.ws.readyState !== OPEN) return;
    session.ws.send(frame);
  }

  #schedule(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, at - performance.now()));
  }

  #clearTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  /** The timer fired: reject what is past its deadline, and wait for the next one. */
  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const session = this.#session;
    if (session === undefined) return;
    const now = performance.now();
    let next = Infinity;
    for (const [id, pending] of session.pending) {
      if (pending.deadline <= now) {
        session.pending.delete(id);
        pending.reject(new RequestTimeoutError(pending.timeout));
      } else if (pending.deadline < next) {
        next = pending.deadline;
      }
    }
    if (next !== Infinity) this.#schedule(next);
  }
}

function handlerError(error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`The onRequest handler failed: ${message}`, { cause: error });
}

/** A text payload as the session's connection carries it: JSON for `wshub.v2`, as given for v1. */
function textOf(payload: OutgoingMessage, session: Session): string {
  return session.json ? payload.jsonText : payload.plain as string;
}
