/**
 * One connection: the public {@linkcode Client} view that applications get,
 * and the hub's internal record behind it (socket, writer, heartbeat state,
 * inbox for async handlers).
 *
 * @module
 */

import { CloseCode, isSendableCloseCode, truncateReason } from "./close_codes.ts";
import { encodePayload, type Payload } from "./protocol.ts";
import { Writer, type WriterOptions } from "./writer.ts";

/**
 * One live WebSocket connection registered with a hub. A user may hold many.
 *
 * @typeParam T What {@linkcode Client.send} accepts (the hub's `T`).
 *
 * @example Greet each client and kick one out
 * ```ts
 * import { Hub } from "@wshub/hub";
 *
 * const hub = new Hub<{ text: string }>({
 *   onConnect(client) {
 *     client.send({ text: `welcome, ${client.user ?? "guest"}` });
 *   },
 *   onMessage(message, client) {
 *     if (message === "/quit") client.close(4000 + 100, "bye");
 *   },
 * });
 * await hub.close();
 * ```
 */
export interface Client<T = unknown> {
  /** A unique id for this connection (sent to framed clients in the hello). */
  readonly id: string;
  /** The user this connection belongs to, or `undefined` when anonymous. */
  readonly user: string | undefined;
  /** Whether the client speaks `wshub.v1` (heartbeats, tagged frames) or is plain. */
  readonly framed: boolean;
  /** The subprotocol echoed in the handshake, or `""` when none was offered. */
  readonly protocol: string;
  /** When the connection was accepted, in milliseconds since the epoch. */
  readonly connectedAt: number;
  /**
   * The last measured round-trip time in milliseconds, from a heartbeat ping
   * to its pong; `undefined` until the first pong (and always for plain clients).
   */
  readonly rtt: number | undefined;
  /** Whether the client is registered and messages sent to it can be delivered. */
  readonly open: boolean;
  /** Messages waiting in this client's send queue. */
  readonly queued: number;
  /**
   * Queues a message for this client alone, in order with every broadcast
   * and user message queued before it. Strings and bytes go as they are;
   * other values are JSON-encoded.
   *
   * @returns `false` if the client is already closed (nothing is queued).
   * @throws {TypeError} If the value has no JSON form.
   */
  send(data: T): boolean;
  /**
   * Closes the connection after what was queued for it before this call, and
   * unregisters it at once (`onDisconnect` is called right away). The close
   * frame follows the queued messages; if the peer has stopped reading and
   * they make no progress for `writeTimeout`, they are dropped and the close
   * goes out anyway. Closing twice does nothing.
   *
   * @param code 1000 (default) or an application code, an integer from 3000 to 4999.
   * @param reason At most 123 UTF-8 bytes; a longer reason is cut.
   * @throws {RangeError} If the code is not one an application may send.
   */
  close(code?: number, reason?: string): void;
}

/** What a connection needs from the hub it belongs to. */
export interface ConnectionHost {
  /** Queues a message for one connection (the scheduler delivers it). */
  sendTo(connection: Connection, payload: Payload): void;
  /** Queues the closing of one connection (the scheduler closes and unregisters it). */
  closeConnection(connection: Connection, code: number, reason: string, byHub: boolean): void;
}

/** The lifecycle of a connection, as the hub sees it. */
export type ConnectionState = "connecting" | "open" | "closed";

/**
 * The hub's record of one connection. Only the scheduler changes `state`;
 * the reader updates the heartbeat fields; the writer owns the send queue.
 */
export class Connection<T = unknown> implements Client<T> {
  readonly id: string;
  readonly user: string | undefined;
  readonly framed: boolean;
  readonly protocol: string;
  readonly connectedAt: number = Date.now();
  readonly socket: WebSocket;
  readonly writer: Writer;
  readonly #host: ConnectionHost;
  state: ConnectionState = "connecting";
  /** Set once a close was asked for, so that it is asked for only once. */
  closing = false;
  rtt: number | undefined;
  /** Hub clock when any frame last arrived. */
  lastSeen = 0;
  /** Hub clock when the last ping was sent (or when the connection opened). */
  pingAt = 0;
  /** The token of the ping awaiting its pong, and when it left (precise clock). */
  pingToken = "";
  pingSentAt = 0;
  pingCount = 0;
  /** Inbound messages waiting for an async `onMessage` to settle; `undefined` when none is running. */
  inbox: unknown[] | undefined;

  constructor(
    socket: WebSocket,
    init: { user: string | undefined; framed: boolean; protocol: string },
    writer: WriterOptions,
    host: ConnectionHost,
  ) {
    this.id = crypto.randomUUID();
    this.socket = socket;
    this.user = init.user;
    this.framed = init.framed;
    this.protocol = init.protocol;
    this.writer = new Writer(socket, writer);
    this.#host = host;
  }

  get open(): boolean {
    return this.state === "open" && !this.closing;
  }

  get queued(): number {
    return this.writer.queued;
  }

  send(data: T): boolean {
    if (this.state === "closed" || this.closing) return false;
    this.#host.sendTo(this, encodePayload(data));
    return true;
  }

  close(code: number = CloseCode.Normal, reason = ""): void {
    if (!Number.isInteger(code) || (code !== CloseCode.Normal && !(code >= 3000 && code <= 4999))) {
      throw new RangeError(
        `Cannot close with code ${code}: applications may use 1000 or 3000-4999`,
      );
    }
    this.#host.closeConnection(this, code, reason, true);
  }
}

/**
 * Closes a socket with a code and reason that are valid on the wire, and
 * never throws (the socket may already be closing).
 */
export function closeSocket(socket: WebSocket, code: number, reason: string): void {
  const safeCode = isSendableCloseCode(code) ? code : CloseCode.InternalError;
  try {
    socket.close(safeCode, truncateReason(reason));
  } catch {
    // Already closing or closed: nothing to do.
  }
}
