/**
 * The reconnecting `wshub.v1` client's core: one {@linkcode CoreClient} owns
 * at most one live WebSocket at a time and replaces it when it dies. Rooms
 * and requests are parts it drives when they are installed (`parts.ts`).
 *
 * @module
 */

import {
  assertApplicationCloseCode,
  CLIENT_PROTOCOL_ERROR,
  decodeServerFrameWith,
  encodeFailure,
  encodePong,
  type Hello,
  type PresenceDiff,
  type PresenceEvent,
  type RoomAnswerReader,
  type ServerFrame,
  skipRoomAnswer,
  SUBPROTOCOL,
  SUBPROTOCOL_V2,
  TOKEN_PREFIX,
} from "../protocol/mod.ts";
import { ClientCredentials } from "./credentials.ts";
import {
  ClientClosedError,
  DecodeError,
  ProtocolError,
  ServerError,
  UnauthorizedError,
} from "./errors.ts";
import { Emitter, iterate, type Listener, type MessageMeta } from "./events.ts";
import { ClientLiveness } from "./liveness.ts";
import { type CoreOptions, type ResolvedOptions, resolveOptions, resolveUrl } from "./options.ts";
import { encodeMessage } from "./message.ts";
import { coalesce } from "./coalesce.ts";
import { Outbox } from "./outbox.ts";
import { type Install, NO_HANDLER, type RequestsPart, type RoomsPart } from "./parts.ts";
import { diffOf } from "./presence.ts";
import type { RecoveryEvent } from "./rooms.ts";
import { backoffDelay, pacedDelay, shouldReconnect } from "./reconnect.ts";

/**
 * Where a client is in its life:
 *
 * - `"connecting"`: the first connection is being opened (until its hello).
 * - `"open"`: connected, hello received; `send` writes to the socket at once.
 * - `"reconnecting"`: a connection was lost or could not be opened; the client
 *   waits out its backoff delay, then opens a new one (until its hello).
 * - `"closed"`: for good — after `close()`, `reconnect: false`, or a close
 *   code the client does not retry. A closed client never opens again.
 *
 * @example Showing the state
 * ```ts
 * import { connect } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * client.on("state", (state) => console.log("now", state));
 * console.log(client.state); // "connecting"
 * await client.close();
 * ```
 */
export type ClientState = "connecting" | "open" | "reconnecting" | "closed";

/**
 * Payload of the `close` event, fired each time a connection ends (or an
 * attempt to open one fails), and once more when the client is closed for good.
 *
 * @example Logging reconnects
 * ```ts
 * import { connect } from "@wshub/hub/client";
 *
 * const client = connect("ws://127.0.0.1:8000/ws");
 * client.on("close", ({ code, reason, reconnecting, delay }) => {
 *   console.log(code, reason, reconnecting ? `retry in ${delay} ms` : "closed for good");
 * });
 * await client.close();
 * ```
 */
export interface CloseInfo {
  /**
   * The close code: the server's, 1006 when the connection was lost without
   * one, 4000 when the client gave up on a silent server, 1002 when the server
   * broke the protocol, or the code given to `close()`.
   */
  code: number;
  /** The close reason, or a description of what happened. */
  reason: string;
  /** Whether the client will try again. */
  reconnecting: boolean;
  /** When reconnecting: the backoff delay before the next attempt, in milliseconds. */
  delay?: number;
  /**
   * When the hub turned the connection away to admit connections at its
   * pace (1013): when it said to come back, in ms. `delay` is then this plus
   * up to a fifth more, not the backoff.
   */
  retryAfter?: number;
}

/**
 * The events of a {@linkcode CoreClient} (and a `HubClient`) and their payloads.
 *
 * @example Every event
 * ```ts
 * import { connect } from "@wshub/hub/client";
 *
 * const client = connect<{ text: string }>("ws://127.0.0.1:8000/ws");
 * client.on("message", (message) => console.log(message.text));
 * client.on("binary", (bytes) => console.log(bytes.length, "bytes"));
 * client.on("open", (hello) => console.log("open as", hello.user));
 * client.on("state", (state) => console.log(state));
 * client.on("close", (info) => console.log(info.code));
 * client.on("error", (error) => console.warn(error.message));
 * await client.close();
 * ```
 */
