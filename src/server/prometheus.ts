/**
 * The Prometheus text exposition format (version 0.0.4), with no
 * dependency: {@linkcode MetricsWriter}, a small builder of `# HELP` /
 * `# TYPE` lines and samples with the format's escaping and name checks, and
 * {@linkcode Histogram}, fixed buckets observed without allocation. What the
 * hub exposes with them is the catalogue in `metrics.ts`.
 *
 * @module
 */

/**
 * The `Content-Type` of the text exposition format that `hub.metricsResponse()`
 * sends.
 *
 * @example
 * ```ts
 * import { METRICS_CONTENT_TYPE } from "./prometheus.ts";
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
 * import type { Labels } from "./prometheus.ts";
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
 * import type { Samples } from "./prometheus.ts";
 *
 * const single: Samples = 3;
 * const byKind: Samples = [[{ kind: "plain" }, 1], [{ kind: "framed" }, 2]];
 * console.log(single, byKind.length);
 * ```
 */
export type Samples = number | readonly (readonly [Labels, number])[];

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
 * import { MetricsWriter } from "./prometheus.ts";
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
 * import { escapeLabelValue } from "./prometheus.ts";
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
 * import { Histogram } from "./prometheus.ts";
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
  constructor(bounds: readonly number[], scale?: number) {
    scale ??= 1;
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

  /**
   * Counts `count` more observations in bucket `bucket` whose values add up
   * to `sum` (in the observed unit): observations already made once, made
   * again (see `HandOffs`).
   */
  add(bucket: number, count: number, sum: number): void {
    this.counts[bucket] += count;
    this.#sum += sum;
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
