/**
 * Fan-out load generator: N subscribers and one publisher against a server that relays every
 * message to every client (bench/raw_server.ts, bench/fanout_server.ts, bench/node/*.mjs).
 *
 * ```sh
 * deno run -A bench/loadgen.ts --url=ws://127.0.0.1:8080/ws --subs=1000 --messages=200 --size=128
 * ```
 *
 * Flags (all `--name=value`):
 * - `url` (ws://127.0.0.1:8080/ws), `mode` plain | framed (`wshub.v1`) | socketio
 * - `subs` (1000), `messages` (200), `size` bytes of each payload (128, at least 24)
 * - `rate` messages/s from the publisher, 0 for unpaced (0)
 * - `workers` Workers holding the subscribers (default: the CPUs this process may run on)
 * - `server-pid` to read the server's CPU time and RSS from /proc
 * - `idle` seconds: connect, then send nothing and measure the server's RSS and CPU (0 = off)
 * - `drain` seconds without progress before the missing deliveries count as lost (5)
 * - `time-limit` seconds for the whole run (120)
 * - `concurrency` connection attempts in flight per Worker (64)
 *
 * Every payload is `<seq>:<send time µs>:xxx…`, exactly `size` ASCII bytes; each subscriber
 * checks length and shape, and the latency is the receive time (taken once per socket read) less
 * the send time. Prints one JSON line at the end (see `Report`).
 *
 * @module
 */

import process from "node:process";
import { delay } from "../testing/async.ts";
import { allowedCores, machineBusyMs, processCpuMs, rssKiB, threadCpuMs } from "./proc.ts";
import {
  Histogram,
  makePayload,
  microsSince,
  MIN_SIZE,
  type Mode,
  MODES,
  openClient,
  pathFor,
  Receiver,
  type StartMessage,
  type WorkerReply,
  type WorkerResult,
  wrap,
} from "./payload.ts";
import { concatFrames, encodeClientText } from "../testing/ws_frames.ts";

/** The JSON line the load generator prints. */
export interface Report {
  ok: boolean;
  error?: string;
  mode: Mode;
  url: string;
  subs: number;
  connected: number;
  connectFailed: number;
  messages: number;
  size: number;
  rate: number;
  /** Subscriber deliveries expected (subs × messages), received, and lost. */
  expected: number;
  received: number;
  lost: number;
  corrupt: number;
  protocolErrors: number;
  /** Copies the publisher got back (the contract includes the sender). */
  echoes: number;
  /** First send to last delivery, in ms. */
  durationMs: number;
  deliveriesPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  connectMs: number;
  /** Connections that the server closed (or that failed) during the run, by close code. */
  closedDuringRun: number;
  closeCodes: Record<string, number>;
  loadgen: {
    workers: number;
    cores: number;
    cpuMs: number;
    /** CPU time over the run's wall time, 100 = one core busy. */
    cpuPct: number;
    threadCpuPct: number[];
    /** True when the load generator used ≥ 90 % of the cores it may run on, or a thread ≥ 90 %. */
    saturated: boolean;
  };
  /**
   * CPU that neither the server nor the load generator used during the run (other processes on
   * the machine; user + system time, 100 = one core): a disturbed run shows here.
   */
  otherCpuPct?: number;
  server?: {
    pid: number;
    cpuMs: number;
    cpuPct: number;
    /** Server CPU µs per message written (subscriber deliveries + echoes). */
    usPerDelivery: number;
    rssKiBBefore: number;
    rssKiBAfter: number;
  };
  idle?: {
    seconds: number;
    rssKiBConnected: number;
    /** (RSS with every connection open − RSS before any) / connections. */
    rssKiBPerConn: number;
    serverCpuPct: number;
    serverCpuMs: number;
    stillOpen: number;
  };
}

function flags(): Map<string, string> {
  const m = new Map<string, string>();
  for (const a of Deno.args) {
    const match = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (match) m.set(match[1], match[2] ?? "true");
  }
  return m;
}

const round = (x: number, d = 3) => Number.isFinite(x) ? Number(x.toFixed(d)) : null;

