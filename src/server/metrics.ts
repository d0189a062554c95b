/**
 * Metrics for production: the hub's state in the Prometheus text exposition
 * format (version 0.0.4), for `hub.metrics()` and `hub.metricsResponse()`.
 *
 * Three parts, none with a dependency:
 *
 * - {@linkcode MetricsWriter}, a small builder of `# HELP` / `# TYPE` lines
 *   and samples, with the format's escaping and name checks;
 * - {@linkcode HandOffs}, what every writer of a hub adds to when it hands a
 *   frame to a socket: the bytes, and the {@linkcode Histogram} of how long
 *   each application message waited between the API call that queued it and
 *   that moment (O(1) per delivery, no allocation);
 * - the metric definitions, {@linkcode writeHubMetrics}, from `hub.stats()`
 *   and that histogram.
 *
 * Extension point: {@linkcode renderMetrics} takes optional
 * {@linkcode MetricsCollector}s, which write their own families after the
 * hub's with the same writer. That is where a part of the hub that is not
 * always there (a cross-process backplane: its status, its round trip) adds
 * its metrics; `hub.metrics()` passes them.
 *
 * @module
 */

import type { BackplaneStats, BackplaneStatus } from "./backplane.ts";
import type { HubStats } from "./stats.ts";
import type { Payload } from "../protocol/mod.ts";
import { CloseCode } from "../protocol/mod.ts";

/**
 * The `Content-Type` of the text exposition format that `hub.metricsResponse()`
 * sends.
 *
 * @example
 * ```ts
 * import { METRICS_CONTENT_TYPE } from "./metrics.ts";
 *
 * console.log(METRICS_CONTENT_TYPE); // text/plain; version=0.0.4; charset=utf-8
 * ```
 */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Label names and values of one sample. Values are strings (numbers are
 * written as they print).
 *
 * @example
 * ```ts
 * import type { Labels } from "./metrics.ts";
 *
 * const labels: Labels = { kind: "framed" };
 * console.log(labels.kind);
 * ```
 */
export type Labels = Readonly<Record<string, string | number>>;

/**
 * The samples of one family: a single value, or values by label set.
 *
 * @example
 * ```ts
 * import type { Samples } from "./metrics.ts";
 *
 * const single: Samples = 3;
 * const byKind: Samples = [[{ kind: "plain" }, 1], [{ kind: "framed" }, 2]];
 * console.log(single, byKind.length);
 * ```
 */
export type Samples = number | readonly (readonly [Labels, number])[];

/**
 * Writes extra metric families after the hub's own, with the same writer:
 * the extension point for parts of the hub that are optional (a backplane's
 * status and round trip). It must use names of its own (`wshub_<part>_…`).
 *
 * @example
 * ```ts
 * import { type MetricsCollector, MetricsWriter } from "./metrics.ts";
 *
 * const backplane: MetricsCollector = (out) => {
 *   out.gauge("wshub_backplane_up", "Whether the backplane is connected (1) or not (0).", 1);
 * };
 * const out = new MetricsWriter();
 * backplane(out);
 * console.log(out.text());
 * ```
 */
export type MetricsCollector = (out: MetricsWriter) => void;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * A builder of the Prometheus text exposition format (0.0.4): each family
 * once, with its `# HELP` and `# TYPE` lines, then its samples. Label values
 * and help texts are escaped as the format requires; names are checked, and
 * a counter's name must end in `_total`.
 *
 * @example
 * ```ts
 * import { MetricsWriter } from "./metrics.ts";
 *
 * const out = new MetricsWriter();
 * out.counter("app_logins_total", "Logins since start.", 12);
 * out.gauge("app_queue_jobs", "Jobs waiting, by queue.", [[{ queue: "mail" }, 3]]);
 * console.log(out.text());
 * ```
 */
export class MetricsWriter {
  readonly #lines: string[] = [];
  readonly #names = new Set<string>();

  /**
   * Writes a counter family (a value that only goes up). Its name must end
   * in `_total`.
   *
   * @throws {RangeError} If a name is invalid or the family was written already.
   */
  counter(name: string, help: string, samples: Samples): this {
    if (!name.endsWith("_total")) {
      throw new RangeError(`Invalid counter name ${name}: a counter's name ends in _total`);
    }
    this.#family(name, "counter", help);
    this.#samples(name, samples);
    return this;
  }

