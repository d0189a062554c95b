/**
 * The client's offline queue: what `send` accepted while no connection was
 * open, bounded, sent in order after the next hello.
 *
 * @module
 */

import type { OutgoingMessage } from "./message.ts";
import { SendQueueFullError } from "./errors.ts";

/** Messages waiting for a connection, at most `limit` of them. */
export class Outbox {
  readonly #limit: number;
  #frames: OutgoingMessage[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** How many frames are waiting. */
  get size(): number {
    return this.#frames.length;
  }

  /**
   * Queues a message (encoded once; its form is chosen when it goes out,
   * for the version the next connection speaks).
   *
   * @throws {SendQueueFullError} When `limit` messages are already waiting.
   */
  push(frame: OutgoingMessage): void {
    if (this.#frames.length >= this.#limit) throw new SendQueueFullError(this.#limit);
    this.#frames.push(frame);
  }

  /** Takes every waiting message, in order, leaving the queue empty. */
  take(): OutgoingMessage[] {
    return this.#frames.splice(0);
  }

  /** Drops every waiting frame. */
  clear(): void {
    this.#frames.length = 0;
  }
}
