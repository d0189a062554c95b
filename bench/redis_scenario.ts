/**
 * The cross-process fan-out scenario (issue #11): what spreading a hub over two processes joined
 * by Redis (`RedisBackplane`) costs and gives, against one process without a backplane, in the
 * same run. `bench/run.ts` calls it (scenario id `redis`); it also runs alone:
 *
 * ```sh
 * deno run -A bench/redis_scenario.ts --quick         # one short round, prints the tables
 * deno run -A bench/redis_scenario.ts --rounds=3 --out=redis.json
 * deno run -A bench/redis_scenario.ts --quick --setups=two+room,two+history   # history alone
 * ```
 *
 * Six setups, each run fresh, interleaved round by round (A B C D E, then E D C B A, …);
 * `--setups=` (or the `setups` option) runs some of them:
 *
 * - `one`: one `bench/fanout_server.ts`, no backplane (the baseline);
 * - `one+redis`: the same with `--redis` and nobody else on Redis: what publishing every message
 *   to Redis costs one process;
 * - `two`: two `bench/fanout_server.ts --redis` on one Redis, the subscribers split between them
 *   (the Go load generator's `--urls`), the publisher on the first: half the deliveries cross
 *   Redis.
 * - `two+room`: as `two`, with `bench/rooms_server.ts --redis` instead: every connection in one
 *   room (the load generator's `--rooms=1`), each message published to it (`hub.publish`). The
 *   publisher's process delivers to its members at once and publishes an envelope to the room's
 *   channel; the baseline of
 * - `two+history`: the same with `--history` too: the room keeps its history in Redis. Each
 *   publication runs the append script (XADD to the room's capped stream, then PUBLISH with its
 *   position), and every process, the publisher's included, delivers it when it comes back from
 *   Redis, with its offset. The paired ratio to `two+room` is what history in Redis costs; the
 *   local latency shows the publisher's members now waiting for the round trip through Redis.
 * - `two+nats`: as `two+room`, over one nats-server (`--nats`, JetStream on for presence) instead
 *   of Redis: the room's subject instead of its channel. Skipped, saying so, without nats-server.
 *
 * Two more, on a Redis Cluster of 3 masters (testing/redis_cluster.ts), run only when `--setups=`
 * names them: `two+cluster` (as `two`) and `two+cluster+history` (as `two+history`); their Redis
 * CPU is the nodes' together:
 *
 * ```sh
 * deno run -A bench/redis_scenario.ts --quick --rounds=3 --setups=two,two+cluster,two+history,two+cluster+history
 * ```
 *
 * The fan-out servers run with `--no-rate-limit`: the hub's default inbound limit (100 msg/s)
 * would close an unpaced publisher (bench/rooms_server.ts has the limit off without a flag).
 *
 * Two loads: `unpaced` (as fast as it goes for a fixed time, a window of messages in flight:
 * throughput) and `paced` (a steady rate well below saturation: latency, local subscribers apart
 * from those across Redis, whose difference is the cost of the hop through Redis).
 *
 * Nothing is pinned: on a two-core machine the servers, Redis and the load generator share both
 * cores, so every run reports the CPU of each (`/proc`, over the load generator's measured
 * window) and of everything else on the machine. A second process can only add throughput when a
 * core is left for it; the tables say how much each took.
 *
 * Needs `redis-server` and `redis-cli` on PATH and the Go load generator (bench/loadgen_go/);
 * without them it is skipped, saying why.
 *
 * @module
 */

import { buildGoLoadgen } from "./loadgen_go.ts";
import { delay, until } from "../testing/async.ts";
import { accepting, freePort } from "../testing/net.ts";
import { terminate } from "../testing/process.ts";
import { redisCli, type RedisServer, startRedis } from "../testing/redis.ts";
import { natsAvailable, type NatsServer, startNats } from "../testing/nats.ts";
import { type RedisCluster, startRedisCluster } from "../testing/redis_cluster.ts";

