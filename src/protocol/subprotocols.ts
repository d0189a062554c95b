/**
 * The one reader of the `Sec-WebSocket-Protocol` request header: the offered
 * list is parsed here, for subprotocol negotiation and for
 * {@linkcode protocolToken} alike. Web-standard code only.
 *
 * The header is an RFC 7230 `1#token` list (RFC 6455 §4.1): elements are
 * separated by commas, optional whitespace (spaces and tabs) may surround each
 * comma, and empty elements are ignored. Browsers join with `", "`, Node's `ws`
 * with `","`; both mean the same list.
 *
 * @module
 */

import { SUBPROTOCOL, SUBPROTOCOL_V2, TOKEN_PREFIX } from "./tags.ts";

/** RFC 7230 `tchar`s: what one subprotocol name is made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether `value` is an RFC 7230 token: what a subprotocol name (and so a credential) may be. */
export function isToken(value: string): boolean {
  return TOKEN.test(value);
}

/**
 * Parses a `Sec-WebSocket-Protocol` header value into the subprotocols it
 * offers, in order: split on commas, spaces and tabs around each element
 * trimmed, empty elements ignored. `null` (no header) and a blank value offer
 * nothing.
 *
 * @param value The header value, as `req.headers.get("sec-websocket-protocol")`
 * returns it (several header lines arrive joined with `", "`).
 * @returns The offered subprotocols, in the client's order of preference.
 * @throws {SyntaxError} If an element is not an RFC 7230 token (for example it
 * contains a space, a quote or a non-ASCII character): the header is malformed.
 *
 * @example Every spacing of one list parses the same
 * ```ts
 * import { parseSubprotocols } from "@wshub/hub";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseSubprotocols("chat,wshub.v1"), ["chat", "wshub.v1"]);
 * assert.deepEqual(parseSubprotocols("chat , \twshub.v1,"), ["chat", "wshub.v1"]);
 * assert.deepEqual(parseSubprotocols(null), []);
 * ```
 */
export function parseSubprotocols(value: string | null): string[] {
  const offered: string[] = [];
  if (value === null) return offered;
  for (const element of value.split(",")) {
    const name = trimOws(element);
    if (name === "") continue;
    if (!TOKEN.test(name)) {
      throw new SyntaxError(
        `Sec-WebSocket-Protocol offers ${JSON.stringify(name)}, which is not a subprotocol name: ` +
          "offer a comma-separated list of names made of letters, digits and !#$%&'*+-.^_`|~",
      );
    }
    offered.push(name);
  }
  return offered;
}

/** Strips RFC 7230 optional whitespace (SP and HTAB) from both ends. */
function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Whether an offered subprotocol is a credential, `wshub.token.<token>`. */
export function isCredential(protocol: string): boolean {
  return protocol.startsWith(TOKEN_PREFIX);
}

/** The outcome of subprotocol negotiation for one upgrade request. */
export type SubprotocolChoice =
  | {
    ok: true;
    /** The protocol to echo, or `undefined` when nothing was offered. */
    protocol: string | undefined;
    /** Whether the connection speaks `wshub.v1` or `wshub.v2`. */
    framed: boolean;
    /** The version it speaks: 2 (`wshub.v2`), 1 (`wshub.v1`) or 0 (plain). */
    version: 0 | 1 | 2;
    /** Everything offered, in order, credentials included. */
    offered: string[];
  }
  | {
    ok: false;
    /** Why the list cannot be negotiated, for a 400 response. */
    reason: string;
  };

/**
 * Chooses the subprotocol to echo from a `Sec-WebSocket-Protocol` header:
 *
 * 1. nothing offered: echo nothing (a plain connection);
 * 2. `wshub.v1` offered, anywhere in the list: echo it (a framed connection);
 * 3. otherwise `preferred`, if offered, else the first offer (a plain
 *    connection; WHATWG clients fail the connection unless one offer comes
 *    back).
 *
 * A credential (`wshub.token.*`) is never echoed, not even as `preferred`.
 * The list cannot be negotiated (`ok: false`) when it is malformed or when
 * every offer is a credential: echoing nothing would fail a WHATWG client's
 * handshake, and echoing the credential would put it in the response.
 */
export function chooseSubprotocol(header: string | null, preferred?: string): SubprotocolChoice {
  let offered: string[];
  try {
    offered = parseSubprotocols(header);
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  if (offered.length === 0) {
    return { ok: true, protocol: undefined, framed: false, version: 0, offered };
  }
  if (offered.includes(SUBPROTOCOL_V2)) {
    return { ok: true, protocol: SUBPROTOCOL_V2, framed: true, version: 2, offered };
  }
  if (offered.includes(SUBPROTOCOL)) {
    return { ok: true, protocol: SUBPROTOCOL, framed: true, version: 1, offered };
  }
  const echoable = offered.filter((protocol) => !isCredential(protocol));
  if (echoable.length === 0) {
    return {
      ok: false,
      reason:
        `Sec-WebSocket-Protocol offers only a credential (${TOKEN_PREFIX}…), which is never ` +
        `echoed: offer ${SUBPROTOCOL} (or another subprotocol) before it`,
    };
  }
  const protocol = preferred !== undefined && echoable.includes(preferred)
    ? preferred
    : echoable[0];
  return { ok: true, protocol, framed: false, version: 0, offered };
}

/**
 * Reads the credential a client offered as the subprotocol
 * `wshub.token.<token>`, for use in an `identify` hook: the first such offer
 * with a non-empty token. Returns `undefined` when there is none, or when the
 * header is malformed (the hub refuses such an upgrade with 400 before it
 * calls `identify`).
 *
 * @example Authenticate with a token carried in the protocol list
 * ```ts
 * import { Hub, protocolToken } from "@wshub/hub";
 *
 * const sessions = new Map([["s3cret", "alice"]]);
 * const hub = new Hub({
 *   identify(req) {
 *     const user = sessions.get(protocolToken(req) ?? "");
 *     return user ?? new Response("unknown session", { status: 401 });
 *   },
 * });
 * await hub.close();
 * ```
 */
export function protocolToken(req: Request): string | undefined {
  let offered: string[];
  try {
    offered = parseSubprotocols(req.headers.get("sec-websocket-protocol"));
  } catch {
    return undefined;
  }
  for (const protocol of offered) {
    if (isCredential(protocol) && protocol.length > TOKEN_PREFIX.length) {
      return protocol.slice(TOKEN_PREFIX.length);
    }
  }
  return undefined;
}