  /**
   * Writes a gauge family (a value that goes up and down).
   *
   * @throws {RangeError} If a name is invalid or the family was written already.
   */
  gauge(name: string, help: string, samples: Samples): this {
    this.#family(name, "gauge", help);
    this.#samples(name, samples);
    return this;
  }

  /**
   * Writes a histogram family: one `_bucket` sample per bound (cumulative,
   * `le` in the histogram's unit) and `+Inf`, then `_sum` and `_count`.
   *
   * @throws {RangeError} If a name is invalid or the family was written already.
   */
  histogram(name: string, help: string, histogram: Histogram): this {
    this.#family(name, "histogram", help);
    const lines = this.#lines;
    const { bounds, counts } = histogram;
    let cumulative = 0;
    for (let i = 0; i < bounds.length; i++) {
      cumulative += counts[i];
      lines.push(`${name}_bucket{le="${formatValue(bounds[i])}"} ${formatValue(cumulative)}`);
    }
    cumulative += counts[bounds.length];
    lines.push(`${name}_bucket{le="+Inf"} ${formatValue(cumulative)}`);
    lines.push(`${name}_sum ${formatValue(histogram.sum)}`);
    lines.push(`${name}_count ${formatValue(cumulative)}`);
    return this;
  }

  /** The exposition so far, each line ended by a newline. */
  text(): string {
    return this.#lines.length === 0 ? "" : this.#lines.join("\n") + "\n";
  }

  #family(name: string, type: string, help: string): void {
    if (!METRIC_NAME.test(name)) throw new RangeError(`Invalid metric name ${name}`);
    if (this.#names.has(name)) throw new RangeError(`Metric ${name} was written already`);
    this.#names.add(name);
    this.#lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  #samples(name: string, samples: Samples): void {
    if (typeof samples === "number") {
      this.#lines.push(`${name} ${formatValue(samples)}`);
      return;
    }
    for (const [labels, value] of samples) {
      this.#lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
    }
  }
}

/** `{a="1",b="x"}`, or nothing for no labels. */
function formatLabels(labels: Labels): string {
  let text = "";
  for (const name in labels) {
    if (!LABEL_NAME.test(name) || name.startsWith("__")) {
      throw new RangeError(`Invalid label name ${name}`);
    }
    text += `${text === "" ? "" : ","}${name}="${escapeLabelValue(String(labels[name]))}"`;
  }
  return text === "" ? "" : `{${text}}`;
}

/**
 * A label value as the format writes it: backslash, double quote and line
 * feed escaped.
 *
 * @example
 * ```ts
 * import { escapeLabelValue } from "./metrics.ts";
 *
 * console.log(escapeLabelValue('say "hi"\n')); // say \"hi\"\n
 * ```
 */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/** A help text as the format writes it: backslash and line feed escaped. */
function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/** A sample value: as JavaScript prints it (which Go parses), or `NaN`, `+Inf`, `-Inf`. */
function formatValue(value: number): string {
  if (Number.isFinite(value)) return String(value);
  if (Number.isNaN(value)) return "NaN";
  return value > 0 ? "+Inf" : "-Inf";
}

/**
 * A histogram with fixed buckets: `observe` is a short scan of a fixed
 * array and two additions, with no allocation. Bounds are in the unit the
 * histogram is exposed in (seconds); observations may be in a finer unit
 * (`scale` of them per exposed unit: 1000 for milliseconds).
 *
 * @example
 * ```ts
 * import { Histogram } from "./metrics.ts";
 *
 * const waits = new Histogram([0.001, 0.01, 0.1], 1000); // seconds, observed in ms
 * waits.observe(4); // 4 ms: in the 0.01 s bucket
 * console.log(waits.count, waits.sum); // 1 0.004
 * ```
 */
export class Histogram {
  /** Upper bounds of the buckets, ascending, in the exposed unit. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last is above every bound. */
  readonly counts: Float64Array;
  readonly #limits: Float64Array;
  readonly #scale: number;
  #sum = 0;

  /**
   * @param bounds Upper bounds, ascending, in the exposed unit.
   * @param scale How many units of an observation make one exposed unit.
   * @throws {RangeError} If the bounds are not finite and ascending.
   */
  constructor(bounds: readonly number[], scale = 1) {
    for (let i = 0; i < bounds.length; i++) {
      if (!Number.isFinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
        throw new RangeError(`Invalid histogram bounds ${bounds.join(", ")}: finite and ascending`);
      }
    }
    this.bounds = Object.freeze([...bounds]);
    this.counts = new Float64Array(bounds.length + 1);
    this.#limits = new Float64Array(bounds.map((bound) => bound * scale));
    this.#scale = scale;
  }