/** How to run the scenario. */
export interface RedisScenarioOptions {
  /** The repository's root directory (with a trailing slash). */
  root: string;
  /** The Go load generator's binary (bench/loadgen_go.ts builds it); skipped when absent. */
  loadgen: string | undefined;
  /** One round of short runs. */
  quick: boolean;
  /** Interleaved rounds. */
  rounds: number;
  /** Client dialects; default `["framed"]` (wshub.v1, what the client module speaks). */
  modes?: ("plain" | "framed")[];
  /** The setups to run, in the order of a round; default all of {@linkcode SETUPS}. */
  setups?: readonly Setup[];
  /** Progress lines; default `console.error`. */
  log?: (line: string) => void;
}

/** The setups compared. */
export type Setup =
  | "one"
  | "one+redis"
  | "two"
  | "two+room"
  | "two+history"
  | "two+nats"
  | "two+cluster"
  | "two+cluster+history";
/** The loads. */
export type Load = "unpaced" | "paced";

/** Every setup run by default, in the order of a round. */
export const SETUPS: readonly Setup[] = [
  "one",
  "one+redis",
  "two",
  "two+room",
  "two+history",
  "two+nats",
];
/**
 * Setups on a Redis Cluster (3 masters, testing/redis_cluster.ts), run only when `--setups=`
 * names them: `two+cluster` is `two` with the servers' `RedisBackplane` on the cluster (sharded
 * channels: the broadcast channel's shard carries everything), `two+cluster+history` is
 * `two+history` on it (the room's append script on its shard).
 */
export const CLUSTER_SETUPS: readonly Setup[] = ["two+cluster", "two+cluster+history"];
const SETUP_LABELS: Record<Setup, string> = {
  one: "one process, no backplane",
  "one+redis": "one process + RedisBackplane",
  two: "two processes + Redis",
  "two+room": "two processes + Redis, one room",
  "two+history": "two processes + Redis, one room with history",
  "two+nats": "two processes + NATS, one room",
  "two+cluster": "two processes + a Redis Cluster (3 masters)",
  "two+cluster+history": "two processes + a Redis Cluster, one room with history",
};

/** Whether a setup runs bench/rooms_server.ts, every connection in one room. */
function inRoom(setup: Setup): boolean {
  return setup === "two+room" || setup === "two+nats" || setup.endsWith("history");
}

/** Parses a `--setups=` list; throws on an unknown setup. */
export function parseSetups(list: string): Setup[] {
  const setups = list.split(",").filter((s) => s !== "");
  for (const s of setups) {
    if (![...SETUPS, ...CLUSTER_SETUPS].includes(s as Setup)) {
      throw new Error(
        `--setups: unknown setup ${s} (${[...SETUPS, ...CLUSTER_SETUPS].join(", ")})`,
      );
    }
  }
  if (setups.length === 0) throw new Error("--setups: no setup");
  return setups as Setup[];
}

/** What one run measured (CPU: 100 = one core, over the load generator's measured window). */
export interface RedisRun {
  setup: Setup;
  load: Load;
  mode: "plain" | "framed";
  round: number;
  ok: boolean;
  error?: string;
  messages: number;
  received: number;
  lost: number;
  /**
   * What the load generator checked besides loss: deliveries with a changed payload, of another
   * room or publisher, out of order, history offsets that do not follow (rooms), protocol errors.
   */
  checks?: {
    corrupt: number;
    misrouted: number;
    outOfOrder: number;
    offsetBreaks: number;
    protocolErrors: number;
  };
  deliveriesPerSec: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** Subscribers on the publisher's process, and on the other (two processes only). */
  local?: { subs: number; p50: number; p99: number };
  remote?: { subs: number; p50: number; p99: number };
  cpuPct: {
    /** Each server process, the publisher's first. */
    servers: number[];
    redis?: number;
    loadgen: number;
    /** Everything else on the machine. */
    other: number;
  };
  /** Servers' CPU µs per message written (deliveries and echoes), all servers together. */
  serverUsPerDelivery: number;
  /** Redis's CPU µs per message published. */
  redisUsPerMessage?: number;
  loadgenSaturated: boolean;
}

