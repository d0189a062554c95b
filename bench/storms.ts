/**
 * The presence and reconnect storm benchmarks of issue 20, against this tree and, with
 * `--compare=<rev>`, another revision (extracted as bench/run.ts does, run by the same server
 * script: bench/storms_server.ts imports the hub from the tree it is given), in the same rounds.
 * The load is bench/loadgen_go's `flap` and `storm` scenarios (bench/loadgen_go/storms.go).
 *
 * ```sh
 * flock /tmp/wshub-bench.lock deno run -A bench/storms.ts --compare=ef5ef1a
 * deno run -A bench/storms.ts --quick --scenarios=flap --no-docs
 * ```
 *
 * Also run by `deno task bench --scenarios=flap,storm [--compare=<rev>]`.
 *
 * - **flap**: one hub process (`presenceEvents: true`); 500 framed members in one room, asking for
 *   presence diffs; 0, 1 or 20 clients joining and leaving the room at 95 frames a second each
 *   (inside the default rate limit); a publisher at 20 messages a second, published to the room.
 *   Measured over 10 s after 3 s of warm-up: presence frames per member per second, publication
 *   lateness at the members (p50, p99), server CPU. This tree runs twice: as configured by default,
 *   and with the room-change budget off (`budget off`), to show what the window alone does.
 * - **storm**: one hub process with a `RedisBackplane` and history in every room, publishing 500
 *   messages a second over 500 rooms itself; 5,000 framed clients, each in 3 rooms (30 per room),
 *   following every room's offsets. After 5 s the hub is restarted (SIGTERM: a graceful close,
 *   1001 to every client; then a new process on the same port). Measured: the time from the first
 *   disconnect until every client has rejoined every room with `recovered: true`, gaps and
 *   duplicates seen by the clients (offsets), Redis's calls by kind from the restart until then
 *   (`INFO commandstats` after `CONFIG RESETSTAT`; commands run inside scripts are counted too),
 *   and the new process's CPU and peak RSS.
 *
 * Each run starts fresh processes; the server is pinned to CPU 0 and the load generator (and
 * Redis) to CPU 1 when `taskset` exists. Flags: `--compare=<rev>`, `--rounds=N` (1), `--quick`
 * (smaller and shorter), `--scenarios=flap,storm`, `--no-docs` (print the tables instead of
 * writing them to docs/benchmarks.md between its `storms` markers), `--out=<file>` (the JSON,
 * also written to the git-ignored bench/results/storms.json).
 *
 * @module
 */

import { buildGoLoadgen } from "./loadgen_go.ts";
import { processCpuMs } from "./proc.ts";
import { freePort } from "../testing/net.ts";
import { firstLine, terminate } from "../testing/process.ts";
import { redisCli, type RedisServer, startRedis } from "../testing/redis.ts";

/** One hub to measure: this tree, or another revision's. */
export interface Variant {
  id: string;
  label: string;
  /** The tree whose hub runs (`--root` of bench/storms_server.ts). */
  root: string;
  /** Hub options added (JSON), for the flap scenario. */
  options?: Record<string, unknown>;
}

/** What one flap run measured (the load generator's report). */
export interface FlapRun {
  variant: string;
  flappers: number;
  round: number;
  ok: boolean;
  error?: string;
  presenceFramesPerMemberPerSecond: number;
  presenceMessagesPerMemberPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  deliveries: number;
  expected: number;
  flapFrames: number;
  flapRefused: number;
  serverCpu: number;
  loadgenCpu: number;
}

/** What one storm run measured. */
export interface StormRun {
  variant: string;
  round: number;
  ok: boolean;
  error?: string;
  recoverMs: number;
  p50Ms: number;
  p99Ms: number;
  recovered: number;
  unrecovered: number;
  reasons?: string[];
  gaps: number;
  duplicates: number;
  attempts: number;
  paced: number;
  /** Redis commands by name from the restart until every room was recovered. */
  redis: Record<string, number>;
  /** The new process's CPU from its start until every room was recovered, % of one core. */
  serverCpu: number;
  /** The new process's peak RSS, MiB. */
  peakRssMiB: number;
  loadgenCpu: number;
  /** The new process's backplane counters at the end (this tree only has the read ones). */
  backplane?: Record<string, unknown>;
}

