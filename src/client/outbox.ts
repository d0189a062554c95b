/**
 * The client's offline queue: what `send` accepted while no connection was
 * open, bounded, sent in order after the next hello.
 *
 * @module
 */

import { SendQueueFullError } from "./errors.ts";

/** Frames waiting for a connection, at most `limit` of them. */
export class Outbox {
  readonly #limit: number;
  #frames: (string | Uint8Array)[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** How many frames are waiting. */
  get size(): number {
    return this.#frames.length;
  }

  /**
   * Queues a frame.
   *
   * @throws {SendQueueFullError} When `limit` frames are already waiting.
   */
  push(frame: string | Uint8Array): void {
    if (this.#frames.length >= this.#limit) throw new SendQueueFullError(this.#limit);
    this.#frames.push(frame);
  }

  /** Takes every waiting frame, in order, leaving the queue empty. */
  take(): (string | Uint8Array)[] {
    return this.#frames.splice(0);
  }

  /** Drops every waiting frame. */
  clear(): void {
    this.#frames.length = 0;
  }
}
