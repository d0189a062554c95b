/**
 * `deno task bench`: the microbenchmarks, then the fan-out comparison, then docs/benchmarks.md
 * (between its `results` markers) and docs/benchmarks.svg.
 *
 * Flags:
 * - `--quick`: one round, smaller scenarios, no idle run; writes bench/results/quick.json only
 * - `--rounds=N` (3), `--only=raw,hub-plain,…` servers, `--scenarios=fanout1000,…`
 * - `--no-micro`: skip `deno bench`; `--no-docs`: do not touch docs/
 * - `--loadgen=go` (default) | `deno`: the Go load generator (bench/loadgen_go/, built once per
 *   run into a temp dir; falls back to `deno` when `go` or gorilla/websocket is missing) or
 *   bench/loadgen.ts. Socket.IO runs always use bench/loadgen.ts.
 * - `--scenarios=redis`: the cross-process scenario alone (bench/redis_scenario.ts: one process
 *   against two joined by Redis; needs redis-server and the Go load generator, else skipped)
 *
 * Servers start fresh for every run and are pinned to CPU 0, the load generator to CPU 1
 * (`taskset`), when there are at least two CPUs and `taskset` exists. Runs are interleaved:
 * every server once per round, for each scenario.
 *
 * @module
 */

import type { Report } from "./loadgen.ts";
import { buildGoLoadgen, type GoLoadgen } from "./loadgen_go.ts";
import { redisTable, runRedisScenario } from "./redis_scenario.ts";

const root = new URL("../", import.meta.url).pathname;
const args = new Map(Deno.args.map((a) => {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  return m ? [m[1], m[2] ?? "true"] as const : [a, "true"] as const;
}));
const quick = args.has("quick");
const rounds = Number(args.get("rounds") ?? (quick ? 1 : 3));
const withDocs = !quick && !args.has("no-docs");

interface ServerSpec {
  id: string;
  label: string;
  cmd: string[];
  mode: "plain" | "framed" | "socketio";
}

const SERVERS: ServerSpec[] = [
  {
    id: "raw",
    label: "raw Deno",
    cmd: ["deno", "run", "-A", "bench/raw_server.ts"],
    mode: "plain",
  },
  {
    id: "hub-plain",
    label: "hub, plain clients",
    cmd: ["deno", "run", "-A", "bench/fanout_server.ts"],
    mode: "plain",
  },
  {
    id: "hub-framed",
    label: "hub, wshub.v1 clients",
    cmd: ["deno", "run", "-A", "bench/fanout_server.ts"],
    mode: "framed",
  },
  { id: "node-ws", label: "Node ws", cmd: ["node", "bench/node/ws_server.mjs"], mode: "plain" },
  {
    id: "socketio",
    label: "Socket.IO",
    cmd: ["node", "bench/node/socketio_server.mjs"],
    mode: "socketio",
  },
];

interface Scenario {
  id: string;
  title: string;
  subs: number;
  messages: number;
  size: number;
  rate?: number;
  idle?: number;
  timeLimit: number;
}

