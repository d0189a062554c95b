/**
 * The application's view of a connection: the {@linkcode Client} interface,
 * nothing more. It holds the hub's record in a private field and acts only
 * by pushing events (a message to send, a close, a request), so that every
 * change goes through the loop in order.
 *
 * @module
 */

import {
  assertApplicationCloseCode,
  CloseCode,
  ConnectionClosedError,
  encodePayload,
} from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import { type Push, requestClose } from "./events.ts";
import { checkRequest } from "./requests.ts";
import type { Client, RequestOptions } from "./types.ts";

/** What every view of one hub shares. */
export interface ViewContext {
  /** Queues an event for the hub's loop. */
  push: Push;
  /** The hub's `requestTimeout`, the default of `client.request()`. */
  requestTimeout: number;
}

/** The {@linkcode Client} of one {@linkcode Connection}. */
export class ClientView implements Client<unknown> {
  readonly #connection: Connection;
  readonly #context: ViewContext;

  constructor(connection: Connection, context: ViewContext) {
    this.#connection = connection;
    this.#context = context;
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
    return this.#connection.rooms;
  }

  get expiresAt(): number | undefined {
    return this.#connection.credential?.expiresAt;
  }

  send(data: unknown): boolean {
    const connection = this.#connection;
    if (connection.closing) return false;
    this.#context.push({ type: "send", connection, payload: encodePayload(data) });
    return true;
  }

  request<R>(data: unknown, options?: RequestOptions): Promise<R> {
    const connection = this.#connection;
    const checked = checkRequest(connection, data, options, this.#context.requestTimeout);
    if (checked instanceof Error) return Promise.reject(checked);
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const event = { type: "request" as const, connection, ...checked, resolve, reject };
    if (!this.#context.push(event)) {
      reject(new ConnectionClosedError("the hub has stopped"));
    }
    return promise as Promise<R>;
  }

  close(code: number = CloseCode.Normal, reason = ""): void {
    assertApplicationCloseCode(code);
    requestClose(this.#context.push, this.#connection, code, reason, true);
  }

  /** The record behind a view of this module, or `undefined`. */
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
