/**
 * Dispatch: calling the application's `onMessage`, in order per client.
 *
 * A handler that returns a promise holds back that client's next message
 * until it settles; its messages wait in the client's inbox meanwhile.
 * Other clients are not held back. A handler that throws or rejects is
 * reported and changes nothing else.
 *
 * @module
 */

import { CloseCode } from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";

/** What dispatch needs from the scheduler. */
export interface DispatchHost {
  /** An async handler settled: queue the `handled` event for this connection. */
  handled(connection: Connection): void;
  /** Close a connection (its inbox overflowed). */
  closeConnection(connection: Connection, code: number, reason: string, byHub: boolean): void;
  /** Report a failing handler. */
  reportError(error: Error, connection: Connection | undefined): void;
}

/** The application's message handler, bound to the hub. */
export type MessageHandler = (message: unknown, connection: Connection) => void | Promise<void>;

/** The per-client inboxes of messages waiting for an async handler. */
export class Dispatcher {
  readonly #onMessage: MessageHandler | undefined;
  readonly #inboxLimit: number;
  readonly #host: DispatchHost;
  /** Connections whose async handler is running, and the messages waiting behind it. */
  readonly #inboxes = new Map<Connection, unknown[]>();

  constructor(onMessage: MessageHandler | undefined, inboxLimit: number, host: DispatchHost) {
    this.#onMessage = onMessage;
    this.#inboxLimit = inboxLimit;
    this.#host = host;
  }

  /** Hands a message to the handler now, or queues it behind the one running. */
  dispatch(connection: Connection, message: unknown): void {
    const inbox = this.#inboxes.get(connection);
    if (inbox === undefined) {
      if (this.#call(connection, message)) this.#inboxes.set(connection, []);
      return;
    }
    if (inbox.length >= this.#inboxLimit) {
      this.#host.closeConnection(
        connection,
        CloseCode.PolicyViolation,
        "too many messages waiting for the handler",
        true,
      );
      return;
    }
    inbox.push(message);
  }

  /** The connection's async handler settled: hand it the next waiting messages. */
  resume(connection: Connection): void {
    const inbox = this.#inboxes.get(connection);
    if (inbox === undefined) return;
    while (inbox.length > 0) {
      if (this.#call(connection, inbox.shift())) return;
    }
    this.#inboxes.delete(connection);
  }

  /** Calls `onMessage`; returns `true` if it returned a promise that is still running. */
  #call(connection: Connection, message: unknown): boolean {
    const onMessage = this.#onMessage;
    if (onMessage === undefined) return false;
    let result: void | Promise<void>;
    try {
      result = onMessage(message, connection);
    } catch (error) {
      this.#host.reportError(callbackError("onMessage", error), connection);
      return false;
    }
    if (result === undefined || typeof (result as Promise<void>).then !== "function") return false;
    const handled = () => this.#host.handled(connection);
    (result as Promise<void>).then(handled, (error) => {
      this.#host.reportError(callbackError("onMessage", error), connection);
      handled();
    });
    return true;
  }
}

/** An error that says which application callback failed, with the failure as its cause. */
export function callbackError(name: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`The ${name} callback failed: ${message}`, { cause: error });
}
