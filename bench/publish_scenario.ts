/**
 * The publish scenario (issue 19): messages a second into a room of 1,000 subscribers through a
 * `RedisEmitter` in a process of its own and through the hub's HTTP API (`createApi`, called with
 * `fetch` from a process of its own), against `hub.publish` called inside the hub's process, in
 * the same run. `bench/run.ts` runs it (scenario id `publish`); it also runs alone:
 *
 * ```sh
 * flock /tmp/wshub-bench.lock deno run -A bench/publish_scenario.ts --quick   # one short round
 * flock /tmp/wshub-bench.lock deno run -A bench/publish_scenario.ts --rounds=3 --out=publish.json
 * flock /tmp/wshub-bench.lock deno run -A bench/publish_scenario.ts --setups=room   # one setup
 * ```
 *
 * One hub (bench/publish_server.ts) with a `RedisBackplane` on a private redis-server, 1,000
 * `wshub.v1` subscribers in one room (bench/publish_subscribers.ts, one process), and for each
 * run one publisher: the hub's own `/burst` route (`hub.publish` in the hub's process), or
 * bench/publish_client.ts (`--mode=emitter`, `--mode=api`, or `--mode=batch`: `/api/batch` with
 * `BATCH` publications a request, the `api-batch` path). Every path publishes the same
 * payloads (bench/publish_payload.ts, 128 B) to the same room; the subscribers check each
 * connection gets every one, in order.
 *
 * - Setups: `room` (no history: PUBLISH, or local delivery for `hub.publish`) and `history` (the
 *   room keeps its history in Redis: every path runs the append script, and the hub delivers
 *   every publication when it comes back from Redis). The hub and the subscribers are started
 *   once per setup; each path gets one unmeasured warm-up run.
 * - Loads: `sequential` (each call awaited before the next: what a naive worker does; bounded by
 *   each path's round trip) and `pipelined` (64 calls unanswered at most: bounded by the
 *   fan-out or by the path). A call of `api-batch` is a request of `BATCH` publications: one
 *   request at a time (sequential), or 64 publications unanswered in whole requests (pipelined).
 * - Runs are interleaved round by round (A B C, then C B A, …); the ratios to `hub.publish` are
 *   paired within each round (median over rounds).
 *
 * "messages/s" is what reached every subscriber: messages ÷ (the last delivery − the first call).
 * CPU is each process's own (`/proc/<pid>/task/*`), over the run, in % of one core; the
 * subscribers' process is the load generator (single-threaded: ≥ 90 % means it, not the hub, set
 * the pace). Nothing is pinned: on two cores everything shares both.
 *
 * Needs `redis-server`; without it the scenario is skipped, saying why.
 *
 * @module
 */

import { machineBusyMs, processCpuMs } from "./proc.ts";
import { fmt, median, unlimited } from "./redis_scenario.ts";
import { freePort } from "../testing/net.ts";
import { terminate } from "../testing/process.ts";
import { redisAvailable, type RedisServer, startRedis } from "../testing/redis.ts";

/** How to run the scenario. */
export interface PublishScenarioOptions {
  /** The repository's root directory (with a trailing slash). */
  root: string;
  /** One round of short runs. */
  quick: boolean;
  /** Interleaved rounds. */
  rounds: number;
  /** The setups to run; default both. */
  setups?: readonly PublishSetup[];
  /** Progress lines; default `console.error`. */
  log?: (line: string) => void;
}

/** The setups: the room without history, and with its history in Redis. */
export type PublishSetup = "room" | "history";
/** The loads. */
export type PublishLoad = "sequential" | "pipelined";
/** Who publishes. */
export type PublishPath = "hub.publish" | "emitter" | "api" | "api-batch";