/** Everything a run of the storm benchmarks measured. */
export interface StormsResults {
  date: string;
  compare: { rev: string; tag: string } | null;
  rounds: number;
  quick: boolean;
  flap: FlapRun[];
  storm: StormRun[];
  sizes: { members: number; clients: number; rooms: number; rate: number };
}

/** How to run them. */
export interface StormsOptions {
  root: string;
  loadgen: string;
  /** Another revision's tree, and its short name. */
  revision?: { tag: string; dir: string; rev: string };
  rounds: number;
  quick: boolean;
  scenarios: ("flap" | "storm")[];
  log?: (line: string) => void;
}

/** `taskset -c <cpu>` before a command, when there is taskset and a second CPU. */
async function pinned(cpu: number): Promise<string[]> {
  if (navigator.hardwareConcurrency < 2) return [];
  try {
    const status = await new Deno.Command("taskset", { args: ["-V"], stdout: "null" }).output();
    return status.success ? ["taskset", "-c", String(cpu)] : [];
  } catch {
    return [];
  }
}

/** A running bench/storms_server.ts. */
class Server {
  readonly child: Deno.ChildProcess;
  readonly port: number;
  readonly started: number;

  private constructor(child: Deno.ChildProcess, port: number) {
    this.child = child;
    this.port = port;
    this.started = performance.now();
  }

  static async start(root: string, variant: Variant, args: string[]): Promise<Server> {
    const pin = await pinned(0);
    const cmd = [...pin, Deno.execPath(), "run", "-A", "bench/storms_server.ts", ...args];
    if (variant.root !== root) cmd.push(`--root=${variant.root}`);
    if (variant.options !== undefined) cmd.push(`--options=${JSON.stringify(variant.options)}`);
    const child = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      cwd: root,
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
    }).spawn();
    const line = await firstLine(child, `the ${variant.id} server`);
    return new Server(child, JSON.parse(line).port);
  }

  /** The server's own pid (under taskset, the child exec'd into it: the same pid). */
  get pid(): number {
    return this.child.pid;
  }

  async stats(): Promise<Record<string, unknown>> {
    const response = await fetch(`http://127.0.0.1:${this.port}/stats`);
    return await response.json();
  }

  /** Peak RSS (VmHWM), MiB. */
  peakRssMiB(): number {
    try {
      const status = Deno.readTextFileSync(`/proc/${this.pid}/status`);
      return Number(/VmHWM:\s*(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
    } catch {
      return NaN;
    }
  }

  stop(): Promise<Deno.CommandStatus> {
    return terminate(this.child, 10_000);
  }
}

/** Runs the load generator; `onLine` sees each JSON line it prints; resolves with the last. */
async function loadgen(
  binary: string,
  args: string[],
  onLine: (line: Record<string, unknown>) => Promise<void> | void = () => {},
): Promise<Record<string, unknown>> {
  const pin = await pinned(1);
  const cmd = [...pin, binary, ...args];
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  let last: Record<string, unknown> = { ok: false, error: "no report" };
  let buffer = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      try {
        last = JSON.parse(line);
      } catch {
        continue;
      }
      await onLine(last);
    }
  }
  await child.status;
  return last;
}

/** Runs the scenarios, interleaved round by round over the variants; returns what they measured. */
export async function runStorms(options: StormsOptions): Promise<StormsResults> {
  const log = options.log ?? ((line: string) => console.error(line));
  const { root, quick } = options;
  const variants: Variant[] = [];
  if (options.revision !== undefined) {
    variants.push({
      id: `main@${options.revision.tag}`,
      label: `before (${options.revision.tag})`,
      root: options.revision.dir,
    });
  }
  variants.push({ id: "this", label: "after (this tree)", root });
  const sizes = quick
    ? { members: 100, clients: 1000, rooms: 100, rate: 100 }
    : { members: 500, clients: 5000, rooms: 500, rate: 500 };
  const results: StormsResults = {
    date: new Date().toISOString(),
    compare: options.revision === undefined
      ? null
      : { rev: options.revision.rev, tag: options.revision.tag },
    rounds: options.rounds,
    quick,
    flap: [],
    storm: [],
    sizes,
  };
  for (let round = 0; round < options.rounds; round++) {
    if (options.scenarios.includes("flap")) {
      const flapVariants: Variant[] = [
        ...variants,
        {
          id: "this-no-budget",
          label: "after, room-change budget off",
          root,
          options: { roomChangesPerSecond: 1e6, roomChangeBurst: 1e9 },
        },
      ];
      for (const flappers of [0, 1, 20]) {
        for (const variant of flapVariants) {
          if (variant.options !== undefined && flappers === 0) continue;
          log(`flap round ${round + 1}: ${variant.id}, ${flappers} flapper(s)`);
          results.flap.push(await flapRun(options, variant, flappers, round, sizes.members));
        }
      }
    }
    if (options.scenarios.includes("storm")) {
      for (const variant of variants) {
        log(`storm round ${round + 1}: ${variant.id}`);
        results.storm.push(await stormRun(options, variant, round, sizes));
      }
    }
  }
  return results;
}

