/**
 * The hello: the first frame a hub sends on every framed connection,
 * `h` + a JSON object.
 *
 * @module
 */

import { PROTOCOL_VERSION, TAG_HELLO } from "./tags.ts";
import { parseJsonObject } from "./json_object.ts";

/**
 * The hello frame: the first frame a hub sends on every framed connection.
 * Shared by the server (which sends it) and `@wshub/hub/client` (which reads it).
 *
 * @example Reading the hello
 * ```ts
 * import { connect } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * client.on("open", (hello) => console.log(`connected as ${hello.id}, user ${hello.user}`));
 * await client.close();
 * ```
 */
export interface Hello {
  /** Protocol version: 1 on a `wshub.v1` connection, 2 on a `wshub.v2` one. */
  v: number;
  /** The server's id for this connection. */
  id: string;
  /** The user the server's `identify` hook returned, or `null` when anonymous. */
  user: string | null;
  /** How often the server pings, in milliseconds. */
  pingInterval: number;
  /** How long the server waits for an answer to its ping, in milliseconds. */
  pongTimeout: number;
  /**
   * When the connection's credential expires, in ms since the epoch (only
   * for an expiring identity); the hub asks for a fresh one before.
   */
  expiresAt?: number;
  /**
   * The largest `B` frame (several frames in one, see `docs/protocol.md`)
   * the server accepts from this client, in UTF-8 bytes with its tag. A
   * client may send `B` frames only when the hello has this field; a server
   * without it closes the connection (1002) on one.
   */
  batch?: number;
}

/** Builds the hello frame. */
export function encodeHello(hello: Hello): string {
  return TAG_HELLO + JSON.stringify(hello);
}

/**
 * Reads the body of a hello frame (the JSON after the tag). Unknown fields
 * are ignored. Returns a string that says what is wrong when it is not a
 * valid hello.
 */
export function parseHello(body: string): Hello | string {
  const hello = parseJsonObject(body, "hello frame");
  if (typeof hello === "string") return hello;
  if (hello.v !== PROTOCOL_VERSION && hello.v !== 2) {
    return `hello announces protocol version ${hello.v}; this client speaks 1 and 2`;
  }
  const positive = (n: unknown) => typeof n === "number" && Number.isFinite(n) && n > 0;
  if (
    typeof hello.id !== "string" ||
    !(hello.user === null || typeof hello.user === "string") ||
    !positive(hello.pingInterval) || !positive(hello.pongTimeout)
  ) {
    return "hello frame lacks id, user, pingInterval or pongTimeout";
  }
  const parsed: Hello = {
    v: hello.v,
    id: hello.id,
    user: hello.user as string | null,
    pingInterval: hello.pingInterval as number,
    pongTimeout: hello.pongTimeout as number,
  };
  if (typeof hello.expiresAt === "number" && Number.isFinite(hello.expiresAt)) {
    parsed.expiresAt = hello.expiresAt;
  }
  if (Number.isSafeInteger(hello.batch) && (hello.batch as number) > 0) {
    parsed.batch = hello.batch as number;
  }
  return parsed;
}
