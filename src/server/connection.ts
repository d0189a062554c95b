/**
 * One connection: the hub's private record of it ({@linkcode Connection}),
 * and the narrow public view that applications get ({@linkcode Client}).
 *
 * Each piece of a connection's state has one owner: its lifecycle (`state`,
 * `closing`) changes only through the methods below, called by the
 * scheduler; heartbeat state lives in its {@linkcode Liveness} (owned by the
 * heartbeat, told by the reader what arrived); the send queue lives in its
 * {@linkcode Writer}. Applications see none of them: a {@linkcode Client}
 * holds its connection in a private field.
 *
 * @module
 */

import {
  assertApplicationCloseCode,
  CloseCode,
  encodePayload,
  type Payload,
} from "../protocol/mod.ts";
import { Liveness } from "./heartbeat.ts";
import type { HandOffs } from "./metrics.ts";
import type { RequestOptions } from "./requests.ts";
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
  /** The rooms this client is in now (a read-only view). */
  readonly rooms: ReadonlySet<string>;
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
   * Sends a request to this client and waits for its answer (its
   * `onRequest` handler's reply), in order with the messages queued for it.
   * The data is encoded like `send` (text only: no `Uint8Array`); the reply
   * is decoded with the hub's `decode` option, when there is one.
   *
   * Never throws; the promise rejects with a `RequestError` when the client
   * answered with a failure (or `maxRequestsInFlight` requests to it are
   * pending already: code `too_many_requests`, nothing sent), a
   * `RequestTimeoutError` after `timeout` (default: the hub's
   * `requestTimeout`), a `ConnectionClosedError` when the client is not
   * connected or leaves before answering (a request is never sent again),
   * and a `TypeError` for a plain client or data that cannot be sent.
   *
   * @typeParam R What the reply decodes to.
   */
  request<R = unknown>(data: T, options?: RequestOptions): Promise<R>;
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
  /** The rooms a connection is in. */
  roomsOf(connection: Connection): ReadonlySet<string>;
  /** Sends a request to one connection; the promise settles with its answer. */
  request(connection: Connection, data: unknown, options?: RequestOptions): Promise<unknown>;
  /** What the hub's writers count when they hand frames to sockets (metrics). */
  readonly handOffs?: HandOffs;
}

/** The lifecycle of a connection, as the hub sees it. */
export type ConnectionState = "connecting" | "open" | "closed";

/** What the hub knows of a connection when it accepts it. */
export interface ConnectionInit {
  /** The user it belongs to, or `undefined` when anonymous. */
  user: string | undefined;
  /** Whether it speaks `wshub.v1`. */
  framed: boolean;
  /** The subprotocol echoed, or `""`. */
  protocol: string;
  /** Rooms to join as it registers. */
  rooms: readonly string[];
}

/** The hub's record of one connection. Never handed to applications. */
export class Connection {
  readonly id: string = crypto.randomUUID();
  readonly user: string | undefined;
  readonly framed: boolean;
  readonly protocol: string;
  readonly connectedAt: number = Date.now();
  /** Rooms to join as it registers (from `hub.upgrade(req, { rooms })`). */
  readonly initialRooms: readonly string[];
  readonly socket: WebSocket;
  readonly writer: Writer;
  readonly liveness: Liveness = new Liveness();
  /** The public view handed to applications. */
  readonly client: Client<unknown>;
  #state: ConnectionState = "connecting";
  #closing = false;

  constructor(
    socket: WebSocket,
    init: ConnectionInit,
    writer: WriterOptions,
    host: ConnectionHost,
  ) {
    this.socket = socket;
    this.user = init.user;
    this.framed = init.framed;
    this.protocol = init.protocol;
    this.initialRooms = init.rooms;
    this.writer = new Writer(socket, writer, host.handOffs);
    this.client = new ClientView(this, host);
  }

  /** Where the connection is in its life. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Whether a close was asked for (or the connection is closed). */
  get closing(): boolean {
    return this.#closing;
  }

  /** Whether it is registered and not being closed. */
  get open(): boolean {
    return this.#state === "open" && !this.#closing;
  }

  /**
   * Records that a close was asked for. Returns `false` when one was already
   * asked for, or the connection is closed: the caller then does nothing.
   */
  requestClose(): boolean {
    if (this.#closing || this.#state === "closed") return false;
    this.#closing = true;
    return true;
  }

  /** The socket opened and the scheduler registered it. */
  markOpen(): void {
    this.#state = "open";
  }

  /** The scheduler unregistered it (or refused it). Returns whether it had been open. */
  markClosed(): boolean {
    const wasOpen = this.#state === "open";
    this.#state = "closed";
    this.#closing = true;
    return wasOpen;
  }
}

/** The application's view of a {@linkcode Connection}: the {@linkcode Client} interface, nothing more. */
class ClientView implements Client<unknown> {
  readonly #connection: Connection;
  readonly #host: ConnectionHost;

  constructor(connection: Connection, host: ConnectionHost) {
    this.#connection = connection;
    this.#host = host;
  }

  get id(): string {
    return this.#connection.id;
  }

  get user(): string | undefined {
    return this.#connection.user;
  }

  get framed(): boolean {
    return this.#connection.framed;
  }

  get protocol(): string {
    return this.#connection.protocol;
  }

  get connectedAt(): number {
    return this.#connection.connectedAt;
  }

  get rtt(): number | undefined {
    return this.#connection.liveness.rtt;
  }

  get open(): boolean {
    return this.#connection.open;
  }

  get queued(): number {
    return this.#connection.writer.queued;
  }

  get rooms(): ReadonlySet<string> {
    return this.#host.roomsOf(this.#connection);
  }

  send(data: unknown): boolean {
    const connection = this.#connection;
    if (connection.closing) return false;
    this.#host.sendTo(connection, encodePayload(data));
    return true;
  }

  request<R>(data: unknown, options?: RequestOptions): Promise<R> {
    return this.#host.request(this.#connection, data, options) as Promise<R>;
  }

  close(code: number = CloseCode.Normal, reason = ""): void {
    assertApplicationCloseCode(code);
    this.#host.closeConnection(this.#connection, code, reason, true);
  }

  static connectionOf(client: Client<unknown>): Connection | undefined {
    return #connection in client ? (client as ClientView).#connection : undefined;
  }
}

/**
 * The hub's record behind a {@linkcode Client}, or `undefined` when the
 * value is not a client of any hub.
 */
export function connectionOf(client: Client<unknown>): Connection | undefined {
  return ClientView.connectionOf(client);
}
