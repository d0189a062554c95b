/**
 * The metric catalogue: every family `hub.metrics()` exposes, in one table
 * each — its name, type, help text and how its samples are read from
 * `hub.stats()` (or, for a backplane's families, from its `stats()`). A new
 * metric is one entry here and one row in docs/metrics.md's table (a test
 * keeps the two in step). The format itself is `prometheus.ts`.
 *
 * @module
 */

import { CloseCode } from "../protocol/mod.ts";
import type { BackplaneStats, BackplaneStatus } from "./backplane.ts";
import { type Histogram, type Labels, MetricsWriter, type Samples } from "./prometheus.ts";
import type { HubStats } from "./stats.ts";

/**
 * The buckets of `wshub_delivery_wait_seconds`, from 100 µs to 10 s.
 *
 * @example
 * ```ts
 * import { DELIVERY_WAIT_BUCKETS } from "./metrics.ts";
 *
 * console.log(DELIVERY_WAIT_BUCKETS.length); // 16
 * ```
 */
export const DELIVERY_WAIT_BUCKETS: readonly number[] = Object.freeze([
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
]);

/**
 * One family of the catalogue: a counter or gauge whose samples are read
 * from `S` (a counter's name ends in `_total`).
 *
 * @example
 * ```ts
 * import type { Metric } from "./metrics.ts";
 * import type { HubStats } from "./stats.ts";
 *
 * const users: Metric<HubStats> = {
 *   name: "wshub_users",
 *   type: "gauge",
 *   help: "Distinct users with at least one live connection.",
 *   samples: (stats) => stats.users,
 * };
 * console.log(users.name);
 * ```
 */
export interface Metric<S> {
  /** The family's name. */
  readonly name: string;
  /** `counter` (only goes up) or `gauge`. */
  readonly type: "counter" | "gauge";
  /** The `# HELP` text. */
  readonly help: string;
  /** Its samples, from the stats; `undefined` leaves the family out. */
  readonly samples: (stats: S) => Samples | undefined;
}

/**
 * The hub's own families, in the order they are written; the delivery-wait
 * histogram (`wshub_delivery_wait_seconds`) follows `wshub_sent_bytes_total`.
 */