/** Medians over the rounds of one setup, load and mode. */
export interface RedisSummary {
  setup: Setup;
  load: Load;
  mode: "plain" | "framed";
  runs: number;
  okRuns: number;
  deliveriesPerSec: number;
  p50: number;
  p99: number;
  localP50: number;
  localP99: number;
  remoteP50: number;
  remoteP99: number;
  /** Median over runs of remote p50 − local p50: the hop through Redis. */
  hopP50: number;
  serversCpuPct: number;
  redisCpuPct: number;
  loadgenCpuPct: number;
  otherCpuPct: number;
  serverUsPerDelivery: number;
  redisUsPerMessage: number;
  loadgenSaturated: number;
  errors: string[];
}

/** The scenario's results, or why it did not run. */
export type RedisScenarioResult =
  | { skipped: string }
  | {
    subs: number;
    size: number;
    loads: Record<Load, string>;
    rounds: number;
    runs: RedisRun[];
    summary: RedisSummary[];
    seconds: number;
  };

async function output(cmd: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const p = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdin: "null" }).output();
    const dec = new TextDecoder();
    return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
  } catch (e) {
    return { code: -1, out: "", err: e instanceof Error ? e.message : String(e) };
  }
}

/** `cmd` in bash with the open-file limit raised to the hard limit (1,000 connections and more). */
export function unlimited(cmd: string[]): string[] {
  const quoted = cmd.map((c) => `'${c.replaceAll("'", "'\\''")}'`).join(" ");
  return ["bash", "-c", `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${quoted}`];
}

/** A child process whose stderr is kept (the first 4,000 characters) for error messages. */
class Child {
  readonly process: Deno.ChildProcess;
  stderr = "";

  constructor(cmd: string[], cwd: string) {
    this.process = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      cwd,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = this.process.stderr;
    void (async () => {
      for await (const text of stderr.pipeThrough(new TextDecoderStream())) {
        if (this.stderr.length < 4000) this.stderr += text;
      }
    })().catch(() => {});
  }

  get pid(): number {
    return this.process.pid;
  }

  async stop(): Promise<void> {
    await terminate(this.process);
  }
}

/** Whether `condition` comes to hold within `ms` (polled every 25 ms). */
function comesTrue(condition: () => Promise<boolean>, ms: number, what: string): Promise<boolean> {
  return until(condition, ms, what, 25).then(() => true, () => false);
}

/** The parts of the Go load generator's report used here. */
interface GoReport {
  ok: boolean;
  error?: string;
  messages: number;
  received: number;
  lost: number;
  echoes: number;
  corrupt?: number;
  misrouted?: number;
  outOfOrder?: number;
  offsetBreaks?: number;
  protocolErrors?: number;
  closeCodes?: Record<string, number>;
  deliveriesPerSec: number;
  latencyMs: { p50: number; p99: number; max: number };
  latencyByUrl?: { subs: number; latencyMs: { p50: number; p99: number } }[];
  loadgen: { cpuPct: number; saturated: boolean };
  otherCpuPct?: number;
  server?: { cpuMs: number; cpuPct: number };
  extraCpu?: { pid: number; cpuMs: number; cpuPct: number }[];
}

interface LoadSpec {
  subs: number;
  size: number;
  args: string[];
  title: string;
}