const SCENARIOS: Scenario[] = quick
  ? [
    {
      id: "fanout1000",
      title: "N=1,000, 128 B, unpaced",
      subs: 1000,
      messages: 50,
      size: 128,
      timeLimit: 60,
    },
    {
      id: "fanout100",
      title: "N=100, 128 B, unpaced",
      subs: 100,
      messages: 500,
      size: 128,
      timeLimit: 60,
    },
    {
      id: "paced",
      title: "N=100, 128 B, 300 msg/s",
      subs: 100,
      messages: 300,
      size: 128,
      rate: 300,
      timeLimit: 60,
    },
    {
      id: "fanout5000",
      title: "N=5,000, 128 B, unpaced",
      subs: 5000,
      messages: 10,
      size: 128,
      timeLimit: 60,
    },
    {
      id: "idle",
      title: "1,000 idle connections, 3 s",
      subs: 1000,
      messages: 0,
      size: 128,
      idle: 3,
      timeLimit: 60,
    },
  ]
  : [
    {
      id: "fanout1000",
      title: "N=1,000, 128 B, unpaced",
      subs: 1000,
      messages: 200,
      size: 128,
      timeLimit: 90,
    },
    {
      id: "fanout100",
      title: "N=100, 128 B, unpaced",
      subs: 100,
      messages: 1000,
      size: 128,
      timeLimit: 90,
    },
    {
      id: "paced",
      title: "N=100, 128 B, 300 msg/s",
      subs: 100,
      messages: 3000,
      size: 128,
      rate: 300,
      timeLimit: 90,
    },
    {
      id: "fanout5000",
      title: "N=5,000, 128 B, unpaced",
      subs: 5000,
      messages: 40,
      size: 128,
      timeLimit: 120,
    },
    {
      id: "idle",
      title: "10,000 idle connections, 10 s",
      subs: 10000,
      messages: 0,
      size: 128,
      idle: 10,
      timeLimit: 120,
    },
  ];

const only = args.get("only")?.split(",");
const servers = SERVERS.filter((s) => !only || only.includes(s.id));
const onlyScenarios = args.get("scenarios")?.split(",");
const scenarios = SCENARIOS.filter((s) => !onlyScenarios || onlyScenarios.includes(s.id));

