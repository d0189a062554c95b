/**
 * The hub's events: every change to its state and everything it sends is
 * one {@linkcode HubEvent} on the one queue, applied in order by the loop
 * (`scheduler.ts`). The hub's methods, each connection's reader and view,
 * the heartbeat and the parts that wait for something asynchronous (a join's
 * verdict, a history read) report by pushing one; none of them changes the
 * registry itself.
 *
 * To add an event type: add it to {@linkcode HubEvent} here, and its case to
 * the loop's `switch` in `scheduler.ts` (which does not compile until it has
 * one); what it does belongs in the part whose file says so.
 *
 * @module
 */

import type { AnswerFrame, Payload, PresenceEvent, PresenceMode } from "../protocol/mod.ts";
import type { BackplaneMessage } from "./backplane.ts";
import type { Connection } from "./connection.ts";
import type { Position, RecoveryFailure, StoredPage } from "./history.ts";
import { closeSocket } from "./socket.ts";
import type { PresenceEntry, PresenceStats } from "./types.ts";

/**
 * What a join asks for besides membership: `since`, a recovery from that
 * position; `history`, the room's last publications (alone, or when the
 * recovery fails); `failed`, set by the hub when it falls back to them (or
 * refuses them: `rate_limited`); `presence`, how the member hears about
 * presence in the room (used when the join makes it a member).
 */
export interface JoinAsk {
  since?: Position;
  history?: number;
  failed?: RecoveryFailure;
  presence?: PresenceMode;
}

/** Everything that changes the hub's state or sends something. */
export type HubEvent =
  // A connection's life: its socket opened; it leaves (closed by the hub or the peer).
  | { type: "register"; connection: Connection }
  | { type: "unregister"; connection: Connection; code: number; reason: string; byHub: boolean }
  // Sending: to everyone, to one user's connections, to one connection.
  | { type: "broadcast"; payload: Payload; done: (count: number) => void }
  | { type: "user"; user: string; payload: Payload; done: (count: number) => void }
  | { type: "send"; connection: Connection; payload: Payload }
  // What a connection sent: a message, a request, an answer to the hub's request.
  | { type: "message"; connection: Connection; message: unknown; bytes: number }
  | { type: "inboundRequest"; connection: Connection; id: number; message: unknown; bytes: number }
  | { type: "answer"; connection: Connection; answer: AnswerFrame }
  // An async onMessage or onRequest settled: the connection's next message may go.
  | { type: "handled"; connection: Connection }
  // A request to a connection (`client.request()`), checked and encoded already.
  | {
    type: "request";
    connection: Connection;
    payload: Payload;
    timeout: number;
    resolve: (value: unknown) => void;
    reject: (error: Error) => void;
  }
  // Rooms: a client's join request and its verdict, a server-side join, the history read
  // for a join, a leave, a publication, a failed append to the backplane's stream.
  | { type: "joinRequest"; connection: Connection; id: number; room: string; ask: JoinAsk }
  | {
    type: "joinDecided";
    connection: Connection;
    id: number;
    room: string;
    verdict: boolean | Error;
    ask: JoinAsk;
  }
  | {
    type: "join";
    connection: Connection;
    room: string;
    presence?: PresenceMode;
    done?: (joined: boolean) => void;
  }
  | {
    type: "historyRead";
    connection: Connection;
    room: string;
    id: number | undefined;
    ask: JoinAsk;
    page: StoredPage | undefined;
  }
  // Credentials: a fresh one a client sent; `refresh`'s verdict on it; a user's access revoked.
  | { type: "credential"; connection: Connection; token: string }
  | { type: "credentialChecked"; connection: Connection; outcome: unknown }
  | {
    type: "disconnectUser";
    user: string;
    code: number;
    reason: string;
    done?: (count: number) => void;
  }
  // A client's question: who is in a room (or how many), and its answer (`listed`: a list, which
  // starts the client's view of the room's presence).
  | { type: "presenceQuery"; connection: Connection; id: number; room: string; counts: boolean }
  | {
    type: "presenceAnswer";
    connection: Connection;
    room: string;
    payload: Payload;
    listed: boolean;
  }
  | {
    type: "leave";
    connection: Connection;
    room: string;
    id?: number;
    done?: (left: boolean) => void;
  }
  | {
    type: "publish";
    room: string;
    payload: Payload;
    except: Connection | undefined;
    /** How many it was queued for here, and its position in the room's stream (if it has one). */
    done: (count: number, position?: Position) => void;
  }
  | { type: "appendFailed"; ref: number }
  | { type: "presence"; room: string; done: (entries: PresenceEntry[]) => void }
  | { type: "presenceStats"; room: string; done: (stats: PresenceStats) => void }
  // The presence windows' timer: rooms whose window ended are told their diff.
  | { type: "presenceFlush" }
  // From the other processes, through the backplane.
  | { type: "remote"; message: Exclude<BackplaneMessage, { kind: "disconnect" }> }
  | { type: "remotePresence"; event: PresenceEvent; origin: boolean }
  | { type: "remoteDisconnect"; user: string; code: number; reason: string }
  // The heartbeat's tick: what has a deadline besides connections (requests), and upkeep.
  | { type: "tick"; now: number }
  // The graceful shutdown: drain, then stop.
  | { type: "shutdown" }
  | { type: "stop" };

/**
 * Queues an event for the loop. Returns `false` when the loop has stopped
 * (the event is dropped: the caller settles what waited for it).
 */
export type Push = (event: HubEvent) => boolean;

/**
 * Asks the loop to close and unregister `connection` (once: later asks do
 * nothing). When the loop has stopped already, the socket is closed at once.
 */
export function requestClose(
  push: Push,
  connection: Connection,
  code: number,
  reason: string,
  byHub: boolean,
): void {
  if (!connection.requestClose()) return;
  if (!push({ type: "unregister", connection, code, reason, byHub })) {
    closeSocket(connection.socket, code, reason);
  }
}
