/**
 * A client's reader: the socket's events turned into hub events. It checks
 * the size and the rate limits (and applies their policy), decodes
 * `wshub.v1` frames, answers pings, records liveness and round-trip times,
 * and pushes each application message, request, answer and room request
 * onto the loop's queue in order.
 *
 * @module
 */

import {
  batchItem,
  CloseCode,
  decodeClientFrame,
  encodeErrorNotice,
  encodePong,
  utf8Length,
} from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import type { Report } from "./errors.ts";
import { type Push, requestClose } from "./events.ts";
import type { Logger } from "./logger.ts";
import { RateLimiter, type ResolvedRateLimit } from "./rate_limit.ts";
import type { Counters } from "./stats.ts";

/** The code reported (never sent) for a connection that ended without a close frame. */
const ABNORMAL_CLOSURE = 1006;

/** The reason reported for a close by Deno's idle timeout. */
export const IDLE_TIMEOUT_REASON = "idle timeout: no answer to a protocol ping";

/** What every reader of one hub shares. */
export interface ReaderContext {
  /** The hub's coarse clock (updated on every heartbeat tick). */
  readonly clock: { readonly now: number };
  readonly maxMessageBytes: number;
  readonly acceptBinary: boolean;
  readonly decode: ((data: string | Uint8Array) => unknown) | undefined;
  readonly logger: Logger;
  /** Inbound rate limits, or `undefined` when off. */
  readonly rateLimit: ResolvedRateLimit | undefined;
  /** Where frames refused by the rate limits are counted. */
  readonly counters: Counters;
  /** Queues what arrived for the loop. */
  readonly push: Push;
  /** Reports a message that could not be decoded. */
  readonly report: Report;
}

/** Wires the socket's events of `connection` to the hub's loop. */
export function attachReader(connection: Connection, context: ReaderContext): void {
  const { push, logger } = context;
  const socket = connection.socket;
  socket.binaryType = "arraybuffer";
  socket.onopen = () => {
    if (!push({ type: "register", connection })) {
      requestClose(push, connection, CloseCode.GoingAway, "server shutting down", true);
    }
  };
  socket.onclose = (event) => {
    if (isIdleTimeout(event)) {
      // Deno's own idle timeout: a protocol ping went unanswered. It is the
      // server's decision, and a timeout, not a peer going away.
      requestClose(push, connection, event.code, IDLE_TIMEOUT_REASON, true);
      return;
    }
    // Deno reports 0 when the connection ended without a close frame (the
    // peer vanished); RFC 6455 §7.1.5 calls that 1006, as browsers do.
    const code = event.code === 0 ? ABNORMAL_CLOSURE : event.code;
    requestClose(push, connection, code, event.reason, false);
  };
  socket.onerror = (event) => {
    const message = (event as ErrorEvent).message ?? "unknown error";
    logger.debug("wshub: socket error", { id: connection.id, message });
  };
  const limits = context.rateLimit;
  const limiter = limits === undefined ? undefined : new RateLimiter(limits, performance.now());
  socket.onmessage = (event) => {
    if (!connection.open) return;
    connection.liveness.heard(context.clock.now);
    const raw = event.data as string | ArrayBuffer;
    // Size first: a message over maxMessageBytes is closed with 1009, whatever the rate limits say.
    if (tooBig(raw, context.maxMessageBytes + (connection.framed ? 1 : 0))) {
      requestClose(
        push,
        connection,
        CloseCode.MessageTooBig,
        `message larger than ${context.maxMessageBytes} bytes`,
        true,
      );
      return;
    }
    if (connection.framed && typeof raw === "string" && raw.charCodeAt(0) === FRAMES) {
      receiveBatch(connection, context, limiter, raw);
    } else {
      receive(connection, context, limiter, raw, false);
    }
  };
}

// The functions below are the reader's, shared by every connection: closures made per connection
// would cost each of them memory (the idle-memory budget of docs/benchmarks.md).

/**
 * A client's `B` frame (as large as any frame may be, so each frame in it
 * is too): each frame in it is received as if it had come alone, in order,
 * until one closes the connection or the body turns out malformed. Read
 * one item at a time, so that a client closed early (past the rate limits)
 * costs no more than the frames read.
 */
function receiveBatch(
  connection: Connection,
  context: ReaderContext,
  limiter: RateLimiter | undefined,
  raw: string,
): void {
  if (raw.length === 1) return protocolError(connection, context, "empty batch frame");
  const body = raw.slice(1);
  for (let at = 0; at < body.length && connection.open;) {
    const item = batchItem(body, at);
    if (typeof item === "string") return protocolError(connection, context, item);
    receive(connection, context, limiter, body.slice(item.start, item.end), true);
    at = item.end;
  }
}

/** Closes `connection` with 1002 and `reason`. */
function protocolError(connection: Connection, context: ReaderContext, reason: string): void {
  context.logger.debug("wshub: protocol error", { id: connection.id, reason });
  requestClose(context.push, connection, CloseCode.ProtocolError, reason, true);
}