async function flapRun(
  options: StormsOptions,
  variant: Variant,
  flappers: number,
  round: number,
  members: number,
): Promise<FlapRun> {
  const server = await Server.start(options.root, variant, ["--scenario=flap"]);
  try {
    const report = await loadgen(options.loadgen, [
      "--scenario=flap",
      `--url=ws://127.0.0.1:${server.port}/ws`,
      `--members=${members}`,
      `--flappers=${flappers}`,
      `--server-pid=${server.pid}`,
      `--warmup=${options.quick ? 2 : 3}`,
      `--duration=${options.quick ? 4 : 10}`,
    ]);
    return { variant: variant.id, flappers, round, ...report } as unknown as FlapRun;
  } finally {
    await server.stop();
  }
}

async function stormRun(
  options: StormsOptions,
  variant: Variant,
  round: number,
  sizes: StormsResults["sizes"],
): Promise<StormRun> {
  const redis: RedisServer = await startRedis();
  const pin = await pinned(1);
  if (pin.length > 0) {
    const pid = (await redisCli(redis.port, "INFO", "server")).match(/process_id:(\d+)/)?.[1];
    if (pid !== undefined) {
      await new Deno.Command("taskset", { args: ["-pc", "1", pid], stdout: "null" }).output();
    }
  }
  const port = await freePort();
  const args = [
    "--scenario=storm",
    `--redis=${redis.url}`,
    `--rooms=${sizes.rooms}`,
    `--rate=${sizes.rate}`,
    `--port=${port}`,
  ];
  let server = await Server.start(options.root, variant, args);
  let restarted: Server | undefined;
  let cpuAtStart = 0;
  let measured: {
    redis: Record<string, number>;
    cpu: number;
    backplane?: Record<string, unknown>;
  } = {
    redis: {},
    cpu: NaN,
  };
  try {
    const report = await loadgen(options.loadgen, [
      "--scenario=storm",
      `--url=ws://127.0.0.1:${port}/ws`,
      `--clients=${sizes.clients}`,
      `--rooms=${sizes.rooms}`,
      `--steady=${options.quick ? 3 : 5}`,
      "--settle=5",
      "--time-limit=120",
    ], async (line) => {
      if (line.phase === "ready") {
        await redisCli(redis.port, "CONFIG", "RESETSTAT");
        const stopping = performance.now();
        await server.stop();
        const starting = performance.now();
        restarted = server = await Server.start(options.root, variant, args);
        cpuAtStart = processCpuMs(server.pid);
        (options.log ?? console.error)(
          `  restart: the old process took ${(starting - stopping).toFixed(0)} ms to close, ` +
            `the new one ${(performance.now() - starting).toFixed(0)} ms to listen`,
        );
      } else if (line.phase === "recovered" && restarted !== undefined) {
        const seconds = (performance.now() - restarted.started) / 1000;
        const cpu = (processCpuMs(restarted.pid) - cpuAtStart) / seconds / 10;
        const info = await redisCli(redis.port, "INFO", "commandstats");
        const calls: Record<string, number> = {};
        for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
          calls[match[1]] = Number(match[2]);
        }
        const stats = await restarted.stats().catch(() => undefined);
        measured = { redis: calls, cpu, backplane: stats?.backplane as Record<string, unknown> };
      }
    });
    return {
      variant: variant.id,
      round,
      ...report,
      redis: measured.redis,
      serverCpu: Math.round(measured.cpu * 10) / 10,
      peakRssMiB: Math.round(server.peakRssMiB() * 10) / 10,
      backplane: measured.backplane,
    } as unknown as StormRun;
  } finally {
    await server.stop();
    await redis.stop();
  }
}

