/**
 * What `deno task bench` runs: its flags (one parser), the servers and the scenarios.
 *
 * @module
 */

/** The flags of bench/run.ts. */
export interface Flags {
  /** One round, small and short scenarios, no microbenchmarks; writes bench/results/quick.json only. */
  quick: boolean;
  rounds: number;
  /** Server ids to run (all when undefined). */
  only?: string[];
  /** Scenario ids to run (all when undefined). */
  scenarios?: string[];
  micro: boolean;
  docs: boolean;
  loadgen: "go" | "deno";
  /** A git revision whose bench/fanout_server.ts runs as extra servers `hub-…@<rev>`. */
  compare?: string;
  /** Also run each hub server with `hub.metrics()` read every this many ms (`hub-…-metrics`). */
  metricsEvery?: number;
  /** Also run each hub server with the inspector mounted and its live stream read (`hub-…-inspector`). */
  inspector: boolean;
  /** The short check before landing a change to src/server/ (bench/run/guard.ts), alone. */
  guard: boolean;
  help: boolean;
}

/** The usage text of `deno task bench --help`. */
export const USAGE = `deno task bench [flags]      (deno run -A bench/run.ts [flags])

  --guard                before landing a change to src/server/: the hub's own CPU per
                         publish and per broadcast (bench/publish_cost.ts: rooms and fan-out,
                         framed and plain), this working tree against --compare's revision
                         (main by default); about half a minute; prints a table, flags a case
                         past 1.05×, and runs nothing else
  --quick                one round of short, smaller scenarios; no microbenchmarks; writes
                         bench/results/quick.json and prints the tables (docs/ untouched)
  --rounds=N             interleaved rounds (3; 1 with --quick)
  --only=raw,hub-plain   servers to run (raw, hub-plain, hub-framed, hub-framed-history,
                         node-ws, socketio)
  --scenarios=rooms,…    scenarios to run (fanout1000, fanout100, paced, fanout5000, rooms, idle;
                         redis; publish; flap and storm, the presence and reconnect storms of
                         bench/storms.ts, run only when named here)
  --compare=<rev>        also run <rev>'s bench/fanout_server.ts (and bench/rooms_server.ts in
                         the rooms scenario, when it has one), as hub-plain@<rev> and
                         hub-framed@<rev>
  --metrics-every=MS     also run each hub server with hub.metrics() read every MS ms
                         (hub-plain-metrics, hub-framed-metrics), against the same never read
  --inspector            also run each hub server with the inspector mounted and one page's live
                         stream open (hub-plain-inspector, hub-framed-inspector), against the
                         same without
  --no-micro             skip deno bench
  --no-docs              do not write docs/benchmarks.md and docs/benchmarks.svg
  --loadgen=go|deno      the load generator (go; deno: bench/loadgen.ts, no rooms, no --duration)
  --help`;

/**
 * Parses `--name=value` and `--name` flags. Throws on an unknown flag or a bad value, with the
 * usage text.
 */