const PATHS: readonly PublishPath[] = ["hub.publish", "emitter", "api", "api-batch"];
const SUBS = 1000;
const SIZE = 128;
const WINDOW = 64;
/** Publications a request of the `api-batch` path carries. */
const BATCH = 32;
const PATH_LABELS: Record<PublishPath, string> = {
  "hub.publish": "`hub.publish`, in the hub's process",
  emitter: "`RedisEmitter`, another process",
  api: "HTTP API (`fetch`), another process",
  "api-batch": `HTTP API, \`/api/batch\` of ${BATCH}, another process`,
};
const KEY = "bench-key-0123456789abcdef";

/** What one run measured. */
export interface PublishRun {
  setup: PublishSetup;
  load: PublishLoad;
  path: PublishPath;
  round: number;
  ok: boolean;
  error?: string;
  messages: number;
  /** Messages that reached every subscriber, per second (the first call to the last delivery). */
  messagesPerSec: number;
  /** Calls answered per second, at the publisher (the first call to the last answer). */
  callsPerSec: number;
  /** Delivery latency from the call, over every tenth subscriber, ms. */
  p50: number;
  p99: number;
  /** % of one core over the run. */
  cpu: { hub: number; redis: number; publisher?: number; subscribers: number; other: number };
}

/** Medians over the rounds of one setup, load and path. */
export interface PublishSummary {
  setup: PublishSetup;
  load: PublishLoad;
  path: PublishPath;
  runs: number;
  okRuns: number;
  messagesPerSec: number;
  /** Median over rounds of this path's messages/s ÷ `hub.publish`'s in the same round. */
  vsHub: number;
  callsPerSec: number;
  p50: number;
  p99: number;
  hubCpu: number;
  redisCpu: number;
  publisherCpu: number;
  subscribersCpu: number;
  otherCpu: number;
  errors: string[];
}

/** The scenario's results, or why it did not run. */
export type PublishScenarioResult =
  | { skipped: string }
  | {
    subs: number;
    size: number;
    window: number;
    counts: Record<PublishLoad, number>;
    rounds: number;
    runs: PublishRun[];
    summary: PublishSummary[];
    seconds: number;
  };

/** A child process talking JSON lines on stdout (and stdin), its stderr kept for errors. */
class LineChild {
  readonly process: Deno.ChildProcess;
  stderr = "";
  readonly #lines: Record<string, unknown>[] = [];
  #wake: (() => void) | undefined;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(cmd: string[], cwd: string) {
    this.process = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.process.stdin.getWriter();
    const { stdout, stderr } = this.process;
    void (async () => {
      let rest = "";
      for await (const text of stdout.pipeThrough(new TextDecoderStream())) {
        rest += text;
        for (let i = rest.indexOf("\n"); i >= 0; i = rest.indexOf("\n")) {
          const line = rest.slice(0, i);
          rest = rest.slice(i + 1);
          try {
            this.#lines.push(JSON.parse(line));
          } catch {
            this.#lines.push({ text: line });
          }
          this.#wake?.();
        }
      }
      this.#wake?.();
    })().catch(() => {});
    void (async () => {
      for await (const text of stderr.pipeThrough(new TextDecoderStream())) {
        if (this.stderr.length < 4000) this.stderr += text;
      }
    })().catch(() => {});
  }

  get pid(): number {
    return this.process.pid;
  }

  /** The next line with `key` (earlier lines are dropped); rejects after `ms`. */
  async next(key: string, ms: number): Promise<Record<string, unknown>> {
    const deadline = performance.now() + ms;
    while (true) {
      const at = this.#lines.findIndex((line) => key in line);
      if (at >= 0) return this.#lines.splice(0, at + 1)[at];
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no "${key}" line within ${ms} ms; stderr: ${this.stderr}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }

  async send(line: unknown): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(`${JSON.stringify(line)}\n`));
  }

  async stop(): Promise<void> {
    await this.#stdin.close().catch(() => {});
    await terminate(this.process);
  }
}

function counts(quick: boolean): Record<PublishLoad, number> {
  return quick ? { sequential: 300, pipelined: 1000 } : { sequential: 500, pipelined: 3000 };
}

