/**
 * The reconnecting `wshub.v1` client: one {@linkcode HubClient} owns at most
 * one live WebSocket at a time and replaces it when it dies.
 *
 * @module
 */

import { type Backoff, backoffDelay, type ReconnectOptions, resolveBackoff } from "./backoff.ts";
import { shouldReconnect } from "./close_codes.ts";
import { ClientClosedError, DecodeError, ProtocolError, SendQueueFullError } from "./errors.ts";
import { Emitter, iterate, type Listener } from "./events.ts";
import {
  encodeControl,
  encodeMessage,
  type Frame,
  type Hello,
  isProtocolToken,
  parseFrame,
  PROTOCOL,
  TOKEN_PREFIX,
} from "./frames.ts";

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
 * Options of {@linkcode connect}.
 *
 * @example A browser client with a token and JSON messages
 * ```ts
 * import { connect } from "@wshub/hub/client";
 *
 * type Chat = { text: string };
 * const client = connect<Chat>("ws://127.0.0.1:8000/ws", {
 *   token: "eyJhbGciOi",
 *   queueLimit: 50,
 *   reconnect: { initialDelay: 250, maxDelay: 5_000 },
 * });
 * await client.close();
 * ```
 */
export interface ConnectOptions<T> {
  /**
   * A credential offered as the second subprotocol `wshub.token.<token>`; the
   * server reads it with `protocolToken(req)` in its `identify` hook. Only
   * RFC 7230 token characters (base64url and JWTs qualify).
   */
  token?: string;
  /** Backoff between reconnect attempts, or `false` to never reconnect. */
  reconnect?: ReconnectOptions | false;
  /**
   * How many messages `send` may queue while the client is not open; they are
   * sent in order once a connection receives its hello. When the queue is
   * full, `send` throws {@linkcode SendQueueFullError}. Default 100.
   */
  queueLimit?: number;
  /**
   * Turns the text of each incoming text message into a `T`. Default
   * `JSON.parse`. If it throws, the message is skipped and an `error` event
   * carries a {@linkcode DecodeError}. For a `Hub<string>` pass `(text) => text`.
   */
  decode?: (text: string) => T;
  /**
   * How often the client pings the server to measure {@linkcode HubClient.rtt},
   * in milliseconds, or `false` for never. Default: the server's
   * `pingInterval` from the hello. The first ping goes out right after the hello.
   */
  pingInterval?: number | false;
  /**
   * How long opening a connection may take, from creating the socket to
   * receiving the hello, before the attempt is dropped and retried, in
   * milliseconds. Default 10 000.
   */
  connectTimeout?: number;
  /**
   * Extra time on top of the server's `pingInterval + pongTimeout` before a
   * silent server is taken as dead, in milliseconds. Default: a quarter of
   * `pingInterval + pongTimeout`, at most 1 000.
   */
  deadlineSlack?: number;
  /** Aborting this signal closes the client, like `close()`. */
  signal?: AbortSignal;
  /** Source of randomness for the backoff jitter, values in `[0, 1)`. Default `Math.random` (tests pass their own). */
  random?: () => number;
}

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
}

/**
 * The events of a {@linkcode HubClient} and their payloads.
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
  /** An incoming text message, decoded with the `decode` option. */
  message: T;
  /** An incoming binary message (its bytes, without the tag). */
  binary: Uint8Array;
  /** A connection received its hello; queued sends were flushed just before. */
  open: Hello;
  /** The state changed; the payload is the new state. */
  state: ClientState;
  /** A connection ended; see {@linkcode CloseInfo}. */
  close: CloseInfo;
  /** A {@linkcode DecodeError} or a {@linkcode ProtocolError}. */
  error: Error;
}

const OPEN = 1; // WebSocket.OPEN, spelled out so the module needs no WebSocket at import time.
const DEFAULT_QUEUE_LIMIT = 100;
const DEFAULT_CONNECT_TIMEOUT = 10_000;
/** How long `close()` waits for sockets that are still closing. */
const CLOSE_WAIT = 2_000;

interface Resolved<T> {
  protocols: string[];
  backoff: Backoff | false;
  queueLimit: number;
  decode: (text: string) => T;
  pingInterval: number | false | undefined;
  connectTimeout: number;
  deadlineSlack: number | undefined;
  random: () => number;
}

