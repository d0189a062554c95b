/**
 * The scheduler: the one loop that applies every change to the hub's state.
 *
 * It is an async iterator over the one event queue (`events.ts` lists the
 * events) and one exhaustive `switch`: each case hands its event to the
 * part whose file says what it does — `lifecycle.ts` (register, unregister,
 * stop), `delivery.ts` (payloads to writers), `dispatch.ts` (`onMessage` in
 * order per client), `requests.ts`, `rooms.ts`, `shutdown.ts`. An event type
 * without a case does not compile.
 *
 * Between events it only decides when to let the event loop run: when the
 * queue runs empty (the writers handed payloads in that batch are flushed
 * first), after a long run of events, and when a writer went past its queue
 * limit (see `Delivery.relieve`).
 *
 * @module
 */

import { Payload } from "../protocol/mod.ts";
import { yieldToEventLoop } from "./delivery.ts";
import type { HubEvent } from "./events.ts";
import type { Parts } from "./wiring.ts";

/** How long the loop may apply events without letting the event loop run, in ms. */
const SLICE = 10;
/** How many events it applies between two looks at the clock. */
const SLICE_CHECK = 64;

/** The loop over one hub's event queue. */
export class Scheduler {
  readonly #parts: Parts;
  /** Resolves once the loop has ended and every timer is cleared. */
  readonly stopped: Promise<void>;

  /** Starts the loop over `parts.events`. */
  constructor(parts: Parts) {
    this.#parts = parts;
    this.stopped = this.#run();
  }

  async #run(): Promise<void> {
    const { events, delivery, shutdown, options } = this.#parts;
    let sliceStart = 0;
    let applied = 0;
    for await (const event of events) {
      if (sliceStart === 0) sliceStart = performance.now();
      try {
        this.#apply(event);
        if (delivery.congested) {
          await delivery.relieve();
          sliceStart = performance.now();
        } else if (events.size === 0) {
          if (delivery.pending) delivery.flush();
          sliceStart = 0; // about to wait: the event loop runs
        } else if (++applied % SLICE_CHECK === 0 && performance.now() - sliceStart > SLICE) {
          // A long run of events: let Deno read and write before going on,
          // so that the hub's own backlog never starves every socket.
          if (delivery.pending) delivery.flush();
          await yieldToEventLoop();
          sliceStart = performance.now();
        }
      } catch (error) {
        options.logger.error("wshub: unexpected error in the scheduler", {
          error,
          event: event.type,
        });
      }
    }
    await shutdown.awaitCloseHandshakes();
  }

  #apply(event: HubEvent): void {
    const { registry, delivery, dispatcher, requests, rooms, lifecycle, backplane, counters } =
      this.#parts;
    switch (event.type) {
      case "register":
        return lifecycle.register(event.connection);
      case "unregister":
        return lifecycle.unregister(event.connection, event.code, event.reason, event.byHub);
      case "broadcast":
        event.done(this.#broadcast(event.payload));
        backplane?.publish({
          kind: "broadcast",
          data: event.payload.plain,
          json: event.payload.json,
        });
        return;
      case "user":
        event.done(this.#toUser(event.user, event.payload));
        backplane?.publish({
          kind: "user",
          user: event.user,
          data: event.payload.plain,
          json: event.payload.json,
        });
        return;
      case "send":
        if (registry.has(event.connection)) delivery.deliver(event.connection, event.payload);
        return;
      case "message":
        // A message that arrived before its client left is not handed on after onDisconnect.
        if (event.connection.state !== "open") return;
        counters.messagesIn++;
        return dispatcher.dispatch(event.connection, event.message, event.bytes);
      case "inboundRequest": {
        if (event.connection.state !== "open") return;
        const request = requests.arrived(event.connection, event.id, event.message);
        if (request !== undefined) dispatcher.dispatch(event.connection, request, event.bytes);
        return;
      }
      case "answer":
        if (event.connection.state !== "open") return;
        return requests.answered(event.connection, event.answer);
      case "handled":
        return dispatcher.resume(event.connection);
      case "request":
        return requests.send(
          event.connection,
          event.payload,
          event.timeout,
          event.resolve,
          event.reject,
        );
      case "joinRequest":
        if (!registry.has(event.connection)) return;
        return rooms.request(event.connection, event.id, event.room, event.ask);
      case "joinDecided":
        if (registry.has(event.connection)) {
          rooms.decide(event.connection, event.room, event.id, event.verdict, event.ask);
        }
        // What the client sent after its join request is handled now.
        return dispatcher.release(event.connection);
      case "join": {
        const joined = registry.has(event.connection) &&
          rooms.join(event.connection, event.room, undefined, { presence: event.presence });
        event.done?.(joined);
        return;
      }
      case "historyRead":
        return rooms.welcomed(event.connection, event.room, event.id, event.ask, event.page);
      case "leave": {
        const left = registry.has(event.connection) &&
          rooms.leave(event.connection, event.room, event.id);
        event.done?.(left);
        return;
      }
      case "publish":
        return rooms.publish(event.room, event.payload, event.except, event.done);
      case "appendFailed":
        return rooms.appendFailed(event.ref);
      case "presence":
        return event.done(registry.presence(event.room));
      case "presenceStats":
        return event.done(registry.presenceStats(event.room));
      case "presenceAnswer":
        if (!registry.has(event.connection)) return;
        if (event.listed) this.#parts.presence.listed(event.connection, event.room);
        return delivery.deliver(event.connection, event.payload);
      case "presenceFlush":
        return this.#parts.presence.flush(performance.now());
      case "credential":
        if (event.connection.state !== "open") return;
        return this.#parts.credentials.arrived(event.connection, event.token);
      case "credentialChecked":
        return this.#parts.credentials.checked(event.connection, event.outcome);
      case "disconnectUser": {
        const count = this.#parts.credentials.revoke(
          registry.ofUser(event.user),
          event.code,
          event.reason,
        );
        if (event.done !== undefined) {
          // Asked here: the other processes close theirs too.
          event.done(count);
          backplane?.publish({
            kind: "disconnect",
            user: event.user,
            code: event.code,
            reason: event.reason,
          });
        }
        return;
      }
      case "presenceQuery":
        return rooms.presenceQuery(event.connection, event.id, event.room, event.counts);
      case "remote": {
        const { message } = event;
        const payload = new Payload(message.data, { json: message.json });
        if (message.kind === "broadcast") this.#broadcast(payload);
        else if (message.kind === "user") this.#toUser(message.user, payload);
        else rooms.deliverRemote(message.room, payload, message.position, message.ref);
        return;
      }
      case "remoteDisconnect": {
        const { user, code, reason } = event;
        this.#parts.credentials.revoke(registry.ofUser(user), code, reason);
        return;
      }
      case "remotePresence":
        return rooms.presenceEvent(event.event, event.origin);
      case "tick":
        requests.expire(event.now);
        return rooms.upkeep(event.now);
      case "shutdown":
        return this.#parts.shutdown.drain(performance.now() + this.#parts.options.drainTimeout);
      case "stop":
        return lifecycle.stop();
      default:
        event satisfies never;
    }
  }

  #broadcast(payload: Payload): number {
    const delivery = this.#parts.delivery;
    let count = 0;
    for (const connection of this.#parts.registry.connections()) {
      delivery.deliver(connection, payload);
      count++;
    }
    return count;
  }

  #toUser(user: string, payload: Payload): number {
    const delivery = this.#parts.delivery;
    let count = 0;
    for (const connection of this.#parts.registry.ofUser(user)) {
      delivery.deliver(connection, payload);
      count++;
    }
    return count;
  }
}