async function main(): Promise<Report> {
  const f = flags();
  const url = new URL(f.get("url") ?? "ws://127.0.0.1:8080/ws");
  const mode = (f.get("mode") ?? "plain") as Mode;
  if (!MODES.includes(mode)) throw new Error(`--mode must be one of ${MODES.join(", ")}`);
  const subs = Number(f.get("subs") ?? 1000);
  const idleSeconds = Number(f.get("idle") ?? 0);
  const messages = idleSeconds > 0 ? 0 : Number(f.get("messages") ?? 200);
  const size = Number(f.get("size") ?? 128);
  const rate = Number(f.get("rate") ?? 0);
  const cores = allowedCores();
  const workerCount = Math.max(1, Math.min(subs, Number(f.get("workers") ?? cores)));
  const serverPid = f.has("server-pid") ? Number(f.get("server-pid")) : undefined;
  const drainMs = Number(f.get("drain") ?? 5) * 1000;
  const timeLimitMs = Number(f.get("time-limit") ?? 120) * 1000;
  const concurrency = Number(f.get("concurrency") ?? 64);
  if (size < MIN_SIZE) throw new Error(`--size must be at least ${MIN_SIZE}`);

  const deadline = performance.now() + timeLimitMs;
  const base = performance.timeOrigin + performance.now();
  const hostname = url.hostname;
  const port = Number(url.port || 80);
  const path = pathFor(mode, url.pathname + url.search);
  const protocols = mode === "framed" ? ["wshub.v1"] : [];

  const rssBefore = serverPid ? rssKiB(serverPid) : NaN;

  // Workers and their subscribers.
  const workers: Worker[] = [];
  const inbox: WorkerReply[][] = [];
  const waiters: (() => void)[] = [];
  const progress: number[] = [];
  let done = 0;
  const t0 = performance.now();
  for (let i = 0; i < workerCount; i++) {
    const w = new Worker(new URL("./loadgen_worker.ts", import.meta.url).href, { type: "module" });
    inbox.push([]);
    progress.push(0);
    w.onmessage = (e: MessageEvent<WorkerReply>) => {
      const msg = e.data;
      if (msg.type === "progress") progress[i] = msg.received;
      else if (msg.type === "done") done++;
      else inbox[i].push(msg);
      waiters.splice(0).forEach((wake) => wake());
    };
    w.onerror = (e) => {
      e.preventDefault();
      inbox[i].push({ type: "ready", connected: 0, failed: 0, error: e.message });
      waiters.splice(0).forEach((wake) => wake());
    };
    const count = Math.floor(subs / workerCount) + (i < subs % workerCount ? 1 : 0);
    const start: StartMessage = {
      type: "start",
      hostname,
      port,
      path,
      protocols,
      mode,
      count,
      size,
      messages,
      base,
      concurrency,
      bufferSize: idleSeconds > 0 ? 4096 : 16384,
    };
    w.postMessage(start);
    workers.push(w);
  }
  const waitFor = async (pred: () => boolean, untilMs: number): Promise<boolean> => {
    while (!pred()) {
      const left = untilMs - performance.now();
      if (left <= 0) return false;
      await Promise.race([new Promise<void>((r) => waiters.push(r)), delay(Math.min(left, 100))]);
    }
    return true;
  };
  const take = <T extends WorkerReply["type"]>(i: number, type: T) =>
    inbox[i].find((m) => m.type === type) as Extract<WorkerReply, { type: T }> | undefined;

  if (!await waitFor(() => inbox.every((_, i) => take(i, "ready")), deadline)) {
    throw new Error("time limit reached while connecting");
  }
  let connected = 0;
  let connectFailed = 0;
  let connectError: string | undefined;
  for (let i = 0; i < workerCount; i++) {
    const r = take(i, "ready")!;
    connected += r.connected;
    connectFailed += r.failed;
    connectError ??= r.error;
  }

  // The publisher.
  const pubRx = new Receiver(mode, size, base);
  const pubReady = Promise.withResolvers<void>();
  const pub = await openClient({ hostname, port, path, protocols }, pubRx, pubReady.resolve);
  await Promise.race([pubReady.promise, delay(10_000)]);
  const connectMs = performance.now() - t0;
  if (connected === 0) throw new Error(`no subscriber connected: ${connectError}`);

  const collect = async (): Promise<WorkerResult[]> => {
    workers.forEach((w) => w.postMessage({ type: "finish" }));
    await waitFor(() => inbox.every((_, i) => take(i, "result")), performance.now() + 10_000);
    return inbox.map((_, i) => take(i, "result")!).filter(Boolean);
  };

  await delay(idleSeconds > 0 ? 1000 : 300);

  if (idleSeconds > 0) {
    const rssConnected = serverPid ? rssKiB(serverPid) : NaN;
    const cpu0 = serverPid ? processCpuMs(serverPid) : NaN;
    const w0 = performance.now();
    await delay(idleSeconds * 1000);
    const cpu1 = serverPid ? processCpuMs(serverPid) : NaN;
    const wall = performance.now() - w0;
    const { closed, closeCodes } = closesOf(await collect());
    pub.close();
    return {
      ...emptyReport(mode, url.href, subs, size),
      ok: connectFailed === 0 && closed === 0,
      error: connectError,
      connected,
      connectFailed,
      connectMs: round(connectMs, 1)!,
      closedDuringRun: closed,
      closeCodes,
      loadgen: {
        workers: workerCount,
        cores,
        cpuMs: 0,
        cpuPct: 0,
        threadCpuPct: [],
        saturated: false,
      },
      idle: {
        seconds: idleSeconds,
        rssKiBConnected: rssConnected,
        rssKiBPerConn: round((rssConnected - rssBefore) / connected, 2)!,
        serverCpuPct: round((cpu1 - cpu0) / wall * 100, 2)!,
        serverCpuMs: round(cpu1 - cpu0, 1)!,
        stillOpen: connected - closed,
      },
      server: serverPid
        ? {
          pid: serverPid,
          cpuMs: round(cpu1 - cpu0, 1)!,
          cpuPct: round((cpu1 - cpu0) / wall * 100, 2)!,
          usPerDelivery: NaN,
          rssKiBBefore: rssBefore,
          rssKiBAfter: rssConnected,
        }
        : undefined,
    };
  }

  // Publish.
  const self0 = process.cpuUsage();
  const main0 = threadCpuMs();
  const server0 = serverPid ? processCpuMs(serverPid) : NaN;
  const busy0 = machineBusyMs();
  workers.forEach((w) => w.postMessage({ type: "go" }));
  const startUs = microsSince(base);
  const frame = (seq: number) =>
    encodeClientText(wrap(mode, makePayload(seq, microsSince(base), size)));
  let seq = 0;
  if (rate <= 0) {
    while (seq < messages && !pub.closed) {
      const batch: Uint8Array[] = [];
      for (let i = 0; i < 32 && seq < messages; i++) batch.push(frame(seq++));
      await pub.send(concatFrames(batch));
    }
  } else {
    const interval = 1000 / rate;
    const tp = performance.now();
    while (seq < messages && !pub.closed && performance.now() < deadline) {
      const due = Math.min(messages, Math.floor((performance.now() - tp) / interval) + 1);
      if (due > seq) {
        const batch: Uint8Array[] = [];
        while (seq < due) batch.push(frame(seq++));
        await pub.send(concatFrames(batch));
      } else {
        await delay(Math.max(0, tp + seq * interval - performance.now()));
      }
    }
  }
  const expected = connected * messages;

  // Wait for the deliveries: all of them, or no progress for `drain`, or the time limit.
  let lastTotal = -1;
  let lastChange = performance.now();
  while (done < workerCount && performance.now() < deadline) {
    const total = progress.reduce((a, b) => a + b, 0);
    if (total !== lastTotal) {
      lastTotal = total;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > drainMs) break;
    await Promise.race([new Promise<void>((r) => waiters.push(r)), delay(50)]);
  }
  const server1 = serverPid ? processCpuMs(serverPid) : NaN;
  const busy1 = machineBusyMs();
  const self1 = process.cpuUsage(self0);
  const main1 = threadCpuMs();
  const wallMs = microsSince(base) / 1000 - startUs / 1000;
  const results = await collect();
  pub.close();

  const hist = new Histogram();
  let received = 0, corrupt = 0, protocolErrors = 0, lastUs = startUs;
  for (const r of results) {
    hist.merge(r.hist);
    received += r.received;
    corrupt += r.corrupt;
    protocolErrors += r.protocolErrors;
    if (r.lastUs > lastUs) lastUs = r.lastUs;
  }
  const { closed, closeCodes } = closesOf(results);
  const durationMs = (lastUs - startUs) / 1000;
  const cpuMs = (self1.user + self1.system) / 1000;
  const threadCpuPct = [
    (main1 - main0) / wallMs * 100,
    ...results.map((r) => r.threadCpuMs / wallMs * 100),
  ];
  const cpuPct = cpuMs / wallMs * 100;
  const serverCpuMs = server1 - server0;
  const writes = received + pubRx.received;
  const lost = expected - received;
  return {
    ok: lost === 0 && corrupt === 0 && protocolErrors === 0 && connectFailed === 0,
    error: connectError,
    mode,
    url: url.href,
    subs,
    connected,
    connectFailed,
    messages,
    size,
    rate,
    expected,
    received,
    lost,
    corrupt,
    protocolErrors,
    echoes: pubRx.received,
    durationMs: round(durationMs)!,
    deliveriesPerSec: Math.round(received / (durationMs / 1000)),
    latencyMs: {
      p50: round(hist.quantile(0.5) / 1000)!,
      p90: round(hist.quantile(0.9) / 1000)!,
      p99: round(hist.quantile(0.99) / 1000)!,
      p999: round(hist.quantile(0.999) / 1000)!,
      max: round(hist.max / 1000)!,
    },
    connectMs: round(connectMs, 1)!,
    closedDuringRun: closed,
    closeCodes,
    loadgen: {
      workers: workerCount,
      cores,
      cpuMs: round(cpuMs, 1)!,
      cpuPct: round(cpuPct, 1)!,
      threadCpuPct: threadCpuPct.map((x) => round(x, 1)!),
      saturated: cpuPct >= 90 * cores || threadCpuPct.some((x) => x >= 90),
    },
    otherCpuPct: serverPid
      ? round(Math.max(0, busy1 - busy0 - serverCpuMs - cpuMs) / wallMs * 100, 1)!
      : undefined,
    server: serverPid
      ? {
        pid: serverPid,
        cpuMs: round(serverCpuMs, 1)!,
        cpuPct: round(serverCpuMs / wallMs * 100, 1)!,
        usPerDelivery: round(serverCpuMs * 1000 / writes)!,
        rssKiBBefore: rssBefore,
        rssKiBAfter: rssKiB(serverPid),
      }
      : undefined,
  };
}

