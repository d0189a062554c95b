/**
 * What one room publish costs the hub, in process and without sockets: the rooms server of
 * bench/rooms_server.ts (a default `Hub`, `hub.join` in `onConnect`, `hub.publish` in `onMessage`)
 * with 1,000 rooms of 9 subscribers and 1 publisher, every connection `wshub.v1`, whose sockets
 * are fakes: `Deno.upgradeWebSocket` is replaced here (this process only) by one that returns a
 * socket whose `send` only counts, and each inbound frame is handed to the hub's reader as
 * `onmessage({ data })`. Everything between those two points is the hub's own code, as a user
 * gets it: the reader (size check, rate limit, decode), the event queue, the scheduler, the
 * dispatcher, `onMessage`, `hub.publish`, the room's deliveries, the writers' coalescing and
 * their hand-offs (metrics), the flush. Deno's own work — reading frames, `MessageEvent`s, its
 * write path and the kernel's — is not here: the raw server pays it too, and
 * docs/benchmarks.md measures it with the real server.
 *
 * The one option that differs from `rooms_server.ts`: the rate limit is on, at a limit no
 * publisher here reaches (10⁹ messages a second), so that its cost is counted (the rooms server
 * turns it off because its load generator would reach the default of 100 a second).
 *
 * A tick hands `--burst` frames from each publisher to the hub (1,000 rooms × burst publishes),
 * then lets the event loop run once: the scheduler applies every event and, its queue empty,
 * flushes the writers. With `--burst=1` each member gets one message per tick (one frame, no
 * batch); with more, they go out coalesced (one `B` frame of `burst` messages).
 *
 * ```sh
 * deno run -A bench/publish_cost.ts                    # ns (thread CPU) per publish, by stage
 * deno run -A bench/publish_cost.ts --profile          # and the V8 profile's split of the full path
 * deno run -A bench/publish_cost.ts --burst=8 --history
 * # this tree against another one (git archive <rev> | tar -x -C DIR), in the same process
 * deno run -A bench/publish_cost.ts --stages=full --compare=DIR
 * ```
 *
 * With `--compare=DIR` both trees' hubs are built in one process and measured in turns (A B, B A,
 * …): the paired ratio is what to read on a busy machine. (Instructions under callgrind were
 * tried and are not repeatable here: V8's garbage collection and tiering make two identical runs
 * differ by tens of percent.)
 *
 * Stages (`--stages=`, all by default), each a variant of the server, cumulative:
 *
 * - `read`: no `onMessage`: the reader, the rate limit, decoding, the event queue, the
 *   scheduler, the dispatcher (which has no handler to call);
 * - `dispatch`: `onMessage` does nothing;
 * - `publish0`: `onMessage` publishes to a room without members (`hub.publish`'s own work: the
 *   name check, encoding once, the promise, the event, `rooms.publish` finding nobody);
 * - `full`: `onMessage` publishes to the sender's room of 10 (the server of the benchmark).
 *
 * `--scenario=fanout` measures bench/fanout_server.ts instead: `--subs` (1,000) subscribers and one
 * publisher, whose every message is broadcast to all of them (and itself).
 *
 * Flags: `scenario` (rooms | fanout), `mode` (framed | plain: the clients' dialect), `rooms`
 * (1000), `members` (10, the publisher included), `subs` (1000), `burst` (1), `ticks` (200
 * measured), `warmup` (100 ticks), `repeat` (5: the median is printed), `history` (every room
 * keeps 100 publications, in memory), `hub` (the directory whose `mod.ts` is measured: another
 * revision's tree; this one by default), `compare` (another tree, measured against it),
 * `profile`, `top` (N: also list the N functions with the most self time), `json`.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { Session } from "node:inspector";

import type { Hub as HubType, HubOptions } from "../mod.ts";

// --- Flags --------------------------------------------------------------------------------------

const flags = new Map(Deno.args.map((a) => {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  if (!m) throw new Error(`unexpected argument ${a}`);
  return [m[1], m[2] ?? "true"] as const;
}));
const num = (name: string, fallback: number) => Number(flags.get(name) ?? fallback);
const ROOMS = num("rooms", 1000);
const MEMBERS = num("members", 10);
const BURST = num("burst", 1);
const TICKS = num("ticks", 200);
const WARMUP = num("warmup", 100);
const REPEAT = num("repeat", 5);
const HISTORY = flags.has("history");
const SCENARIO = flags.get("scenario") ?? "rooms";
if (SCENARIO !== "rooms" && SCENARIO !== "fanout") throw new Error("--scenario: rooms or fanout");
const SUBS = num("subs", 1000);
const MODE = flags.get("mode") ?? "framed";
if (MODE !== "plain" && MODE !== "framed") throw new Error("--mode: plain or framed");
const STAGES =
  (flags.get("stages") ?? (SCENARIO === "rooms" ? "read,dispatch,publish0,full" : "full"))
    .split(",");
type HubModule = typeof import("../mod.ts");
type Hub = HubType;
/** The hub of a tree: its `mod.ts` (this checkout's, or another revision's, `--hub`, `--compare`). */
async function hubOf(dir: string): Promise<HubModule> {
  return await import(`file://${dir.replace(/\/?$/, "/")}mod.ts`) as HubModule;
}
/** The trees measured: `--hub` (this checkout by default), and `--compare`'s, alternately. */
const TREES: { label: string; hub: HubModule }[] = [
  {
    label: flags.get("hub") ?? "this tree",
    hub: await hubOf(flags.get("hub") ?? new URL("../", import.meta.url).pathname),
  },
];
if (flags.has("compare")) {
  TREES.push({ label: flags.get("compare")!, hub: await hubOf(flags.get("compare")!) });
}

