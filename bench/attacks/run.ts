/**
 * Runs the attacks of issue #8, one after the other, and records what they measured.
 *
 * ```sh
 * deno run -A bench/attacks/run.ts                         # every run below
 * deno run -A bench/attacks/run.ts chat_flood_1000 zombies # these runs, by id
 * deno run -A bench/attacks/run.ts chat_flood.ts           # every run of that script
 * deno run -A bench/attacks/run.ts --list
 * deno run -A bench/attacks/run.ts ping_flood -- --target-options='{"maxBufferedBytes":65536}'
 * ```
 *
 * Flags: `--list` (print the runs and exit), `--out=PATH` (default
 * `bench/attacks/results/<date>-<git short sha>.json`, in a folder git ignores), `--no-write`.
 * Everything after `--` is passed to every attack script (for example `--target-options=JSON`,
 * `--no-pin`).
 *
 * Each attack runs as its own `deno run -A` process and is killed if it outlives its limit. The
 * results file holds every run's JSON result; if it already exists, runs with the same id are
 * replaced and the others kept, so a subset can be re-run into the same file. The Markdown table
 * of the runs goes to stdout, progress to stderr.
 *
 * @module
 */

import { delay } from "../../testing/async.ts";

const here = new URL("./", import.meta.url).pathname;
const root = new URL("../../", import.meta.url).pathname;

interface Run {
  id: string;
  script: string;
  args: string[];
  /** Kill the attack after this many seconds. */
  limit: number;
  what: string;
}

const RUNS: Run[] = [
  {
    id: "huge_message",
    script: "huge_message",
    args: [],
    limit: 180,
    what: "1 × 600 MiB fragmented text",
  },
  {
    id: "huge_message_200x3",
    script: "huge_message",
    args: ["--size=200", "--parallel=3"],
    limit: 180,
    what: "3 × 200 MiB in parallel",
  },
  {
    id: "slow_handler",
    script: "slow_handler",
    args: [],
    limit: 180,
    what: "5 clients × 1030 × 1 MiB to a 1 s handler",
  },
  {
    id: "slow_handler_backlog",
    script: "slow_handler",
    args: ["--clients=1", "--messages=1100", "--size-kib=1", "--observe=5"],
    limit: 90,
    what: "1 × 1100 × 1 KiB: onMessage after onDisconnect",
  },
  {
    id: "ping_flood",
    script: "ping_flood",
    args: [],
    limit: 150,
    what: "p pings for 12 s, never reading",
  },
  {
    id: "ping_flood_reading",
    script: "ping_flood",
    args: ["--reading"],
    limit: 150,
    what: "p pings for 12 s, reading the pongs",
  },
  {
    id: "fd_exhaustion",
    script: "fd_exhaustion",
    args: ["--nofile=1024"],
    limit: 180,
    what: "connections until refused, nofile=1024",
  },
  {
    id: "chat_flood",
    script: "chat_flood",
    args: ["--rate=17000"],
    limit: 150,
    what: "chat: 1 flooder at 17,000/s, 24 clients",
  },
  {
    id: "chat_flood_1000",
    script: "chat_flood",
    args: ["--rate=1000"],
    limit: 150,
    what: "chat: 1 flooder at 1,000/s, 24 clients",
  },
  {
    id: "chat_flood_fanout",
    script: "chat_flood",
    args: ["--scenario=fanout", "--clients=500", "--rate=2000"],
    limit: 180,
    what: "chat: 500 readers, 2,000 broadcasts/s",
  },
  {
    id: "zombies",
    script: "zombies",
    args: [],
    limit: 240,
    what: "close frames never answered; hang-ups during identify",
  },
  {
    id: "lost_close",
    script: "lost_close",
    args: [],
    limit: 180,
    what: "flooders' 1008; hub.close() with traffic",
  },
  {
    id: "idle_tcp",
    script: "idle_tcp",
    args: [],
    limit: 180,
    what: "1,000 silent TCP + 1 byte/s upgrade request, 60 s",
  },
];

const dashdash = Deno.args.indexOf("--");
const own = dashdash < 0 ? Deno.args : Deno.args.slice(0, dashdash);
const passthrough = dashdash < 0 ? [] : Deno.args.slice(dashdash + 1);
const flags = new Set(own.filter((a) => a.startsWith("--")));
const outFlag = own.find((a) => a.startsWith("--out="))?.slice("--out=".length);
const names = own.filter((a) => !a.startsWith("--"));

if (flags.has("--list")) {
  for (const r of RUNS) {
    console.log(`${r.id.padEnd(22)} ${r.script}.ts ${r.args.join(" ")}  — ${r.what}`);
  }
  Deno.exit(0);
}
const unknown = names.filter((n) => !RUNS.some((r) => r.id === n || `${r.script}.ts` === n));
if (unknown.length > 0) {
  console.error(`unknown run(s): ${unknown.join(", ")}; see --list`);
  Deno.exit(2);
}
// A run id selects that run alone; `<script>.ts` selects every run of that script.
const selected = names.length === 0
  ? RUNS
  : RUNS.filter((r) => names.includes(r.id) || names.includes(`${r.script}.ts`));

