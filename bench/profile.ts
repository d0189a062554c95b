/**
 * CPU profile of a fan-out server under load, through the V8 inspector (Deno 2.9 has no
 * `--cpu-prof`): starts the server with `--inspect`, starts the profiler over the Chrome DevTools
 * Protocol, runs bench/loadgen.ts, saves a `.cpuprofile` (open it in Chrome DevTools) and prints
 * the functions with the most self time.
 *
 * ```sh
 * deno run -A bench/profile.ts --server=bench/fanout_server.ts --mode=plain --subs=1000 --messages=200
 * # the rooms scenario, with the Go load generator (built first), for 6 s
 * deno run -A bench/profile.ts --server=bench/rooms_server.ts --mode=framed --loadgen=go \
 *   --rooms=1000 --subs=9000 --pubs=1 --duration=6 --warmup=1
 * ```
 *
 * Flags: `server` (bench/fanout_server.ts), `mode`, `subs`, `messages`, `size`, `rate` (passed to
 * the load generator; with `--loadgen=go` also `rooms`, `pubs`, `duration`, `warmup`), `loadgen`
 * (`deno`: bench/loadgen.ts, the default; `go`: bench/loadgen_go, built into a temp directory),
 * `out` (bench/profile/<server>-<mode>.cpuprofile), `top` (25), `interval` sampling µs (200),
 * `skip` (0): seconds after the load generator starts before profiling starts (to leave out
 * connecting 10,000 clients and the warm-up: the profile then covers the steady state only).
 *
 * @module
 */

import { buildGoLoadgen } from "./loadgen_go.ts";
import { delay, until } from "../testing/async.ts";
import { accepting } from "../testing/net.ts";

const flags = new Map(Deno.args.map((a) => {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  return m ? [m[1], m[2] ?? "true"] as const : [a, "true"] as const;
}));
const root = new URL("../", import.meta.url).pathname;
const server = flags.get("server") ?? "bench/fanout_server.ts";
const mode = flags.get("mode") ?? "plain";
const top = Number(flags.get("top") ?? 25);
const name = server.split("/").pop()!.replace(/\.ts$/, "");
const out = flags.get("out") ?? `${root}bench/profile/${name}-${mode}.cpuprofile`;
const port = 9700 + Math.floor(Math.random() * 200);
const inspectPort = port + 1000;
const pin = (
  cpu: number,
) => (navigator.hardwareConcurrency >= 2 ? ["taskset", "-c", String(cpu)] : []);

// The load generator, and the flags passed to it.
let loadgen = ["deno", "run", "-A", "bench/loadgen.ts"];
let passed = ["subs", "messages", "size", "rate"];
let loadgenDir: string | undefined;
if (flags.get("loadgen") === "go") {
  const built = await buildGoLoadgen(root);
  if ("error" in built) throw new Error(`--loadgen=go: ${built.error}`);
  loadgen = [built.binary];
  loadgenDir = built.dir;
  passed = [...passed, "rooms", "pubs", "duration", "warmup"];
}

const srvCmd = [
  ...pin(0),
  "deno",
  "run",
  "-A",
  `--inspect=127.0.0.1:${inspectPort}`,
  server,
  `--port=${port}`,
];
const child = new Deno.Command(srvCmd[0], {
  args: srvCmd.slice(1),
  cwd: root,
  stdout: "null",
  stderr: "null",
})
  .spawn();

try {
  let wsUrl = "";
  for (let i = 0; i < 100 && !wsUrl; i++) {
    try {
      const list = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json();
      wsUrl = list[0]?.webSocketDebuggerUrl ?? "";
    } catch {
      await delay(100);
    }
  }
  if (!wsUrl) throw new Error("inspector did not answer");
  const ws = new WebSocket(wsUrl);
  await new Promise((r, j) => {
    ws.onopen = r;
    ws.onerror = j;
  });
  let id = 0;
  const pending = new Map<number, (v: unknown) => void>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  };
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: Number(flags.get("interval") ?? 200) });
  await until(() => accepting(port), 5_000, "the server to listen", 50).catch(() => {});
  const skip = Number(flags.get("skip") ?? 0);
  if (skip === 0) await call("Profiler.start");
  const lg = [
    ...pin(1),
    ...loadgen,
    `--url=ws://127.0.0.1:${port}/ws`,
    `--mode=${mode}`,
    `--server-pid=${child.pid}`,
    ...passed.filter((k) => flags.has(k)).map((k) => `--${k}=${flags.get(k)}`),
  ];
  const running = new Deno.Command(lg[0], { args: lg.slice(1), cwd: root, stdout: "piped" })
    .output();
  if (skip > 0) {
    await delay(skip * 1000);
    await call("Profiler.start");
  }
  const r = await running;
  const report = new TextDecoder().decode(r.stdout).trim();
  const { profile } = await call("Profiler.stop") as { profile: CpuProfile };
  ws.close();
  await Deno.mkdir(out.slice(0, out.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(out, JSON.stringify(profile));
  console.log(report);
  console.log(`profile: ${out}`);
  printTop(profile);
} finally {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  await child.status;
  if (loadgenDir !== undefined) await Deno.remove(loadgenDir, { recursive: true });
}

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

function printTop(p: CpuProfile): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (id: number) => {
    const f = byId.get(id)!.callFrame;
    const file = f.url.replace(`file://${root}`, "").replace(/^.*\/ext\//, "ext:");
    return `${f.functionName || "(anonymous)"}  ${file}${file ? `:${f.lineNumber + 1}` : ""}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  for (const s of p.samples) {
    all++;
    self.set(key(s), (self.get(key(s)) ?? 0) + 1);
    const seen = new Set<string>();
    for (let id: number | undefined = s; id !== undefined; id = parent.get(id)) {
      const k = key(id);
      if (!seen.has(k)) {
        seen.add(k);
        total.set(k, (total.get(k) ?? 0) + 1);
      }
    }
  }
  const pct = (n: number) => `${(n / all * 100).toFixed(1).padStart(5)} %`;
  console.log(`\n${all} samples. Top self time:`);
  for (const [k, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${pct(n)}  self  ${pct(total.get(k) ?? 0)} total  ${k}`);
  }
  console.log(`\nTop total (inclusive) time, project files only:`);
  for (
    const [k, n] of [...total].filter(([k]) => /(src|bench)\/|mod\.ts/.test(k)).sort((a, b) =>
      b[1] - a[1]
    ).slice(
      0,
      top,
    )
  ) {
    console.log(`${pct(n)} total  ${k}`);
  }
}
