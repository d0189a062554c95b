/**
 * What the hub counts: {@linkcode HubStats} (what `hub.stats()` returns, for
 * metrics), {@linkcode RequestStats}, and the running {@linkcode Counters}
 * that the parts add to. `stats_snapshot.ts` builds a snapshot from them.
 *
 * @module
 */

import type { BackplaneStatus } from "./backplane.ts";
import type { RecoveryFailure } from "./history.ts";

/**
 * Counters of what the hub has done, for metrics.
 *
 * @example
 * ```ts
 * import { Hub, type HubStats } from "@wshub/hub";
 *
 * const hub = new Hub();
 * const stats: HubStats = hub.stats();
 * console.log(`${stats.connections} connected, ${stats.deliveries} messages delivered`);
 * await hub.close();
 * ```
 */
export interface HubStats {
  /** Live connections. */
  connections: number;
  /** Of those, the framed ones (that speak `wshub.v1`); the others are plain. */
  framedConnections: number;
  /** Distinct users with at least one live connection. */
  users: number;
  /** Rooms with at least one member. */
  rooms: number;
  /** Connections accepted since the hub started. */
  connected: number;
  /** Connections unregistered since the hub started. */
  disconnected: number;
  /** Application messages received (requests are counted in `requests`). */
  messagesIn: number;
  /** Application messages queued or sent to clients (one per recipient; requests and answers too). */
  deliveries: number;
  /**
   * Bytes handed to sockets: messages, batches and control frames (their
   * payload, as Deno's `bufferedAmount` counts it; not the WebSocket framing).
   */
  bytesOut: number;
  /** Messages dropped by the `"drop-oldest"` overflow policy, from closed clients too. */
  dropped: number;
  /** Clients closed because their send queue overflowed (1013). */
  slowConsumers: number;
  /** Clients cut off by a heartbeat or write deadline (4000, 4001). */
  timedOut: number;
  /** `timedOut` by deadline. */
  timeouts: {
    /** Framed clients silent for `pingInterval + pongTimeout` (4000). */
    heartbeat: number;
    /** Frames not flushed within `writeTimeout` (4001). */
    write: number;
    /** Plain clients that did not answer Deno's protocol ping (`idleTimeout`). */
    idle: number;
  };
  /** Frames refused by the rate limits (dropped, or the client closed). */
  rateLimited: number;
  /** Bytes of inbound messages waiting for slow async `onMessage` handlers, in all inboxes. */
  inboxBytes: number;
  /** Disconnections by close code (the code as `onDisconnect` reports it). */
  closeCodes: Record<string, number>;
  /**
   * Sockets the hub closed whose peer has not completed the close handshake
   * yet (unregistered already; they count against `maxConnections`).
   */
  closing: number;
  /** Sockets released by force after `closeTimeout` (the peer never answered the close). */
  forcedReleases: number;
  /**
   * Of those, the ones that still had unsent data: their descriptor stays
   * until the peer reads or the kernel gives up (see `docs/deno-limits.md`).
   */
  leakedSockets: number;
  /**
   * Sockets upgraded and not yet released by Deno: open, opening, or closing
   * (what `maxConnections` bounds, with the leaked ones of the last 15 minutes).
   */
  sockets: number;
  /** Upgrades refused with 503 because `maxConnections` sockets were held. */
  refusedForCapacity: number;
  /** The backplane's status, or `"none"` without one. */
  backplane: BackplaneStatus | "none";
  /**
   * Times Deno's WebSocket failed on a text message too large for a string,
   * caught by the oversized-message guard (the process survived).
   */
  oversizedMessages: number;
  /**
   * Expiring credentials: fresh ones accepted (`refreshed`) and refused
   * (`refused`), connections closed because theirs expired (`expired`,
   * 4004), and connections closed by `hub.disconnectUser` on this process
   * (`revoked`).
   */
  credentials: { refreshed: number; refused: number; expired: number; revoked: number };
  /** Requests in both directions: received, answered, failed, timed out… */
  requests: RequestStats;
  /**
   * Recoveries asked for by reconnecting clients (joins with a position),
   * by outcome: `recovered`, or why not (see `RecoveryFailure`).
   */
  recoveries: Record<"recovered" | RecoveryFailure, number>;
  /** Presence diffs sent: one per room per window in which some member was told something. */
  presenceDiffs: number;
  /** Joins clients asked for and were refused with `rate_limited` (`roomChangesPerSecond`). */
  roomChangesRefused: number;
  /**
   * Upgrades turned away because new connections came faster than
   * `admissionRate` (framed clients closed at once with 1013 and a
   * `retryAfter`, plain ones refused with 503).
   */
  admissionsPaced: number;
}

