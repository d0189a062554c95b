/**
 * The full client: the {@linkcode CoreClient} with rooms (join, leave,
 * rejoin after a reconnect, presence queries, history and recovery) and
 * requests (both ways) installed.
 *
 * @module
 */

import { assertKnownOptions } from "../common/unknown_options.ts";
import { readRoomAnswer } from "../protocol/mod.ts";
import { CoreClient } from "./core_client.ts";
import { ClientClosedError, ProtocolError } from "./errors.ts";
import { type ConnectOptions, type RequestHandler, resolveRequestOptions } from "./options.ts";
import type { Core, Parts } from "./parts.ts";
import { ClientRequests, type RequestOptions } from "./requests.ts";
import { ClientRooms, type JoinOptions, type JoinResult } from "./rooms.ts";

/**
 * A client of a wshub hub, with rooms and requests. Create it with
 * {@linkcode connect}; it connects at once and keeps reconnecting until
 * closed. Everything about the connection (state, events, `send`, `close`)
 * is its {@linkcode CoreClient}'s.
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
 * await client.join("lobby");
 * for await (const message of client) {
 *   console.log(message.from, message.text);
 *   if (message.text === "bye") break;
 * }
 * await client.close();
 * ```
 */
export class HubClient<T, S = T> extends CoreClient<T, S> {
  readonly #core: Core<T>;
  readonly #rooms: ClientRooms;
  readonly #requests: ClientRequests<T>;

  /**
   * Use {@linkcode connect} instead; it has the same parameters.
   *
   * @param url The hub's WebSocket URL.
   * @param options See {@linkcode ConnectOptions}.
   * @throws {TypeError} on a URL that is not ws:, wss:, http: or https:, or an invalid token.
   * @throws {RangeError} on an invalid numeric option.
   */
  constructor(url: string | URL, options?: ConnectOptions<T>) {
    let parts!: Parts & { core: Core<T>; rooms: ClientRooms; requests: ClientRequests<T> };
    super(url, options, (core) =>
      parts = {
        core,
        rooms: new ClientRooms(core.error, core.recovery),
        readRoomAnswer,
        requests: new ClientRequests<T>({
          ...resolveRequestOptions(options ?? {}),
          decode: core.options.decode,
          report: core.error,
        }),
      });
    this.#core = parts.core;
    this.#rooms = parts.rooms;
    this.#requests = parts.requests;
  }

  /**
   * The rooms the server says this client is in now: the ones it joined and
   * the ones the server put it in. Empty while disconnected (it rejoins the
   * ones it joined itself on the next connection).
   */
  get rooms(): ReadonlySet<string> {
    return this.#rooms.rooms;
  }

  /**
   * Joins a room: resolves once the server confirmed, rejects with a
   * {@linkcode JoinError} when it refused (its `authorizeJoin`, the room name,
   * a limit), or with a {@linkcode ClientClosedError} when the client is
   * closed first. Asked while not connected, the join is sent on the next
   * connection. After every reconnect the client rejoins its rooms by
   * itself, before it flushes its offline queue; a rejoin that is now refused
   * is reported as an `error` event. Messages published to the room arrive
   * as `message` events whose meta names the room. A join of a room whose
   * join (or rejoin) is already on its way shares that one's answer. In a
   * room with history the result carries the room's position, and after a
   * rejoin whether everything missed was recovered (also told as a
   * `recovery` event).
   *
   * With `history: n`, a room with history first sends its last `n`
   * publications (at most the hub's `maxRecover`), then the live ones: no
   * gap, no duplicate — what a late joiner needs to show recent lines.
   *
   * @throws {RangeError} If `room` is not a valid room name (1–128 ASCII
   * letters, digits and `_-.:@/#+=~!`), or `history` is not a positive integer.
   *
   * @example Show the last 50 lines, then the live ones
   * ```ts
   * import { connect } from "@wshub/hub/client";
   *
   * const client = connect<{ text: string }>("ws://127.0.0.1:8000/ws");
   * client.on("message", (line, meta) => {
   *   if (meta.room === "chat:general") console.log(line.text);
   * });
   * await client.join("chat:general", { history: 50 });
   * await client.close();
   * ```
   */
  join(room: string, options?: JoinOptions): Promise<JoinResult> {
    if (options !== undefined) assertKnownOptions("join option", options, ["history", "presence"]);
    if (this.state === "closed") {
      return Promise.reject(
        new ClientClosedError("close() was called or the server closed it", `join ${room}`),
      );
    }
    return this.#rooms.join(room, this.#core.sender(), options);
  }

