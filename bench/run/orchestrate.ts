/**
 * Running the servers and the load generator: one fresh server per run, pinned apart, rounds
 * interleaved; and the tree of another revision for `--compare`.
 *
 * @module
 */

import type { GoLoadgen } from "../loadgen_go.ts";
import { connectionsOf, type Scenario, type ServerSpec, serves } from "./config.ts";
import { hubMaxConnections, type Machine, nofileOf, nofileTarget, sh } from "./machine.ts";
import { delay, until } from "../../testing/async.ts";
import { accepting } from "../../testing/net.ts";
import { terminate } from "../../testing/process.ts";
import { problem, type RunResult, type Runs } from "./stats.ts";

/** What every run needs. */
export interface Bench {
  root: string;
  machine: Machine;
  /** The Go load generator, or undefined for bench/loadgen.ts. */
  goLoadgen: GoLoadgen | undefined;
}

let nextPort = 9400 + Math.floor(Math.random() * 400);

/**
 * `cmd` run by bash on one CPU (when pinning), its open-file limit raised to the hard limit first
 * (10,000 connections need more than the usual 1,024).
 */
function pinned(bench: Bench, cpu: number, cmd: string[]): string[] {
  const quoted = cmd.map((c) => `'${c.replaceAll("'", "'\\''")}'`).join(" ");
  const prefix = bench.machine.pinned ? `taskset -c ${cpu} ` : "";
  const nofile = nofileTarget(bench.machine.nofile);
  return ["bash", "-c", `ulimit -n ${nofile} 2>/dev/null; exec ${prefix}${quoted}`];
}

/**
 * Why a scenario cannot run with the open-file limit children get, or undefined when it can: the
 * load generator needs a descriptor per connection, and the hub refuses connections past its
 * default `maxConnections` (the limit less a tenth).
 */
export function nofileProblem(bench: Bench, sc: Scenario): string | undefined {
  const need = connectionsOf(sc);
  const limit = bench.machine.childNofile;
  if (limit && hubMaxConnections(limit) < need) {
    let enough = need;
    while (hubMaxConnections(enough) < need) enough++;
    return `${need} connections need an open-file limit of at least ${enough} ` +
      `(children get ${limit}: the hub would accept ${hubMaxConnections(limit)})`;
  }
  return undefined;
}

/** The load generator's command line for one run. */
function loadgenCmd(bench: Bench, server: ServerSpec, sc: Scenario, port: number, pid: number) {
  const go = bench.goLoadgen && server.mode !== "socketio" ? bench.goLoadgen : undefined;
  const unpacedDuration = go && sc.duration && !sc.rate && !sc.idle;
  return [
    ...(go ? [go.binary] : ["deno", "run", "-A", "bench/loadgen.ts"]),
    `--url=ws://127.0.0.1:${port}/ws`,
    `--mode=${server.mode}`,
    `--subs=${sc.subs}`,
    ...(sc.rooms ? [`--rooms=${sc.rooms}`, `--pubs=${sc.pubs ?? 1}`] : []),
    ...(unpacedDuration
      ? [
        `--duration=${sc.duration}`,
        `--warmup=${sc.warmup ?? 0}`,
        ...(sc.window ? [`--window=${sc.window}`] : []),
      ]
      : [`--messages=${sc.messages}`]),
    `--size=${sc.size}`,
    `--rate=${sc.rate ?? 0}`,
    `--server-pid=${pid}`,
    `--time-limit=${sc.timeLimit}`,
    ...(sc.idle ? [`--idle=${sc.idle}`] : []),
  ];
}