/** CPU ms of each process now. */
function cpuOf(pids: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuMs(pid)]));
}

/** One setup: its hub, Redis and subscribers, every path, every load, every round. */
async function runSetup(
  options: PublishScenarioOptions,
  setup: PublishSetup,
  log: (line: string) => void,
): Promise<PublishRun[]> {
  const { root } = options;
  const children: LineChild[] = [];
  let redis: RedisServer | undefined;
  const runs: PublishRun[] = [];
  const stopAll = async () => {
    for (const child of children.splice(0).reverse()) await child.stop();
    await redis?.stop();
  };
  running.add(stopAll);
  try {
    redis = await startRedis();
    const port = freePort();
    const history = setup === "history" ? ["--history"] : [];
    const hub = new LineChild(
      unlimited([
        "deno",
        "run",
        "-A",
        "bench/publish_server.ts",
        `--port=${port}`,
        `--redis=${redis.url}`,
        `--key=${KEY}`,
        ...history,
      ]),
      root,
    );
    children.push(hub);
    await hub.next("text", 30_000);
    const room = "bench";
    const subscribers = new LineChild(
      unlimited([
        "deno",
        "run",
        "-A",
        "bench/publish_subscribers.ts",
        `--url=ws://127.0.0.1:${port}/ws?room=${room}`,
        `--subs=${SUBS}`,
      ]),
      root,
    );
    children.push(subscribers);
    await subscribers.next("ready", 60_000);

    const once = async (path: PublishPath, load: PublishLoad, count: number, round: number) => {
      const base: PublishRun = {
        setup,
        load,
        path,
        round,
        ok: false,
        messages: count,
        messagesPerSec: NaN,
        callsPerSec: NaN,
        p50: NaN,
        p99: NaN,
        cpu: { hub: NaN, redis: NaN, subscribers: NaN, other: NaN },
      };
      const window = load === "sequential" ? 1 : WINDOW;
      let client: LineChild | undefined;
      try {
        if (path !== "hub.publish") {
          client = new LineChild([
            "deno",
            "run",
            "-A",
            "bench/publish_client.ts",
            `--mode=${path === "api-batch" ? "batch" : path}`,
            `--batch=${BATCH}`,
            `--redis=${redis!.url}`,
            `--api=http://127.0.0.1:${port}/api`,
            `--key=${KEY}`,
            `--room=${room}`,
            `--count=${count}`,
            `--size=${SIZE}`,
            `--window=${window}`,
            ...history,
          ], root);
          await client.next("ready", 30_000);
        }
        // Concurrent HTTP requests have no order between them: only the others promise one.
        const requests = path === "api-batch" ? Math.max(1, Math.floor(window / BATCH)) : window;
        const ordered = !path.startsWith("api") || requests === 1;
        await subscribers.send({ expect: count, ordered });
        await subscribers.next("armed", 10_000);
        const pids: Record<string, number> = {
          hub: hub.pid,
          redis: redis!.pid,
          subscribers: subscribers.pid,
          ...client ? { publisher: client.pid } : {},
        };
        const cpu0 = cpuOf(pids);
        const busy0 = machineBusyMs();
        const t0 = performance.now();
        let published: { startedAt: number; endedAt: number; failed?: number };
        if (client === undefined) {
          const response = await fetch(
            `http://127.0.0.1:${port}/burst?room=${room}&count=${count}&size=${SIZE}&window=${window}`,
            { method: "POST" },
          );
          published = await response.json();
        } else {
          await client.send("go");
          published = await client.next("startedAt", 120_000) as typeof published;
        }
        let done: Record<string, unknown>;
        try {
          done = await subscribers.next("done", 60_000);
        } catch {
          await subscribers.send({ report: true });
          done = await subscribers.next("done", 5_000);
        }
        const seconds = (performance.now() - t0) / 1000;
        const cpu1 = cpuOf(pids);
        const pct = (name: string) => (cpu1[name] - cpu0[name]) / 10 / seconds;
        const ours = Object.keys(pids).reduce((sum, name) => sum + pct(name), 0);
        const received = done.received as number;
        const problems = [
          done.done ? "" : `received ${received} of ${count * SUBS}`,
          (done.outOfOrder as number) > 0 ? `${done.outOfOrder} out of order` : "",
          (done.closed as number) > 0
            ? `${done.closed} subscribers closed (codes ${JSON.stringify(done.closeCodes)})`
            : "",
          (published.failed ?? 0) > 0 ? `${published.failed} calls failed` : "",
        ].filter((p) => p !== "");
        return {
          ...base,
          ok: problems.length === 0,
          error: problems.length === 0 ? undefined : problems.join(", "),
          messagesPerSec: count / (((done.lastAt as number) - published.startedAt) / 1000),
          callsPerSec: count / ((published.endedAt - published.startedAt) / 1000),
          p50: done.p50 as number,
          p99: done.p99 as number,
          cpu: {
            hub: pct("hub"),
            redis: pct("redis"),
            publisher: client ? pct("publisher") : undefined,
            subscribers: pct("subscribers"),
            // Everything else on the machine (other engineers' runs, this orchestrator).
            other: Math.max(0, (machineBusyMs() - busy0) / 10 / seconds - ours),
          },
        };
      } catch (error) {
        return { ...base, error: error instanceof Error ? error.message : String(error) };
      } finally {
        await client?.stop();
      }
    };

    for (const path of PATHS) await once(path, "pipelined", 200, -1); // warm-up, not counted
    const count = counts(options.quick);
    for (const load of ["sequential", "pipelined"] as const) {
      for (let round = 0; round < options.rounds; round++) {
        const order = round % 2 === 0 ? PATHS : [...PATHS].reverse();
        for (const path of order) {
          const run = await once(path, load, count[load], round);
          runs.push(run);
          log(
            `publish ${setup} ${load} round ${round + 1} ${path}: ${
              run.ok ? `${Math.round(run.messagesPerSec)} msg/s` : `NOT OK ${run.error}`
            }`,
          );
        }
      }
    }
    return runs;
  } finally {
    running.delete(stopAll);
    await stopAll();
  }
}