/**
 * A client of a wshub hub. Create it with {@linkcode connect}; it connects at
 * once and keeps reconnecting until closed.
 *
 * Receive messages with listeners (`client.on("message", fn)`) or by
 * iterating the client (`for await (const message of client)`); both see every
 * text message that arrives while they are attached.
 *
 * @typeParam T What the server sends: the `T` of its `Hub<T, In>`.
 * @typeParam S What this client sends (default `T`): what the server's
 * `decode` turns into its `In`.
 *
 * @example Chat in both directions
 * ```ts
 * import { connect } from "@wshub/hub/client";
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
export class HubClient<T, S = T> {
  /** The hub's WebSocket URL. */
  readonly url: string;

  #options: Resolved<T>;
  #events = new Emitter<ClientEventMap<T>>();
  #state: ClientState = "connecting";
  /** The socket the client currently uses (opening or open). */
  #ws: WebSocket | undefined;
  /** Every socket that has not fired `close` yet, the current one and abandoned ones. */
  #sockets = new Set<WebSocket>();
  #socketsGone: (() => void)[] = [];
  #queue: (string | Uint8Array)[] = [];
  #attempt = 0;
  #hello: Hello | undefined;
  #rtt: number | undefined;
  #lastHeard = 0;
  #deadline = 0;
  #pingSeq = 0;
  #pingToken = "";
  #pingAt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #signal: AbortSignal | undefined;
  #onAbort = () => void this.close(1000, "aborted");

  /**
   * Use {@linkcode connect} instead; it has the same parameters.
   *
   * @throws {TypeError} on a URL that is not ws:, wss:, http: or https:, or an invalid token.
   * @throws {RangeError} on an invalid numeric option.
   */
  constructor(url: string | URL, options: ConnectOptions<T> = {}) {
    this.url = resolveUrl(url);
    this.#options = resolveOptions(options);
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
    return this.#rtt;
  }

  /** The hello of the current (or last) connection; `undefined` before the first. */
  get hello(): Hello | undefined {
    return this.#hello;
  }

  /** The user the server identified this client as (from the last hello); `null` if anonymous. */
  get user(): string | null | undefined {
    return this.#hello?.user;
  }

  /** How many messages are waiting in the send queue. */
  get queued(): number {
    return this.#queue.length;
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
    const frame = encodeMessage(data);
    const ws = this.#ws;
    if (this.#state === "open" && ws?.readyState === OPEN) {
      ws.send(frame);
      return;
    }
    if (this.#queue.length >= this.#options.queueLimit) {
      throw new SendQueueFullError(this.#options.queueLimit);
    }
    this.#queue.push(frame);
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
  close(code = 1000, reason = ""): Promise<void> {
    if (code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new RangeError(
        `close code must be 1000 or 3000-4999 (browsers allow no other), got ${code}`,
      );
    }
    if (this.#state !== "closed") {
      const ws = this.#ws;
      this.#ws = undefined;
      this.#stopTimers();
      if (ws) closeQuietly(ws, code, reason);
      this.#finish({ code, reason: reason || "closed by the client", reconnecting: false });
    }
    return this.#allSocketsClosed();
  }

  #openSocket(): void {
    const protocols = this.#options.protocols;
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
      if (ws.protocol !== PROTOCOL) {
        this.#protocolError(
          new ProtocolError(
            `the server did not accept subprotocol ${PROTOCOL} (it chose ${
              JSON.stringify(ws.protocol)
            }): is ${this.url} a wshub hub?`,
          ),
        );
      }
    };
    ws.onmessage = (event: MessageEvent) => {
      if (ws !== this.#ws) return;
      this.#lastHeard = performance.now();
      let frame: Frame;
      try {
        frame = parseFrame(event.data);
      } catch (error) {
        if (error instanceof ProtocolError) return this.#protocolError(error);
        throw error;
      }
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
      this.#ws = undefined;
      this.#stopTimers();
      const code = event.code;
      if (!shouldReconnect(code)) {
        this.#finish({ code, reason: event.reason, reconnecting: false });
      } else {
        this.#lost({
          code,
          reason: event.reason || (code === 1006 ? "connection lost" : ""),
        });
      }
    };
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = undefined;
      this.#abandon(
        1006,
        `no hello within ${this.#options.connectTimeout} ms (connectTimeout)`,
      );
    }, this.#options.connectTimeout);
  }

  #handle(ws: WebSocket, frame: Frame): void {
    if (this.#state !== "open") {
      if (frame.kind !== "hello") {
        return this.#protocolError(new ProtocolError(`expected hello first, got a ${frame.kind}`));
      }
      return this.#opened(ws, frame.hello);
    }
    switch (frame.kind) {
      case "text":
        for (const text of frame.texts) {
          let message: T;
          try {
            message = this.#options.decode(text);
          } catch (error) {
            this.#events.emit("error", new DecodeError(text, error));
            continue;
          }
          this.#events.emit("message", message);
          if (ws !== this.#ws) return; // a listener closed the client
        }
        return;
      case "binary":
        return this.#events.emit("binary", frame.bytes);
      case "ping":
        return ws.send(encodeControl("pong", frame.token));
      case "pong":
        if (frame.token === this.#pingToken) {
          this.#rtt = performance.now() - this.#pingAt;
          this.#pingToken = "";
        }
        return;
      case "hello":
        return this.#protocolError(new ProtocolError("a second hello on one connection"));
    }
  }

  #opened(ws: WebSocket, hello: Hello): void {
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    this.#hello = hello;
    this.#attempt = 0;
    const silence = hello.pingInterval + hello.pongTimeout;
    this.#deadline = silence + (this.#options.deadlineSlack ?? Math.min(1_000, silence / 4));
    this.#armDeadline(this.#deadline);
    for (const frame of this.#queue.splice(0)) ws.send(frame);
    this.#setState("open");
    this.#events.emit("open", hello);
    const every = this.#options.pingInterval ?? hello.pingInterval;
    if (every !== false && ws === this.#ws) {
      this.#ping(ws);
      this.#pingTimer = setInterval(() => this.#ping(ws), every);
    }
  }

  #ping(ws: WebSocket): void {
    if (ws !== this.#ws || ws.readyState !== OPEN) return;
    this.#pingToken = String(++this.#pingSeq % 1e9);
    this.#pingAt = performance.now();
    ws.send(encodeControl("ping", this.#pingToken));
  }

  #armDeadline(delay: number): void {
    this.#deadlineTimer = setTimeout(() => {
      this.#deadlineTimer = undefined;
      const idle = performance.now() - this.#lastHeard;
      if (idle < this.#deadline) return this.#armDeadline(this.#deadline - idle);
      this.#abandon(
        4000,
        `heartbeat timeout: nothing heard from the server for ${Math.round(idle)} ms`,
      );
    }, delay);
  }

  /**
   * Gives up on the current socket without waiting for it to close (a dead or
   * half-open connection may take minutes to), then reconnects.
   */
  #abandon(code: number, reason: string): void {
    const ws = this.#ws;
    if (!ws) return;
    this.#ws = undefined;
    this.#stopTimers();
    closeQuietly(ws, 4000, reason);
    this.#lost({ code, reason });
  }

  #protocolError(error: ProtocolError): void {
    const ws = this.#ws;
    this.#ws = undefined;
    this.#stopTimers();
    // Browsers only let a client send 1000 or 3000-4999, so 1002 cannot go on
    // the wire: 4002 tells the server the same. Locally the close is a 1002.
    if (ws) closeQuietly(ws, 4002, "protocol error");
    this.#events.emit("error", error);
    this.#finish({ code: 1002, reason: error.message, reconnecting: false });
  }

  /** The current connection ended or could not be opened: retry, unless told not to. */
  #lost(info: { code: number; reason: string }): void {
    const backoff = this.#options.backoff;
    if (backoff === false) return this.#finish({ ...info, reconnecting: false });
    const delay = backoffDelay(this.#attempt++, backoff, this.#options.random);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#openSocket();
    }, delay);
    this.#setState("reconnecting");
    this.#events.emit("close", { ...info, reconnecting: true, delay });
  }

  #finish(info: CloseInfo): void {
    this.#stopTimers();
    this.#queue.length = 0;
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
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#deadlineTimer);
    clearInterval(this.#pingTimer);
    this.#retryTimer =
      this.#connectTimer =
      this.#deadlineTimer =
      this.#pingTimer =
        undefined;
    this.#pingToken = "";
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

function resolveUrl(url: string | URL): string {
  let base: string | undefined;
  try {
    base = (globalThis as { location?: { href?: string } }).location?.href;
  } catch {
    base = undefined; // Deno without --location throws on `location`.
  }
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    throw new TypeError(
      `Invalid hub URL ${JSON.stringify(String(url))}: pass an absolute ws:// or wss:// URL.`,
    );
  }
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new TypeError(`Invalid hub URL ${parsed.href}: the scheme must be ws: or wss:.`);
  }
  parsed.hash = "";
  return parsed.href;
}