/** One run: a fresh server, one load run against it, the server stopped. */
export async function runOnce(bench: Bench, server: ServerSpec, sc: Scenario): Promise<RunResult> {
  const serverCmd = sc.rooms ? server.roomsCmd : server.cmd;
  if (!serverCmd) {
    return { ok: false, error: `${server.id} has no ${sc.rooms ? "rooms" : "fan-out"} server` };
  }
  if (sc.rooms && !bench.goLoadgen) {
    return { ok: false, error: "rooms need the Go load generator (bench/loadgen_go)" };
  }
  const port = nextPort++;
  const cmd = pinned(bench, 0, [...serverCmd, `--port=${port}`]);
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: server.cwd ?? bench.root,
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
    const listening = await until(() => accepting(port), 15_000, "the server", 50).then(
      () => true,
      () => false,
    );
    if (!listening) {
      return { ok: false, error: `server did not listen: ${serverErr}` };
    }
    // bash exec'd the server: same pid. Check the limit it really got.
    const nofile = nofileOf(child.pid);
    if (nofile < connectionsOf(sc) + 64) {
      return { ok: false, error: `the server's open-file limit is ${nofile}` };
    }
    await delay(200);
    const r = await sh(
      pinned(bench, 1, loadgenCmd(bench, server, sc, port, child.pid)),
      bench.root,
    );
    const line = r.out.trim().split("\n").pop() ?? "";
    try {
      return JSON.parse(line);
    } catch {
      return { ok: false, error: `loadgen output: ${line.slice(0, 300)} ${r.err.slice(0, 1000)}` };
    }
  } finally {
    await terminate(child);
  }
}

/** A line of progress on stderr for one run. */
function describe(r: RunResult): string {
  if (!("deliveriesPerSec" in r)) return `NOT OK ${problem(r)}`;
  const head = r.ok ? "ok" : `NOT OK ${problem(r)}`;
  if (r.idle) {
    return `${head} ${r.idle.rssKiBPerConn} KiB/conn, idle CPU ${r.idle.serverCpuPct} %, open ${r.idle.stillOpen}`;
  }
  return `${head} ${r.deliveriesPerSec} del/s, p99 ${r.latencyMs.p99} ms, lost ${r.lost}, ` +
    `server ${r.server?.usPerDelivery} µs/del, loadgen ${r.loadgen.cpuPct} %, other ${r.otherCpuPct} %, ` +
    `${r.durationMs} ms`;
}

/**
 * Every scenario, every round, every server that serves it. Rounds alternate their order (A B C,
 * then C B A, …): a machine that speeds up or slows down during a round then favours no server
 * systematically.
 */
export async function runAll(
  bench: Bench,
  servers: readonly ServerSpec[],
  scenarios: readonly Scenario[],
  rounds: number,
): Promise<Runs> {
  const runs: Runs = {};
  const t0 = performance.now();
  for (const sc of scenarios) {
    runs[sc.id] = {};
    const these = servers.filter((s) => serves(s, sc));
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? these : [...these].reverse();
      for (const server of order) {
        const r = await runOnce(bench, server, sc);
        (runs[sc.id][server.id] ??= []).push(r);
        console.error(
          `[${((performance.now() - t0) / 1000).toFixed(0)} s] ${sc.id} round ${round + 1} ` +
            `${server.id}: ${describe(r)}`,
        );
      }
    }
  }
  return runs;
}

/** Another revision's tree, for `--compare`: its commit, a short tag, and where it is. */
export interface Revision {
  sha: string;
  tag: string;
  dir: string;
}

/**
 * Extracts revision `rev` of the repository at `root` into a temp directory (`git archive`: a
 * plain copy, nothing registered in the repository, so a killed run leaves at most a temp
 * directory behind). The caller removes `dir`.
 */
export async function checkoutRevision(root: string, rev: string): Promise<Revision> {
  const parsed = await sh(["git", "rev-parse", "--verify", "--quiet", `${rev}^{commit}`], root);
  if (parsed.code !== 0) throw new Error(`--compare=${rev}: no such commit`);
  const sha = parsed.out.trim();
  const tag = sha.slice(0, 7);
  const tmp = await Deno.makeTempDir({ prefix: `wshub-compare-${tag}-` });
  const remove = () => Deno.remove(tmp, { recursive: true }).catch(() => {});
  const x = await sh(["bash", "-c", `git archive --format=tar ${sha} | tar -x -C '${tmp}'`], root);
  if (x.code !== 0) {
    await remove();
    throw new Error(`git archive ${sha} failed: ${x.err.trim()}`);
  }
  try {
    await Deno.stat(`${tmp}/bench/fanout_server.ts`);
  } catch {
    await remove();
    throw new Error(`--compare=${rev}: ${tag} has no bench/fanout_server.ts`);
  }
  return { sha, tag, dir: tmp };
}