async function git(...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd: root, stdout: "piped", stderr: "null" })
    .output();
  return new TextDecoder().decode(out.stdout).trim();
}

const commit = await git("rev-parse", "--short", "HEAD");
const srcTree = (await git("rev-parse", "--short", "HEAD:src")) || null;
const srcCommit = await git("log", "-1", "--format=%h", "--", "src", "mod.ts");
const srcDirty = (await git("status", "--porcelain", "--", "src", "mod.ts")) !== "";
const date = new Date().toISOString().slice(0, 10);
const out = outFlag ?? `${here}results/${date}-${commit}.json`;

interface Record_ {
  id: string;
  /** The commit the run was made at (HEAD, and the last one that changed the hub's code). */
  commit: string;
  srcCommit: string;
  srcDirty: boolean;
  script: string;
  args: string[];
  what: string;
  exitCode: number | null;
  killedByRunner: boolean;
  durationMs: number;
  result: Record<string, unknown> | null;
  stderrTail: string;
}

async function runOne(run: Run): Promise<Record_> {
  const args = ["run", "-A", `${here}${run.script}.ts`, ...run.args, ...passthrough];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, run.limit * 1000);
  const started = performance.now();
  const output = await child.output();
  clearTimeout(timer);
  const stdout = new TextDecoder().decode(output.stdout).trim().split("\n");
  const stderr = new TextDecoder().decode(output.stderr);
  let result: Record<string, unknown> | null = null;
  try {
    result = JSON.parse(stdout.at(-1) ?? "");
  } catch {
    result = null;
  }
  return {
    id: run.id,
    commit,
    srcCommit,
    srcDirty,
    script: run.script,
    args: [...run.args, ...passthrough],
    what: run.what,
    exitCode: output.code,
    killedByRunner: killed,
    durationMs: Math.round(performance.now() - started),
    result,
    stderrTail: stderr.slice(-2000),
  };
}

const records: Record_[] = [];
for (const run of selected) {
  console.error(`▶ ${run.id}: ${run.what}`);
  const record = await runOne(run);
  records.push(record);
  const summary = (record.result?.summary as string | undefined) ??
    `no result (exit ${record.exitCode}${record.killedByRunner ? ", killed by the runner" : ""})`;
  console.error(`  ${Math.round(record.durationMs / 1000)} s: ${summary}`);
  await delay(2000);
}

interface ResultsFile {
  date: string;
  commit: string;
  srcCommit: string;
  srcTree: string | null;
  srcDirty: boolean;
  deno: typeof Deno.version;
  machine: { cpus: number; memTotalGiB: number; kernel: string };
  runs: Record_[];
}

let file: ResultsFile | undefined;
try {
  file = JSON.parse(await Deno.readTextFile(out));
} catch {
  file = undefined;
}
const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
const memKiB = Number(/MemTotal:\s*(\d+)/.exec(meminfo)?.[1] ?? NaN);
const kernel = (await Deno.readTextFile("/proc/sys/kernel/osrelease").catch(() => "")).trim();
const merged: ResultsFile = {
  date,
  commit,
  srcCommit,
  srcTree,
  srcDirty,
  deno: Deno.version,
  machine: {
    cpus: navigator.hardwareConcurrency,
    memTotalGiB: Math.round(memKiB / 1024 / 1024 * 10) / 10,
    kernel,
  },
  runs: [
    ...(file?.runs ?? []).filter((r) => !records.some((n) => n.id === r.id)),
    ...records,
  ].sort((a, b) => RUNS.findIndex((r) => r.id === a.id) - RUNS.findIndex((r) => r.id === b.id)),
};
if (!flags.has("--no-write")) {
  await Deno.mkdir(`${here}results`, { recursive: true });
  await Deno.writeTextFile(out, JSON.stringify(merged, null, 2) + "\n");
  console.error(`wrote ${out}`);
}

// The Markdown table: every run in the file.
type Server = {
  survived?: boolean;
  killedByHarness?: string | null;
  peakRssMiB?: number;
};
function serverOf(result: Record<string, unknown> | null): Server | undefined {
  if (result === null) return undefined;
  if (typeof result.server === "object") return result.server as Server;
  for (const part of ["phaseA", "partB", "partA"]) {
    const p = result[part] as { server?: Server; rounds?: { server: Server }[] } | undefined;
    if (p?.server) return p.server;
  }
  return undefined;
}
const rows = merged.runs.map((r) => {
  const server = serverOf(r.result);
  const alive = server === undefined
    ? "?"
    : server.killedByHarness
    ? "killed at cap"
    : server.survived
    ? "yes"
    : "**no**";
  const summary = ((r.result?.summary as string | undefined) ?? "no result").replaceAll("|", "\\|");
  return `| ${r.id} | ${alive} | ${server?.peakRssMiB ?? "?"} | ${summary} |`;
});
console.log(
  `Attacks at ${commit} (hub code ${srcCommit}${
    srcDirty ? ", dirty" : ""
  }), ${date}, Deno ${Deno.version.deno}\n`,
);
console.log("| run | server survived | peak RSS MiB | what happened |");
console.log("| --- | --- | --- | --- |");
for (const row of rows) console.log(row);
