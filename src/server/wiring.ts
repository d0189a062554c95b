/**
 * Wiring: building the parts of one hub and connecting them, once, when the
 * hub is created. Nothing here runs afterwards; the loop (`scheduler.ts`)
 * drives the parts, and the hub (`hub.ts`) reads them.
 *
 * The parts, from the bottom up: the event queue and `push`; the counters
 * and the writers' hand-offs; the registry; the heartbeat; the closer;
 * delivery; requests; the dispatcher; the history store; presence; rooms;
 * the shutdown; the lifecycle.
 *
 * @module
 */

import type { PresenceEvent } from "../protocol/mod.ts";
import type { Backplane } from "./backplane.ts";
import { Closer } from "./closer.ts";
import { Credentials, type RefreshHook } from "./credentials.ts";
import type { Connection } from "./connection.ts";
import { Delivery } from "./delivery.ts";
import { Dispatcher, type MessageHandler } from "./dispatch.ts";
import type { Report } from "./errors.ts";
import { EventQueue } from "./event_queue.ts";
import type { HubEvent, Push } from "./events.ts";
import { HandOffs } from "./hand_offs.ts";
import { Heartbeat } from "./heartbeat.ts";
import { type HistoryStore, MemoryHistory } from "./history.ts";
import { Lifecycle } from "./lifecycle.ts";
import { Presence } from "./presence.ts";
import type { ResolvedOptions } from "./options.ts";
import { Registry } from "./registry.ts";
import { type RequestHandler, Requests } from "./requests.ts";
import { type AuthorizeJoin, Rooms } from "./rooms.ts";
import { Shutdown } from "./shutdown.ts";
import { Counters } from "./stats.ts";
import { Tap } from "./tap.ts";
import type { DisconnectInfo } from "./types.ts";

/** The application's callbacks, bound to the hub (its options, called with its `Client` views). */
export interface HubCallbacks {
  /** A socket the hub closed was released by force (Deno may fire no `close` event for it). */
  released: (socket: WebSocket) => void;
  onMessage: MessageHandler | undefined;
  onRequest: RequestHandler | undefined;
  onConnect: ((connection: Connection) => void) | undefined;
  onDisconnect: ((connection: Connection, info: DisconnectInfo) => void) | undefined;
  authorizeJoin: AuthorizeJoin | undefined;
  onPresence: ((event: PresenceEvent) => void) | undefined;
  refresh: RefreshHook | undefined;
  report: Report;
}

/** The parts of one hub. */
export interface Parts {
  readonly options: ResolvedOptions<unknown, unknown>;
  /** The one queue of events, consumed by the loop. */
  readonly events: EventQueue<HubEvent>;
  /** Queues an event; `false` once the loop has stopped. */
  readonly push: Push;
  readonly report: Report;
  readonly counters: Counters;
  /** Bytes and delivery waits, counted by every writer at its hand-offs (metrics). */
  readonly handOffs: HandOffs;
  readonly registry: Registry;
  readonly heartbeat: Heartbeat;
  readonly closer: Closer;
  readonly delivery: Delivery;
  readonly requests: Requests;
  readonly dispatcher: Dispatcher;
  /** Where room streams are kept: this process, or the backplane's bus. */
  readonly store: HistoryStore;
  readonly presence: Presence;
  readonly rooms: Rooms;
  readonly credentials: Credentials;
  readonly shutdown: Shutdown;
  readonly lifecycle: Lifecycle;
  readonly backplane: Backplane | undefined;
  /** What the parts report as it happens, while an inspector listens (off otherwise). */
  readonly tap: Tap;
}

/** Builds and connects the parts of a hub with these options and callbacks. */
export function wire(options: ResolvedOptions<unknown, unknown>, callbacks: HubCallbacks): Parts {
  const events = new EventQueue<HubEvent>();
  const push: Push = (event) => {
    if (events.closed) return false;
    events.push(event);
    return true;
  };
  const report = callbacks.report;
  const counters = new Counters();
  const handOffs = new HandOffs();
  const tap = new Tap();
  const registry = new Registry();
  const heartbeat = new Heartbeat(options, () => registry.connections(), push);
  const closer = new Closer(options, counters, callbacks.released);
  const delivery = new Delivery(options.writeTimeout, counters, closer, {
    clock: heartbeat,
    get stopped() {
      return events.closed;
    },
    overflowed: (connection) => lifecycle.slow(connection),
  });
  const requests = new Requests({
    onRequest: callbacks.onRequest,
    maxRequestsInFlight: options.maxRequestsInFlight,
    requestTimeout: options.requestTimeout,
    decode: options.decode,
  }, { delivery, push, report });
  const dispatcher = new Dispatcher(requests.route(callbacks.onMessage), options, push, report);
  const backplane = options.backplane;
  const store = backplane?.history ?? new MemoryHistory();
  const presence = new Presence(
    { window: options.presenceWindow, presenceEvents: options.presenceEvents },
    { registry, delivery, counters, push },
  );
  const rooms = new Rooms(registry, {
    history: options.history,
    store,
    maxRecover: options.maxRecover,
    authorizeJoin: callbacks.authorizeJoin,
    maxRoomsPerConnection: options.maxRoomsPerConnection,
    onPresence: callbacks.onPresence,
    backplane,
    roomChangesPerSecond: options.roomChangesPerSecond,
    roomChangeBurst: options.roomChangeBurst,
    recoveryBudget: options.recoveryBudget,
  }, { delivery, dispatcher, presence, counters, push, report, tap });
  const credentials = new Credentials(
    { refresh: callbacks.refresh, identifyTimeout: options.identifyTimeout },
    push,
    report,
    counters,
  );
  const shutdown = new Shutdown(closer, {
    flushAll: (now) => delivery.flushAll(registry.connections(), now),
    stop: () => push({ type: "stop" }),
  });
  const lifecycle: Lifecycle = new Lifecycle(
    {
      registry,
      counters,
      heartbeat,
      closer,
      delivery,
      dispatcher,
      requests,
      rooms,
      shutdown,
      backplane,
      events,
      tap,
    },
    options,
    {
      onConnect: callbacks.onConnect,
      onDisconnect: callbacks.onDisconnect,
      report,
      logger: options.logger,
    },
  );
  return {
    options,
    events,
    push,
    report,
    counters,
    handOffs,
    registry,
    heartbeat,
    closer,
    delivery,
    requests,
    dispatcher,
    store,
    presence,
    rooms,
    credentials,
    shutdown,
    lifecycle,
    backplane,
    tap,
  };
}
