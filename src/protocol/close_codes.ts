/**
 * Close codes: the ones the hub sends, which codes an application may use,
 * and validation of codes and reasons before they go on the wire (Deno's
 * server-side `close()` validates neither).
 *
 * @module
 */

/**
 * The close codes the hub sends, by name. `docs/protocol.md` says when each
 * one is used and whether the reference client reconnects after it.
 *
 * @example
 * ```ts
 * import { CloseCode } from "@wshub/hub";
 *
 * console.log(CloseCode.SlowConsumer); // 1013
 * ```
 */
export const CloseCode = {
  /** `client.close()` with no code. */
  Normal: 1000,
  /** `hub.close()`: the server is shutting down. */
  GoingAway: 1001,
  /** A malformed `wshub.v1` frame. */
  ProtocolError: 1002,
  /** A binary message while the hub accepts only text. */
  UnsupportedData: 1003,
  /** The hub's `decode` option threw on a message. */
  InvalidPayload: 1007,
  /** Too many inbound messages waiting for a slow async `onMessage`. */
  PolicyViolation: 1008,
  /** An inbound message larger than `maxMessageBytes`. */
  MessageTooBig: 1009,
  /** An unexpected failure inside the hub. */
  InternalError: 1011,
  /** The client's send queue overflowed: it reads too slowly. */
  SlowConsumer: 1013,
  /**
   * The same code, for a new connection turned away because connections
   * came faster than `admissionRate`: its close notice's `retryAfter` says
   * when to come back.
   */
  TryAgainLater: 1013,
  /** Nothing was heard from a framed client for `pingInterval + pongTimeout`. */
  HeartbeatTimeout: 4000,
  /** A frame could not be flushed to the peer within `writeTimeout`. */
  WriteTimeout: 4001,
  /**
   * `hub.disconnectUser()`'s default: the user's access was revoked. The
   * reference client does not reconnect after it.
   */
  Revoked: 4003,
  /**
   * The connection's credential expired and was not refreshed within
   * `expiredCloseDelay`. The reference client gets a fresh one
   * (`getToken`) and reconnects.
   */
  CredentialsExpired: 4004,
  /**
   * A refresh named another user than the connection's. The reference
   * client does not reconnect after it.
   */
  Forbidden: 4403,
} as const;

/**
 * The code a `wshub.v1` client closes with when the server broke the
 * protocol: browsers let clients send only 1000 and 3000–4999, so 1002
 * cannot go on the wire from them.
 */
export const CLIENT_PROTOCOL_ERROR = 4002;

/** The longest close reason the WebSocket protocol allows, in UTF-8 bytes. */
export const MAX_REASON_BYTES = 123;

/**
 * Whether `code` may be sent in a close frame by a server (RFC 6455 §7.4):
 * 1000–1003, 1007–1014, or 3000–4999.
 */
export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

/**
 * Whether an application may close with `code`: 1000, or an integer from
 * 3000 to 4999. The same rule as browsers apply to `WebSocket.close()`.
 */
export function isApplicationCloseCode(code: number): boolean {
  return Number.isInteger(code) && (code === 1000 || (code >= 3000 && code <= 4999));
}

/**
 * Checks a code an application passed to a `close()` method.
 *
 * @throws {RangeError} If it is not 1000 or an integer from 3000 to 4999.
 */
export function assertApplicationCloseCode(code: number): void {
  if (!isApplicationCloseCode(code)) {
    throw new RangeError(
      `Cannot close with code ${code}: applications may use 1000 or an integer from 3000 to 4999`,
    );
  }
}

/**
 * Why `reason` cannot go in a close frame as it is (not a string, or past
 * 123 UTF-8 bytes), or `undefined` when it can: for APIs that refuse what
 * `close()` would silently cut.
 */
export function closeReasonProblem(reason: unknown): string | undefined {
  if (typeof reason !== "string") return `a close reason is a string, not ${typeof reason}`;
  if (reason.length * 3 <= MAX_REASON_BYTES) return undefined;
  const bytes = encoder.encode(reason).length;
  return bytes <= MAX_REASON_BYTES
    ? undefined
    : `the close reason is ${bytes} UTF-8 bytes; at most ${MAX_REASON_BYTES} fit in a close frame`;
}

const encoder = /* @__PURE__ */ new TextEncoder();
const decoder = /* @__PURE__ */ new TextDecoder();

/** Cuts `reason` to at most 123 UTF-8 bytes without splitting a character. */
export function truncateReason(reason: string): string {
  if (reason.length * 3 <= MAX_REASON_BYTES) return reason;
  const bytes = encoder.encode(reason);
  if (bytes.length <= MAX_REASON_BYTES) return reason;
  let end = MAX_REASON_BYTES;
  // Step back over UTF-8 continuation bytes (10xxxxxx) so a character is never cut.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end));
}
