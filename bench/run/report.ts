/**
 * Writing the results: bench/results/*.json, the tables of docs/benchmarks.md (between its
 * `results` markers) and docs/benchmarks.svg.
 *
 * @module
 */

import type { Scenario } from "./config.ts";
import { type RedisScenarioResult, redisTable } from "../redis_scenario.ts";
import { type PublishScenarioResult, publishTable } from "../publish_scenario.ts";
import { type Machine, sh } from "./machine.ts";
import { isReport, median, pairedRatio, type Runs, type Summary } from "./stats.ts";

/** A microbenchmark of `deno bench`. */
export interface MicroResult {
  group: string | null;
  name: string;
  avgNs: number;
  p99Ns: number;
}

/** Everything a report is made of. */
export interface Results {
  machine: Machine;
  loadgen: { impl: string; go: string | null; socketio: string };
  rounds: number;
  quick: boolean;
  pinned: boolean;
  scenarios: Scenario[];
  servers: {
    id: string;
    label: string;
    mode: string;
    cmd?: string;
    roomsCmd?: string;
    cwd?: string;
  }[];
  /** `--compare`: the revision whose fan-out server ran as `hub-…@<tag>`. */
  compare: { rev: string; sha: string; tag: string } | null;
  /** Scenarios left out, and why. */
  skipped: Record<string, string>;
  micro: MicroResult[];
  summary: Record<string, Record<string, Summary>>;
  runs: Runs;
  /** The cross-process scenario (bench/redis_scenario.ts), when it ran. */
  redis?: RedisScenarioResult;
  /** Publishing from other processes (bench/publish_scenario.ts), when it ran. */
  publish?: PublishScenarioResult;
  seconds: number;
}

const fmt = (x: number, d = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d })
    : "–";
const ratio = (x: number, base: number) =>
  Number.isFinite(x) && base > 0 ? `${(x / base).toFixed(2)}×` : "–";
const times = (x: number) => Number.isFinite(x) ? `${x.toFixed(2)}×` : "–";
const count = (n: number) => n.toLocaleString("en-US");

/** The window of a scenario's Go runs (messages in flight per publisher), when they had one. */
function windowOf(res: Results, sc: Scenario): number {
  return median(
    Object.values(res.runs[sc.id] ?? {}).flat().filter(isReport).map((r) => r.window ?? NaN),
  );
}

/** The sentence under a throughput scenario's title: what was sent, how, how long. */
function describe(res: Results, sc: Scenario): string {
  const who = sc.rooms
    ? `${count(sc.rooms)} rooms of ${sc.subs / sc.rooms} subscribers + ${sc.pubs ?? 1} publisher (${
      count(sc.subs + sc.rooms * (sc.pubs ?? 1))
    } connections; a message goes to every connection of its room, the sender included)`
    : `${count(sc.subs)} subscribers + 1 publisher`;
  if (sc.rate) {
    return `${who}, ${count(sc.messages)} messages of ${sc.size} B at ${sc.rate} msg/s; ` +
      `median of ${res.rounds} runs.`;
  }
  const w = windowOf(res, sc);
  const go = res.loadgen.impl === "go" && sc.duration;
  const byCount = res.servers.some((s) => s.mode === "socketio") || !go;
  let how = go
    ? `, messages of ${sc.size} B, unpaced for ${sc.duration} s, the first ${sc.warmup ?? 0} s ` +
      "not measured" +
      (Number.isFinite(w) ? `, at most ${fmt(w)} messages in flight per publisher` : "")
    : `, ${count(sc.messages)} messages of ${sc.size} B, unpaced`;
  if (go && byCount && !sc.rooms) {
    how += ` (Socket.IO: ${
      count(sc.messages)
    } messages, since bench/loadgen.ts has no duration mode)`;
  }
  return `${who}${how}; median of ${res.rounds} runs.`;
}