/** What stops the processes of the setups running now (on Ctrl-C). */
const running = new Set<() => Promise<void>>();

function summarize(runs: PublishRun[], all: PublishRun[]): PublishSummary {
  const ok = runs.filter((r) => r.ok);
  const { setup, load, path } = runs[0];
  const paired = ok.map((r) => {
    const reference = all.find((b) =>
      b.ok && b.path === "hub.publish" && b.setup === setup && b.load === load &&
      b.round === r.round
    );
    return reference === undefined ? undefined : r.messagesPerSec / reference.messagesPerSec;
  });
  return {
    setup,
    load,
    path,
    runs: runs.length,
    okRuns: ok.length,
    messagesPerSec: median(ok.map((r) => r.messagesPerSec)),
    vsHub: median(paired),
    callsPerSec: median(ok.map((r) => r.callsPerSec)),
    p50: median(ok.map((r) => r.p50)),
    p99: median(ok.map((r) => r.p99)),
    hubCpu: median(ok.map((r) => r.cpu.hub)),
    redisCpu: median(ok.map((r) => r.cpu.redis)),
    publisherCpu: median(ok.map((r) => r.cpu.publisher)),
    subscribersCpu: median(ok.map((r) => r.cpu.subscribers)),
    otherCpu: median(ok.map((r) => r.cpu.other)),
    errors: [...new Set(runs.filter((r) => !r.ok).map((r) => r.error ?? "not ok"))],
  };
}