/** A 128-byte payload as the load generator sends it, framed (`m` + text). */
const FRAME = "m" + "0:1:1234567890:".padEnd(128, "x");

// --- Fake sockets -------------------------------------------------------------------------------

/** Frames and bytes handed to every fake socket. */
const sent = { frames: 0, bytes: 0 };

/** What the hub uses of a Deno WebSocket; `send` only counts. */
class FakeSocket extends EventTarget {
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  binaryType: BinaryType = "arraybuffer";
  protocol = "wshub.v1";
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  send(data: string | Uint8Array): void {
    sent.frames++;
    sent.bytes += typeof data === "string" ? data.length : data.byteLength;
  }
  close(): void {
    this.readyState = WebSocket.CLOSED;
  }
}

let lastSocket: FakeSocket | undefined;
(Deno as { upgradeWebSocket: unknown }).upgradeWebSocket = () => {
  lastSocket = new FakeSocket();
  return { socket: lastSocket, response: new Response(null, { status: 200 }) };
};

function upgradeRequest(room: string | undefined): Request {
  return new Request(`http://127.0.0.1/ws${room === undefined ? "" : `?room=${room}`}`, {
    headers: {
      host: "127.0.0.1",
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      ...(MODE === "framed" ? { "sec-websocket-protocol": "wshub.v1" } : {}),
    },
  });
}

// --- The server ---------------------------------------------------------------------------------