/** The tables of docs/benchmarks.md (or of the console, with `--no-docs` or `--quick`). */
export function tables(res: Results): string {
  const { scenarios, servers, summary, runs, rounds } = res;
  const out: string[] = [];
  const label = (id: string) => servers.find((s) => s.id === id)?.label ?? id;
  const S = (sc: string, sv: string): Summary | undefined => summary[sc]?.[sv];
  const flag = (x: Summary) =>
    (x.okRuns < x.runs ? ` ⚠ ${x.runs - x.okRuns}/${x.runs} runs failed` : "") +
    (x.loadgenSaturated ? ` (loadgen saturated in ${x.loadgenSaturated})` : "") +
    (x.disturbed ? ` (other load > 20 % in ${x.disturbed})` : "");

  for (const sc of scenarios.filter((s) => !s.idle)) {
    out.push(`### ${sc.title}`, "");
    if (res.skipped[sc.id]) {
      out.push(`Not run: ${res.skipped[sc.id]}.`, "");
      continue;
    }
    out.push(describe(res, sc), "");
    out.push(
      "| server | deliveries/s | vs raw | paired vs raw | p50 ms | p99 ms | p99 vs raw | paired p99 vs raw | max ms | lost | server µs/delivery | server CPU | loadgen CPU | other CPU |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    const r = S(sc.id, "raw");
    for (const s of servers) {
      const x = S(sc.id, s.id);
      if (!x) continue;
      const closed = Object.keys(x.closeCodes).length
        ? ` (closed: ${Object.entries(x.closeCodes).map(([k, v]) => `${v}×${k}`).join(", ")})`
        : "";
      const paired = (pick: Parameters<typeof pairedRatio>[4]) =>
        times(pairedRatio(runs, sc.id, s.id, "raw", pick));
      out.push(
        `| ${label(s.id)}${flag(x)}${closed} | ${fmt(x.deliveriesPerSec)} | ${
          ratio(x.deliveriesPerSec, r?.deliveriesPerSec ?? NaN)
        } | ${paired((run) => run.deliveriesPerSec)} | ` +
          `${fmt(x.p50, 1)} | ${fmt(x.p99, 1)} | ${ratio(x.p99, r?.p99 ?? NaN)} | ${
            paired((run) => run.latencyMs.p99)
          } | ${fmt(x.max, 1)} | ${fmt(x.lost)} | ` +
          `${fmt(x.usPerDelivery, 2)} | ${fmt(x.serverCpuPct)} % | ${fmt(x.loadgenCpuPct)} % | ${
            fmt(x.otherCpuPct)
          } % |`,
      );
    }
    out.push("");
  }

  const costIds = ["fanout100", "fanout1000", "fanout5000"].filter((id) => summary[id]);
  if (costIds.length) {
    out.push("### Server CPU per delivery as N grows", "");
    out.push("Server CPU time (all threads) ÷ messages written, µs; median of the runs above.", "");
    out.push(
      `| server | ${
        costIds.map((id) => `N=${count(scenarios.find((s) => s.id === id)!.subs)}`).join(" | ")
      } | N=max ÷ N=min |`,
    );
    out.push(`| --- | ${costIds.map(() => "---:").join(" | ")} | ---: |`);
    for (const s of servers) {
      const v = costIds.map((id) => summary[id][s.id]?.usPerDelivery ?? NaN);
      if (v.every((x) => !Number.isFinite(x))) continue;
      out.push(
        `| ${label(s.id)} | ${v.map((x) => fmt(x, 2)).join(" | ")} | ${
          ratio(v[v.length - 1], v[0])
        } |`,
      );
    }
    out.push("");
  }

  const idle = scenarios.find((s) => s.idle);
  if (idle && summary[idle.id]) {
    out.push(`### ${idle.title}`, "");
    out.push(
      "RSS per connection = (server VmRSS with every connection open − VmRSS before the first) ÷ connections; " +
        `server CPU over ${idle.idle} s with nothing sent (heartbeats at their defaults); median of ${rounds} runs.`,
      "",
    );
    out.push(
      "| server | KiB per connection | vs raw | idle server CPU | still open |",
      "| --- | ---: | ---: | ---: | ---: |",
    );
    const r = summary[idle.id].raw;
    for (const s of servers) {
      const x = summary[idle.id][s.id];
      if (!x) continue;
      const open = median(
        (runs[idle.id][s.id] ?? []).map((q) => isReport(q) && q.idle ? q.idle.stillOpen : NaN),
      );
      out.push(
        `| ${label(s.id)}${flag(x)} | ${fmt(x.rssKiBPerConn, 1)} | ${
          r
            ? `${x.rssKiBPerConn - r.rssKiBPerConn >= 0 ? "+" : ""}${
              fmt(x.rssKiBPerConn - r.rssKiBPerConn, 1)
            } KiB`
            : "–"
        } | ${fmt(x.idleCpuPct, 2)} % | ${fmt(open)} |`,
      );
    }
    out.push("");
  }

  if (res.compare) out.push(...compareTable(res));
  out.push(...historyTable(res));
  out.push(...inspectorTable(res));

  if (res.micro.length) {
    out.push("### Microbenchmarks (`deno bench -A bench/`)", "");
    out.push("| group | benchmark | mean | p99 |", "| --- | --- | ---: | ---: |");
    const t = (ns: number) =>
      ns >= 1e6 ? `${fmt(ns / 1e6, 2)} ms` : ns >= 1e3 ? `${fmt(ns / 1e3, 1)} µs` : `${fmt(ns)} ns`;
    for (const m of res.micro) {
      out.push(`| ${m.group ?? ""} | ${m.name} | ${t(m.avgNs)} | ${t(m.p99Ns)} |`);
    }
    out.push("");
  }
  return out.join("\n");
}

/**
 * `--compare`: the hub against raw and against the other revision's hub, paired within each
 * round, for deliveries/s and server CPU per delivery.
 */
function compareTable(res: Results): string[] {
  const { tag } = res.compare!;
  const out: string[] = [];
  const ids = res.scenarios.filter((s) => !s.idle && res.runs[s.id]?.[`hub-framed@${tag}`])
    .map((s) => s.id);
  out.push(`### The hub against hub@${tag}`, "");
  out.push(
    `hub@${tag} is \`bench/fanout_server.ts\` (in rooms: \`bench/rooms_server.ts\`) of ${
      res.compare!.sha
    } (\`--compare=${
      res.compare!.rev
    }\`), run in the same rounds. Paired ratios: the median over rounds of the ratio within a round.`,
    "",
  );
  out.push(
    `| scenario | clients | deliveries/s: hub ÷ raw | hub@${tag} ÷ raw | hub ÷ hub@${tag} | p99: hub ÷ hub@${tag} | µs/delivery: hub ÷ hub@${tag} |`,
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const id of ids) {
    for (const mode of ["plain", "framed"]) {
      const now = `hub-${mode}`;
      const then = `hub-${mode}@${tag}`;
      const p = (a: string, b: string, pick: Parameters<typeof pairedRatio>[4]) =>
        times(pairedRatio(res.runs, id, a, b, pick));
      const dps = (r: { deliveriesPerSec: number }) => r.deliveriesPerSec;
      out.push(
        `| ${id} | ${mode} | ${p(now, "raw", dps)} | ${p(then, "raw", dps)} | ${
          p(now, then, dps)
        } | ${p(now, then, (r) => r.latencyMs.p99)} | ${
          p(now, then, (r) => r.server?.usPerDelivery ?? NaN)
        } |`,
      );
    }
  }
  out.push("");
  return out;
}

/**
 * What a feature costs: each server that has it against the same server without, paired within
 * each round, in every scenario both ran. `pairs` are `[with, without]` server ids.
 */
function costTable(res: Results, title: string, text: string, pairs: [string, string][]): string[] {
  const rows: string[] = [];
  for (const sc of res.scenarios) {
    for (const [on, off] of pairs) {
      if (!res.runs[sc.id]?.[on] || !res.runs[sc.id]?.[off]) continue;
      const p = (pick: Parameters<typeof pairedRatio>[4]) =>
        times(pairedRatio(res.runs, sc.id, on, off, pick));
      rows.push(
        `| ${sc.id} | ${on} | ${p((r) => r.deliveriesPerSec)} | ${p((r) => r.latencyMs.p50)} | ${
          p((r) => r.latencyMs.p99)
        } | ${p((r) => r.server?.usPerDelivery ?? NaN)} | ${p((r) => r.server?.cpuPct ?? NaN)} |`,
      );
    }
  }
  if (rows.length === 0) return [];
  return [
    `### ${title}`,
    "",
    `${text} Paired ratios: the median over rounds of with ÷ without within a round (above 1× ` +
    "for latency and CPU, below 1× for deliveries/s: it costs).",
    "",
    "| scenario | server | deliveries/s | p50 | p99 | server µs/delivery | server CPU |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
  ];
}

/** What history costs: `hub-framed-history` against `hub-framed`. */
function historyTable(res: Results): string[] {
  return costTable(
    res,
    "What history costs",
    "`hub-framed-history` is `bench/rooms_server.ts --history` (every room keeps its last 100 " +
      "publications for 60 s, in memory), against `hub-framed`, the same server without, run in " +
      "the same rounds.",
    [["hub-framed-history", "hub-framed"]],
  );
}

/** What an open inspector costs: `hub-…-inspector` against `hub-…` (`--inspector`). */
function inspectorTable(res: Results): string[] {
  return costTable(
    res,
    "What an open inspector costs",
    "`hub-…-inspector` is `bench/fanout_server.ts --inspector` (the inspector mounted, one " +
      "page's live stream open and read, in the server's process), against the same server " +
      "without, run in the same rounds.",
    [["hub-plain-inspector", "hub-plain"], ["hub-framed-inspector", "hub-framed"]],
  );
}

const COLORS: Record<string, string> = {
  raw: "#6b7280",
  "hub-plain": "#2563eb",
  "hub-framed": "#16a34a",
  "hub-framed-history": "#15803d",
  "node-ws": "#d97706",
  socketio: "#9333ea",
};

function color(id: string): string {
  const at = id.indexOf("@");
  if (at > 0) return id.startsWith("hub-plain") ? "#93c5fd" : "#86efac"; // another revision's hub
  return COLORS[id] ?? "#888";
}

/** docs/benchmarks.svg: one panel of horizontal bars (deliveries/s) per unpaced scenario. */
export function svg(res: Results): string {
  const { summary, servers, machine } = res;
  const panels = res.scenarios.filter((s) => !s.idle && !s.rate && summary[s.id]);
  const barH = 18, gap = 6, labelW = 190, chartW = 420, panelGap = 34;
  const inPanel = (sc: Scenario) => servers.filter((s) => summary[sc.id][s.id]);
  const width = labelW + chartW + 130;
  const height = 46 + panels.reduce(
    (h, sc) => h + inPanel(sc).length * (barH + gap) + 28 + panelGap,
    0,
  );
  const esc = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;");
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="600">Fan-out throughput, deliveries/s (median of ${res.rounds}; longer is better)</text>`,
  ];
  let y = 46;
  for (const sc of panels) {
    const these = inPanel(sc);
    const vals = these.map((s) => summary[sc.id][s.id]?.deliveriesPerSec ?? NaN);
    const max = Math.max(...vals.filter(Number.isFinite), 1);
    const raw = summary[sc.id].raw?.deliveriesPerSec ?? NaN;
    parts.push(`<text x="12" y="${y + 14}" font-weight="600">${esc(sc.title)}</text>`);
    let by = y + 26;
    these.forEach((s, i) => {
      const v = vals[i];
      const w = Number.isFinite(v) ? Math.max(1, (v / max) * chartW) : 0;
      const failed = (summary[sc.id][s.id]?.okRuns ?? 0) < (summary[sc.id][s.id]?.runs ?? 0);
      parts.push(
        `<text x="${labelW - 8}" y="${by + barH - 5}" text-anchor="end">${esc(s.label)}</text>`,
      );
      parts.push(
        `<rect x="${labelW}" y="${by}" width="${w.toFixed(1)}" height="${barH}" fill="${
          color(s.id)
        }" rx="2"/>`,
      );
      const text = Number.isFinite(v)
        ? `${fmt(v / 1000, 0)}k  (${ratio(v, raw)})${failed ? " ⚠ failed runs" : ""}`
        : "failed";
      parts.push(
        `<text x="${(labelW + w + 6).toFixed(1)}" y="${by + barH - 5}" fill="#111">${
          esc(text)
        }</text>`,
      );
      by += barH + gap;
    });
    y += these.length * (barH + gap) + 28 + panelGap;
  }
  parts.push(
    `<text x="12" y="${height - 10}" font-size="11" fill="#555">${
      esc(
        `${machine.nproc} × ${machine.cpuModel}, Deno ${machine.deno}, Node ${machine.node}; ratios vs raw Deno. See docs/benchmarks.md.`,
      )
    }</text>`,
  );
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

