/**
 * Dispatch: calling the application's `onMessage`, in order per client.
 *
 * A handler that returns a promise holds back that client's next message
 * until it settles; its messages wait in the client's inbox meanwhile.
 * A join waiting for an async `authorizeJoin` holds them back the same way
 * (`hold`, `release`), so that a message sent after a join request is
 * handled once the join is decided. Other clients are not held back. A handler that throws or rejects is
 * reported and changes nothing else.
 *
 * Inboxes are bounded per client (messages and bytes: past either, the
 * client is closed with 1008) and for the whole hub (bytes: past it, the
 * client whose message does not fit is closed with 1013, try again later).
 * A client that leaves takes its inbox with it: `onMessage` is never called
 * for a client after its `onDisconnect`.
 *
 * @module
 */

import { CloseCode } from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import { callbackError, type Report } from "./errors.ts";
import { type Push, requestClose } from "./events.ts";

/** The application's message handler, bound to the hub. */
export type MessageHandler = (message: unknown, connection: Connection) => void | Promise<void>;

/** The bounds of the inboxes. */
export interface InboxLimits {
  /** Messages that may wait per client. */
  inboxLimit: number;
  /** Bytes that may wait per client. */
  maxInboxBytes: number;
  /** Bytes that may wait in all inboxes together. */
  maxTotalInboxBytes: number;
}

/** The messages waiting behind one client's running handler, and their sizes. */
interface Inbox {
  messages: unknown[];
  sizes: number[];
  bytes: number;
  /** Whether an async handler is running for this client. */
  running: boolean;
  /** Joins being decided that hold this client's messages back. */
  holds: number;
}

/** The per-client inboxes of messages waiting for an async handler. */
export class Dispatcher {
  readonly #onMessage: MessageHandler | undefined;
  readonly #limits: InboxLimits;
  readonly #push: Push;
  readonly #report: Report;
  /** Connections held back (a handler running, a join being decided), and what waits. */
  readonly #inboxes = new Map<Connection, Inbox>();
  /** Bytes waiting in all inboxes. */
  #bytes = 0;

  /**
   * `push` queues the `handled` event when an async handler settles, and
   * the close of a client whose inbox overflowed; `report` hears failing
   * handlers.
   */
  constructor(
    onMessage: MessageHandler | undefined,
    limits: InboxLimits,
    push: Push,
    report: Report,
  ) {
    this.#onMessage = onMessage;
    this.#limits = limits;
    this.#push = push;
    this.#report = report;
  }

  /** Messages and bytes waiting in all inboxes, and how many clients are held back. */
  get waiting(): { clients: number; bytes: number } {
    return { clients: this.#inboxes.size, bytes: this.#bytes };
  }

  /** Hands a message to the handler now, or queues it behind the one running. */
  dispatch(connection: Connection, message: unknown, bytes: number): void {
    const inbox = this.#inboxes.get(connection);
    if (inbox === undefined) {
      if (this.#call(connection, message)) this.#inboxOf(connection).running = true;
      return;
    }
    const { inboxLimit, maxInboxBytes, maxTotalInboxBytes } = this.#limits;
    if (inbox.messages.length >= inboxLimit || inbox.bytes + bytes > maxInboxBytes) {
      requestClose(
        this.#push,
        connection,
        CloseCode.PolicyViolation,
        "too many messages waiting for the handler",
        true,
      );
      return;
    }
    if (this.#bytes + bytes > maxTotalInboxBytes) {
      requestClose(
        this.#push,
        connection,
        CloseCode.SlowConsumer,
        "the server is busy: too many messages wait for handlers; try again later",
        true,
      );
      return;
    }
    inbox.messages.push(message);
    inbox.sizes.push(bytes);
    inbox.bytes += bytes;
    this.#bytes += bytes;
  }

  /** The connection's async handler settled: hand it the next waiting messages. */
  resume(connection: Connection): void {
    const inbox = this.#inboxes.get(connection);
    if (inbox === undefined) return;
    inbox.running = false;
    this.#drain(connection, inbox);
  }

  /** Holds the connection's next messages back until `release` (a join being decided). */
  hold(connection: Connection): void {
    this.#inboxOf(connection).holds++;
  }

  /** Ends one `hold`: the messages waiting go to the handler, unless something still holds them. */
  release(connection: Connection): void {
    const inbox = this.#inboxes.get(connection);
    if (inbox === undefined || inbox.holds === 0) return;
    inbox.holds--;
    this.#drain(connection, inbox);
  }

  #inboxOf(connection: Connection): Inbox {
    let inbox = this.#inboxes.get(connection);
    if (inbox === undefined) {
      inbox = { messages: [], sizes: [], bytes: 0, running: false, holds: 0 };
      this.#inboxes.set(connection, inbox);
    }
    return inbox;
  }

  #drain(connection: Connection, inbox: Inbox): void {
    while (!inbox.running && inbox.holds === 0 && inbox.messages.length > 0) {
      const message = inbox.messages.shift();
      const bytes = inbox.sizes.shift()!;
      inbox.bytes -= bytes;
      this.#bytes -= bytes;
      if (this.#call(connection, message)) inbox.running = true;
    }
    if (!inbox.running && inbox.holds === 0) this.#inboxes.delete(connection);
  }

  /**
   * Drops a departed client's inbox: what waited is never handed to
   * `onMessage`, and a handler still running resumes nothing.
   */
  forget(connection: Connection): void {
    const inbox = this.#inboxes.get(connection);
    if (inbox === undefined) return;
    this.#bytes -= inbox.bytes;
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
      this.#report(callbackError("onMessage", error), connection);
      return false;
    }
    if (result === undefined || typeof (result as Promise<void>).then !== "function") return false;
    const handled = () => void this.#push({ type: "handled", connection });
    (result as Promise<void>).then(handled, (error) => {
      this.#report(callbackError("onMessage", error), connection);
      handled();
    });
    return true;
  }
}