  /** Counts one observation, in the observed unit. */
  observe(value: number): void {
    this.observeNear(value, 0);
  }

  /**
   * Counts one observation, looking for its bucket from bucket `near` (up or
   * down): a run of similar values (the waits of one coalesced frame) then
   * costs one or two comparisons each instead of a scan from the first
   * bucket. Returns the bucket, to pass as `near` for the next.
   */
  observeNear(value: number, near: number): number {
    const limits = this.#limits;
    const n = limits.length;
    let i = near;
    while (i > 0 && value <= limits[i - 1]) i--;
    while (i < n && value > limits[i]) i++;
    this.counts[i]++;
    this.#sum += value;
    return i;
  }

  /** The sum of the observations, in the exposed unit. */
  get sum(): number {
    return this.#sum / this.#scale;
  }

  /** How many observations there were. */
  get count(): number {
    let count = 0;
    for (const n of this.counts) count += n;
    return count;
  }
}

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
 * How many hand-offs may share one reading of the clock. `performance.now()`
 * costs about 85 ns in Deno 2.9, more than the rest of an observation: one
 * reading serves up to this many socket writes of the same synchronous run
 * (a few microseconds each), which bounds the error to their duration.
 */
const CLOCK_REUSE = 8;

/**
 * What a hub's writers add to when they hand frames to sockets: the bytes,
 * and how long each application message waited between the API call that
 * queued it (`broadcast`, `sendToUser`, `publish`, `client.send`: its
 * payload's `queuedAt`) and its hand-off, once per recipient. One per hub,
 * shared by its writers.
 *
 * The clock is read at most once per {@linkcode CLOCK_REUSE} socket writes,
 * and never reused past the current synchronous run (a microtask forgets
 * it), so an observation costs a few nanoseconds.
 *
 * @example
 * ```ts
 * import { encodePayload } from "../protocol/mod.ts";
 * import { HandOffs } from "./metrics.ts";
 *
 * const handOffs = new HandOffs();
 * const payload = encodePayload("hello"); // stamped now
 * handOffs.bytes += payload.bytes;
 * handOffs.handed(payload); // handed to a socket
 * console.log(handOffs.waits.count); // 1
 * ```
 */
export class HandOffs {
  /** Bytes handed to sockets: messages, batches and control frames (payload bytes, as Deno's `bufferedAmount` counts them). */
  bytes = 0;
  /** How long application messages waited before their hand-off (exposed in seconds, observed in ms). */
  readonly waits: Histogram = new Histogram(DELIVERY_WAIT_BUCKETS, 1000);
  #now = 0;
  /** How many more writes may use `#now`; 0: read the clock. */
  #uses = 0;
  #forgetQueued = false;
  readonly #forget = () => {
    this.#uses = 0;
    this.#forgetQueued = false;
  };

  /** One payload was handed to a socket: observe its wait, if it carries a stamp. */
  handed(payload: Payload): void {
    const queuedAt = payload.queuedAt;
    if (queuedAt < 0) return;
    const wait = this.#clock() - queuedAt;
    this.waits.observe(wait > 0 ? wait : 0);
  }

  /** `payloads[from]` to `payloads[to - 1]` were handed to a socket in one frame. */
  handedRun(payloads: readonly Payload[], from: number, to: number): void {
    let now = -1;
    let bucket = 0;
    for (let i = from; i < to; i++) {
      const queuedAt = payloads[i].queuedAt;
      if (queuedAt < 0) continue;
      if (now < 0) now = this.#clock();
      const wait = now - queuedAt;
      // Queued in order, handed at once: each wait is close to the previous one's.
      bucket = this.waits.observeNear(wait > 0 ? wait : 0, bucket);
    }
  }

  #clock(): number {
    if (this.#uses > 0) {
      this.#uses--;
      return this.#now;
    }
    this.#now = performance.now();
    this.#uses = CLOCK_REUSE - 1;
    if (!this.#forgetQueued) {
      this.#forgetQueued = true;
      queueMicrotask(this.#forget);
    }
    return this.#now;
  }
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