export function parseFlags(args: readonly string[]): Flags {
  const given = new Map<string, string | true>();
  for (const a of args) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument ${a}\n\n${USAGE}`);
    given.set(m[1], m[2] ?? true);
  }
  const known = [
    "quick",
    "rounds",
    "only",
    "scenarios",
    "no-micro",
    "no-docs",
    "loadgen",
    "compare",
    "metrics-every",
    "inspector",
    "guard",
    "help",
  ];
  for (const k of given.keys()) {
    if (!known.includes(k)) throw new Error(`unknown flag --${k}\n\n${USAGE}`);
  }
  const text = (name: string): string | undefined => {
    const v = given.get(name);
    if (v === true) throw new Error(`--${name} needs a value (--${name}=…)\n\n${USAGE}`);
    return v;
  };
  const bool = (name: string): boolean => {
    const v = given.get(name);
    if (v !== undefined && v !== true) throw new Error(`--${name} takes no value\n\n${USAGE}`);
    return v === true;
  };
  const list = (name: string) => text(name)?.split(",").filter((s) => s !== "");
  const quick = bool("quick");
  const rounds = Number(text("rounds") ?? (quick ? 1 : 3));
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds must be an integer ≥ 1");
  const loadgen = text("loadgen") ?? "go";
  if (loadgen !== "go" && loadgen !== "deno") throw new Error("--loadgen must be go or deno");
  const compare = text("compare");
  if (compare !== undefined && !/^[\w./@^~-]+$/.test(compare)) {
    throw new Error(`--compare=${compare}: not a revision`);
  }
  const metricsText = text("metrics-every");
  const metricsEvery = metricsText === undefined ? undefined : Number(metricsText);
  if (metricsEvery !== undefined && !(metricsEvery > 0)) {
    throw new Error(`--metrics-every=${metricsText}: expected a positive number of ms`);
  }
  return {
    quick,
    rounds,
    only: list("only"),
    scenarios: list("scenarios"),
    micro: !bool("no-micro") && !quick,
    docs: !bool("no-docs") && !quick,
    loadgen,
    compare,
    metricsEvery,
    inspector: bool("inspector"),
    guard: bool("guard"),
    help: bool("help"),
  };
}

/** One server under test. */
export interface ServerSpec {
  id: string;
  label: string;
  mode: "plain" | "framed" | "socketio";
  /** The fan-out server (bench/raw_server.ts's contract), when there is one. */
  cmd?: string[];
  /** The rooms server (bench/raw_rooms_server.ts's contract), when there is one. */
  roomsCmd?: string[];
  /** Where to run it: the checkout when absent, else another revision's tree (--compare). */
  cwd?: string;
}

/** The servers, in the order of a round. */
export const SERVERS: readonly ServerSpec[] = [
  {
    id: "raw",
    label: "raw Deno",
    cmd: ["deno", "run", "-A", "bench/raw_server.ts"],
    roomsCmd: ["deno", "run", "-A", "bench/raw_rooms_server.ts"],
    mode: "plain",
  },
  {
    id: "hub-plain",
    label: "hub, plain clients",
    cmd: ["deno", "run", "-A", "bench/fanout_server.ts"],
    roomsCmd: ["deno", "run", "-A", "bench/rooms_server.ts"],
    mode: "plain",
  },
  {
    id: "hub-framed",
    label: "hub, wshub.v1 clients",
    cmd: ["deno", "run", "-A", "bench/fanout_server.ts"],
    roomsCmd: ["deno", "run", "-A", "bench/rooms_server.ts"],
    mode: "framed",
  },
  {
    // The rooms scenario only: hub-framed with every room keeping its history in memory (size
    // 100, ttl 60 s), run in the same rounds, so that the paired ratio to hub-framed is what
    // history costs (a stream append per publication, its offset in every frame).
    id: "hub-framed-history",
    label: "hub, wshub.v1 clients, history",
    roomsCmd: ["deno", "run", "-A", "bench/rooms_server.ts", "--history"],
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

/**
 * The hub's fan-out servers of another revision (`--compare`), run from its tree `cwd`; `tag`
 * names the revision (a short hash).
 */
export function revisionServers(tag: string, cwd: string, rooms: boolean): ServerSpec[] {
  const cmd = ["deno", "run", "-A", "bench/fanout_server.ts"];
  // The rooms scenario too, when that revision has the rooms server.
  const roomsCmd = rooms ? ["deno", "run", "-A", "bench/rooms_server.ts"] : undefined;
  return [
    {
      id: `hub-plain@${tag}`,
      label: `hub@${tag}, plain clients`,
      cmd,
      roomsCmd,
      mode: "plain",
      cwd,
    },
    {
      id: `hub-framed@${tag}`,
      label: `hub@${tag}, wshub.v1 clients`,
      cmd,
      roomsCmd,
      mode: "framed",
      cwd,
    },
  ];
}

/** One load scenario. */
export interface Scenario {
  id: string;
  title: string;
  /** Subscribers, over every room. */
  subs: number;
  /** Rooms (a rooms scenario: servers with a `roomsCmd` only, Go load generator only). */
  rooms?: number;
  /** Publishers: per room in a rooms scenario, else 1. */
  pubs?: number;
  size: number;
  /**
   * Unpaced runs with the Go load generator: seconds of sending, the first `warmup` of them not
   * measured, at most `window` messages in flight per publisher (the load generator's default
   * when absent: 256, and at most 100,000 deliveries outstanding in all).
   */
  duration?: number;
  warmup?: number;
  window?: number;
  /**
   * Messages per publisher: paced runs, and unpaced runs of bench/loadgen.ts (Socket.IO, or
   * `--loadgen=deno`), which has no `--duration`; sized to last several seconds too.
   */
  messages: number;
  /** Messages a second per publisher (paced). */
  rate?: number;
  /** Seconds to hold the connections open without sending (memory and idle CPU). */
  idle?: number;
  /** Seconds for the whole load run. */
  timeLimit: number;
}

/** Connections a scenario opens. */
export function connectionsOf(sc: Scenario): number {
  return sc.subs + (sc.rooms ? sc.rooms * (sc.pubs ?? 1) : sc.idle ? 0 : 1);
}

/** The scenarios of a full run, or of a `--quick` one. */
export function scenarioList(quick: boolean): Scenario[] {
  // Unpaced runs last `duration` s with the Go load generator; the message counts are for
  // bench/loadgen.ts, sized from the throughputs of earlier runs (60–90k deliveries/s) to last
  // several seconds too.
  const d = quick ? { duration: 2, warmup: 0.5 } : { duration: 6, warmup: 1 };
  const limit = quick ? 60 : 120;
  return [
    {
      id: "fanout1000",
      title: "N=1,000, 128 B, unpaced",
      subs: 1000,
      size: 128,
      ...d,
      messages: quick ? 100 : 600,
      timeLimit: limit,
    },
    {
      id: "fanout100",
      title: "N=100, 128 B, unpaced",
      subs: 100,
      size: 128,
      ...d,
      messages: quick ? 1000 : 4000,
      timeLimit: limit,
    },
    {
      id: "paced",
      title: "N=100, 128 B, 300 msg/s",
      subs: 100,
      size: 128,
      messages: quick ? 300 : 3000,
      rate: 300,
      timeLimit: limit,
    },
    {
      id: "fanout5000",
      title: "N=5,000, 128 B, unpaced",
      subs: 5000,
      size: 128,
      ...d,
      messages: quick ? 20 : 100,
      timeLimit: limit,
    },
    {
      id: "rooms",
      title: "1,000 rooms of 10, 128 B, unpaced",
      subs: 9000,
      rooms: 1000,
      pubs: 1,
      size: 128,
      ...d,
      messages: 0,
      timeLimit: limit,
    },
    quick
      ? {
        id: "idle",
        title: "1,000 idle connections, 3 s",
        subs: 1000,
        size: 128,
        messages: 0,
        idle: 3,
        timeLimit: limit,
      }
      : {
        id: "idle",
        title: "10,000 idle connections, 10 s",
        subs: 10000,
        size: 128,
        messages: 0,
        idle: 10,
        timeLimit: limit,
      },
  ];
}

/** Whether a server takes part in a scenario: it has a server for it (rooms, or fan-out). */
export function serves(server: ServerSpec, sc: Scenario): boolean {
  return sc.rooms ? server.roomsCmd !== undefined : server.cmd !== undefined;
}

/**
 * The hub's fan-out servers again, each with the inspector mounted and one page's live stream
 * read (`--inspector`): to compare with the same server without it.
 */
export function inspectorServers(servers: readonly ServerSpec[]): ServerSpec[] {
  return servers
    .filter((server) => server.cmd?.includes("bench/fanout_server.ts") && server.cwd === undefined)
    .map((server) => ({
      ...server,
      id: `${server.id}-inspector`,
      label: `${server.label}, inspector open`,
      cmd: [...server.cmd!, "--inspector"],
      roomsCmd: undefined,
    }));
}

/**
 * The hub's fan-out servers again, each reading `hub.metrics()` every `every` ms, as a
 * Prometheus scrape would (`--metrics-every`): to compare with the same server never read.
 */
export function metricsServers(servers: readonly ServerSpec[], every: number): ServerSpec[] {
  return servers
    .filter((server) => server.cmd?.includes("bench/fanout_server.ts") && server.cwd === undefined)
    .map((server) => ({
      ...server,
      id: `${server.id}-metrics`,
      label: `${server.label}, metrics every ${every} ms`,
      cmd: [...server.cmd!, `--metrics-every=${every}`],
      roomsCmd: undefined,
    }));
}