function options(
  stage: string,
  quietLogger: HubModule["quietLogger"],
): HubOptions<unknown, unknown> {
  if (SCENARIO === "fanout") {
    // bench/fanout_server.ts, the rate limit on as above.
    return {
      logger: quietLogger,
      rateLimit: { messagesPerSecond: 1e9, bytesPerSecond: 1e12 },
      onMessage(message, _client, hub) {
        hub.broadcast(message);
      },
    };
  }
  const app: HubOptions<unknown, unknown> = {
    logger: quietLogger,
    history: HISTORY ? { size: 100, ttl: 60_000 } : undefined,
    // On, at a limit nobody here reaches: its cost is counted, it never refuses.
    rateLimit: { messagesPerSecond: 1e9, bytesPerSecond: 1e12 },
    identify: (req) => new URL(req.url).searchParams.get("room") ?? undefined,
    onConnect(client, hub) {
      hub.join(client, client.user!);
    },
  };
  switch (stage) {
    case "read":
      return app;
    case "dispatch":
      return { ...app, onMessage() {} };
    case "publish0":
      return {
        ...app,
        onMessage(message, _client, hub) {
          hub.publish("nobody", message);
        },
      };
    case "full":
      return {
        ...app,
        onMessage(message, client, hub) {
          hub.publish(client.user!, message);
        },
      };
    default:
      throw new Error(`unknown stage ${stage}`);
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * `{ admissionRate }` high enough that building thousands of connections at once is never paced
 * (the default, 2,000 a second, would turn most of them away), for a tree whose hub has the
 * option; `{}` for an older tree, which would refuse the unknown option.
 */
async function unpaced(
  Hub: HubModule["Hub"],
  quietLogger: HubModule["quietLogger"],
): Promise<{ admissionRate?: number }> {
  try {
    await new Hub({ logger: quietLogger, admissionRate: 1e9 } as HubOptions<unknown, unknown>)
      .close();
    return { admissionRate: 1e9 };
  } catch {
    return {};
  }
}

/**
 * A hub of each module with `ROOMS` rooms of `MEMBERS` connections (or `SUBS` subscribers and a
 * publisher); returns each hub and its publishers. The hubs are built in lockstep, a connection
 * of each in turn, and warmed up in turns, so that neither has its objects laid out or its code
 * optimised in better conditions (built one after the other, the second was 10–20 % slower
 * than the first in the fan-out, whichever tree it was).
 */
async function build(
  stage: string,
  modules: HubModule[],
): Promise<{ hub: Hub; publishers: FakeSocket[] }[]> {
  const built = await Promise.all(modules.map(async ({ Hub, quietLogger }) => ({
    hub: new Hub({ ...options(stage, quietLogger), ...await unpaced(Hub, quietLogger) }),
    publishers: [] as FakeSocket[],
  })));
  const connections = SCENARIO === "fanout" ? SUBS + 1 : ROOMS * MEMBERS;
  for (let c = 0; c < connections; c++) {
    const room = SCENARIO === "fanout" ? undefined : `r${Math.floor(c / MEMBERS)}`;
    const publisher = SCENARIO === "fanout" ? c === 0 : c % MEMBERS === 0;
    for (const { hub, publishers } of built) {
      await hub.upgrade(upgradeRequest(room));
      const socket = lastSocket!;
      socket.onopen!(new Event("open"));
      if (publisher) publishers.push(socket);
    }
    if (c % 1000 === 999) await turn();
  }
  for (const { hub } of built) while (hub.size < connections) await turn();
  await turn();
  for (let t = 0; t < WARMUP; t++) {
    for (let k = 0; k < built.length; k++) await run(built[(t + k) % built.length].publishers, 1);
  }
  return built;
}

/** The main thread's CPU time, ns (`/proc/thread-self/schedstat`), or wall-clock off Linux. */
function cpuNs(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]);
  } catch {
    return performance.now() * 1e6;
  }
}

/** `ticks` ticks: each publisher's reader gets `BURST` frames, then the event loop runs once. */
async function run(publishers: FakeSocket[], ticks: number): Promise<void> {
  const event = { data: MODE === "framed" ? FRAME : FRAME.slice(1) } as MessageEvent;
  for (let t = 0; t < ticks; t++) {
    for (const socket of publishers) {
      for (let b = 0; b < BURST; b++) socket.onmessage!(event);
    }
    await turn();
  }
}

/**
 * One stage: CPU ns per publish in each tree (median over `REPEAT`, the trees taking turns, in
 * alternating order), frames and bytes per publish; with two trees, the paired ratio (the median
 * over repeats of the second ÷ the first).
 */