/** The Redis commands of a storm, by kind, as the tables show them. */
const REDIS_KINDS: [string, string[]][] = [
  ["script calls (EVALSHA/EVAL)", ["evalsha", "eval"]],
  ["of which appends (XADD)", ["xadd"]],
  ["stream reads (XRANGE, XREVRANGE)", ["xrange", "xrevrange"]],
  ["presence counts changed (HINCRBY)", ["hincrby"]],
  ["PUBLISH", ["publish"]],
  ["SUBSCRIBE", ["subscribe"]],
  ["every command", []],
];

function sum(calls: Record<string, number>, names: string[]): number {
  if (names.length === 0) {
    return Object.entries(calls).filter(([name]) => !name.startsWith("config") && name !== "info")
      .reduce((total, [, n]) => total + n, 0);
  }
  return names.reduce((total, name) => total + (calls[name] ?? 0), 0);
}

function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const fmt = (x: number, digits = 1) =>
  Number.isFinite(x)
    ? x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 })
    : "–";

/** The Markdown tables of a run. */
export function stormsTables(results: StormsResults): string {
  const lines: string[] = [];
  const { members, clients, rooms, rate } = results.sizes;
  const compared = results.compare === null
    ? "this tree only"
    : `before: \`${results.compare.rev}\` (${results.compare.tag}); after: this tree`;
  lines.push(
    `Run ${results.date.slice(0, 10)}, ${results.rounds} round(s)${
      results.quick ? ", quick" : ""
    }; ${compared}. Medians over rounds.`,
    "",
  );
  if (results.flap.length > 0) {
    lines.push(
      `**Presence flap**: ${members} members in one room, a publisher at 20 messages a second, ` +
        "clients flapping (join, leave, … at 95 frames a second each):",
      "",
      "| hub | flappers | presence frames / member / s | WebSocket messages with presence / member / s | publication p50 | p99 | server CPU | flapper joins refused | load generator CPU |",
      "| --- | --: | --: | --: | --: | --: | --: | --: | --: |",
    );
    const keys = [...new Set(results.flap.map((r) => `${r.flappers}\u0000${r.variant}`))];
    for (const key of keys) {
      const [flappers, variant] = key.split("\u0000");
      const runs = results.flap.filter((r) =>
        String(r.flappers) === flappers && r.variant === variant
      );
      const m = (pick: (r: FlapRun) => number) => median(runs.map(pick));
      const failed = runs.filter((r) => !r.ok).length;
      lines.push(
        `| ${variant}${failed > 0 ? ` (${failed} run(s) not ok)` : ""} | ${flappers} | ${
          fmt(m((r) => r.presenceFramesPerMemberPerSecond), 2)
        } | ${fmt(m((r) => r.presenceMessagesPerMemberPerSecond), 2)} | ${
          fmt(m((r) => r.p50Ms), 1)
        } ms | ${fmt(m((r) => r.p99Ms), 1)} ms | ${fmt(m((r) => r.serverCpu), 0)} % | ${
          fmt(m((r) => r.flapRefused), 0)
        } | ${fmt(m((r) => r.loadgenCpu), 0)} % |`,
      );
    }
    lines.push("");
  }
  if (results.storm.length > 0) {
    const variants = [...new Set(results.storm.map((r) => r.variant))];
    lines.push(
      `**Reconnect storm**: ${clients.toLocaleString("en-US")} framed clients in ${rooms} rooms ` +
        `(3 rooms each), history in Redis, ${rate} publications a second; the hub restarted:`,
      "",
      `| | ${variants.join(" | ")} |`,
      `| --- | ${variants.map(() => "--:").join(" | ")} |`,
    );
    const row = (label: string, pick: (r: StormRun) => number, digits = 0, unit = "") => {
      const cells = variants.map((v) => {
        const value = median(results.storm.filter((r) => r.variant === v).map(pick));
        return `${fmt(value, digits)}${Number.isFinite(value) ? unit : ""}`;
      });
      lines.push(`| ${label} | ${cells.join(" | ")} |`);
    };
    row("every client recovered every room after", (r) => r.recoverMs / 1000, 2, " s");
    row("a client recovered all its rooms after, p50", (r) => r.p50Ms / 1000, 2, " s");
    row("… p99", (r) => r.p99Ms / 1000, 2, " s");
    row("rooms recovered", (r) => r.recovered);
    row("not recovered", (r) => r.unrecovered);
    row("gaps seen by clients", (r) => r.gaps);
    row("duplicates seen by clients", (r) => r.duplicates);
    row("connection attempts", (r) => r.attempts);
    row("turned away with a retryAfter", (r) => r.paced);
    for (const [label, names] of REDIS_KINDS) {
      row(`Redis: ${label}`, (r) => sum(r.redis, names));
    }
    row(
      "Redis script calls besides appends, per client",
      (r) => (sum(r.redis, ["evalsha", "eval"]) - sum(r.redis, ["xadd"])) / r.recovered * 3,
      2,
    );
    row("new process CPU until recovered", (r) => r.serverCpu, 0, " %");
    row("new process peak RSS", (r) => r.peakRssMiB, 0, " MiB");
    row("load generator CPU", (r) => r.loadgenCpu, 0, " %");
    lines.push("");
  }
  return lines.join("\n");
}