function loads(quick: boolean): Record<Load, LoadSpec> {
  const subs = 1000;
  const rate = 50;
  const seconds = quick ? 2 : 6;
  return {
    unpaced: {
      subs,
      size: 128,
      args: [`--duration=${seconds}`, `--warmup=${quick ? 0.5 : 1}`],
      title: `unpaced for ${seconds} s (the first ${quick ? 0.5 : 1} s not measured)`,
    },
    paced: {
      subs,
      size: 128,
      args: [`--rate=${rate}`, `--messages=${rate * seconds}`],
      title: `${rate} msg/s for ${seconds} s (${
        (rate * subs).toLocaleString("en-US")
      } deliveries/s)`,
    },
  };
}

async function runOnce(
  options: RedisScenarioOptions,
  setup: Setup,
  load: Load,
  spec: LoadSpec,
  mode: "plain" | "framed",
  round: number,
): Promise<RedisRun> {
  const { root } = options;
  const children: Child[] = [];
  let redis: RedisServer | undefined;
  let nats: NatsServer | undefined;
  let cluster: RedisCluster | undefined;
  const base: RedisRun = {
    setup,
    load,
    mode,
    round,
    ok: false,
    messages: 0,
    received: 0,
    lost: 0,
    deliveriesPerSec: NaN,
    latencyMs: { p50: NaN, p99: NaN, max: NaN },
    cpuPct: { servers: [], loadgen: NaN, other: NaN },
    serverUsPerDelivery: NaN,
    loadgenSaturated: false,
  };
  try {
    if (setup === "two+nats") nats = await startNats({ jetstream: true });
    else if (setup.includes("cluster")) cluster = await startRedisCluster({ masters: 3 });
    else if (setup !== "one") redis = await startRedis();
    const servers: { child: Child; port: number }[] = [];
    const room = inRoom(setup);
    for (let i = 0; i < (setup.startsWith("two") ? 2 : 1); i++) {
      const port = freePort();
      const cmd = room
        ? ["deno", "run", "-A", "bench/rooms_server.ts", `--port=${port}`]
        : ["deno", "run", "-A", "bench/fanout_server.ts", `--port=${port}`, "--no-rate-limit"];
      if (setup.endsWith("history")) cmd.push("--history");
      if (redis) cmd.push(`--redis=${redis.url}`);
      if (nats) cmd.push(`--nats=${nats.url}`);
      if (cluster) cmd.push(`--redis-cluster=${cluster.seeds.join(",")}`);
      const child = new Child(unlimited(cmd), root);
      children.push(child);
      servers.push({ child, port });
    }
    for (const server of servers) {
      if (!await comesTrue(() => accepting(server.port), 15_000, "a server to listen")) {
        return { ...base, error: `a server did not listen: ${server.child.stderr}` };
      }
    }
    if (redis) {
      // Every server's subscription to the broadcast channel is in place before the load.
      const subscribed = await comesTrue(
        async () =>
          (await redisCli(redis!.port, "PUBSUB", "NUMSUB", "wshub:b").catch(() => "")).endsWith(
            `\n${servers.length}`,
          ),
        5000,
        "the servers' subscriptions",
      );
      if (!subscribed) return { ...base, error: "the servers did not subscribe in Redis" };
    }
    if (cluster) {
      const owner = await cluster.ownerOf(await cluster.slotOf("wshub:{b}"));
      const subscribed = await comesTrue(
        async () =>
          (await redisCli(owner.port, "PUBSUB", "SHARDNUMSUB", "wshub:{b}").catch(() => ""))
            .endsWith(`\n${servers.length}`),
        5000,
        "the servers' subscriptions",
      );
      if (!subscribed) return { ...base, error: "the servers did not subscribe in the cluster" };
    }
    await delay(200);
    const extras = [
      ...servers.slice(1).map((s) => s.child.pid),
      ...redis ? [redis.pid] : [],
      ...nats?.pid ? [nats.pid] : [],
      ...cluster ? cluster.nodes.map((node) => node.pid!) : [],
    ];
    const urls = servers.map((s) => `ws://127.0.0.1:${s.port}/ws`);
    const lg = [
      options.loadgen!,
      urls.length > 1 ? `--urls=${urls.join(",")}` : `--url=${urls[0]}`,
      `--mode=${mode}`,
      `--subs=${spec.subs}`,
      ...room ? ["--rooms=1", "--pubs=1"] : [],
      `--size=${spec.size}`,
      ...spec.args,
      `--server-pid=${servers[0].child.pid}`,
      ...extras.length ? [`--extra-pids=${extras.join(",")}`] : [],
      `--time-limit=${options.quick ? 60 : 120}`,
    ];
    const r = await output(unlimited(lg));
    const line = r.out.trim().split("\n").pop() ?? "";
    let report: GoReport | { ok: false; error?: string };
    try {
      report = JSON.parse(line);
    } catch {
      return { ...base, error: `load generator: ${line.slice(0, 300)} ${r.err.slice(0, 1000)}` };
    }
    if (!("received" in report)) return { ...base, error: report.error ?? line.slice(0, 300) };
    const extra = report.extraCpu ?? [];
    const serverCpu = [
      report.server?.cpuPct ?? NaN,
      ...extra.slice(0, servers.length - 1)
        .map((e) => e.cpuPct),
    ];
    const serverCpuMs = (report.server?.cpuMs ?? NaN) +
      extra.slice(0, servers.length - 1).reduce((sum, e) => sum + e.cpuMs, 0);
    // One Redis, one NATS server, or every node of the cluster together.
    const redisCpu = redis || nats
      ? extra[servers.length - 1]
      : cluster
      ? extra.slice(servers.length - 1).reduce(
        (sum, e) => ({ pid: 0, cpuMs: sum.cpuMs + e.cpuMs, cpuPct: sum.cpuPct + e.cpuPct }),
        { pid: 0, cpuMs: 0, cpuPct: 0 },
      )
      : undefined;
    const byUrl = report.latencyByUrl;
    const side = (i: number) =>
      byUrl?.[i] === undefined ? undefined : {
        subs: byUrl[i].subs,
        p50: byUrl[i].latencyMs.p50,
        p99: byUrl[i].latencyMs.p99,
      };
    const checks = {
      corrupt: report.corrupt ?? 0,
      misrouted: report.misrouted ?? 0,
      outOfOrder: report.outOfOrder ?? 0,
      offsetBreaks: report.offsetBreaks ?? 0,
      protocolErrors: report.protocolErrors ?? 0,
    };
    return {
      ...base,
      ok: report.ok,
      error: report.error ?? (report.ok ? undefined : failures(report.lost, checks, report)),
      messages: report.messages,
      received: report.received,
      lost: report.lost,
      checks,
      deliveriesPerSec: report.deliveriesPerSec,
      latencyMs: {
        p50: report.latencyMs.p50,
        p99: report.latencyMs.p99,
        max: report.latencyMs.max,
      },
      local: side(0),
      remote: side(1),
      cpuPct: {
        servers: serverCpu,
        redis: redisCpu?.cpuPct,
        loadgen: report.loadgen.cpuPct,
        other: Math.max(
          0,
          (report.otherCpuPct ?? NaN) - extra.reduce((sum, e) => sum + (e.cpuPct ?? 0), 0),
        ),
      },
      serverUsPerDelivery: serverCpuMs * 1000 / (report.received + report.echoes),
      redisUsPerMessage: redisCpu === undefined
        ? undefined
        : redisCpu.cpuMs * 1000 / report.messages,
      loadgenSaturated: report.loadgen.saturated,
    };
  } catch (error) {
    return { ...base, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await Promise.all(children.reverse().map((child) => child.stop()));
    await redis?.stop();
    await nats?.stop();
    await cluster?.stop();
  }
}

/** Why a load run was not ok, in a few words. */
function failures(
  lost: number,
  checks: Record<string, number>,
  report: { closeCodes?: Record<string, number> },
): string {
  const parts = Object.entries({ lost, ...checks }).filter(([, n]) => n > 0).map(([k, n]) =>
    `${k} ${n}`
  );
  const closed = Object.entries(report.closeCodes ?? {});
  if (closed.length > 0) parts.push(`closed ${closed.map(([k, v]) => `${v}×${k}`).join(", ")}`);
  return parts.join(", ") || "not ok";
}

/** The median of the finite numbers among `xs` (NaN without any). */
export function median(xs: (number | undefined)[]): number {
  const v = xs.filter((x): x is number => typeof x === "number" && Number.isFinite(x))
    .sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function summarize(runs: RedisRun[]): RedisSummary {
  const ok = runs.filter((r) => r.ok);
  const { setup, load, mode } = runs[0];
  return {
    setup,
    load,
    mode,
    runs: runs.length,
    okRuns: ok.length,
    deliveriesPerSec: median(ok.map((r) => r.deliveriesPerSec)),
    p50: median(ok.map((r) => r.latencyMs.p50)),
    p99: median(ok.map((r) => r.latencyMs.p99)),
    localP50: median(ok.map((r) => r.local?.p50)),
    localP99: median(ok.map((r) => r.local?.p99)),
    remoteP50: median(ok.map((r) => r.remote?.p50)),
    remoteP99: median(ok.map((r) => r.remote?.p99)),
    hopP50: median(ok.map((r) => r.remote && r.local ? r.remote.p50 - r.local.p50 : undefined)),
    serversCpuPct: median(ok.map((r) => r.cpuPct.servers.reduce((a, b) => a + b, 0))),
    redisCpuPct: median(ok.map((r) => r.cpuPct.redis)),
    loadgenCpuPct: median(ok.map((r) => r.cpuPct.loadgen)),
    otherCpuPct: median(ok.map((r) => r.cpuPct.other)),
    serverUsPerDelivery: median(ok.map((r) => r.serverUsPerDelivery)),
    redisUsPerMessage: median(ok.map((r) => r.redisUsPerMessage)),
    loadgenSaturated: ok.filter((r) => r.loadgenSaturated).length,
    errors: [...new Set(runs.filter((r) => !r.ok).map((r) => r.error ?? "lost deliveries"))],
  };
}

/** Why the scenario cannot run here, or `undefined`. */
export async function redisScenarioProblem(
  loadgen: string | undefined,
): Promise<string | undefined> {
  if (loadgen === undefined) {
    return "needs the Go load generator (bench/loadgen_go, for --urls)";
  }
  for (const bin of ["redis-server", "redis-cli"]) {
    if ((await output([bin, "--version"])).code !== 0) {
      return `${bin} not found (apt-get install redis-server)`;
    }
  }
}

/** Runs every setup, load and mode for `rounds` interleaved rounds. */
export async function runRedisScenario(
  options: RedisScenarioOptions,
): Promise<RedisScenarioResult> {
  const log = options.log ?? console.error;
  const problem = await redisScenarioProblem(options.loadgen);
  if (problem !== undefined) {
    log(`redis scenario skipped: ${problem}`);
    return { skipped: problem };
  }
  const specs = loads(options.quick);
  const modes = options.modes ?? ["framed"];
  let setups = options.setups ?? SETUPS;
  if (setups.includes("two+nats") && !await natsAvailable()) {
    log("redis scenario: two+nats skipped: nats-server not found (apt-get install nats-server)");
    setups = setups.filter((s) => s !== "two+nats");
  }
  const runs: RedisRun[] = [];
  const t0 = performance.now();
  for (const load of ["unpaced", "paced"] as const) {
    for (const mode of modes) {
      for (let round = 0; round < options.rounds; round++) {
        const order = round % 2 === 0 ? setups : [...setups].reverse();
        for (const setup of order) {
          const r = await runOnce(options, setup, load, specs[load], mode, round);
          runs.push(r);
          log(
            `[${((performance.now() - t0) / 1000).toFixed(0)} s] redis ${load} ${mode} round ${
              round + 1
            } ${setup}: ${r.ok ? "ok" : `NOT OK ${r.error ?? `lost ${r.lost}`}`}`,
          );
        }
      }
    }
  }
  const summary: RedisSummary[] = [];
  for (const load of ["unpaced", "paced"] as const) {
    for (const mode of modes) {
      for (const setup of setups) {
        const mine = runs.filter((r) => r.load === load && r.mode === mode && r.setup === setup);
        if (mine.length > 0) summary.push(summarize(mine));
      }
    }
  }
  return {
    subs: specs.unpaced.subs,
    size: specs.unpaced.size,
    loads: { unpaced: specs.unpaced.title, paced: specs.paced.title },
    rounds: options.rounds,
    runs,
    summary,
    seconds: Math.round((performance.now() - t0) / 1000),
  };
}

/** A number for a table: `d` decimals, thousands separated, "–" when it is not finite. */
export const fmt = (x: number, d = 0): string =>
  Number.isFinite(x)
    ? x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d })
    : "–";