async function measure(stage: string) {
  const built: {
    tree: (typeof TREES)[number];
    hub: Hub;
    publishers: FakeSocket[];
    samples: number[];
    frames: number;
    bytes: number;
  }[] = [];
  const hubs = await build(stage, TREES.map((tree) => tree.hub));
  TREES.forEach((tree, j) => built.push({ tree, ...hubs[j], samples: [], frames: 0, bytes: 0 }));
  const perTick = built[0].publishers.length * BURST;
  // The trees take turns tick by tick (A B, B A, …), so that what the machine does meanwhile (its
  // neighbours, its clock) weighs on both alike; each repeat's sum is one sample per tree.
  for (let i = 0; i < REPEAT; i++) {
    const cpu = built.map(() => 0);
    for (let t = 0; t < TICKS; t++) {
      for (let k = 0; k < built.length; k++) {
        const j = (t + k) % built.length;
        const framesBefore = sent.frames;
        const bytesBefore = sent.bytes;
        const t0 = cpuNs();
        await run(built[j].publishers, 1);
        cpu[j] += cpuNs() - t0;
        built[j].frames += sent.frames - framesBefore;
        built[j].bytes += sent.bytes - bytesBefore;
      }
    }
    built.forEach((b, j) => b.samples.push(cpu[j] / (TICKS * perTick)));
  }
  const publishes = REPEAT * TICKS * perTick;
  const results = built.map((b) => ({
    stage,
    tree: b.tree.label,
    nsPerPublish: median(b.samples),
    spread: [Math.min(...b.samples), Math.max(...b.samples)],
    framesPerPublish: b.frames / publishes,
    bytesPerPublish: b.bytes / publishes,
  }));
  const ratio = built.length === 2
    ? median(built[1].samples.map((x, i) => x / built[0].samples[i]))
    : undefined;
  // Not closed: closing waits for close handshakes that fake sockets never complete (closeTimeout),
  // and the process exits at the end.
  return { results, ratio };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// --- The profile --------------------------------------------------------------------------------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Which row of the cost table a function's self time belongs to. */
function rowOf(url: string, fn: string): string {
  const file = url.replace(/^.*\/(src|bench)\//, "$1/");
  if (file.endsWith("frames.ts")) return "decode";
  if (file.endsWith("rate_limit.ts")) return "rate limit";
  if (file.endsWith("reader.ts") || file.endsWith("liveness.ts") || file.endsWith("utf8.ts")) {
    return fn === "utf8Length" ? "encoding" : "reader";
  }
  if (file.endsWith("event_queue.ts") || file.endsWith("wiring.ts")) return "queue";
  if (file.endsWith("scheduler.ts")) return "scheduler";
  if (file.endsWith("dispatch.ts") || file.endsWith("server/requests.ts")) return "dispatch";
  if (file.startsWith("bench/") || (file.endsWith("hub.ts") && fn.includes("onMessage"))) {
    return "onMessage";
  }
  if (
    file.endsWith("hub.ts") || file.endsWith("protocol/rooms.ts") ||
    file.endsWith("unknown_options.ts") || fn === "encodePayload" || fn === "encodeJson"
  ) return "hub.publish";
  if (file.endsWith("server/rooms.ts") || file.endsWith("history.ts") || fn === "roomPayload") {
    return "rooms.publish";
  }
  if (file.endsWith("delivery.ts") && fn === "deliver") return "deliveries";
  if (file.endsWith("writer.ts") && fn === "push") return "deliveries";
  if (file.endsWith("payload.ts") || file.endsWith("batch.ts")) return "encoding";
  if (
    file.endsWith("writer.ts") || file.endsWith("delivery.ts") || file.endsWith("hand_offs.ts") ||
    file.endsWith("prometheus.ts") || file.endsWith("publish_cost.ts")
  ) return "flush";
  if (fn === "(garbage collector)") return "garbage collector";
  if (fn === "(idle)" || fn === "(program)" || fn === "(root)") return "other";
  return url === "" ? "runtime" : "runtime";
}

async function profileFull(): Promise<Map<string, number>> {
  const [{ hub, publishers }] = await build("full", [TREES[0].hub]);
  const session = new Session();
  session.connect();
  const post = <R>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<R>((resolve, reject) =>
      session.post(method, params, (error, result) => error ? reject(error) : resolve(result as R))
    );
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: 50 });
  await post("Profiler.start");
  await run(publishers, TICKS * REPEAT);
  const { profile } = await post<{ profile: { nodes: ProfileNode[]; samples: number[] } }>(
    "Profiler.stop",
  );
  session.disconnect();
  void hub; // not closed (see measure)
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const rows = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const id of profile.samples) {
    const { url, functionName, lineNumber } = byId.get(id)!.callFrame;
    const row = rowOf(url, functionName);
    rows.set(row, (rows.get(row) ?? 0) + 1);
    const fn = `${functionName || "(anonymous)"} ${url.replace(/^.*\/(src|bench)\//, "$1/")}:${
      lineNumber + 1
    }`;
    fns.set(fn, (fns.get(fn) ?? 0) + 1);
  }
  if (flags.has("top")) {
    for (const [fn, n] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, Number(flags.get("top")))) {
      console.error(`${(n / profile.samples.length * 100).toFixed(1).padStart(5)} %  ${fn}`);
    }
  }
  const all = profile.samples.length;
  for (const [row, n] of rows) rows.set(row, n / all);
  return rows;
}

