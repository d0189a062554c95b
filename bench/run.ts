/**
 * `deno task bench`: the microbenchmarks, then the fan-out and rooms comparisons, then
 * docs/benchmarks.md (between its `results` markers) and docs/benchmarks.svg.
 *
 * `deno task bench --help` lists the flags (bench/run/config.ts). The main ones:
 *
 * - `--guard`: the check before landing a change to `src/server/` (bench/run/guard.ts): the hub's
 *   own CPU per publish and per broadcast, this working tree against `--compare` (default
 *   `main`), in about half a minute; nothing else runs
 * - `--quick`: one round of short, smaller scenarios, no microbenchmarks; writes
 *   bench/results/quick.json and prints the tables
 * - `--rounds=N` (3), `--only=raw,hub-plain,…` servers, `--scenarios=fanout1000,rooms,…`
 * - `--compare=<rev>`: also run `bench/fanout_server.ts` (and `bench/rooms_server.ts` in the rooms
 *   scenario) of another git revision (extracted into a temp directory, removed at the end) as
 *   `hub-plain@<rev>` and `hub-framed@<rev>`, in the same rounds as the others, and add a table of
 *   the hub against it
 * - `--metrics-every=MS`: also run each hub server with `hub.metrics()` read every MS ms
 *   (`hub-plain-metrics`, `hub-framed-metrics`), to compare with the same server never read
 * - `--inspector`: also run each hub server with the inspector mounted and one page's live stream
 *   read (`hub-plain-inspector`, `hub-framed-inspector`), to compare with the same without
 * - `--no-micro`, `--no-docs`, `--loadgen=go|deno`
 * - `--scenarios=redis`: the cross-process scenario alone (bench/redis_scenario.ts: one process
 *   against two joined by Redis; needs redis-server and the Go load generator, else skipped)
 * - `--scenarios=flap,storm`: the presence flap and reconnect storm (bench/storms.ts), against
 *   `--compare`'s revision too when given; run only when named (they take minutes), written to
 *   their own section of docs/benchmarks.md
 * - `--scenarios=publish`: publishing from other processes alone (bench/publish_scenario.ts:
 *   `RedisEmitter` and the HTTP API against `hub.publish`; needs redis-server, else skipped)
 *
 * Servers start fresh for every run and are pinned to CPU 0, the load generator to CPU 1
 * (`taskset`), when there are at least two CPUs and `taskset` exists. Runs are interleaved: every
 * server once per round, for each scenario. Unpaced runs with the Go load generator last a fixed
 * time (`--duration`, with a warm-up and a window of messages in flight), not a message count.
 *
 * Modules: bench/run/config.ts (flags, servers, scenarios), machine.ts (the machine, commands),
 * orchestrate.ts (runs, rounds, `--compare`'s tree), stats.ts (medians, paired ratios), report.ts
 * (results JSON, docs tables, SVG).
 *
 * @module
 */

import { buildGoLoadgen, type GoLoadgen } from "./loadgen_go.ts";
import {
  type Flags,
  inspectorServers,
  metricsServers,
  parseFlags,
  revisionServers,
  scenarioList,
  SERVERS,
  type ServerSpec,
  USAGE,
} from "./run/config.ts";
import { readMachine, sh } from "./run/machine.ts";
import {
  type Bench,
  checkoutRevision,
  nofileProblem,
  type Revision,
  runAll,
} from "./run/orchestrate.ts";
import { type MicroResult, type Results, tables, writeDocs, writeResults } from "./run/report.ts";
import { summarizeAll } from "./run/stats.ts";
import { runRedisScenario } from "./redis_scenario.ts";
import { runStorms, stormsTables, writeStormsDocs, writeStormsResults } from "./storms.ts";
import { publishTable, runPublishScenario } from "./publish_scenario.ts";
import { GUARD_THRESHOLD, runGuard } from "./run/guard.ts";

const root = new URL("../", import.meta.url).pathname;

/** Temp directories (the Go load generator, another revision's tree), removed at the end. */
const temps: string[] = [];
async function cleanup(): Promise<void> {
  for (const dir of temps.splice(0)) await Deno.remove(dir, { recursive: true }).catch(() => {});
}