async function sh(
  cmd: string[],
  opts: { cwd?: string } = {},
): Promise<{ code: number; out: string; err: string }> {
  const p = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: opts.cwd ?? root,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

async function which(bin: string): Promise<boolean> {
  return (await sh(["sh", "-c", `command -v ${bin}`])).code === 0;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Machine

const nproc = navigator.hardwareConcurrency;
const hasTaskset = await which("taskset");
const pin = hasTaskset && nproc >= 2;
const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
const cpuModel = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown";
const nodeVersion = (await sh(["node", "--version"]).catch(() => ({ out: "absent" }))).out.trim();
const hardNofile = Number((await sh(["sh", "-c", "ulimit -Hn"])).out.trim()) || 0;
const machine = {
  nproc,
  cpuModel,
  memGiB: Math.round(
    Number(/MemTotal:\s*(\d+)/.exec(await Deno.readTextFile("/proc/meminfo"))?.[1] ?? 0) / 1048576,
  ),
  kernel: (await sh(["uname", "-r"])).out.trim(),
  deno: Deno.version.deno,
  v8: Deno.version.v8,
  node: nodeVersion,
  pinned: pin,
  taskset: hasTaskset,
  nofile: hardNofile,
  date: new Date().toISOString(),
};
console.error(`machine: ${JSON.stringify(machine)}`);

// ---------------------------------------------------------------------------------------------
// Load generator

const loadgenChoice = args.get("loadgen") ?? "go";
if (loadgenChoice !== "go" && loadgenChoice !== "deno") throw new Error("--loadgen=go|deno");
let goLoadgen: GoLoadgen | undefined;
if (loadgenChoice === "go") {
  const built = await buildGoLoadgen(root);
  if ("error" in built) {
    console.error(`Go load generator unavailable, using bench/loadgen.ts: ${built.error}`);
  } else {
    goLoadgen = built;
    console.error(`load generator: ${built.binary} (${built.goVersion})`);
  }
}
const loadgen = {
  impl: goLoadgen ? "go" : "deno",
  go: goLoadgen?.goVersion ?? null,
  socketio: "deno",
};

// ---------------------------------------------------------------------------------------------
// Node peers

if (servers.some((s) => s.cmd[0] === "node")) {
  try {
    await Deno.stat(`${root}bench/node/node_modules`);
  } catch {
    console.error("npm install --prefix bench/node");
    const r = await sh(["npm", "install", "--prefix", "bench/node", "--no-audit", "--no-fund"]);
    if (r.code !== 0) throw new Error(`npm install failed:\n${r.err}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Microbenchmarks

interface MicroResult {
  group: string | null;
  name: string;
  avgNs: number;
  p99Ns: number;
}
let micro: MicroResult[] = [];
if (!args.has("no-micro") && !quick) {
  console.error("deno bench -A bench/");
  const r = await sh(["deno", "bench", "-A", "--json", "bench/"]);
  try {
    const json = JSON.parse(r.out);
    for (const b of json.benches ?? []) {
      const ok = b.results?.[0]?.ok;
      if (ok) micro.push({ group: b.group ?? null, name: b.name, avgNs: ok.avg, p99Ns: ok.p99 });
    }
  } catch {
    console.error(
      `deno bench --json output not parsed:\n${r.out.slice(0, 500)}\n${r.err.slice(0, 2000)}`,
    );
  }
  if (r.code !== 0) console.error(`deno bench exited ${r.code}:\n${r.err.slice(0, 2000)}`);
  micro = micro.filter((m) => Number.isFinite(m.avgNs));
}

// ---------------------------------------------------------------------------------------------
// Fan-out runs

let nextPort = 9400 + Math.floor(Math.random() * 400);

async function waitForPort(port: number, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return true;
    } catch {
      await sleep(50);
    }
  }
  return false;
}

function pinned(cpu: number, cmd: string[]): string[] {
  const quoted = cmd.map((c) => `'${c.replaceAll("'", "'\\''")}'`).join(" ");
  const prefix = pin ? `taskset -c ${cpu} ` : "";
  // Raise the open-file limit to the hard limit for 10,000 connections.
  return ["bash", "-c", `ulimit -n ${hardNofile || 20000} 2>/dev/null; exec ${prefix}${quoted}`];
}

type RunResult = Report | { ok: false; error: string };

async function runOnce(server: ServerSpec, sc: Scenario): Promise<RunResult> {
  const port = nextPort++;
  const cmd = pinned(0, [...server.cmd, `--port=${port}`]);
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let serverErr = "";
  (async () => {
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) break;
      if (serverErr.length < 4000) serverErr += value;
    }
  })();
  try {
    if (!await waitForPort(port, 15_000)) {
      return { ok: false, error: `server did not listen: ${serverErr}` };
    }
    await sleep(200);
    const lg = [
      ...(goLoadgen && server.mode !== "socketio"
        ? [goLoadgen.binary]
        : ["deno", "run", "-A", "bench/loadgen.ts"]),
      `--url=ws://127.0.0.1:${port}/ws`,
      `--mode=${server.mode}`,
      `--subs=${sc.subs}`,
      `--messages=${sc.messages}`,
      `--size=${sc.size}`,
      `--rate=${sc.rate ?? 0}`,
      `--server-pid=${child.pid}`,
      `--time-limit=${sc.timeLimit}`,
      ...(sc.idle ? [`--idle=${sc.idle}`] : []),
    ];
    const r = await sh(pinned(1, lg));
    const line = r.out.trim().split("\n").pop() ?? "";
    try {
      return JSON.parse(line);
    } catch {
      return { ok: false, error: `loadgen output: ${line.slice(0, 300)} ${r.err.slice(0, 1000)}` };
    }
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    const exited = await Promise.race([
      child.status.then(() => true),
      sleep(3000).then(() => false),
    ]);
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    }
  }
}

const runs: Record<string, Record<string, RunResult[]>> = {};
const t0 = performance.now();
for (const sc of scenarios) {
  runs[sc.id] = {};
  for (let round = 0; round < rounds; round++) {
    // Counterbalanced order (A B C, then C B A, …): a machine that speeds up or slows down during
    // a round then favours no server systematically.
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const server of order) {
      const r = await runOnce(server, sc);
      (runs[sc.id][server.id] ??= []).push(r);
      const s = "deliveriesPerSec" in r
        ? r.idle
          ? `${r.idle.rssKiBPerConn} KiB/conn, idle CPU ${r.idle.serverCpuPct} %, open ${r.idle.stillOpen}`
          : `${r.deliveriesPerSec} del/s, p99 ${r.latencyMs.p99} ms, lost ${r.lost}, server ${r.server?.usPerDelivery} µs/del, loadgen ${r.loadgen.cpuPct} %, other ${r.otherCpuPct} %`
        : "";
      console.error(
        `[${((performance.now() - t0) / 1000).toFixed(0)} s] ${sc.id} round ${
          round + 1
        } ${server.id}: ` +
          `${r.ok ? "ok" : `NOT OK ${r.error ?? ""}`} ${s}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Summaries

function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

interface Summary {
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

function summarize(list: RunResult[]): Summary {
  const reports = list.filter((r): r is Report => "mode" in r);
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
    errors: [
      ...new Set(list.filter((r) => !r.ok).map((r) => r.error ?? "lost or corrupt deliveries")),
    ],
  };
}

/**
 * The median over rounds of `server ÷ raw` for one measure, each ratio taken within one round:
 * robust to a machine whose speed drifts between rounds, which the ratio of medians is not.
 */
function pairedRatio(sc: string, sv: string, pick: (r: Report) => number): number {
  const mine = runs[sc]?.[sv] ?? [];
  const base = runs[sc]?.raw ?? [];
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(mine.length, base.length); i++) {
    const a = mine[i];
    const b = base[i];
    if ("mode" in a && "mode" in b && a.ok && b.ok) ratios.push(pick(a) / pick(b));
  }
  return median(ratios);
}

const summary: Record<string, Record<string, Summary>> = {};
for (const sc of scenarios) {
  summary[sc.id] = {};
  for (const s of servers) summary[sc.id][s.id] = summarize(runs[sc.id][s.id] ?? []);
}

// Several processes over Redis (bench/redis_scenario.ts), unless other scenarios were chosen.
const redis = !onlyScenarios || onlyScenarios.includes("redis")
  ? await runRedisScenario({ root, loadgen: goLoadgen?.binary, quick, rounds })
  : undefined;

if (goLoadgen) await Deno.remove(goLoadgen.dir, { recursive: true }).catch(() => {});

const results = {
  machine,
  loadgen,
  rounds,
  quick,
  pinned: pin,
  scenarios,
  servers: servers.map(({ id, label, mode, cmd }) => ({ id, label, mode, cmd: cmd.join(" ") })),
  micro,
  summary,
  runs,
  redis,
  seconds: Math.round((performance.now() - t0) / 1000),
};
await Deno.mkdir(`${root}bench/results`, { recursive: true });
const resultsFile = `${root}bench/results/${quick ? "quick" : "latest"}.json`;
await Deno.writeTextFile(resultsFile, JSON.stringify(results, null, 2) + "\n");
console.error(`wrote ${resultsFile}`);

// ---------------------------------------------------------------------------------------------
// docs/benchmarks.md and docs/benchmarks.svg

const fmt = (x: number, d = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d })
    : "–";
const ratio = (x: number, base: number) =>
  Number.isFinite(x) && base > 0 ? `${(x / base).toFixed(2)}×` : "–";
const times = (x: number) => Number.isFinite(x) ? `${x.toFixed(2)}×` : "–";

function table(): string {
  const out: string[] = [];
  const label = (id: string) => servers.find((s) => s.id === id)?.label ?? id;
  const S = (sc: string, sv: string) => summary[sc]?.[sv];
  const raw = (sc: string) => S(sc, "raw");
  const flag = (x: Summary) =>
    (x.okRuns < x.runs ? ` ⚠ ${x.runs - x.okRuns}/${x.runs} runs failed` : "") +
    (x.loadgenSaturated ? ` (loadgen saturated in ${x.loadgenSaturated})` : "") +
    (x.disturbed ? ` (other load > 20 % in ${x.disturbed})` : "");

  for (const sc of scenarios.filter((s) => !s.idle)) {
    out.push(`### ${sc.title}${sc.rate ? "" : ""}`, "");
    out.push(
      `${sc.subs.toLocaleString("en-US")} subscribers + 1 publisher, ${
        sc.messages.toLocaleString("en-US")
      } messages of ${sc.size} B` +
        (sc.rate ? ` at ${sc.rate} msg/s` : ", unpaced") + `; median of ${rounds} runs.`,
      "",
    );
    out.push(
      "| server | deliveries/s | vs raw | paired vs raw | p50 ms | p99 ms | p99 vs raw | paired p99 vs raw | max ms | lost | server µs/delivery | server CPU | loadgen CPU | other CPU |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const s of servers) {
      const x = S(sc.id, s.id);
      if (!x) continue;
      const r = raw(sc.id);
      out.push(
        `| ${label(s.id)}${flag(x)} | ${fmt(x.deliveriesPerSec)} | ${
          ratio(x.deliveriesPerSec, r?.deliveriesPerSec ?? NaN)
        } | ${times(pairedRatio(sc.id, s.id, (run) => run.deliveriesPerSec))} | ` +
          `${fmt(x.p50, 1)} | ${fmt(x.p99, 1)} | ${ratio(x.p99, r?.p99 ?? NaN)} | ${
            times(pairedRatio(sc.id, s.id, (run) => run.latencyMs.p99))
          } | ${fmt(x.max, 1)} | ${fmt(x.lost)} | ` +
          `${fmt(x.usPerDelivery, 2)} | ${fmt(x.serverCpuPct)} % | ${fmt(x.loadgenCpuPct)} % | ${
            fmt(x.otherCpuPct)
          } % |`,
      );
      if (Object.keys(x.closeCodes).length) {
        out[out.length - 1] = out[out.length - 1].replace(
          ` | ${fmt(x.deliveriesPerSec)}`,
          ` (closed: ${Object.entries(x.closeCodes).map(([k, v]) => `${v}×${k}`).join(", ")}) | ${
            fmt(x.deliveriesPerSec)
          }`,
        );
      }
    }
    out.push("");
  }

  const costIds = ["fanout100", "fanout1000", "fanout5000"].filter((id) => summary[id]);
  if (costIds.length) {
    out.push("### Server CPU per delivery as N grows", "");
    out.push("Server CPU time (all threads) ÷ messages written, µs; median of the runs above.", "");
    out.push(
      `| server | ${
        costIds.map((id) => `N=${scenarios.find((s) => s.id === id)!.subs.toLocaleString("en-US")}`)
          .join(" | ")
      } | N=max ÷ N=min |`,
    );
    out.push(`| --- | ${costIds.map(() => "---:").join(" | ")} | ---: |`);
    for (const s of servers) {
      const v = costIds.map((id) => summary[id][s.id]?.usPerDelivery ?? NaN);
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
      const open = median(
        (runs[idle.id][s.id] ?? []).map((q) => "idle" in q && q.idle ? q.idle.stillOpen : NaN),
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

  if (micro.length) {
    out.push("### Microbenchmarks (`deno bench -A bench/`)", "");
    out.push("| group | benchmark | mean | p99 |", "| --- | --- | ---: | ---: |");
    const t = (ns: number) =>
      ns >= 1e6 ? `${fmt(ns / 1e6, 2)} ms` : ns >= 1e3 ? `${fmt(ns / 1e3, 1)} µs` : `${fmt(ns)} ns`;
    for (const m of micro) {
      out.push(`| ${m.group ?? ""} | ${m.name} | ${t(m.avgNs)} | ${t(m.p99Ns)} |`);
    }
    out.push("");
  }
  return out.join("\n");
}

function svg(): string {
  // One panel per throughput scenario: horizontal bars, deliveries/s, label with the ratio to raw.
  const panels = scenarios.filter((s) => !s.idle && s.id !== "paced");
  const colors: Record<string, string> = {
    raw: "#6b7280",
    "hub-plain": "#2563eb",
    "hub-framed": "#16a34a",
    "node-ws": "#d97706",
    socketio: "#9333ea",
  };
  const barH = 18, gap = 6, labelW = 170, chartW = 420, panelGap = 34;
  const panelH = servers.length * (barH + gap) + 28;
  const width = labelW + chartW + 130;
  const height = 46 + panels.length * (panelH + panelGap);
  const esc = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;");
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="600">Fan-out throughput, deliveries/s (median of ${rounds}; longer is better)</text>`,
  ];
  let y = 46;
  for (const sc of panels) {
    const vals = servers.map((s) => summary[sc.id][s.id]?.deliveriesPerSec ?? NaN);
    const max = Math.max(...vals.filter(Number.isFinite), 1);
    const raw = summary[sc.id].raw?.deliveriesPerSec ?? NaN;
    parts.push(`<text x="12" y="${y + 14}" font-weight="600">${esc(sc.title)}</text>`);
    let by = y + 26;
    servers.forEach((s, i) => {
      const v = vals[i];
      const w = Number.isFinite(v) ? Math.max(1, (v / max) * chartW) : 0;
      const failed = (summary[sc.id][s.id]?.okRuns ?? 0) < (summary[sc.id][s.id]?.runs ?? 0);
      parts.push(
        `<text x="${labelW - 8}" y="${by + barH - 5}" text-anchor="end">${esc(s.label)}</text>`,
      );
      parts.push(
        `<rect x="${labelW}" y="${by}" width="${w.toFixed(1)}" height="${barH}" fill="${
          colors[s.id] ?? "#888"
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
    y += panelH + panelGap;
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

if (withDocs) {
  const docPath = `${root}docs/benchmarks.md`;
  let doc = await Deno.readTextFile(docPath).catch(() => "");
  const begin = "<!-- results:begin (written by bench/run.ts) -->";
  const end = "<!-- results:end -->";
  const machineText = [
    `Run ${
      machine.date.slice(0, 10)
    }: ${machine.nproc} × ${machine.cpuModel}, ${machine.memGiB} GiB, Linux ${machine.kernel}; ` +
    `Deno ${machine.deno} (V8 ${machine.v8}), Node ${machine.node}. ` +
    (machine.pinned
      ? "Server pinned to CPU 0, load generator to CPU 1 (`taskset`)."
      : `Not pinned (${machine.taskset ? "fewer than 2 CPUs" : "no taskset"}).`) +
    (goLoadgen
      ? ` Load generator: bench/loadgen_go (${goLoadgen.goVersion}, gorilla/websocket)` +
        (servers.some((s) => s.mode === "socketio") ? "; Socket.IO: bench/loadgen.ts." : ".")
      : " Load generator: bench/loadgen.ts.") +
    ` ${rounds} interleaved rounds; the whole run took ${results.seconds} s.`,
    "",
  ].join("\n");
  const block = `${begin}\n\n${machineText}\n${table()}\n![Fan-out throughput](benchmarks.svg)\n\n${
    redis ? `${redisTable(redis)}\n` : ""
  }${end}`;
  if (doc.includes(begin) && doc.includes(end)) {
    doc = doc.slice(0, doc.indexOf(begin)) + block + doc.slice(doc.indexOf(end) + end.length);
  } else {
    doc = `# Benchmarks\n\n${block}\n` + doc;
  }
  await Deno.writeTextFile(docPath, doc);
  await Deno.writeTextFile(`${root}docs/benchmarks.svg`, svg());
  await sh(["deno", "fmt", "docs/benchmarks.md"]);
  console.error("wrote docs/benchmarks.md and docs/benchmarks.svg");
} else {
  console.log(table());
  if (redis) console.log(redisTable(redis));
}