// --- Main ---------------------------------------------------------------------------------------

const measured = [];
for (const stage of STAGES) measured.push(await measure(stage));
const split = flags.has("profile") ? await profileFull() : undefined;
if (flags.has("json")) {
  console.log(JSON.stringify({ measured, split: split && Object.fromEntries(split) }));
} else {
  const what = SCENARIO === "fanout"
    ? `fan-out to ${SUBS} + 1 (${MODE})`
    : `${ROOMS} rooms of ${MEMBERS} (${MODE}), history ${HISTORY ? "on" : "off"}`;
  console.log(
    `${what}, ${BURST} frame(s) per publisher per tick; main thread CPU per publish, ` +
      `median of ${REPEAT} × ${TICKS} ticks`,
  );
  for (const [t, tree] of TREES.entries()) {
    if (TREES.length > 1) console.log(`${tree.label}:`);
    let previous = 0;
    for (const { results } of measured) {
      const r = results[t];
      console.log(
        `  ${r.stage.padEnd(9)} ${r.nsPerPublish.toFixed(0).padStart(6)} ns  ` +
          `(+${(r.nsPerPublish - previous).toFixed(0)})  ` +
          `[${r.spread.map((x) => x.toFixed(0)).join("–")}]  ` +
          `${r.framesPerPublish.toFixed(2)} frames, ${r.bytesPerPublish.toFixed(0)} B per publish`,
      );
      previous = r.nsPerPublish;
    }
  }
  for (const { results, ratio } of measured) {
    if (ratio !== undefined) {
      console.log(
        `${results[0].stage}: ${TREES[1].label} ÷ ${TREES[0].label} = ${ratio.toFixed(3)} (paired)`,
      );
    }
  }
  if (split) {
    const full = measured.find((m) => m.results[0].stage === "full")?.results[0].nsPerPublish;
    console.log("\nV8 profile of the full path (self time by row):");
    for (const [row, share] of [...split].sort((a, b) => b[1] - a[1])) {
      const ns = full === undefined ? "" : `${(share * full).toFixed(0).padStart(6)} ns`;
      console.log(`  ${row.padEnd(18)} ${(share * 100).toFixed(1).padStart(5)} %  ${ns}`);
    }
  }
}
// The hubs are left open (see measure): their heartbeat timers would keep the process alive.
Deno.exit(0);