/** Runs both setups, every load, path and round. */
export async function runPublishScenario(
  options: PublishScenarioOptions,
): Promise<PublishScenarioResult> {
  const log = options.log ?? console.error;
  if (!await redisAvailable()) {
    const skipped = "redis-server not found (apt-get install redis-server)";
    log(`publish scenario skipped: ${skipped}`);
    return { skipped };
  }
  const t0 = performance.now();
  const runs: PublishRun[] = [];
  const setups = options.setups ?? ["room", "history"];
  for (const setup of setups) runs.push(...await runSetup(options, setup, log));
  const summary: PublishSummary[] = [];
  for (const setup of setups) {
    for (const load of ["sequential", "pipelined"] as const) {
      for (const path of PATHS) {
        const mine = runs.filter((r) => r.setup === setup && r.load === load && r.path === path);
        if (mine.length > 0) summary.push(summarize(mine, runs));
      }
    }
  }
  return {
    subs: SUBS,
    size: SIZE,
    window: WINDOW,
    counts: counts(options.quick),
    rounds: options.rounds,
    runs,
    summary,
    seconds: Math.round((performance.now() - t0) / 1000),
  };
}

/** The scenario's table, in Markdown (for docs/benchmarks.md and the console). */
export function publishTable(result: PublishScenarioResult): string {
  const title = "### Publishing from other processes";
  if ("skipped" in result) return `${title}\n\nSkipped: ${result.skipped}.\n`;
  const out = [
    title,
    "",
    `One hub with a \`RedisBackplane\`, ${result.subs.toLocaleString("en-US")} \`wshub.v1\` ` +
    `subscribers in one room, ${result.size} B messages: ${result.counts.sequential} per run ` +
    `each call awaited (sequential), ${result.counts.pipelined} with at most ${result.window} ` +
    `unanswered (pipelined). messages/s: what reached every subscriber (first call to last ` +
    `delivery); "vs hub.publish": paired within each round, median of ${result.rounds}. CPU in % ` +
    "of one core; the subscribers' process is the load generator (one thread); other: the " +
    "rest of the machine.",
    "",
    "| room | load | publisher | messages/s | vs hub.publish | calls/s | p50 ms | p99 ms | hub CPU | Redis CPU | publisher CPU | subscribers CPU | other CPU |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const s of result.summary) {
    const flag = s.okRuns < s.runs ? ` ⚠ ${s.runs - s.okRuns}/${s.runs} failed` : "";
    out.push(
      `| ${s.setup === "room" ? "no history" : "history in Redis"} | ${s.load} | ${
        PATH_LABELS[s.path]
      }${flag} | ${fmt(s.messagesPerSec)} | ${
        s.path === "hub.publish" ? "1.00×" : `${fmt(s.vsHub, 2)}×`
      } | ${fmt(s.callsPerSec)} | ${fmt(s.p50, 1)} | ${fmt(s.p99, 1)} | ${fmt(s.hubCpu)} % | ${
        fmt(s.redisCpu)
      } % | ${s.path === "hub.publish" ? "(the hub's)" : `${fmt(s.publisherCpu)} %`} | ${
        fmt(s.subscribersCpu)
      } % | ${fmt(s.otherCpu)} % |`,
    );
  }
  const errors = result.summary.flatMap((s) =>
    s.errors.map((e) => `- ${s.setup} ${s.load} ${s.path}: ${e}`)
  );
  if (errors.length > 0) out.push("", ...errors);
  return out.join("\n") + "\n";
}

if (import.meta.main) {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, async () => {
      for (const stop of running) await stop();
      Deno.exit(130);
    });
  }
  const args = new Map(Deno.args.map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    return m ? [m[1], m[2] ?? "true"] as const : [a, "true"] as const;
  }));
  const quick = args.has("quick");
  const result = await runPublishScenario({
    root: new URL("../", import.meta.url).pathname,
    quick,
    rounds: Number(args.get("rounds") ?? (quick ? 1 : 3)),
    setups: args.get("setups")?.split(",").filter((s): s is PublishSetup =>
      s === "room" || s === "history"
    ),
  });
  console.log(publishTable(result));
  const out = args.get("out");
  if (out !== undefined) await Deno.writeTextFile(out, JSON.stringify(result, null, 2) + "\n");
}