/** One frame, alone or from a `B` frame (`batched`): rate limits, decoding, the loop's queue. */
function receive(
  connection: Connection,
  context: ReaderContext,
  limiter: RateLimiter | undefined,
  raw: string | ArrayBuffer,
  batched: boolean,
): void {
  const push = context.push;
  const size = typeof raw === "string" ? raw.length : raw.byteLength;
  if (limiter !== undefined && !limiter.allow(size, performance.now())) {
    limited(connection, limiter, context);
    return;
  }
  let data: string | Uint8Array;
  let request: number | undefined;
  if (connection.framed) {
    const frame = decodeClientFrame(raw);
    switch (frame.kind) {
      case "message":
        data = frame.data;
        break;
      case "ping":
        connection.writer.sendControl(encodePong(frame.token));
        return;
      case "pong":
        connection.liveness.pong(frame.token);
        return;
      case "join": {
        const { id, room, since, history, presence } = frame.request;
        push({ type: "joinRequest", connection, id, room, ask: { since, history, presence } });
        return;
      }
      case "credential":
        if (!connection.json) {
          // Expiring credentials are wshub.v2 only: a v1 client never sends T.
          requestClose(
            push,
            connection,
            CloseCode.ProtocolError,
            "a credential frame (T) needs wshub.v2",
            true,
          );
          return;
        }
        push({ type: "credential", connection, token: frame.token });
        return;
      case "who":
        push({
          type: "presenceQuery",
          connection,
          id: frame.query.id,
          room: frame.query.room,
          counts: frame.query.counts === true,
        });
        return;
      case "leave":
        push({ type: "leave", connection, room: frame.request.room, id: frame.request.id });
        return;
      case "request":
        data = frame.request.text;
        request = frame.request.id;
        break;
      case "answer":
        push({ type: "answer", connection, answer: frame.answer });
        return;
      case "invalid":
        return protocolError(
          connection,
          context,
          batched ? `in a B frame: ${frame.reason}` : frame.reason,
        );
    }
  } else {
    data = typeof raw === "string" ? raw : new Uint8Array(raw);
  }
  if (typeof data !== "string" && !context.acceptBinary) {
    requestClose(
      push,
      connection,
      CloseCode.UnsupportedData,
      "binary messages are not accepted",
      true,
    );
    return;
  }
  let message: unknown = data;
  // The application's decode, if any; from a wshub.v2 client, whose texts are JSON, JSON.parse.
  const decode = context.decode ??
    (connection.json && typeof data === "string" ? parseJson : undefined);
  if (decode !== undefined) {
    try {
      message = decode(data);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      context.report(
        new Error(`Could not decode a message from client ${connection.id}: ${reason}`, {
          cause: error,
        }),
        connection,
      );
      requestClose(
        push,
        connection,
        CloseCode.InvalidPayload,
        "message could not be decoded",
        true,
      );
      return;
    }
  }
  if (request !== undefined) {
    push({ type: "inboundRequest", connection, id: request, message, bytes: size });
  } else {
    push({ type: "message", connection, message, bytes: size });
  }
}

/** The tag of a `B` frame, as a UTF-16 code unit. */
const FRAMES = 0x42;

/** JSON.parse, typed as a decode. */
const parseJson = JSON.parse as (data: string | Uint8Array) => unknown;

/**
 * A frame went past the rate limits: counted, then the client is closed
 * (1008), or, with the action `"drop"`, the frame is dropped and a framed
 * client is told (at most once a second).
 */
function limited(connection: Connection, limiter: RateLimiter, context: ReaderContext): void {
  context.counters.rateLimited++;
  const limits = context.rateLimit!;
  const what = `more than ${limits.messagesPerSecond} messages or ${limits.bytesPerSecond} ` +
    "bytes a second";
  if (limits.action === "close") {
    requestClose(context.push, connection, CloseCode.PolicyViolation, `rate limit: ${what}`, true);
  } else if (connection.framed && limiter.notify(performance.now())) {
    connection.writer.sendControl(encodeErrorNotice({
      error: "rate_limited",
      message: `Messages were dropped: this connection sent ${what}; slow down`,
    }));
  }
}

/**
 * Whether a close event is Deno's idle timeout (`idleTimeout` of
 * `Deno.upgradeWebSocket`): code 1001 with Deno's own reason and no clean
 * handshake. A peer's own 1001 always arrives clean.
 */
export function isIdleTimeout(event: CloseEvent): boolean {
  return event.code === 1001 && !event.wasClean && event.reason === "No response from ping frame.";
}

function tooBig(raw: string | ArrayBuffer, limit: number): boolean {
  if (typeof raw !== "string") return raw.byteLength > limit;
  if (raw.length > limit) return true; // every UTF-16 unit is at least one byte
  if (raw.length * 3 <= limit) return false; // and at most three
  return utf8Length(raw) > limit;
}