/**
 * Writes the hub's metric families: `stats` as `hub.stats()` returns it,
 * `waits` the histogram of its writers' {@linkcode HandOffs}. The list, with
 * what each one counts, is in the README's Metrics section.
 *
 * @example
 * ```ts
 * import { Hub } from "../../mod.ts";
 * import { HandOffs, MetricsWriter, writeHubMetrics } from "./metrics.ts";
 *
 * const hub = new Hub();
 * const out = new MetricsWriter();
 * writeHubMetrics(out, hub.stats(), new HandOffs().waits);
 * console.log(out.text());
 * await hub.close();
 * ```
 */
export function writeHubMetrics(out: MetricsWriter, stats: HubStats, waits: Histogram): void {
  const framed = stats.framedConnections;
  out.gauge(
    "wshub_connections",
    "Live connections, by kind: plain (no subprotocol) or framed (wshub.v1).",
    [[{ kind: "plain" }, stats.connections - framed], [{ kind: "framed" }, framed]],
  );
  out.gauge("wshub_users", "Distinct users with at least one live connection.", stats.users);
  out.gauge("wshub_rooms", "Rooms with at least one member.", stats.rooms);
  out.counter("wshub_connections_accepted_total", "Connections registered.", stats.connected);
  out.counter(
    "wshub_disconnections_total",
    "Connections unregistered, by close code: 1000-1015, 4000, 4001 and 4002 by value, " +
      "app for other codes from 3000 to 4999, other for the rest.",
    closeCodeSamples(stats.closeCodes),
  );
  out.counter(
    "wshub_messages_received_total",
    "Application messages received from clients (requests excluded).",
    stats.messagesIn,
  );
  out.counter(
    "wshub_deliveries_total",
    "Messages queued for a client, one per recipient (requests and answers included).",
    stats.deliveries,
  );
  out.counter(
    "wshub_sent_bytes_total",
    "Bytes handed to sockets: messages, batches and control frames, without WebSocket framing.",
    stats.bytesOut,
  );
  out.histogram(
    "wshub_delivery_wait_seconds",
    "Time from the API call that queued an application message (broadcast, sendToUser, " +
      "publish, client.send) to its hand-off to the socket, per recipient.",
    waits,
  );
  out.counter(
    "wshub_dropped_messages_total",
    'Messages dropped by the "drop-oldest" overflow policy.',
    stats.dropped,
  );
  out.counter(
    "wshub_slow_consumers_total",
    "Clients closed because their send queue overflowed (1013).",
    stats.slowConsumers,
  );
  const { heartbeat, write, idle } = stats.timeouts;
  out.counter(
    "wshub_timeouts_total",
    "Clients cut off by a deadline, by kind: heartbeat (4000), write (4001), " +
      "idle (Deno's protocol ping, plain clients).",
    [[{ kind: "heartbeat" }, heartbeat], [{ kind: "write" }, write], [{ kind: "idle" }, idle]],
  );
  out.counter(
    "wshub_rate_limited_total",
    "Inbound frames refused by the rate limits (dropped, or the client closed).",
    stats.rateLimited,
  );
  out.counter(
    "wshub_refused_for_capacity_total",
    "Upgrades refused with 503 because maxConnections sockets were held.",
    stats.refusedForCapacity,
  );
  out.gauge(
    "wshub_sockets",
    "Sockets upgraded and not yet released: open, opening or closing.",
    stats.sockets,
  );
  out.gauge(
    "wshub_sockets_closing",
    "Sockets the hub closed whose peer has not completed the close handshake yet.",
    stats.closing,
  );
  out.counter(
    "wshub_forced_releases_total",
    "Sockets released by force after closeTimeout.",
    stats.forcedReleases,
  );
  out.counter(
    "wshub_leaked_sockets_total",
    "Sockets released by force with unsent data: their descriptor stays until the kernel " +
      "gives up.",
    stats.leakedSockets,
  );
  out.counter(
    "wshub_oversized_messages_total",
    "Text messages too large for a string that Deno failed on, caught by the guard.",
    stats.oversizedMessages,
  );
  out.gauge(
    "wshub_inbox_bytes",
    "Bytes of inbound messages waiting for slow async handlers, all clients.",
    stats.inboxBytes,
  );
  const r = stats.requests;
  out.counter("wshub_inbound_requests_total", "Requests received from clients.", r.received);
  out.counter(
    "wshub_inbound_requests_ended_total",
    "Requests from clients by outcome: answered, failed (handler error or no handler), " +
      "refused (too many in flight), dropped (the client left first).",
    [
      [{ outcome: "answered" }, r.answered],
      [{ outcome: "failed" }, r.failed],
      [{ outcome: "refused" }, r.refused],
      [{ outcome: "dropped" }, r.dropped],
    ],
  );
  out.gauge(
    "wshub_inbound_requests_in_flight",
    "Requests from clients received and not answered yet.",
    r.inFlight,
  );
  out.counter(
    "wshub_outbound_requests_total",
    "Requests sent to clients with client.request().",
    r.sent,
  );
  out.counter(
    "wshub_outbound_requests_ended_total",
    "Requests sent to clients by outcome: succeeded, rejected (the client failed it), " +
      "timed_out, aborted (the connection closed first).",
    [
      [{ outcome: "succeeded" }, r.succeeded],
      [{ outcome: "rejected" }, r.rejected],
      [{ outcome: "timed_out" }, r.timedOut],
      [{ outcome: "aborted" }, r.aborted],
    ],
  );
  out.gauge(
    "wshub_outbound_requests_pending",
    "Requests sent to clients and waiting for their answer.",
    r.pending,
  );
  out.counter(
    "wshub_outbound_requests_limited_total",
    "client.request() calls refused at once: maxRequestsInFlight were pending.",
    r.limited,
  );
  out.counter(
    "wshub_outbound_late_answers_total",
    "Answers from clients that came after their request timed out.",
    r.late,
  );
  out.counter(
    "wshub_recoveries_total",
    "Recoveries asked for by reconnecting clients, by outcome: recovered, or why not.",
    Object.entries(stats.recoveries).map(([outcome, count]) => [{ outcome }, count]),
  );
}

