/**
 * The hub's unified event queue: one FIFO that every state change goes
 * through, consumed by exactly one scheduler loop as an async iterator.
 *
 * @module
 */

/**
 * Thrown by {@linkcode EventQueue.prototype.push} once the queue is closed.
 */
export class QueueClosedError extends Error {
  /** Creates the error. */
  constructor() {
    super("Cannot push to the event queue: it is closed; the hub has stopped");
    this.name = "QueueClosedError";
  }
}

/**
 * An unbounded first-in, first-out queue with a single async consumer.
 *
 * Producers call {@linkcode EventQueue.prototype.push} synchronously and
 * never wait; the consumer iterates with `for await`. After
 * {@linkcode EventQueue.prototype.close}, iteration yields what is left and
 * then ends. It is unbounded on purpose: what producers push is small (a
 * reference to a shared payload, a client), every push is applied in order,
 * and the bounds that matter — how much is waiting for each client — are
 * enforced by each client's writer.
 *
 * @typeParam T The type of the events.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  #closed = false;
  #waiter: ((result: IteratorResult<T>) => void) | undefined;

  /** How many events are waiting. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Whether {@linkcode EventQueue.prototype.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Appends an event. If the consumer is waiting, it is woken with it.
   *
   * @throws {QueueClosedError} If the queue is closed.
   */
  push(item: T): void {
    if (this.#closed) throw new QueueClosedError();
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter({ value: item, done: false });
      return;
    }
    this.#items.push(item);
  }

  /**
   * Closes the queue: later pushes throw, and iteration ends once the events
   * already queued have been taken. Closing twice does nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const waiter = this.#waiter;
    if (waiter !== undefined && this.size === 0) {
      this.#waiter = undefined;
      waiter({ value: undefined, done: true });
    }
  }

  /** Takes the next event, waiting for one if the queue is empty. */
  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      return Promise.resolve({ value: this.#take(), done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter !== undefined) {
      return Promise.reject(
        new TypeError("EventQueue has a single consumer: next() is already pending"),
      );
    }
    return new Promise((resolve) => this.#waiter = resolve);
  }

  /** Ends iteration early: closes the queue and drops what is left. */
  return(): Promise<IteratorResult<T>> {
    this.close();
    this.#items = [];
    this.#head = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  /** The queue is its own iterator. */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  #take(): T {
    const item = this.#items[this.#head] as T;
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}
