/**
 * A client's reader: the socket's events turned into hub events. It checks
 * the rate limits and the size, decodes `wshub.v1` frames, answers pings,
 * records liveness and round-trip times, and hands each application message
 * on in order.
 *
 * @module
 */

import {
  type AnswerFrame,
  CloseCode,
  decodeClientFrame,
  encodePong,
  utf8Length,
} from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import type { Logger } from "./logger.ts";
import { RateLimiter, type ResolvedRateLimit } from "./rate_limit.ts";

/** The code reported (never sent) for a connection that ended without a close frame. */
const ABNORMAL_CLOSURE = 1006;

/** The reason reported for a close by Deno's idle timeout. */
export const IDLE_TIMEOUT_REASON = "idle timeout: no answer to a protocol ping";

/** What a reader needs from the hub. */
export interface ReaderHost {
  /** The hub's coarse clock (updated on every heartbeat tick). */
  readonly now: number;
  readonly maxMessageBytes: number;
  readonly acceptBinary: boolean;
  readonly decode: ((data: string | Uint8Array) => unknown) | undefined;
  readonly logger: Logger;
  /** Inbound rate limits, or `undefined` when off. */
  readonly rateLimit: ResolvedRateLimit | undefined;
  /** The socket opened: register the connection. */
  opened(connection: Connection): void;
  /**
   * An application message arrived; `bytes` is its size as the rate limits
   * count it (UTF-16 code units for text, bytes for binary).
   */
  received(connection: Connection, message: unknown, bytes: number): void;
  /** A framed client asked to join or leave a room. */
  roomRequest(
    connection: Connection,
    kind: "join" | "leave",
    id: number,
    room: string,
    since?: { offset: number; epoch: string },
  ): void;
  /** A request arrived (`q`), its text decoded like a message's. */
  requested(connection: Connection, id: number, message: unknown, bytes: number): void;
  /** An answer to one of the hub's requests arrived (`a`). */
  answered(connection: Connection, answer: AnswerFrame): void;
  /** A frame went past the rate limits (`limiter` says whether to tell the client). */
  limited(connection: Connection, limiter: RateLimiter): void;
  /** Close and unregister the connection (the peer closed it, or the reader must). */
  closeConnection(connection: Connection, code: number, reason: string, byHub: boolean): void;
  /** Something went wrong with this connection. */
  reportError(error: Error, connection: Connection): void;
}

/** Wires the socket's events of `connection` to `host`. */
export function attachReader(connection: Connection, host: ReaderHost): void {
  const socket = connection.socket;
  socket.binaryType = "arraybuffer";
  socket.onopen = () => host.opened(connection);
  socket.onclose = (event) => {
    if (isIdleTimeout(event)) {
      // Deno's own idle timeout: a protocol ping went unanswered. It is the
      // server's decision, and a timeout, not a peer going away.
      host.closeConnection(connection, event.code, IDLE_TIMEOUT_REASON, true);
      return;
    }
    // Deno reports 0 when the connection ended without a close frame (the
    // peer vanished); RFC 6455 §7.1.5 calls that 1006, as browsers do.
    const code = event.code === 0 ? ABNORMAL_CLOSURE : event.code;
    host.closeConnection(connection, code, event.reason, false);
  };
  socket.onerror = (event) => {
    const message = (event as ErrorEvent).message ?? "unknown error";
    host.logger.debug("wshub: socket error", { id: connection.id, message });
  };
  const limits = host.rateLimit;
  const limiter = limits === undefined ? undefined : new RateLimiter(limits, performance.now());
  socket.onmessage = (event) => {
    if (!connection.open) return;
    connection.liveness.heard(host.now);
    const raw = event.data as string | ArrayBuffer;
    const size = typeof raw === "string" ? raw.length : raw.byteLength;
    // Size first: a message over maxMessageBytes is closed with 1009, whatever the rate limits say.
    const limit = host.maxMessageBytes + (connection.framed ? 1 : 0);
    if (tooBig(raw, limit)) {
      host.closeConnection(
        connection,
        CloseCode.MessageTooBig,
        `message larger than ${host.maxMessageBytes} bytes`,
        true,
      );
      return;
    }
    if (limiter !== undefined && !limiter.allow(size, performance.now())) {
      host.limited(connection, limiter);
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
        case "join":
        case "leave":
          host.roomRequest(
            connection,
            frame.kind,
            frame.request.id,
            frame.request.room,
            frame.request.since,
          );
          return;
        case "request":
          data = frame.request.text;
          request = frame.request.id;
          break;
        case "answer":
          host.answered(connection, frame.answer);
          return;
        case "invalid":
          host.logger.debug("wshub: protocol error", { id: connection.id, reason: frame.reason });
          host.closeConnection(connection, CloseCode.ProtocolError, frame.reason, true);
          return;
      }
    } else {
      data = typeof raw === "string" ? raw : new Uint8Array(raw);
    }
    if (typeof data !== "string" && !host.acceptBinary) {
      host.closeConnection(
        connection,
        CloseCode.UnsupportedData,
        "binary messages are not accepted",
        true,
      );
      return;
    }
    let message: unknown = data;
    if (host.decode !== undefined) {
      try {
        message = host.decode(data);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        host.reportError(
          new Error(`Could not decode a message from client ${connection.id}: ${reason}`, {
            cause: error,
          }),
          connection,
        );
        host.closeConnection(
          connection,
          CloseCode.InvalidPayload,
          "message could not be decoded",
          true,
        );
        return;
      }
    }
    if (request !== undefined) host.requested(connection, request, message, size);
    else host.received(connection, message, size);
  };
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