/** The scenario's tables, in Markdown (for docs/benchmarks.md and the console). */
export function redisTable(result: RedisScenarioResult): string {
  if ("skipped" in result) {
    return `### Several processes over Redis\n\nSkipped: ${result.skipped}.\n`;
  }
  const out: string[] = ["### Several processes over Redis", ""];
  out.push(
    `${result.subs.toLocaleString("en-US")} subscribers and one publisher, ${result.size} B ` +
      `messages; with two processes half the subscribers are on each and the publisher on the ` +
      `first, so half the deliveries cross the broker (Redis or NATS). The room setups run ` +
      `bench/rooms_server.ts with every connection in one room and each message published to ` +
      `it: over Redis without and with the room's history kept in Redis, and over NATS. ` +
      `Median of ${result.rounds} interleaved ` +
      `runs. Nothing pinned: CPU is % of one core over the measured window, for the servers ` +
      `(together), the broker, the load generator, and everything else on the machine.`,
    "",
  );
  for (const load of ["unpaced", "paced"] as const) {
    const rows = result.summary.filter((s) => s.load === load);
    if (rows.length === 0) continue;
    out.push(`**${result.loads[load]}**`, "");
    out.push(
      "| setup | clients | deliveries/s | vs one process | p50 ms | p99 ms | local p50 / p99 | across the broker p50 / p99 | broker hop (p50) | servers CPU | broker CPU | loadgen CPU | other CPU | servers µs/delivery | broker µs/message |",
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const s of rows) {
      const base = rows.find((b) => b.mode === s.mode && b.setup === "one");
      const flag = (s.okRuns < s.runs ? ` ⚠ ${s.runs - s.okRuns}/${s.runs} runs failed` : "") +
        (s.loadgenSaturated ? ` (loadgen saturated in ${s.loadgenSaturated})` : "");
      const two = s.setup.startsWith("two");
      out.push(
        `| ${SETUP_LABELS[s.setup]}${flag} | ${s.mode} | ${fmt(s.deliveriesPerSec)} | ${
          base && base.deliveriesPerSec > 0
            ? `${(s.deliveriesPerSec / base.deliveriesPerSec).toFixed(2)}×`
            : "–"
        } | ${fmt(s.p50, 1)} | ${fmt(s.p99, 1)} | ${
          two ? `${fmt(s.localP50, 1)} / ${fmt(s.localP99, 1)}` : "–"
        } | ${two ? `${fmt(s.remoteP50, 1)} / ${fmt(s.remoteP99, 1)}` : "–"} | ${
          two ? `${fmt(s.hopP50, 2)} ms` : "–"
        } | ${fmt(s.serversCpuPct)} % | ${s.setup === "one" ? "–" : `${fmt(s.redisCpuPct)} %`} | ${
          fmt(s.loadgenCpuPct)
        } % | ${fmt(s.otherCpuPct)} % | ${fmt(s.serverUsPerDelivery, 2)} | ${
          s.setup === "one" ? "–" : fmt(s.redisUsPerMessage, 1)
        } |`,
      );
    }
    out.push("");
  }
  out.push(...historyRows(result.runs, result.loads));
  const errors = result.summary.flatMap((s) => s.errors.map((e) => `${s.setup} ${s.load}: ${e}`));
  if (errors.length > 0) out.push(...errors.map((e) => `- ${e}`), "");
  return out.join("\n");
}