export const HUB_METRICS: readonly Metric<HubStats>[] = Object.freeze([
  {
    name: "wshub_connections",
    type: "gauge",
    help: "Live connections, by kind: plain (no subprotocol) or framed (wshub.v1).",
    samples: (s) => [
      [{ kind: "plain" }, s.connections - s.framedConnections],
      [{ kind: "framed" }, s.framedConnections],
    ],
  },
  {
    name: "wshub_users",
    type: "gauge",
    help: "Distinct users with at least one live connection.",
    samples: (s) => s.users,
  },
  {
    name: "wshub_rooms",
    type: "gauge",
    help: "Rooms with at least one member.",
    samples: (s) => s.rooms,
  },
  {
    name: "wshub_connections_accepted_total",
    type: "counter",
    help: "Connections registered.",
    samples: (s) => s.connected,
  },
  {
    name: "wshub_disconnections_total",
    type: "counter",
    help: "Connections unregistered, by close code: 1000-1015, 4000, 4001 and 4002 by value, " +
      "app for other codes from 3000 to 4999, other for the rest.",
    samples: (s) => closeCodeSamples(s.closeCodes),
  },
  {
    name: "wshub_messages_received_total",
    type: "counter",
    help: "Application messages received from clients (requests excluded).",
    samples: (s) => s.messagesIn,
  },
  {
    name: "wshub_deliveries_total",
    type: "counter",
    help: "Messages queued for a client, one per recipient (requests and answers included).",
    samples: (s) => s.deliveries,
  },
  {
    name: "wshub_sent_bytes_total",
    type: "counter",
    help:
      "Bytes handed to sockets: messages, batches and control frames, without WebSocket framing.",
    samples: (s) => s.bytesOut,
  },
  {
    name: "wshub_dropped_messages_total",
    type: "counter",
    help: 'Messages dropped by the "drop-oldest" overflow policy.',
    samples: (s) => s.dropped,
  },
  {
    name: "wshub_slow_consumers_total",
    type: "counter",
    help: "Clients closed because their send queue overflowed (1013).",
    samples: (s) => s.slowConsumers,
  },
  {
    name: "wshub_timeouts_total",
    type: "counter",
    help: "Clients cut off by a deadline, by kind: heartbeat (4000), write (4001), " +
      "idle (Deno's protocol ping, plain clients).",
    samples: (s) => [
      [{ kind: "heartbeat" }, s.timeouts.heartbeat],
      [{ kind: "write" }, s.timeouts.write],
      [{ kind: "idle" }, s.timeouts.idle],
    ],
  },
  {
    name: "wshub_rate_limited_total",
    type: "counter",
    help: "Inbound frames refused by the rate limits (dropped, or the client closed).",
    samples: (s) => s.rateLimited,
  },
  {
    name: "wshub_refused_for_capacity_total",
    type: "counter",
    help: "Upgrades refused with 503 because maxConnections sockets were held.",
    samples: (s) => s.refusedForCapacity,
  },
  {
    name: "wshub_admissions_paced_total",
    type: "counter",
    help: "Upgrades turned away because new connections came faster than admissionRate.",
    samples: (s) => s.admissionsPaced,
  },
  {
    name: "wshub_sockets",
    type: "gauge",
    help: "Sockets upgraded and not yet released: open, opening or closing.",
    samples: (s) => s.sockets,
  },
  {
    name: "wshub_sockets_closing",
    type: "gauge",
    help: "Sockets the hub closed whose peer has not completed the close handshake yet.",
    samples: (s) => s.closing,
  },
  {
    name: "wshub_forced_releases_total",
    type: "counter",
    help: "Sockets released by force after closeTimeout.",
    samples: (s) => s.forcedReleases,
  },
  {
    name: "wshub_leaked_sockets_total",
    type: "counter",
    help: "Sockets released by force with unsent data: their descriptor stays until the kernel " +
      "gives up.",
    samples: (s) => s.leakedSockets,
  },
  {
    name: "wshub_oversized_messages_total",
    type: "counter",
    help: "Text messages too large for a string that Deno failed on, caught by the guard.",
    samples: (s) => s.oversizedMessages,
  },
  {
    name: "wshub_inbox_bytes",
    type: "gauge",
    help: "Bytes of inbound messages waiting for slow async handlers, all clients.",
    samples: (s) => s.inboxBytes,
  },
  {
    name: "wshub_inbound_requests_total",
    type: "counter",
    help: "Requests received from clients.",
    samples: (s) => s.requests.received,
  },
  {
    name: "wshub_inbound_requests_ended_total",
    type: "counter",
    help: "Requests from clients by outcome: answered, failed (handler error or no handler), " +
      "refused (too many in flight), dropped (the client left first).",
    samples: ({ requests: r }) => [
      [{ outcome: "answered" }, r.answered],
      [{ outcome: "failed" }, r.failed],
      [{ outcome: "refused" }, r.refused],
      [{ outcome: "dropped" }, r.dropped],
    ],
  },
  {
    name: "wshub_inbound_requests_in_flight",
    type: "gauge",
    help: "Requests from clients received and not answered yet.",
    samples: (s) => s.requests.inFlight,
  },
  {
    name: "wshub_outbound_requests_total",
    type: "counter",
    help: "Requests sent to clients with client.request().",
    samples: (s) => s.requests.sent,
  },
  {
    name: "wshub_outbound_requests_ended_total",
    type: "counter",
    help: "Requests sent to clients by outcome: succeeded, rejected (the client failed it), " +
      "timed_out, aborted (the connection closed first).",
    samples: ({ requests: r }) => [
      [{ outcome: "succeeded" }, r.succeeded],
      [{ outcome: "rejected" }, r.rejected],
      [{ outcome: "timed_out" }, r.timedOut],
      [{ outcome: "aborted" }, r.aborted],
    ],
  },
  {
    name: "wshub_outbound_requests_pending",
    type: "gauge",
    help: "Requests sent to clients and waiting for their answer.",
    samples: (s) => s.requests.pending,
  },
  {
    name: "wshub_outbound_requests_limited_total",
    type: "counter",
    help: "client.request() calls refused at once: maxRequestsInFlight were pending.",
    samples: (s) => s.requests.limited,
  },
  {
    name: "wshub_outbound_late_answers_total",
    type: "counter",
    help: "Answers from clients that came after their request timed out.",
    samples: (s) => s.requests.late,
  },
  {
    name: "wshub_credential_refreshes_total",
    type: "counter",
    help: "Fresh credentials sent by clients, by outcome: refreshed (accepted) or refused.",
    samples: (s) => [
      [{ outcome: "refreshed" }, s.credentials.refreshed],
      [{ outcome: "refused" }, s.credentials.refused],
    ],
  },
  {
    name: "wshub_credential_expiries_total",
    type: "counter",
    help: "Connections closed because their credential expired and was not refreshed (4004).",
    samples: (s) => s.credentials.expired,
  },
  {
    name: "wshub_revocations_total",
    type: "counter",
    help: "Connections closed by hub.disconnectUser on this process.",
    samples: (s) => s.credentials.revoked,
  },
  {
    name: "wshub_recoveries_total",
    type: "counter",
    help: "Recoveries asked for by reconnecting clients, by outcome: recovered, or why not.",
    samples: (s) => Object.entries(s.recoveries).map(([outcome, count]) => [{ outcome }, count]),
  },
  {
    name: "wshub_presence_diffs_total",
    type: "counter",
    help: "Presence diffs sent: one per room per window in which some member was told something.",
    samples: (s) => s.presenceDiffs,
  },
  {
    name: "wshub_room_changes_refused_total",
    type: "counter",
    help: "Joins clients asked for that were refused with rate_limited (roomChangesPerSecond).",
    samples: (s) => s.roomChangesRefused,
  },
]);