  /**
   * Who is in a room now: one entry per identified user with its number of
   * connections in the room, across every hub process when the hub has a
   * backplane. A member may ask; another client may if the hub's
   * `authorizeJoin` would let it join (else it rejects with a
   * {@linkcode JoinError}, code `forbidden`). Asked while open only: it
   * rejects with a `ConnectionClosedError` while the client is not
   * connected, or when the connection is lost before the answer.
   *
   * @example
   * ```ts
   * import { connect } from "@wshub/hub/client";
   *
   * const client = connect("ws://127.0.0.1:8000/ws");
   * const online = await client.presence("lobby");
   * console.log(online.map(({ user }) => user));
   * await client.close();
   * ```
   */
  async presence(room: string): Promise<{ user: string; connections: number }[]> {
    const answer = await this.#rooms.presence(room, false, this.#v2Sender("client.presence()"));
    return answer.presence ?? [];
  }

  /**
   * How many identified users, and how many of their connections, are in a
   * room — without the list (cheap on big rooms). Asked like
   * {@linkcode HubClient.presence}.
   *
   * @example
   * ```ts
   * import { connect } from "@wshub/hub/client";
   *
   * const client = connect("ws://127.0.0.1:8000/ws");
   * const { users } = await client.presenceCounts("lobby");
   * console.log(`${users} online`);
   * await client.close();
   * ```
   */
  async presenceCounts(room: string): Promise<{ users: number; connections: number }> {
    const answer = await this.#rooms.presence(
      room,
      true,
      this.#v2Sender("client.presenceCounts()"),
    );
    return { users: answer.users ?? 0, connections: answer.connections ?? 0 };
  }

  /** The sender of the open connection, for what only a `wshub.v2` hub answers. */
  #v2Sender(what: string): ((frame: string) => void) | undefined {
    const send = this.#core.sender();
    if (send !== undefined && !this.#core.json()) {
      throw new ProtocolError(`${what} needs a hub that speaks wshub.v2; this one speaks wshub.v1`);
    }
    return send;
  }

  /**
   * Leaves a room (and stops rejoining it): resolves once the server
   * confirmed, or at once while not connected.
   *
   * @throws {RangeError} If `room` is not a valid room name.
   */
  leave(room: string): Promise<void> {
    return this.#rooms.leave(room, this.state === "closed" ? undefined : this.#core.sender());
  }

  /**
   * Sends a request to the server and waits for its answer: the reply of the
   * hub's `onRequest`, decoded with the `decode` option. Encoded like
   * {@linkcode HubClient.send}, text only (no bytes), and in order with what
   * `send` sent before it.
   *
   * Never throws; the promise rejects with a `RequestError` when the server
   * answered with a failure (`code`, and the `message` its handler chose to
   * expose) or `maxRequestsInFlight` requests are pending already (code
   * `too_many_requests`, nothing sent); a `RequestTimeoutError` after
   * `timeout`; a `ConnectionClosedError` when the client is not open (a
   * request is never queued while offline: it is at most once, and a caller
   * could not know when it ran) or when the connection drops before the
   * answer (it is not sent again after a reconnect); a `DecodeError` when
   * `decode` refuses the reply.
   *
   * @typeParam R What the reply decodes to; default `T`.
   *
   * @example Ask the server, with a timeout
   * ```ts
   * import { connect, RequestError } from "@wshub/hub/client";
   *
   * const client = connect("ws://127.0.0.1:8000/ws", { reconnect: false });
   * try {
   *   const balance = await client.request<{ balance: number }>("balance", { timeout: 2_000 });
   *   console.log(balance.balance);
   * } catch (error) {
   *   if (error instanceof RequestError) console.warn(error.code, error.message);
   * }
   * await client.close();
   * ```
   */
  request<R = T>(data: S, options?: RequestOptions): Promise<R> {
    return this.#requests.request(data, options, this.state) as Promise<R>;
  }

  /**
   * Sets the handler of the server's requests, replacing the `onRequest`
   * option; `undefined` removes it (requests are then answered
   * `no_handler`). See {@linkcode RequestHandler}.
   *
   * @example Answer the server's requests
   * ```ts
   * import { connect } from "@wshub/hub/client";
   *
   * const client = connect<{ op: string }>("ws://127.0.0.1:8000/ws");
   * client.onRequest((request) => request.op === "time" ? Date.now() : null);
   * await client.close();
   * ```
   */
  onRequest(handler: RequestHandler<T> | undefined): void {
    this.#requests.handler = handler;
  }
}