/** Writes bench/results/storms.json (git-ignored: every run's figures); returns its path. */
export async function writeStormsResults(root: string, results: StormsResults): Promise<string> {
  await Deno.mkdir(`${root}bench/results`, { recursive: true });
  const path = `${root}bench/results/storms${results.quick ? "-quick" : ""}.json`;
  await Deno.writeTextFile(path, JSON.stringify(results, null, 2));
  return path;
}

/** Writes the tables to docs/benchmarks.md between the `storms` markers. */
export async function writeStormsDocs(root: string, results: StormsResults): Promise<void> {
  const path = `${root}docs/benchmarks.md`;
  let doc = await Deno.readTextFile(path);
  const begin = "<!-- storms:begin (written by bench/storms.ts) -->";
  const end = "<!-- storms:end -->";
  const block = `${begin}\n\n${stormsTables(results)}\n${end}`;
  if (!doc.includes(begin) || !doc.includes(end)) {
    throw new Error(`docs/benchmarks.md has no ${begin} … ${end} section`);
  }
  doc = doc.slice(0, doc.indexOf(begin)) + block + doc.slice(doc.indexOf(end) + end.length);
  await Deno.writeTextFile(path, doc);
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "docs/benchmarks.md"], cwd: root })
    .output();
}

if (import.meta.main) {
  const flag = (name: string) =>
    Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const root = new URL("../", import.meta.url).pathname;
  const built = await buildGoLoadgen(root);
  if ("error" in built) {
    console.error(`the Go load generator is needed: ${built.error}`);
    Deno.exit(1);
  }
  const { checkoutRevision } = await import("./run/orchestrate.ts");
  const compare = flag("compare");
  const revision = compare === undefined ? undefined : await checkoutRevision(root, compare);
  try {
    const scenarios = (flag("scenarios") ?? "flap,storm").split(",") as ("flap" | "storm")[];
    const results = await runStorms({
      root,
      loadgen: built.binary,
      revision: revision && compare !== undefined ? { ...revision, rev: compare } : undefined,
      rounds: Number(flag("rounds") ?? 1),
      quick: Deno.args.includes("--quick"),
      scenarios,
    });
    const out = flag("out");
    if (out !== undefined) await Deno.writeTextFile(out, JSON.stringify(results, null, 2));
    console.error(`wrote ${await writeStormsResults(root, results)}`);
    if (Deno.args.includes("--no-docs")) console.log(stormsTables(results));
    else {
      await writeStormsDocs(root, results);
      console.error("wrote docs/benchmarks.md (storms)");
    }
  } finally {
    await Deno.remove(built.dir, { recursive: true }).catch(() => {});
    if (revision !== undefined) {
      await Deno.remove(revision.dir, { recursive: true }).catch(() => {});
    }
  }
}