/** The paragraph above the tables: when, where, with what. */
function runText(res: Results): string {
  const { machine } = res;
  return `Run ${
    machine.date.slice(0, 10)
  }: ${machine.nproc} × ${machine.cpuModel}, ${machine.memGiB} GiB, Linux ${machine.kernel}; ` +
    `Deno ${machine.deno} (V8 ${machine.v8}), Node ${machine.node}. ` +
    (machine.pinned
      ? "Server pinned to CPU 0, load generator to CPU 1 (`taskset`)."
      : `Not pinned (${machine.taskset ? "fewer than 2 CPUs" : "no taskset"}).`) +
    (res.loadgen.impl === "go"
      ? ` Load generator: bench/loadgen_go (${res.loadgen.go}, gorilla/websocket)` +
        (res.servers.some((s) => s.mode === "socketio") ? "; Socket.IO: bench/loadgen.ts." : ".")
      : " Load generator: bench/loadgen.ts.") +
    ` ${res.rounds} interleaved rounds; the whole run took ${res.seconds} s.\n`;
}

/** Writes bench/results/latest.json (quick.json with `--quick`); returns its path. */
export async function writeResults(root: string, res: Results): Promise<string> {
  await Deno.mkdir(`${root}bench/results`, { recursive: true });
  const file = `${root}bench/results/${res.quick ? "quick" : "latest"}.json`;
  await Deno.writeTextFile(file, JSON.stringify(res, null, 2) + "\n");
  return file;
}

/** Rewrites docs/benchmarks.md between its `results` markers, and docs/benchmarks.svg. */
export async function writeDocs(root: string, res: Results): Promise<void> {
  const docPath = `${root}docs/benchmarks.md`;
  let doc = await Deno.readTextFile(docPath).catch(() => "");
  const begin = "<!-- results:begin (written by bench/run.ts) -->";
  const end = "<!-- results:end -->";
  const block = `${begin}\n\n${runText(res)}\n${
    tables(res)
  }\n![Fan-out throughput](benchmarks.svg)\n\n${res.redis ? `${redisTable(res.redis)}\n` : ""}${
    res.publish ? `${publishTable(res.publish)}\n` : ""
  }${end}`;
  if (doc.includes(begin) && doc.includes(end)) {
    doc = doc.slice(0, doc.indexOf(begin)) + block + doc.slice(doc.indexOf(end) + end.length);
  } else {
    doc = `# Benchmarks\n\n${block}\n` + doc;
  }
  await Deno.writeTextFile(docPath, doc);
  await Deno.writeTextFile(`${root}docs/benchmarks.svg`, svg(res));
  await sh(["deno", "fmt", "docs/benchmarks.md"], root);
}