/**
 * The families of a backplane: whether it is up, what it published and
 * received, its round trip, and (when it keeps history) its stream reads
 * and writes.
 *
 * @example
 * ```ts
 * import { MetricsWriter, writeBackplaneMetrics } from "./metrics.ts";
 *
 * const out = new MetricsWriter();
 * writeBackplaneMetrics(out, "up", {
 *   published: 3, received: 5, dropped: 0, malformed: 0, channels: 2, roundTrip: 0.8,
 * });
 * console.log(out.text().includes("wshub_backplane_up 1")); // true
 * ```
 */
export function writeBackplaneMetrics(
  out: MetricsWriter,
  status: BackplaneStatus,
  stats: BackplaneStats | undefined,
): void {
  out.gauge(
    "wshub_backplane_up",
    "Whether the backplane is connected to its bus (1) or not (0).",
    status === "up" ? 1 : 0,
  );
  if (stats === undefined) return;
  out.counter(
    "wshub_backplane_published_total",
    "Messages published to the other processes.",
    stats.published,
  );
  out.counter(
    "wshub_backplane_received_total",
    "Messages received from the other processes.",
    stats.received,
  );
  out.counter(
    "wshub_backplane_dropped_total",
    "Messages that could not be published (the bus down): the other processes missed them.",
    stats.dropped,
  );
  out.counter(
    "wshub_backplane_malformed_total",
    "Malformed messages received from the bus and ignored.",
    stats.malformed,
  );
  out.gauge("wshub_backplane_channels", "Channels this process listens to.", stats.channels);
  if (stats.roundTrip !== undefined) {
    out.gauge(
      "wshub_backplane_round_trip_seconds",
      "The last round trip of a message through the bus and back.",
      stats.roundTrip / 1000,
    );
  }
  if (stats.historyAppends === undefined) return;
  out.counter(
    "wshub_history_appends_total",
    "Publications stored in room streams by this process.",
    stats.historyAppends,
  );
  out.counter("wshub_history_reads_total", "Room streams read.", stats.historyReads ?? 0);
  out.counter(
    "wshub_history_failures_total",
    "Stream appends and reads that failed.",
    stats.historyFailures ?? 0,
  );
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

/**
 * The whole exposition: the hub's families, then each collector's.
 *
 * @param collectors Extra families (see {@linkcode MetricsCollector}).
 *
 * @example
 * ```ts
 * import { Hub } from "../../mod.ts";
 * import { HandOffs, renderMetrics } from "./metrics.ts";
 *
 * const hub = new Hub();
 * const text = renderMetrics(hub.stats(), new HandOffs().waits);
 * console.log(text.split("\n").length);
 * await hub.close();
 * ```
 */
export function renderMetrics(
  stats: HubStats,
  waits: Histogram,
  collectors: readonly MetricsCollector[] = [],
): string {
  const out = new MetricsWriter();
  writeHubMetrics(out, stats, waits);
  for (const collect of collectors) collect(out);
  return out.text();
}
