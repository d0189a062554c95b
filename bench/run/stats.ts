/**
 * From the load generator's reports to the figures of the tables: medians over rounds and paired
 * ratios.
 *
 * @module
 */

import type { Report } from "../loadgen.ts";

/**
 * A load generator's report: bench/loadgen.ts's `Report`, with the fields only the Go load
 * generator (bench/loadgen_go/) adds.
 */
export type LoadReport = Report & {
  publishers?: number;
  rooms?: number;
  window?: number;
  misrouted?: number;
  outOfOrder?: number;
  /** `r` frames whose history offset did not follow the connection's last one. */
  offsetBreaks?: number;
  ignoredFrames?: number;
  /** Milliseconds that deliveries/s is taken over (warm-up and drain excluded). */
  measuredMs?: number;
};

/** One run: the report, or why there is none. */
export type RunResult = LoadReport | { ok: false; error: string };

/** Every run, by scenario id then server id, in round order. */
export type Runs = Record<string, Record<string, RunResult[]>>;

export function isReport(r: RunResult): r is LoadReport {
  return "mode" in r;
}

/** What went wrong in a run, in a few words; "" when it went well. */
export function problem(r: RunResult): string {
  if (!isReport(r)) return r.error;
  if (r.ok) return "";
  const parts: string[] = [];
  if (r.error) parts.push(r.error);
  for (
    const [k, v] of [
      ["connect failed", r.connectFailed],
      ["lost", r.lost],
      ["corrupt", r.corrupt],
      ["misrouted", r.misrouted],
      ["out of order", r.outOfOrder],
      ["offset breaks", r.offsetBreaks],
      ["protocol errors", r.protocolErrors],
    ] as const
  ) {
    if (v) parts.push(`${k} ${v}`);
  }
  const closed = Object.entries(r.closeCodes ?? {});
  if (closed.length) parts.push(`closed ${closed.map(([k, v]) => `${v}×${k}`).join(", ")}`);
  return parts.join(", ") || "not ok";
}

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** One server in one scenario, over its rounds. */
export interface Summary {
  runs: number;
  okRuns: number;
  deliveriesPerSec: number;
  p50: number;
  p99: number;
  max: number;
  lost: number;
  usPerDelivery: number;
  serverCpuPct: number;
  loadgenCpuPct: number;
  loadgenSaturated: number;
  /** Median CPU used by other processes during the runs (100 = one core), and runs above 20 %. */
  otherCpuPct: number;
  disturbed: number;
  rssKiBPerConn: number;
  idleCpuPct: number;
  closeCodes: Record<string, number>;
  errors: string[];
}

export function summarize(list: RunResult[]): Summary {
  const reports = list.filter(isReport);
  const closeCodes: Record<string, number> = {};
  for (const r of reports) {
    for (const [k, v] of Object.entries(r.closeCodes)) closeCodes[k] = (closeCodes[k] ?? 0) + v;
  }
  return {
    runs: list.length,
    okRuns: list.filter((r) => r.ok).length,
    deliveriesPerSec: median(reports.map((r) => r.deliveriesPerSec)),
    p50: median(reports.map((r) => r.latencyMs.p50)),
    p99: median(reports.map((r) => r.latencyMs.p99)),
    max: median(reports.map((r) => r.latencyMs.max)),
    lost: median(reports.map((r) => r.lost)),
    usPerDelivery: median(reports.map((r) => r.server?.usPerDelivery ?? NaN)),
    serverCpuPct: median(reports.map((r) => r.server?.cpuPct ?? NaN)),
    loadgenCpuPct: median(reports.map((r) => r.loadgen.cpuPct)),
    loadgenSaturated: reports.filter((r) => r.loadgen.saturated).length,
    otherCpuPct: median(reports.map((r) => r.otherCpuPct ?? NaN)),
    disturbed: reports.filter((r) => (r.otherCpuPct ?? 0) > 20).length,
    rssKiBPerConn: median(reports.map((r) => r.idle?.rssKiBPerConn ?? NaN)),
    idleCpuPct: median(reports.map((r) => r.idle?.serverCpuPct ?? NaN)),
    closeCodes,
    errors: [...new Set(list.filter((r) => !r.ok).map(problem))],
  };
}

/** Summaries by scenario id then server id. */
export function summarizeAll(runs: Runs): Record<string, Record<string, Summary>> {
  const out: Record<string, Record<string, Summary>> = {};
  for (const [sc, byServer] of Object.entries(runs)) {
    out[sc] = {};
    for (const [sv, list] of Object.entries(byServer)) out[sc][sv] = summarize(list);
  }
  return out;
}

/**
 * The median over rounds of `server ÷ base` for one measure, each ratio taken within one round:
 * robust to a machine whose speed drifts between rounds, which the ratio of medians is not.
 */
export function pairedRatio(
  runs: Runs,
  sc: string,
  sv: string,
  base: string,
  pick: (r: LoadReport) => number,
): number {
  const mine = runs[sc]?.[sv] ?? [];
  const theirs = runs[sc]?.[base] ?? [];
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(mine.length, theirs.length); i++) {
    const a = mine[i];
    const b = theirs[i];
    if (isReport(a) && isReport(b) && a.ok && b.ok) ratios.push(pick(a) / pick(b));
  }
  return median(ratios);
}