function resolveOptions<T>(options: ConnectOptions<T>): Resolved<T> {
  const protocols = [PROTOCOL];
  if (options.token !== undefined) {
    if (!isProtocolToken(options.token)) {
      throw new TypeError(
        "The token option may only contain RFC 7230 token characters " +
          "(letters, digits and !#$%&'*+-.^_`|~): encode it as base64url.",
      );
    }
    protocols.push(TOKEN_PREFIX + options.token);
  }
  const queueLimit = options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
  if (!(Number.isInteger(queueLimit) && queueLimit >= 0)) {
    throw new RangeError(`queueLimit must be an integer >= 0, got ${queueLimit}`);
  }
  const connectTimeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
  positive("connectTimeout", connectTimeout);
  if (options.pingInterval !== undefined && options.pingInterval !== false) {
    positive("pingInterval", options.pingInterval);
  }
  if (options.deadlineSlack !== undefined && !(options.deadlineSlack >= 0)) {
    throw new RangeError(`deadlineSlack must be a number >= 0, got ${options.deadlineSlack}`);
  }
  return {
    protocols,
    backoff: options.reconnect === false ? false : resolveBackoff(options.reconnect),
    queueLimit,
    decode: options.decode ?? JSON.parse,
    pingInterval: options.pingInterval,
    connectTimeout,
    deadlineSlack: options.deadlineSlack,
    random: options.random ?? Math.random,
  };
}

function positive(name: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`${name} must be a finite number > 0 ms, got ${value}`);
  }
}