export interface ClientEventMap<T> {
  /**
   * An incoming text message, decoded with the `decode` option. Listeners
   * also get its {@linkcode MessageMeta}: the room it came through, if any.
   */
  message: T;
  /** An incoming binary message (its bytes, without the tag), with its {@linkcode MessageMeta}. */
  binary: Uint8Array;
  /**
   * Users joined or left a room this client is in (when the server sends
   * presence events: its `presenceEvents` option): one
   * {@linkcode PresenceDiff} per room per window of the hub's
   * `presenceWindow` (a join and a leave inside it cancel out), or per
   * change when the window is 0 or the hub is older. Once per user, never
   * per tab. Apply it as set operations: add `joins`, remove `leaves`.
   */
  presence: PresenceDiff;
  /**
   * A room's continuity was checked (rooms with history): after a rejoin on
   * reconnect, after a gap was repaired, or when the room's stream started
   * again. `recovered: false` means publications may have been missed:
   * reload that room's state.
   */
  recovery: RecoveryEvent;
  /** A connection received its hello; queued sends were flushed just before. */
  open: Hello;
  /**
   * The hub accepted a fresh credential from `getToken` on the open
   * connection; the payload is the new expiry (ms since the epoch).
   */
  refresh: { expiresAt: number };
  /** The state changed; the payload is the new state. */
  state: ClientState;
  /** A connection ended; see {@linkcode CloseInfo}. */
  close: CloseInfo;
  /**
   * A {@linkcode DecodeError}, a {@linkcode ProtocolError}, a
   * {@linkcode ServerError}, a {@linkcode JoinError} for a room this client
   * was in and is now refused when it rejoins after a reconnect, or an error
   * thrown by the `onRequest` handler (the server was answered
   * `handler_error`; this error's `cause` is what was thrown).
   */
  error: Error;
}

const OPEN = 1; // WebSocket.OPEN, spelled out so the module needs no WebSocket at import time.
/** How long `close()` waits for sockets that are still closing. */
const CLOSE_WAIT = 2_000;

/**
 * A client of a wshub hub without rooms and requests of its own: what
 * `connect()` of `@wshub/hub/client/core` returns, and what the full
 * client, `HubClient`, extends. It connects at once and keeps reconnecting
 * until closed.
 *
 * It still gets what the server sends through rooms it put the client in
 * (`message` events whose meta names the room, `presence` events), without
 * the ordering and gap repair of rooms with history; it ignores the answers
 * to joins and presence queries it never sends, answers the server's
 * requests `no_handler`, and takes an answer to a request as a protocol
 * error (it never sent one).
 *
 * Receive messages with listeners (`client.on("message", fn)`) or by
 * iterating the client (`for await (const message of client)`); both see every
 * text message that arrives while they are attached.
 *
 * @typeParam T What the server sends: the `T` of its `Hub<T, In>`.
 * @typeParam S What this client sends (default `T`): what the server's
 * `decode` turns into its `In`.
 *
 * @example Chat in both directions, with the light client
 * ```ts
 * import { connect } from "@wshub/hub/client/core";
 *
 * type Chat = { from?: string; text: string };
 * const client = connect<Chat>("ws://127.0.0.1:8000/ws");
 * client.send({ text: "hello" }); // queued until the connection is open
 * for await (const message of client) {
 *   console.log(message.from, message.text);
 *   if (message.text === "bye") break;
 * }
 * await client.close();
 * ```
 */
export class CoreClient<T, S = T> {
  /** The hub's WebSocket URL. */
  readonly url: string;

