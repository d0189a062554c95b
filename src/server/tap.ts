/**
 * The tap: what a hub tells an inspector as it happens — connections and
 * disconnections, joins and leaves, refusals, publications to rooms
 * ({@linkcode TapEvent}). It is off unless a listener is attached: every
 * place that reports reads {@linkcode Tap.prototype.on} first and builds
 * nothing when it is `false`, so an unwatched hub pays one field read per
 * report, no allocation.
 *
 * @module
 */

import type { Payload } from "../protocol/mod.ts";

/** One thing the hub did, as the tap reports it (plain data; ids, not records). */
export type TapEvent =
  | {
    type: "connect";
    id: string;
    user: string | undefined;
    framed: boolean;
    address: string | undefined;
  }
  | {
    type: "disconnect";
    id: string;
    user: string | undefined;
    code: number;
    reason: string;
    byHub: boolean;
  }
  | { type: "join"; id: string; user: string | undefined; room: string }
  | { type: "leave"; id: string; user: string | undefined; room: string }
  // An upgrade answered with anything but 101 (the handshake, identify, capacity, shutdown).
  | { type: "refused"; status: number; address: string | undefined }
  // A join a client asked for, refused (`error` is the answer's code: forbidden, too_many_rooms…).
  | { type: "joinRefused"; id: string; user: string | undefined; room: string; error: string }
  // A publication delivered to a room's members here (this process's, or another's).
  | { type: "publish"; room: string; payload: Payload; members: number; offset: number };

/**
 * Where the hub's parts report {@linkcode TapEvent}s; one per hub, with at
 * most one listener (the inspector, which fans out to its pages itself).
 *
 * @example
 * ```ts
 * import { Tap } from "./tap.ts";
 *
 * const tap = new Tap();
 * const stop = tap.listen((event) => console.log(event.type));
 * if (tap.on) tap.emit({ type: "refused", status: 403, address: undefined });
 * stop();
 * console.log(tap.on); // false
 * ```
 */
export class Tap {
  /** Whether a listener is attached: check it before building an event. */
  on = false;
  #listener: ((event: TapEvent) => void) | undefined;

  /**
   * Attaches the listener (replacing any other) and turns the tap on.
   * Returns the function that detaches it and turns the tap off.
   */
  listen(listener: (event: TapEvent) => void): () => void {
    this.#listener = listener;
    this.on = true;
    return () => {
      if (this.#listener !== listener) return;
      this.#listener = undefined;
      this.on = false;
    };
  }

  /** Reports an event to the listener; a listener that throws is ignored. */
  emit(event: TapEvent): void {
    try {
      this.#listener?.(event);
    } catch {
      // An inspector's failure must never reach the hub's loop.
    }
  }

  /** Reports the upgrade's response when it is a refusal; returns it unchanged. */
  upgraded(
    response: Response | Promise<Response>,
    address: string | undefined,
  ): Response | Promise<Response> {
    if (!(response instanceof Promise)) {
      if (response.status !== 101) this.emit({ type: "refused", status: response.status, address });
      return response;
    }
    return response.then((answered) => this.upgraded(answered, address));
  }
}