/**
 * What the hub's requests did, in `hub.stats().requests`. Inbound:
 * `received` = `answered` + `failed` + `refused` + `dropped` + `inFlight`.
 * Outbound: `sent` = `succeeded` + `rejected` + `timedOut` + `aborted` +
 * `pending`.
 *
 * @example Requests in the metrics
 * ```ts
 * import { Hub } from "@wshub/hub";
 *
 * const hub = new Hub();
 * const { received, failed, timedOut } = hub.stats().requests;
 * console.log(received, failed, timedOut);
 * await hub.close();
 * ```
 */
export interface RequestStats {
  /** Requests clients sent (valid `q` frames from open connections). */
  received: number;
  /** Of those, answered with the handler's reply. */
  answered: number;
  /** Answered with a failure: the handler failed (`handler_error`) or there is none (`no_handler`). */
  failed: number;
  /** Refused at once with `too_many_requests`: `maxRequestsInFlight` from that client were in flight. */
  refused: number;
  /** Left unanswered because the client was gone before the handler finished. */
  dropped: number;
  /** Received and not answered yet (waiting in an inbox or being handled), all clients. */
  inFlight: number;
  /** Requests sent to clients with `client.request()`. */
  sent: number;
  /** Of those, resolved with the client's reply. */
  succeeded: number;
  /** Rejected: the client answered with a failure, or an answer `decode` refused. */
  rejected: number;
  /** Rejected with `RequestTimeoutError`. */
  timedOut: number;
  /** Rejected with `ConnectionClosedError`: the connection closed first. */
  aborted: number;
  /** Sent and waiting for an answer now, all clients. */
  pending: number;
  /** `client.request()` calls that failed at once: `maxRequestsInFlight` were pending for that client. */
  limited: number;
  /** Answers that came after their request timed out (ignored). */
  late: number;
}

/**
 * The running counters; the parts of the hub add to them. Each one is a
 * field of {@linkcode HubStats} of the same name (checked by `implements`).
 */
export class Counters implements
  Pick<
    HubStats,
    | "connected"
    | "disconnected"
    | "messagesIn"
    | "deliveries"
    | "dropped"
    | "slowConsumers"
    | "timedOut"
    | "timeouts"
    | "rateLimited"
    | "forcedReleases"
    | "leakedSockets"
    | "oversizedMessages"
    | "presenceDiffs"
    | "roomChangesRefused"
  > {
  connected = 0;
  disconnected = 0;
  messagesIn = 0;
  deliveries = 0;
  /** Drops of writers already released (live writers count their own). */
  dropped = 0;
  slowConsumers = 0;
  timedOut = 0;
  readonly timeouts = { heartbeat: 0, write: 0, idle: 0 };
  rateLimited = 0;
  forcedReleases = 0;
  leakedSockets = 0;
  oversizedMessages = 0;
  presenceDiffs = 0;
  roomChangesRefused = 0;
  /** Fresh credentials accepted, refused; connections closed for expiry, revoked. */
  refreshes = 0;
  refreshesRefused = 0;
  expired = 0;
  revoked = 0;
  readonly closeCodes = new Map<number, number>();

  /** Counts one client cut off by a deadline. */
  timeout(kind: "heartbeat" | "write" | "idle"): void {
    this.timedOut++;
    this.timeouts[kind]++;
  }

  /** Counts one disconnection with `code`. */
  closed(code: number): void {
    this.closeCodes.set(code, (this.closeCodes.get(code) ?? 0) + 1);
  }
}