async function main(flags: Flags): Promise<void> {
  if (flags.guard) {
    const results = await runGuard(root, flags.compare ?? "main");
    if (results.some((r) => r.ratio !== undefined && r.ratio > GUARD_THRESHOLD)) Deno.exitCode = 1;
    return;
  }
  const machine = await readMachine(root);
  console.error(`machine: ${JSON.stringify(machine)}`);

  // -------------------------------------------------------------------------------------------
  // Servers and scenarios

  let servers: ServerSpec[] = [...SERVERS];
  let revision: Revision | undefined;
  if (flags.compare !== undefined) {
    revision = await checkoutRevision(root, flags.compare);
    temps.push(revision.dir);
    console.error(`--compare: ${revision.sha} in ${revision.dir}`);
    // Right after the hub's own servers, so that each round runs them side by side.
    const at = servers.findIndex((s) => s.id === "hub-framed") + 1;
    const rooms = await Deno.stat(`${revision.dir}/bench/rooms_server.ts`).then(
      () => true,
      () => false,
    );
    servers.splice(at, 0, ...revisionServers(revision.tag, revision.dir, rooms));
  }
  if (flags.metricsEvery !== undefined) {
    servers.push(...metricsServers(servers, flags.metricsEvery));
  }
  if (flags.inspector) servers.push(...inspectorServers(SERVERS));
  const only = flags.only;
  if (only) {
    servers = servers.filter((s) => only.includes(s.id) || only.includes(s.id.split("@")[0]));
  }
  const onlyScenarios = flags.scenarios;
  const scenarios = scenarioList(flags.quick).filter((s) =>
    !onlyScenarios || onlyScenarios.includes(s.id)
  );
  const withRedis = !onlyScenarios || onlyScenarios.includes("redis");
  const storms = (["flap", "storm"] as const).filter((s) => onlyScenarios?.includes(s));
  const withPublish = !onlyScenarios || onlyScenarios.includes("publish");
  if (
    servers.length === 0 ||
    (scenarios.length === 0 && !withRedis && !withPublish && storms.length === 0)
  ) {
    console.error(`no server or no scenario left (--only, --scenarios)\n\n${USAGE}`);
    Deno.exitCode = 2;
    return;
  }

  // -------------------------------------------------------------------------------------------
  // Load generator

  let goLoadgen: GoLoadgen | undefined;
  if (flags.loadgen === "go") {
    const built = await buildGoLoadgen(root);
    if ("error" in built) {
      console.error(`Go load generator unavailable, using bench/loadgen.ts: ${built.error}`);
    } else {
      goLoadgen = built;
      temps.push(built.dir);
      console.error(`load generator: ${built.binary} (${built.goVersion})`);
    }
  }
  const bench: Bench = { root, machine, goLoadgen };

  const skipped: Record<string, string> = {};
  for (const sc of scenarios) {
    const why = sc.rooms && !goLoadgen
      ? "rooms need the Go load generator (bench/loadgen_go)"
      : nofileProblem(bench, sc);
    if (why) {
      skipped[sc.id] = why;
      console.error(`skipping ${sc.id}: ${why}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Node peers

  const fanoutRuns = scenarios.some((sc) => !sc.rooms && !skipped[sc.id]);
  if (fanoutRuns && servers.some((s) => s.cmd?.[0] === "node")) {
    try {
      await Deno.stat(`${root}bench/node/node_modules`);
    } catch {
      console.error("npm install --prefix bench/node");
      const r = await sh(
        ["npm", "install", "--prefix", "bench/node", "--no-audit", "--no-fund"],
        root,
      );
      if (r.code !== 0) throw new Error(`npm install failed:\n${r.err}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Microbenchmarks

  let micro: MicroResult[] = [];
  if (flags.micro && (scenarios.length > 0 || withRedis)) {
    console.error("deno bench -A bench/");
    const r = await sh(["deno", "bench", "-A", "--json", "bench/"], root);
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

  // -------------------------------------------------------------------------------------------
  // The runs, then the report

  const t0 = performance.now();
  if (storms.length > 0) {
    // The presence and reconnect storms (bench/storms.ts), against --compare's tree too.
    if (!goLoadgen) throw new Error("the storm scenarios need the Go load generator");
    const stormResults = await runStorms({
      root,
      loadgen: goLoadgen.binary,
      revision: revision && flags.compare !== undefined
        ? { tag: revision.tag, dir: revision.dir, rev: flags.compare }
        : undefined,
      rounds: flags.rounds,
      quick: flags.quick,
      scenarios: [...storms],
    });
    console.error(`wrote ${await writeStormsResults(root, stormResults)}`);
    if (flags.docs && !flags.quick) {
      await writeStormsDocs(root, stormResults);
      console.error("wrote docs/benchmarks.md (storms)");
    } else console.log(stormsTables(stormResults));
    if (scenarios.length === 0 && !withRedis) {
      await cleanup();
      return;
    }
  }
  const runs = await runAll(bench, servers, scenarios.filter((s) => !skipped[s.id]), flags.rounds);
  // Several processes over Redis (bench/redis_scenario.ts), unless other scenarios were chosen.
  const redis = withRedis
    ? await runRedisScenario({
      root,
      loadgen: goLoadgen?.binary,
      quick: flags.quick,
      rounds: flags.rounds,
    })
    : undefined;
  // Publishing from other processes (bench/publish_scenario.ts), unless other scenarios were chosen.
  const publish = withPublish
    ? await runPublishScenario({ root, quick: flags.quick, rounds: flags.rounds })
    : undefined;
  const results: Results = {
    machine,
    loadgen: {
      impl: goLoadgen ? "go" : "deno",
      go: goLoadgen?.goVersion ?? null,
      socketio: "deno",
    },
    rounds: flags.rounds,
    quick: flags.quick,
    pinned: machine.pinned,
    scenarios,
    servers: servers.map(({ id, label, mode, cmd, roomsCmd, cwd }) => ({
      id,
      label,
      mode,
      ...(cmd ? { cmd: cmd.join(" ") } : {}),
      ...(roomsCmd ? { roomsCmd: roomsCmd.join(" ") } : {}),
      ...(cwd ? { cwd } : {}),
    })),
    compare: revision && flags.compare !== undefined
      ? { rev: flags.compare, sha: revision.sha, tag: revision.tag }
      : null,
    skipped,
    micro,
    summary: summarizeAll(runs),
    runs,
    redis,
    publish,
    seconds: Math.round((performance.now() - t0) / 1000),
  };
  await cleanup();

  console.error(`wrote ${await writeResults(root, results)}`);
  if (flags.docs) {
    await writeDocs(root, results);
    console.error("wrote docs/benchmarks.md and docs/benchmarks.svg");
  } else {
    console.log(tables(results));
    if (results.publish) console.log(publishTable(results.publish));
  }
}

let flags: Flags;
try {
  flags = parseFlags(Deno.args);
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  Deno.exit(2);
}
if (flags.help) {
  console.log(USAGE);
  Deno.exit(0);
}
// On Ctrl-C too (the servers and the load generator get the terminal's SIGINT themselves).
const interrupted = async () => {
  await cleanup();
  Deno.exit(130);
};
Deno.addSignalListener("SIGINT", interrupted);
try {
  await main(flags);
} finally {
  await cleanup();
  Deno.removeSignalListener("SIGINT", interrupted);
}