/** The delivery-wait histogram's name and help (written after `wshub_sent_bytes_total`). */
export const DELIVERY_WAIT_METRIC = Object.freeze({
  name: "wshub_delivery_wait_seconds",
  help: "Time from the API call that queued an application message (broadcast, sendToUser, " +
    "publish, client.send) to its hand-off to the socket, per recipient.",
});

/** What a backplane's families are read from: its status, and its `stats()` if it has one. */
export interface BackplaneReading {
  /** Where its connection to its bus is. */
  status: BackplaneStatus;
  /** Its counters (`undefined` when it keeps none: only `wshub_backplane_up` is written). */
  stats: BackplaneStats | undefined;
}

/**
 * A backplane's families: whether it is up, what it published and
 * received, its round trip, and (when it keeps history) its stream reads
 * and writes. Families whose counter the backplane does not keep are left out.
 */
export const BACKPLANE_METRICS: readonly Metric<BackplaneReading>[] = Object.freeze([
  {
    name: "wshub_backplane_up",
    type: "gauge",
    help: "Whether the backplane is connected to its bus (1) or not (0).",
    samples: (b) => b.status === "up" ? 1 : 0,
  },
  {
    name: "wshub_backplane_published_total",
    type: "counter",
    help: "Messages published to the other processes.",
    samples: (b) => b.stats?.published,
  },
  {
    name: "wshub_backplane_received_total",
    type: "counter",
    help: "Messages received from the other processes.",
    samples: (b) => b.stats?.received,
  },
  {
    name: "wshub_backplane_dropped_total",
    type: "counter",
    help: "Messages that could not be published (the bus down): the other processes missed them.",
    samples: (b) => b.stats?.dropped,
  },
  {
    name: "wshub_backplane_malformed_total",
    type: "counter",
    help: "Malformed messages received from the bus and ignored.",
    samples: (b) => b.stats?.malformed,
  },
  {
    name: "wshub_backplane_unknown_version_total",
    type: "counter",
    help: "Messages of a format version this process does not know, received and ignored.",
    samples: (b) => b.stats?.unknownVersion,
  },
  {
    name: "wshub_backplane_channels",
    type: "gauge",
    help: "Channels this process listens to.",
    samples: (b) => b.stats?.channels,
  },
  {
    name: "wshub_backplane_round_trip_seconds",
    type: "gauge",
    help: "The last round trip of a message through the bus and back.",
    samples: (b) => b.stats?.roundTrip === undefined ? undefined : b.stats.roundTrip / 1000,
  },
  {
    name: "wshub_history_appends_total",
    type: "counter",
    help: "Publications stored in room streams by this process.",
    samples: (b) => b.stats?.historyAppends,
  },
  {
    name: "wshub_history_reads_total",
    type: "counter",
    help: "Room stream reads asked of the bus (recoveries, hub.history), shared or not.",
    samples: (b) => b.stats?.historyAppends === undefined ? undefined : b.stats.historyReads ?? 0,
  },
  {
    name: "wshub_history_read_calls_total",
    type: "counter",
    help: "Calls to the bus that read room streams (each carries every distinct read of one turn).",
    samples: (b) => b.stats?.historyReadCalls,
  },
  {
    name: "wshub_history_reads_shared_total",
    type: "counter",
    help:
      "Stream reads answered without a read of their own (a room's recent read, or an identical one).",
    samples: (b) => b.stats?.historyReadsShared,
  },
  {
    name: "wshub_presence_calls_total",
    type: "counter",
    help: "Calls to the bus that carried presence changes (each with every change of one turn).",
    samples: (b) => b.stats?.presenceCalls,
  },
  {
    name: "wshub_history_failures_total",
    type: "counter",
    help: "Stream appends and reads that failed.",
    samples: (b) =>
      b.stats?.historyAppends === undefined ? undefined : b.stats.historyFailures ?? 0,
  },
]);