  #options: ResolvedOptions<T>;
  #events = new Emitter<ClientEventMap<T>>();
  #state: ClientState = "connecting";
  /** The socket the client currently uses (opening or open). */
  #ws: WebSocket | undefined;
  /** Every socket that has not fired `close` yet, the current one and abandoned ones. */
  #sockets = new Set<WebSocket>();
  #socketsGone: (() => void)[] = [];
  #outbox: Outbox;
  /** Whether the current connection speaks `wshub.v2` (texts as JSON). */
  #json = false;
  #rooms: RoomsPart | undefined;
  #requests: RequestsPart | undefined;
  /** How `J`, `L` and `W` frames are read: unread without rooms. */
  #readAnswer: RoomAnswerReader;
  #liveness = new ClientLiveness((idle) =>
    this.#abandon(
      4000,
      `heartbeat timeout: nothing heard from the server for ${Math.round(idle)} ms`,
    )
  );
  #attempt = 0;
  #hello: Hello | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #signal: AbortSignal | undefined;
  #credentials: ClientCredentials;
  /** Bumped by each connection attempt, so that a late `getToken` opens nothing. */
  #opening = 0;
  #onAbort = () => void this.close(1000, "aborted");

  /**
   * Use `connect()` instead; it has the same first two parameters.
   *
   * @param url The hub's WebSocket URL.
   * @param options See {@linkcode CoreOptions}.
   * @param install Creates the client's parts (rooms, requests), before it
   * connects: how `HubClient` adds them. Default: none.
   * @throws {TypeError} on a URL that is not ws:, wss:, http: or https:, or an invalid token.
   * @throws {RangeError} on an invalid numeric option.
   */
  constructor(url: string | URL, options?: CoreOptions<T>, install?: Install<T>) {
    options ??= {};
    this.url = resolveUrl(url);
    this.#options = resolveOptions(options);
    this.#outbox = new Outbox(this.#options.queueLimit);
    const parts = install?.({
      options: this.#options,
      error: (error) => this.#events.emit("error", error),
      recovery: (event) => this.#events.emit("recovery", event),
      sender: () => this.#sender(),
      json: () => this.#json,
    });
    this.#rooms = parts?.rooms;
    this.#requests = parts?.requests;
    this.#readAnswer = parts?.readRoomAnswer ?? skipRoomAnswer;
    this.#credentials = new ClientCredentials(this.#options, {
      error: (error) => this.#events.emit("error", error),
      unauthorized: (error) => this.#unauthorized(error),
      refreshed: (expiresAt) => this.#events.emit("refresh", { expiresAt }),
    });
    this.#signal = options.signal;
    if (this.#signal?.aborted) {
      this.#state = "closed";
      return;
    }
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#openSocket();
  }

  /** The current {@linkcode ClientState}. */
  get state(): ClientState {
    return this.#state;
  }

  /**
   * The latest round-trip time to the server, in milliseconds, measured with
   * the client's own pings; `undefined` until the first pong.
   */
  get rtt(): number | undefined {
    return this.#liveness.rtt;
  }

  /** The hello of the current (or last) connection; `undefined` before the first. */
  get hello(): Hello | undefined {
    return this.#hello;
  }

  /**
   * When the current connection's credential expires (ms since the epoch):
   * from the hello, then from each accepted refresh; `undefined` when it
   * does not expire.
   */
  get expiresAt(): number | undefined {
    return this.#credentials.expiresAt;
  }

  /** The user the server identified this client as (from the last hello); `null` if anonymous. */
  get user(): string | null | undefined {
    return this.#hello?.user;
  }

  /** How many messages are waiting in the send queue. */
  get queued(): number {
    return this.#outbox.size;
  }

  /**
   * Adds a listener; returns a function that removes it. Listeners run in the
   * order they were added; one that throws is reported with `reportError` and
   * does not affect the others or the connection.
   */
  on<K extends keyof ClientEventMap<T>>(
    type: K,
    listener: Listener<ClientEventMap<T>[K]>,
  ): () => void {
    return this.#events.on(type, listener);
  }

  /** Removes a listener added with {@linkcode HubClient.on}. */
  off<K extends keyof ClientEventMap<T>>(type: K, listener: Listener<ClientEventMap<T>[K]>): void {
    this.#events.off(type, listener);
  }

  /**
   * Iterates incoming text messages (decoded) until the client is closed for
   * good; breaking out of the loop stops listening. Binary messages only go to
   * `binary` listeners. Messages that arrive faster than the loop runs are
   * buffered without bound.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return iterate<T>(
      (push) => this.on("message", push),
      (finish) =>
        this.on("state", (state) => {
          if (state === "closed") finish();
        }),
      () => this.#state === "closed",
    );
  }

  /**
   * Sends one message, encoded like the hub encodes: a string as text, a
   * `Uint8Array` or `ArrayBuffer` as binary, anything else as JSON. While the client
   * is not open the message is queued (see `queueLimit`) and sent in order
   * after the next hello. Delivery is at most once: a message written to a
   * connection that then dies is not sent again.
   *
   * @throws {SendQueueFullError} when not open and the queue is full.
   * @throws {ClientClosedError} when the client is closed for good.
   * @throws {TypeError} when `data` has no JSON form (`undefined`, a function).
   */
  send(data: S): void {
    if (this.#state === "closed") {
      throw new ClientClosedError("close() was called or the server closed it for good");
    }
    const payload = encodeMessage(data);
    const ws = this.#ws;
    if (this.#state === "open" && ws?.readyState === OPEN) {
      ws.send(this.#json ? payload.framed2 : payload.framed);
      return;
    }
    this.#outbox.push(payload);
  }

  /**
   * Closes the client for good: no reconnect, queued messages are dropped.
   * Resolves once the client's sockets have closed (at most about 2 s: a
   * half-open connection may never confirm).
   *
   * @param code 1000 (default) or 3000–4999, as browsers allow.
   * @param reason At most 123 UTF-8 bytes.
   * @throws {RangeError} on any other code.
   */
  close(code?: number, reason?: string): Promise<void> {
    code ??= 1000;
    reason ??= "";
    assertApplicationCloseCode(code); // the hub's client.close() says the same

    if (this.#state !== "closed") {
      this.#drop(code, reason);
      this.#finish({ code, reason: reason || "closed by the client", reconnecting: false });
    }
    return this.#allSocketsClosed();
  }

  /**
   * Opens the next connection: with `getToken`, asks it for a token first.
   * `connectTimeout` covers both.
   */
  #openSocket(): void {
    const attempt = ++this.#opening;
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = undefined;
      if (this.#ws !== undefined) {
        return this.#abandon(
          1006,
          `no hello within ${this.#options.connectTimeout} ms (connectTimeout)`,
        );
      }
      // Still waiting for getToken; callGetToken's own timeout reports it.
    }, this.#options.connectTimeout);
    if (!this.#credentials.dynamic) return this.#dial(this.#options.protocols);
    this.#credentials.forConnect().then((token) => {
      if (attempt !== this.#opening || this.#state === "closed") return;
      this.#dial([...this.#options.protocols, TOKEN_PREFIX + token]);
    }, (error: Error) => {
      if (attempt !== this.#opening || this.#state === "closed") return;
      clearTimeout(this.#connectTimer);
      this.#connectTimer = undefined;
      if (error instanceof UnauthorizedError) return this.#unauthorized(error);
      this.#events.emit("error", error);
      this.#lost({ code: 1006, reason: error.message });
    });
  }

  /** `getToken` threw an {@linkcode UnauthorizedError}: the client ends (4401). */
  #unauthorized(error: UnauthorizedError): void {
    if (this.#state === "closed") return;
    this.#drop(1000, "unauthorized");
    this.#events.emit("error", error);
    this.#finish({ code: 4401, reason: error.message, reconnecting: false });
  }

  #dial(protocols: string[]): void {
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url, protocols);
    } catch (error) {
      this.#lost({ code: 1006, reason: `could not create a WebSocket: ${String(error)}` });
      return;
    }
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    this.#sockets.add(ws);
    ws.onopen = () => {
      if (ws !== this.#ws) return;
      if (ws.protocol !== SUBPROTOCOL_V2 && ws.protocol !== SUBPROTOCOL) {
        this.#protocolError(
          new ProtocolError(
            `the server accepted neither ${SUBPROTOCOL_V2} nor ${SUBPROTOCOL} (it chose ${
              JSON.stringify(ws.protocol)
            }): is ${this.url} a wshub hub?`,
          ),
        );
        return;
      }
      this.#json = ws.protocol === SUBPROTOCOL_V2;
    };
    ws.onmessage = (event: MessageEvent) => {
      if (ws !== this.#ws) return;
      this.#liveness.heard();
      const frame = decodeServerFrameWith(event.data, this.#readAnswer);
      if (frame.kind === "invalid") return this.#protocolError(new ProtocolError(frame.reason));
      this.#handle(ws, frame);
    };
    ws.onclose = (event: CloseEvent) => {
      if (!this.#sockets.delete(ws)) return; // Deno may fire `close` twice.
      if (this.#sockets.size === 0) {
        for (const resolve of this.#socketsGone.splice(0)) {
          resolve();
        }
      }
      if (ws !== this.#ws) return;
      // Deno reports 0 when a connection ended (or failed) without a close frame; RFC 6455
      // §7.1.5 and browsers call that 1006, as CloseInfo documents.
      this.#ended(event.code === 0 ? 1006 : event.code, event.reason);
    };
  }

  /**
   * The current connection ended (its socket closed, or the server's close
   * notice said it will): retry, unless the code says not to.
   */
  #ended(code: number, reason: string, retryAfter?: number): void {
    this.#ws = undefined;
    this.#stopTimers();
    this.#rooms?.lost();
    if (!shouldReconnect(code)) {
      this.#finish({ code, reason, reconnecting: false });
    } else {
      this.#lost({ code, reason: reason || (code === 1006 ? "connection lost" : "") }, retryAfter);
    }
  }

  #handle(ws: WebSocket, frame: Exclude<ServerFrame, { kind: "invalid" }>): void {
    if (frame.kind === "close") {
      // The server is about to close this connection, and says why here
      // because a close frame can be lost on a busy connection. Close it from
      // this side at once (the server waits for that), and act on its code
      // (and on when it says to come back, if it does).
      closeQuietly(ws, 1000, "closing as the server asked");
      return this.#ended(frame.notice.code, frame.notice.reason, frame.notice.retryAfter);
    }
    if (this.#state !== "open") {
      if (frame.kind !== "hello") {
        return this.#protocolError(new ProtocolError(`expected hello first, got a ${frame.kind}`));
      }
      return this.#opened(ws, frame.hello);
    }
    switch (frame.kind) {
      case "text":
        for (const text of frame.texts) {
          this.#deliver(text);
          if (ws !== this.#ws) return; // a listener closed the client
        }
        return;
      case "binary":
        return this.#events.emit("binary", frame.bytes);
      case "room": {
        const meta = { room: frame.room, offset: frame.offset };
        const deliver = () => this.#deliver(frame.data, meta);
        // A room with history: in order, once each, and a gap is repaired first.
        if (frame.offset !== undefined && this.#rooms !== undefined) {
          return this.#rooms.accept(frame.room, frame.offset, deliver);
        }
        return deliver();
      }
      // Without rooms, answers to joins and presence queries (a join the server made) come
      // "unread", and no case takes them.
      case "joined":
        return this.#rooms?.answered(frame.answer);
      case "left":
        return this.#rooms?.answeredLeave(frame.answer);
      case "who":
        return this.#rooms?.answeredPresence(frame.answer);
      case "presence":
        return this.#events.emit("presence", diffOf(frame.event.room, [frame.event]));
      case "presenceDiff":
        return this.#events.emit("presence", frame.diff);
      case "credential":
        return this.#credentials.noticed(frame.notice, (text) => {
          if (ws === this.#ws && ws.readyState === OPEN) ws.send(text);
        });
      case "frames": {
        // A run of presence events of one room (a window's, sent together) is one diff.
        let run: PresenceEvent[] = [];
        const told = () => {
          if (run.length > 0) this.#events.emit("presence", diffOf(run[0].room, run));
          run = [];
        };
        for (const inner of frame.frames) {
          if (inner.kind === "presence") {
            if (run.length > 0 && run[0].room !== inner.event.room) told();
            run.push(inner.event);
            continue;
          }
          told();
          if (inner.kind === "invalid" || ws !== this.#ws) return;
          this.#handle(ws, inner);
        }
        if (ws === this.#ws) told();
        return;
      }
      case "ping":
        return ws.send(encodePong(frame.token));
      case "pong":
        return this.#liveness.pong(frame.token);
      case "error":
        return this.#events.emit(
          "error",
          new ServerError(frame.notice.error, frame.notice.message),
        );
      case "hello":
        return this.#protocolError(new ProtocolError("a second hello on one connection"));
      case "request":
      case "answer": {
        const requests = this.#requests;
        let broken: string | undefined;
        if (requests !== undefined) {
          broken = frame.kind === "request"
            ? requests.received(frame.request)
            : requests.answered(frame.answer);
        } else if (frame.kind === "request") {
          // Without requests: the server's handler gets an answer at once rather than a timeout.
          ws.send(encodeFailure(frame.request.id, NO_HANDLER));
        } else broken = `an answer to request ${frame.answer.id}, never sent`;
        if (broken !== undefined) this.#protocolError(new ProtocolError(broken));
        return;
      }
    }
  }

  /** Fires `message` (a text, decoded) or `binary`; a text that does not decode fires `error`. */
  #deliver(data: string | Uint8Array, meta?: MessageMeta): void {
    if (typeof data !== "string") return this.#events.emit("binary", data, meta);
    let message: T;
    try {
      message = this.#options.decode(data);
    } catch (error) {
      return this.#events.emit("error", new DecodeError(data, error));
    }
    this.#events.emit("message", message, meta);
  }

  /** A function that writes to the open socket, or `undefined` while none is open. */
  #sender(): ((frame: string) => void) | undefined {
    const ws = this.#ws;
    if (this.#state !== "open" || ws === undefined || ws.readyState !== OPEN) return undefined;
    return (frame) => ws.send(frame);
  }

  #opened(ws: WebSocket, hello: Hello): void {
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    this.#hello = hello;
    this.#attempt = 0;
    this.#credentials.attach(hello.expiresAt);
    this.#liveness.watch(hello, this.#options.deadlineSlack);
    // A hub that takes B frames gets what is sent in one turn as one (the rejoins and the queue below too).
    if (hello.batch !== undefined) coalesce(ws, hello.batch);
    // Rooms first: what the application queued while offline may be meant for them.
    this.#rooms?.opened((frame) => ws.send(frame));
    this.#requests?.attach(ws, this.#json);
    for (const payload of this.#outbox.take()) {
      ws.send(this.#json ? payload.framed2 : payload.framed);
    }
    this.#setState("open");
    this.#events.emit("open", hello);
    const every = this.#options.pingInterval ?? hello.pingInterval;
    if (every !== false && ws === this.#ws) {
      this.#liveness.startPinging(every, (frame) => {
        if (ws === this.#ws && ws.readyState === OPEN) ws.send(frame);
      });
    }
  }

  /**
   * Gives up on the current socket without waiting for it to close (a dead or
   * half-open connection may take minutes to), then reconnects.
   */
  #abandon(code: number, reason: string): void {
    if (!this.#ws) return;
    this.#drop(4000, reason);
    // As in #ended: its socket's close will not be heard, and what waited on it is sent again.
    this.#rooms?.lost();
    this.#lost({ code, reason });
  }

  /** Stops using the current socket, if any: its timers stopped, itself closed with `code`. */
  #drop(code: number, reason: string): void {
    const ws = this.#ws;
    this.#ws = undefined;
    this.#stopTimers();
    if (ws) closeQuietly(ws, code, reason);
  }

  #protocolError(error: ProtocolError): void {
    // Browsers only let a client send 1000 or 3000-4999, so 1002 cannot go on
    // the wire: 4002 tells the server the same. Locally the close is a 1002.
    this.#drop(CLIENT_PROTOCOL_ERROR, "protocol error");
    this.#events.emit("error", error);
    this.#finish({ code: 1002, reason: error.message, reconnecting: false });
  }

  /**
   * The current connection ended or could not be opened: retry, unless told
   * not to. When the hub said when to come back (`retryAfter`, a hub
   * admitting connections at its pace), the next attempt waits that long
   * plus up to a fifth more (jitter), instead of the backoff; the backoff's
   * attempt count is left as it was.
   */
  #lost(info: { code: number; reason: string }, retryAfter?: number): void {
    const backoff = this.#options.backoff;
    if (backoff === false) return this.#finish({ ...info, reconnecting: false });
    this.#requests?.detach(info.code, info.reason);
    const delay = retryAfter === undefined
      ? backoffDelay(this.#attempt++, backoff, this.#options.random)
      : pacedDelay(retryAfter, this.#options.random);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#openSocket();
    }, delay);
    this.#setState("reconnecting");
    const paced = retryAfter === undefined ? {} : { retryAfter };
    this.#events.emit("close", { ...info, ...paced, reconnecting: true, delay });
  }

  #finish(info: CloseInfo): void {
    this.#requests?.detach(info.code, info.reason);
    this.#stopTimers();
    this.#outbox.clear();
    this.#rooms?.closed(info.reason || `closed with ${info.code}`);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#setState("closed");
    this.#events.emit("close", info);
  }

  #setState(state: ClientState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#events.emit("state", state);
  }

  #stopTimers(): void {
    this.#credentials.detach();
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    this.#retryTimer = this.#connectTimer = undefined;
    this.#liveness.stop();
  }

  #allSocketsClosed(): Promise<void> {
    if (this.#sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, CLOSE_WAIT);
      this.#socketsGone.push(done);
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

function closeQuietly(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closing, or a reason too long: the socket is being dropped anyway.
  }
}
