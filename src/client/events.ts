/**
 * A tiny typed listener registry, and an async iterator built on it.
 *
 * @module
 */

/**
 * Where an incoming message came from: the room it was published to (and
 * its position in the room's history, when the room keeps one), or nothing
 * for a message sent to this client, its user or everyone.
 *
 * @example Telling room messages apart
 * ```ts
 * import { connect, type MessageMeta } from "@wshub/hub/client";
 *
 * const client = connect<{ text: string }>("ws://127.0.0.1:8000/ws");
 * client.on("message", (message, meta: MessageMeta) => {
 *   console.log(meta.room === undefined ? "direct" : `in ${meta.room}`, message.text);
 * });
 * await client.close();
 * ```
 */
export interface MessageMeta {
  /** The room the message was published to; `undefined` for other messages. */
  readonly room?: string;
  /** Its position in the room's history; `undefined` when the room keeps none. */
  readonly offset?: number;
}

/** The meta of a message that came through no room (and of every other event). */
export const NO_META: MessageMeta = Object.freeze({});

/**
 * A listener for one event whose payload is `V`. `message` and `binary`
 * listeners also get the message's {@linkcode MessageMeta} (the room it came
 * through); other events pass an empty one.
 *
 * @example A listener kept to remove it later
 * ```ts
 * import { connect, type Listener } from "@wshub/hub/client";
 *
 * const client = connect<{ text: string }>("ws://127.0.0.1:8000/ws");
 * const log: Listener<{ text: string }> = (message) => console.log(message.text);
 * client.on("message", log);
 * client.off("message", log);
 * await client.close();
 * ```
 */
export type Listener<V> = (value: V, meta: MessageMeta) => void;

/**
 * Typed listeners keyed by event name. A listener that throws does not stop
 * the others nor the caller: its error goes to `reportError` (the page's or
 * the runtime's uncaught-error handling), never into the socket handler.
 */
export class Emitter<M> {
  #listeners = new Map<keyof M, Set<Listener<never>>>();

  /** Adds `listener` for `type`; returns a function that removes it. */
  on<K extends keyof M>(type: K, listener: Listener<M[K]>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, set = new Set());
    set.add(listener as Listener<never>);
    return () => this.off(type, listener);
  }

  /** Removes `listener` from `type`. */
  off<K extends keyof M>(type: K, listener: Listener<M[K]>): void {
    this.#listeners.get(type)?.delete(listener as Listener<never>);
  }

  /** Calls every listener of `type` with `value`, in the order they were added. */
  emit<K extends keyof M>(type: K, value: M[K], meta: MessageMeta = NO_META): void {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<M[K]>)(value, meta);
      } catch (error) {
        report(error);
      }
    }
  }
}

function report(error: unknown): void {
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else console.error(error);
}

/**
 * An async iterator over the values `subscribe` delivers, ending when `end`
 * fires. Values that arrive faster than the loop consumes them are buffered
 * (without bound). Breaking out of the loop unsubscribes.
 */
export function iterate<V>(
  subscribe: (push: (value: V) => void) => () => void,
  onEnd: (finish: () => void) => () => void,
  isEnded: () => boolean,
): AsyncIterableIterator<V> {
  const buffer: V[] = [];
  let wake: (() => void) | undefined;
  let done = isEnded();
  const stop = () => {
    done = true;
    unsubscribe();
    unsubscribeEnd();
    wake?.();
  };
  const unsubscribe = done ? () => {} : subscribe((value) => {
    buffer.push(value);
    wake?.();
  });
  const unsubscribeEnd = done ? () => {} : onEnd(stop);
  const iterator: AsyncIterableIterator<V> = {
    async next(): Promise<IteratorResult<V>> {
      while (buffer.length === 0 && !done) {
        await new Promise<void>((resolve) => wake = resolve);
        wake = undefined;
      }
      if (buffer.length > 0) return { value: buffer.shift() as V, done: false };
      return { value: undefined, done: true };
    },
    return(): Promise<IteratorResult<V>> {
      stop();
      buffer.length = 0;
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