/**
 * Writes the families of `catalogue` read from `source`, in order.
 *
 * @example
 * ```ts
 * import { BACKPLANE_METRICS, writeMetrics } from "./metrics.ts";
 * import { MetricsWriter } from "./prometheus.ts";
 *
 * const out = new MetricsWriter();
 * writeMetrics(out, BACKPLANE_METRICS, { status: "up", stats: undefined });
 * console.log(out.text()); // wshub_backplane_up 1
 * ```
 */
export function writeMetrics<S>(
  out: MetricsWriter,
  catalogue: readonly Metric<S>[],
  source: S,
): void {
  for (const metric of catalogue) {
    const samples = metric.samples(source);
    if (samples === undefined) continue;
    if (metric.type === "counter") out.counter(metric.name, metric.help, samples);
    else out.gauge(metric.name, metric.help, samples);
  }
}

/**
 * The whole exposition: the hub's families (`stats` as `hub.stats()` returns
 * it, `waits` its writers' delivery-wait histogram), then the backplane's,
 * when there is one. The list, with what each family counts, is in the
 * docs/metrics.md.
 *
 * @example
 * ```ts
 * import { Hub } from "../../mod.ts";
 * import { DELIVERY_WAIT_BUCKETS, renderMetrics } from "./metrics.ts";
 * import { Histogram } from "./prometheus.ts";
 *
 * const hub = new Hub();
 * const text = renderMetrics(hub.stats(), new Histogram(DELIVERY_WAIT_BUCKETS, 1000));
 * console.log(text.split("\n").length);
 * await hub.close();
 * ```
 */
export function renderMetrics(
  stats: HubStats,
  waits: Histogram,
  backplane?: BackplaneReading,
): string {
  const out = new MetricsWriter();
  const split = HUB_METRICS.findIndex((m) => m.name === "wshub_sent_bytes_total") + 1;
  writeMetrics(out, HUB_METRICS.slice(0, split), stats);
  out.histogram(DELIVERY_WAIT_METRIC.name, DELIVERY_WAIT_METRIC.help, waits);
  writeMetrics(out, HUB_METRICS.slice(split), stats);
  if (backplane !== undefined) writeMetrics(out, BACKPLANE_METRICS, backplane);
  return out.text();
}

/**
 * The label of a close code in `wshub_disconnections_total`, with a bounded
 * number of values: 1000–1015 and the codes of `wshub.v1` (4000, 4001 sent
 * by the hub, 4002 sent by its clients) by value, `"app"` for the other
 * application codes (3000–4999), `"other"` for the rest.
 *
 * @example
 * ```ts
 * import { closeCodeLabel } from "./metrics.ts";
 *
 * console.log(closeCodeLabel(1013), closeCodeLabel(4401), closeCodeLabel(2000)); // 1013 app other
 * ```
 */
export function closeCodeLabel(code: number): string {
  if (!Number.isInteger(code)) return "other";
  if (code >= 1000 && code <= 1015) return String(code);
  if (code === CloseCode.HeartbeatTimeout || code === CloseCode.WriteTimeout || code === 4002) {
    return String(code);
  }
  if (code >= 3000 && code <= 4999) return "app";
  return "other";
}

/** Disconnections by close-code label, codes summed into `app` and `other`. */
function closeCodeSamples(closeCodes: Record<string, number>): [Labels, number][] {
  const byLabel = new Map<string, number>();
  for (const code in closeCodes) {
    const label = closeCodeLabel(Number(code));
    byLabel.set(label, (byLabel.get(label) ?? 0) + closeCodes[code]);
  }
  return Array.from(byLabel, ([code, count]) => [{ code }, count]);
}