/** How many subscribers the Workers saw closed during the run, and by which codes. */
function closesOf(results: WorkerResult[]): { closed: number; closeCodes: Record<string, number> } {
  let closed = 0;
  const closeCodes: Record<string, number> = {};
  for (const r of results) {
    closed += r.closed;
    for (const [k, v] of Object.entries(r.closeCodes)) closeCodes[k] = (closeCodes[k] ?? 0) + v;
  }
  return { closed, closeCodes };
}

function emptyReport(mode: Mode, url: string, subs: number, size: number): Report {
  return {
    ok: false,
    mode,
    url,
    subs,
    connected: 0,
    connectFailed: 0,
    messages: 0,
    size,
    rate: 0,
    expected: 0,
    received: 0,
    lost: 0,
    corrupt: 0,
    protocolErrors: 0,
    echoes: 0,
    durationMs: 0,
    deliveriesPerSec: 0,
    latencyMs: { p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN },
    connectMs: 0,
    closedDuringRun: 0,
    closeCodes: {},
    loadgen: { workers: 0, cores: 0, cpuMs: 0, cpuPct: 0, threadCpuPct: [], saturated: false },
  };
}

if (import.meta.main) {
  let report: Report | { ok: false; error: string };
  try {
    report = await main();
  } catch (e) {
    report = { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  console.log(JSON.stringify(report));
  Deno.exit(0);
}
