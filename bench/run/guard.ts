/**
 * `deno task bench --guard`: the check to run before landing a change to `src/server/` — the
 * hub's own CPU per publish and per broadcast, this working tree against another revision
 * (`--compare=<rev>`, `main` by default), in well under a minute.
 *
 * It runs bench/publish_cost.ts (this tree's copy) on both trees' `mod.ts`: a real `Hub` with
 * fake sockets, no Deno write path and no kernel, so what it measures is what a change under
 * `src/server/` can change. Four cases: 1,000 rooms of 10 (one frame per publisher per tick), and
 * a fan-out to 1,001 (32 frames per tick), each with `wshub.v1` and with plain clients. Each case
 * runs twice, the two trees swapping places (in one process a tree's hub measured second ran up
 * to 10 % slower, whichever tree it was); the estimate is the geometric mean of the two paired
 * ratios. The same tree against itself gave 0.97–1.06 on the shared machine: read a ratio past
 * 1.05 as a regression to look at with the full comparison (`deno task bench --compare=<rev>
 * --scenarios=fanout1000,rooms`), not as a verdict.
 *
 * @module
 */

import { checkoutRevision } from "./orchestrate.ts";
import { sh } from "./machine.ts";

/** One case of the guard: its name and bench/publish_cost.ts's flags. */
interface GuardCase {
  id: string;
  title: string;
  args: string[];
}

const ROOMS = ["--scenario=rooms", "--burst=1", "--ticks=30", "--warmup=50", "--repeat=6"];
const FANOUT = ["--scenario=fanout", "--burst=32", "--ticks=40", "--warmup=40", "--repeat=8"];

/** The cases, in the order they run. */
export const GUARD_CASES: readonly GuardCase[] = [
  { id: "rooms-framed", title: "1,000 rooms of 10, wshub.v1", args: [...ROOMS, "--mode=framed"] },
  { id: "rooms-plain", title: "1,000 rooms of 10, plain", args: [...ROOMS, "--mode=plain"] },
  { id: "fanout-framed", title: "fan-out to 1,001, wshub.v1", args: [...FANOUT, "--mode=framed"] },
  { id: "fanout-plain", title: "fan-out to 1,001, plain", args: [...FANOUT, "--mode=plain"] },
];

/** Past this ratio (this tree ÷ the revision, CPU per publish) a case is flagged. */
export const GUARD_THRESHOLD = 1.05;

/** One case's outcome. */
export interface GuardResult {
  id: string;
  title: string;
  /** CPU ns per publish (or broadcast): this tree, the revision (medians, both runs). */
  thisNs?: number;
  revNs?: number;
  /** This tree ÷ the revision: the geometric mean of both runs' paired ratios. */
  ratio?: number;
  /** Why the case could not run (an older revision without rooms, …). */
  error?: string;
}

interface Measured {
  measured: { ratio: number; results: { nsPerPublish: number }[] }[];
}

/** One run of bench/publish_cost.ts: `first`'s hub in the first place, `second`'s in the other. */
async function pair(root: string, c: GuardCase, first: string, second: string) {
  const r = await sh(
    [
      "deno",
      "run",
      "-A",
      "bench/publish_cost.ts",
      "--stages=full",
      "--json",
      `--hub=${first}`,
      `--compare=${second}`,
      ...c.args,
    ],
    root,
  );
  const line = r.out.trim().split("\n").pop() ?? "";
  try {
    const { measured } = JSON.parse(line) as Measured;
    const [{ ratio, results }] = measured;
    return { ratio, firstNs: results[0].nsPerPublish, secondNs: results[1].nsPerPublish };
  } catch {
    const why = r.err.trim().split("\n").find((l) => /error/i.test(l)) ?? r.err.trim();
    throw new Error(why.slice(0, 200) || `exit code ${r.code}`);
  }
}

/** Runs every case; prints a table; returns the results. */
export async function runGuard(root: string, rev: string): Promise<GuardResult[]> {
  const t0 = performance.now();
  const revision = await checkoutRevision(root, rev);
  const results: GuardResult[] = [];
  try {
    console.error(`--guard: this tree (${root}) against ${rev} (${revision.tag})`);
    for (const c of GUARD_CASES) {
      try {
        // This tree second, then first: each run's ratio is second ÷ first.
        const a = await pair(root, c, revision.dir, root);
        const b = await pair(root, c, root, revision.dir);
        const ratio = Math.sqrt(a.ratio / b.ratio);
        const thisNs = (a.secondNs + b.firstNs) / 2;
        const revNs = (a.firstNs + b.secondNs) / 2;
        results.push({ id: c.id, title: c.title, thisNs, revNs, ratio });
        console.error(
          `  ${c.id}: ${ratio.toFixed(3)} (runs: ${a.ratio.toFixed(3)}, ` +
            `${(1 / b.ratio).toFixed(3)})`,
        );
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        results.push({ id: c.id, title: c.title, error: message });
        console.error(`  ${c.id}: could not run: ${message}`);
      }
    }
  } finally {
    await Deno.remove(revision.dir, { recursive: true }).catch(() => {});
  }
  const seconds = Math.round((performance.now() - t0) / 1000);
  console.log(guardTable(results, rev, revision.tag, seconds));
  return results;
}

/** The guard's table, in Markdown, with its verdict. */
export function guardTable(
  results: readonly GuardResult[],
  rev: string,
  tag: string,
  seconds: number,
): string {
  const ns = (x: number | undefined) =>
    x === undefined ? "–" : `${Math.round(x).toLocaleString("en-US")}`;
  const lines = [
    `Hub CPU per publish (per broadcast in the fan-out), this tree against ${rev} (${tag}), ` +
    `bench/publish_cost.ts, ${seconds} s:`,
    "",
    `| case | this tree, ns | ${tag}, ns | this ÷ ${tag} | |`,
    "| --- | ---: | ---: | ---: | --- |",
  ];
  let flagged = 0;
  for (const r of results) {
    const verdict = r.error !== undefined
      ? `could not run: ${r.error}`
      : r.ratio! > GUARD_THRESHOLD
      ? (flagged++, `**slower** (past ${GUARD_THRESHOLD})`)
      : "ok";
    const ratio = r.ratio === undefined ? "–" : `${r.ratio.toFixed(2)}×`;
    lines.push(`| ${r.title} | ${ns(r.thisNs)} | ${ns(r.revNs)} | ${ratio} | ${verdict} |`);
  }
  lines.push(
    "",
    flagged === 0
      ? "No case is slower than the threshold."
      : `${flagged} case(s) past ${GUARD_THRESHOLD}: run it again, then look closer with ` +
        `\`deno task bench --compare=${rev} --scenarios=fanout1000,rooms --no-docs\`.`,
  );
  return lines.join("\n");
}