/**
 * What history in Redis costs: `two+history` against `two+room`, paired within each round (the
 * median over rounds of the ratio, or of the difference for the local latency), when both ran.
 */
function historyRows(runs: RedisRun[], titles: Record<Load, string>): string[] {
  const rows: string[] = [];
  for (const load of ["unpaced", "paced"] as const) {
    for (const mode of ["plain", "framed"] as const) {
      const pairs: [RedisRun, RedisRun][] = [];
      for (const history of runs) {
        if (history.setup !== "two+history" || history.load !== load || history.mode !== mode) {
          continue;
        }
        const room = runs.find((r) =>
          r.setup === "two+room" && r.load === load && r.mode === mode && r.round === history.round
        );
        if (room !== undefined && room.ok && history.ok) pairs.push([history, room]);
      }
      if (pairs.length === 0) continue;
      const ratio = (pick: (r: RedisRun) => number | undefined) => {
        const m = median(pairs.map(([h, r]) => {
          const a = pick(h), b = pick(r);
          return a === undefined || b === undefined || !(b > 0) ? undefined : a / b;
        }));
        return Number.isFinite(m) ? `${m.toFixed(2)}×` : "–";
      };
      const added = median(
        pairs.map(([h, r]) => h.local && r.local ? h.local.p50 - r.local.p50 : undefined),
      );
      rows.push(
        `| ${titles[load]} | ${mode} | ${pairs.length} | ${ratio((r) => r.deliveriesPerSec)} | ${
          ratio((r) => r.latencyMs.p50)
        } | ${ratio((r) => r.latencyMs.p99)} | ${fmt(added, 2)} ms | ${
          ratio((r) => r.remote?.p50)
        } | ${ratio((r) => r.serverUsPerDelivery)} | ${ratio((r) => r.redisUsPerMessage)} |`,
      );
    }
  }
  if (rows.length === 0) return [];
  return [
    "**What history in Redis costs**: two processes, one room with history ÷ the same room " +
    "without, paired within each round (median over rounds; local p50: the difference).",
    "",
    "| load | clients | pairs | deliveries/s | p50 | p99 | local p50 added | across Redis p50 | servers µs/delivery | Redis µs/message |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
  ];
}

if (import.meta.main) {
  const args = new Map(Deno.args.map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    return m ? [m[1], m[2] ?? "true"] as const : [a, "true"] as const;
  }));
  const root = new URL("../", import.meta.url).pathname;
  const quick = args.has("quick");
  let setups: Setup[] | undefined;
  try {
    setups = args.has("setups") ? parseSetups(args.get("setups")!) : undefined;
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(2);
  }
  const built = await buildGoLoadgen(root);
  const loadgen = "error" in built ? undefined : built.binary;
  if ("error" in built) console.error(`Go load generator unavailable: ${built.error}`);
  try {
    const result = await runRedisScenario({
      root,
      loadgen,
      quick,
      rounds: Number(args.get("rounds") ?? (quick ? 1 : 3)),
      modes: (args.get("modes")?.split(",") ?? ["framed"]) as ("plain" | "framed")[],
      setups,
    });
    console.log(redisTable(result));
    const out = args.get("out");
    if (out !== undefined) await Deno.writeTextFile(out, JSON.stringify(result, null, 2) + "\n");
  } finally {
    if (!("error" in built)) await Deno.remove(built.dir, { recursive: true }).catch(() => {});
  }
}
