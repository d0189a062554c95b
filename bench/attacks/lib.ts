/**
 * Shared pieces of the attack harness: the frame every attack runs in
 * (`runAttack`: flags, pinning, the target's start and end, the result line),
 * the target server as a child process (with its RSS, descriptors and
 * per-second lines watched), raw WebSocket peers over TCP (attackers and
 * healthy probes, built on testing/raw_peer.ts), and percentiles.
 *
 * Common flags of every attack script (besides its own):
 * - `--timeout=S`   hard limit for the whole attack, seconds (default per attack); past it the
 *                   target is killed and the result says so
 * - `--rss-cap=MiB` kill the target when its RSS passes this (default 6144): a safety net, the
 *                   result records it as `killedByHarness`
 * - `--no-pin`      do not pin the target to CPU 0 and the attacker to CPU 1 (`taskset`)
 * - `--target-options=JSON` extra hub options for the target (its `--options`), to measure a later
 *                   build with new options (rate limits, maxConnections…) without editing the attack
 * - `--v8-max-old-space=MiB` start the target with `--v8-flags=--max-old-space-size=MiB`
 *
 * @module
 */

import { atMost, delay } from "../../testing/async.ts";
import { type Handshake, handshake, type PeerOptions, RawPeer } from "../../testing/raw_peer.ts";
import { encodeClientFrame, Opcode } from "../../testing/ws_frames.ts";
import { signal } from "../../testing/process.ts";
import { splitBatch } from "../../src/protocol/batch.ts";
import { statusKiB } from "../proc.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---------------------------------------------------------------- flags

/** `--name=value` and `--name` flags. */
export class Flags {
  readonly #map: Map<string, string>;
  constructor(args: readonly string[] = Deno.args) {
    this.#map = new Map(args.map((a) => {
      const m = /^--([^=]+)(?:=(.*))?$/s.exec(a);
      return m ? [m[1], m[2] ?? "true"] as const : [a, "true"] as const;
    }));
  }
  has(name: string): boolean {
    return this.#map.has(name);
  }
  str(name: string, fallback: string): string {
    return this.#map.get(name) ?? fallback;
  }
  num(name: string, fallback: number): number {
    const v = this.#map.get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new RangeError(`--${name} must be a number, got ${v}`);
    return n;
  }
  bool(name: string, fallback = false): boolean {
    const v = this.#map.get(name);
    if (v === undefined) return fallback;
    return v !== "false" && v !== "0";
  }
  /** Everything given, for the result. */
  all(): Record<string, string> {
    return Object.fromEntries(this.#map);
  }
}

// ---------------------------------------------------------------- small helpers

export const MiB = 1024 * 1024;
export const mib = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10;

/** The q-quantile (0..1) of `values` (nearest rank), or null when empty. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round(sorted[i] * 10) / 10;
}

/** A histogram of values as `{ value: count }`. */
export function histogram(values: Iterable<string | number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

/** Whether CPU pinning is possible and wanted. */
export function pinning(flags: Flags): boolean {
  if (flags.has("no-pin")) return false;
  if (navigator.hardwareConcurrency < 2) return false;
  try {
    return Deno.statSync("/usr/bin/taskset").isFile;
  } catch {
    return false;
  }
}

/** Pins every thread of this process to CPU 1 (the target runs on CPU 0). */
export async function pinSelf(flags: Flags): Promise<void> {
  if (!pinning(flags)) return;
  await new Deno.Command("taskset", {
    args: ["-a", "-cp", "1", String(Deno.pid)],
    stdout: "null",
    stderr: "null",
  }).output();
}

/** The attacker's own event-loop lag: a 100 ms timer's worst lateness. */
export class LagMeter {
  #timer: ReturnType<typeof setInterval>;
  #last = performance.now();
  max = 0;
  constructor() {
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.max = Math.max(this.max, now - this.#last - 100);
      this.#last = now;
    }, 100);
  }
  stop(): number {
    clearInterval(this.#timer);
    return Math.round(this.max);
  }
}

// ---------------------------------------------------------------- the target process

/** One per-second line of the target (see target_server.ts). */
export interface TargetSample {
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  fds: number;
  lagMaxMs: number;
  lagMeanMs: number;
  stats: Record<string, number>;
  closeCodes: Record<string, number>;
  onMessage: { calls: number; afterDisconnect: number };
  identify?: { started: number; done: number };
}

/** How to start the target server. */
export interface TargetSpec {
  /** Flags for target_server.ts besides `--port` (e.g. `--chat`). */
  args?: string[];
  /** Hub options (merged with `--target-options`). */
  options?: Record<string, unknown>;
  /** Run it under `prlimit --nofile=N`. */
  nofile?: number;
  /**
   * Seconds after which the harness kills it (`killedByHarness`: "--timeout=Ns reached"), unless
   * `kill` came first: the attack's `--timeout`.
   */
  timeout?: number;
}

/** The target's RSS (MiB) and open descriptors at one moment. */
export interface Snapshot {
  rssMiB: number;
  fds: number;
}

/** What the harness saw of the target over an attack. */
export interface TargetReport {
  survived: boolean;
  exitCode: number | null;
  signal: string | null;
  killedByHarness: string | null;
  stderrTail: string;
  peakRssMiB: number;
  peakHeapUsedMiB: number | null;
  rssBeforeMiB: number | null;
  rssAfterMiB: number | null;
  fdsBefore: number | null;
  fdsPeak: number;
  fdsAfter: number | null;
  lagMaxMs: number | null;
  /**
   * The longest time without a per-second line from the target, up to the report (while it
   * lives): a stalled event loop shows here even when it never gets to report its own lag.
   */
  lineGapMaxMs: number;
  closeCodes: Record<string, number>;
  onMessageAfterDisconnect: number;
  stats: Record<string, number> | null;
  /** The target's per-second lines: [t s, rss MiB, heapUsed MiB, fds, lag max ms]. */
  timeline: [number, number, number, number, number][];
  /** Read by the harness from /proc each second, even when the target stalls: [t s, rss MiB, fds]. */
  procTimeline: [number, number, number][];
}

const TARGET = new URL("./target_server.ts", import.meta.url).pathname;

/** The target server, started as a child process and watched. */
export class Target {
  readonly pid: number;
  readonly port: number;
  readonly samples: TargetSample[] = [];
  readonly events: Record<string, unknown>[] = [];
  readonly status: Promise<Deno.CommandStatus>;
  /** Its RSS and descriptors before the attack (see `Attack.start`). */
  before: Snapshot | undefined;
  exited = false;
  exitStatus: Deno.CommandStatus | undefined;
  killedByHarness: string | null = null;
  peakRssKiB = 0;
  peakFds = 0;
  #child: Deno.ChildProcess;
  #stderr = "";
  #sampler: ReturnType<typeof setInterval>;
  #fdTick = 0;
  #procTimeline: [number, number, number][] = [];
  #waiters: (() => void)[] = [];
  #rssCapKiB: number;
  #started = performance.now();
  #lastLineAt = performance.now();
  #lineGapMax = 0;
  #hardStop: ReturnType<typeof setTimeout> | undefined;

  private constructor(child: Deno.ChildProcess, port: number, pid: number, rssCapMiB: number) {
    this.#child = child;
    this.port = port;
    this.pid = pid;
    this.#rssCapKiB = rssCapMiB * 1024;
    this.status = child.status.then((s) => {
      this.exited = true;
      this.exitStatus = s;
      clearInterval(this.#sampler);
      clearTimeout(this.#hardStop);
      return s;
    });
    this.#sampler = setInterval(() => this.#sample(), 100);
  }

  /** Starts target_server.ts and waits for it to listen. */
  static async start(flags: Flags, spec: TargetSpec = {}): Promise<Target> {
    const options = { ...spec.options, ...JSON.parse(flags.str("target-options", "{}")) };
    // -A: Deno asks for all permissions to list /proc/self/fd.
    const deno = [Deno.execPath(), "run", "-A"];
    const heap = flags.num("v8-max-old-space", 0);
    if (heap > 0) deno.push(`--v8-flags=--max-old-space-size=${heap}`);
    deno.push(TARGET, "--port=0", ...(spec.args ?? []));
    if (Object.keys(options).length > 0) deno.push(`--options=${JSON.stringify(options)}`);
    let cmd = deno;
    if (spec.nofile !== undefined) cmd = ["prlimit", `--nofile=${spec.nofile}`, ...cmd];
    if (pinning(flags)) cmd = ["taskset", "-c", "0", ...cmd];
    const child = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = readLines(child.stdout);
    const first = await atMost(lines.next(), 20_000, undefined);
    if (first === undefined || first.done) {
      signal(child, "SIGKILL");
      throw new Error("the target did not start");
    }
    const hello = JSON.parse(first.value) as { event: string; port: number; pid: number };
    if (hello.event !== "listening") throw new Error(`unexpected first line: ${first.value}`);
    const target = new Target(child, hello.port, hello.pid, flags.num("rss-cap", 6144));
    const timeout = spec.timeout;
    if (timeout !== undefined) {
      target.#hardStop = setTimeout(
        () => target.kill(`--timeout=${timeout}s reached`),
        timeout * 1000,
      );
    }
    target.#pump(lines);
    target.#drainStderr(child.stderr);
    await target.nextSample();
    return target;
  }

  /** The latest per-second line. */
  get last(): TargetSample | undefined {
    return this.samples.at(-1);
  }

  /** The target's RSS now, from /proc (NaN once it is gone). */
  rssMiB(): number {
    return mib(statusKiB(this.pid, "VmRSS") * 1024);
  }

  /** The target's open descriptors now (NaN once it is gone). */
  fds(): number {
    try {
      let n = 0;
      for (const _ of Deno.readDirSync(`/proc/${this.pid}/fd`)) n++;
      return n;
    } catch {
      return NaN;
    }
  }

  /** Resolves with the next per-second line (or when the target exits). */
  nextSample(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((r) => this.#waiters.push(r));
  }

  /**
   * Waits until the target has caught up: two per-second lines in a row with a lag under
   * `calmMs`, at most `maxMs`. Returns how long it waited.
   */
  async settle(maxMs = 20_000, calmMs = 100): Promise<number> {
    const start = performance.now();
    let calm = 0;
    while (!this.exited && calm < 2 && performance.now() - start < maxMs) {
      await atMost(this.nextSample(), maxMs - (performance.now() - start), undefined);
      const last = this.last;
      calm = last !== undefined && last.lagMaxMs < calmMs ? calm + 1 : 0;
    }
    return Math.round(performance.now() - start);
  }

  /** Asks the target's hub to close (`GET /__close`). */
  async closeHub(): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${this.port}/__close`);
    await res.body?.cancel();
  }

  /** Kills the target (SIGKILL) and waits for it. */
  async kill(reason?: string): Promise<void> {
    clearTimeout(this.#hardStop);
    if (!this.exited) {
      if (reason !== undefined && this.killedByHarness === null) this.killedByHarness = reason;
      signal(this.#child, "SIGKILL");
    }
    await this.status;
  }

  /** Waits `ms`, or less if the target exits meanwhile. */
  async wait(ms: number): Promise<void> {
    await atMost(this.status, ms, undefined);
  }

  /** Its RSS and descriptors now (see {@linkcode Target.report}). */
  snapshot(): Snapshot {
    return { rssMiB: this.rssMiB(), fds: this.fds() };
  }

  /** Everything measured, once the attack is over (call before `kill`). */
  report(before: Snapshot | undefined, after?: Snapshot): TargetReport {
    const last = this.last;
    const heapPeak = this.samples.length === 0
      ? null
      : mib(Math.max(...this.samples.map((s) => s.heapUsed)));
    const status = this.exitStatus;
    return {
      survived: !this.exited,
      exitCode: this.exited ? status?.code ?? null : null,
      signal: this.exited ? status?.signal ?? null : null,
      killedByHarness: this.killedByHarness,
      stderrTail: this.#stderr.slice(-1500),
      peakRssMiB: mib(this.peakRssKiB * 1024),
      peakHeapUsedMiB: heapPeak,
      rssBeforeMiB: before?.rssMiB ?? null,
      rssAfterMiB: after === undefined || Number.isNaN(after.rssMiB) ? null : after.rssMiB,
      fdsBefore: before?.fds ?? null,
      fdsPeak: this.peakFds,
      fdsAfter: after === undefined || Number.isNaN(after.fds) ? null : after.fds,
      lagMaxMs: this.samples.length === 0
        ? null
        : Math.round(Math.max(...this.samples.map((s) => s.lagMaxMs))),
      lineGapMaxMs: Math.round(
        Math.max(this.#lineGapMax, this.exited ? 0 : performance.now() - this.#lastLineAt),
      ),
      closeCodes: last?.closeCodes ?? {},
      onMessageAfterDisconnect: last?.onMessage.afterDisconnect ?? 0,
      stats: last?.stats ?? null,
      timeline: this.samples.map((s) => [
        Math.round(s.t / 100) / 10,
        mib(s.rss),
        mib(s.heapUsed),
        s.fds,
        Math.round(s.lagMaxMs),
      ]),
      procTimeline: this.#procTimeline,
    };
  }

  /** Seconds since the target started. */
  get uptime(): number {
    return (performance.now() - this.#started) / 1000;
  }

  #sample(): void {
    if (this.exited) return;
    const rss = statusKiB(this.pid, "VmRSS");
    const hwm = statusKiB(this.pid, "VmHWM");
    const peak = Math.max(Number.isNaN(rss) ? 0 : rss, Number.isNaN(hwm) ? 0 : hwm);
    if (peak > this.peakRssKiB) this.peakRssKiB = peak;
    if (rss > this.#rssCapKiB) {
      void this.kill(`RSS ${mib(rss * 1024)} MiB passed the cap of ${this.#rssCapKiB / 1024} MiB`);
      return;
    }
    if (++this.#fdTick % 2 === 0) {
      const fds = this.fds();
      if (fds > this.peakFds) this.peakFds = fds;
      if (this.#fdTick % 10 === 0) {
        this.#procTimeline.push([Math.round(this.uptime), mib(rss * 1024), fds]);
      }
    }
  }

  async #pump(lines: AsyncIterator<string>): Promise<void> {
    while (true) {
      const next = await lines.next();
      if (next.done) break;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(next.value);
      } catch {
        this.events.push({ event: "text", text: next.value });
        continue;
      }
      if (parsed.event === undefined) {
        const sample = parsed as unknown as TargetSample;
        const now = performance.now();
        this.#lineGapMax = Math.max(this.#lineGapMax, now - this.#lastLineAt);
        this.#lastLineAt = now;
        this.samples.push(sample);
        if (sample.fds > this.peakFds) this.peakFds = sample.fds;
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const w of waiters) w();
      } else {
        this.events.push(parsed);
      }
    }
    await this.status;
    for (const w of this.#waiters) w();
    this.#waiters = [];
  }

  async #drainStderr(stream: ReadableStream<Uint8Array>): Promise<void> {
    const d = new TextDecoder();
    for await (const chunk of stream) {
      this.#stderr = (this.#stderr + d.decode(chunk, { stream: true })).slice(-8000);
    }
  }
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const d = new TextDecoder();
  let buffer = "";
  for await (const chunk of stream) {
    buffer += d.decode(chunk, { stream: true });
    let i;
    while ((i = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, i).trim();
      buffer = buffer.slice(i + 1);
      if (line !== "") yield line;
    }
  }
}

// ---------------------------------------------------------------- peers

/** How a {@linkcode Peer} connects (see {@linkcode PeerOptions}), and what it looks for. */
export interface AttackPeerOptions extends PeerOptions {
  /** Decode text frames and look for this marker (chat echo probes). */
  echoMarker?: string;
}

/** How a peer's connection ended, as the peer saw it. */
export interface PeerOutcome {
  /** The close code of the server's close frame, if one arrived. */
  closeCode: number | null;
  closeReason: string | null;
  /** ms since the peer opened when the close frame arrived. */
  closeAtMs: number | null;
  /** How the TCP connection ended: "eof", "reset", another error, or "open" (still open). */
  end: string;
  endAtMs: number | null;
}

/**
 * The shared raw peer (testing/raw_peer.ts) with what the attacks measure: messages received (a
 * `b` frame counts each message it carries), the hub's close notice, `p` pings answered and
 * timed, chat echoes timed. It reads only once `read()` is called.
 */
export class Peer extends RawPeer {
  readonly framed: boolean;
  /** Data messages received (a `b` frame counts each message it carries). */
  messages = 0;
  /** The code of the hub's close notice (`c{"code":…}`, framed peers), if one arrived. */
  noticeCode: number | null = null;
  /** RTTs of this peer's own `p` pings (framed), ms. */
  readonly rtts: number[] = [];
  /** Times from sending a chat message to seeing it broadcast back, ms. */
  readonly echoRtts: number[] = [];
  readonly #echoMarker: string | undefined;
  #reading: Promise<void> | undefined;
  #pings = new Map<string, number>();
  #pingCount = 0;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #echoes = new Map<number, number>();
  #echoCount = 0;

  constructor(done: Handshake, options: AttackPeerOptions) {
    super(done, options);
    this.framed = options.protocols?.includes("wshub.v1") ?? false;
    this.#echoMarker = options.echoMarker;
  }

  /**
   * Connects and reads the response head (within 5 s unless `timeoutMs` says otherwise), with
   * TCP_NODELAY; it answers pings and the close frame unless told not to. Throws on failure.
   */
  static async open(port: number, options: AttackPeerOptions = {}): Promise<Peer> {
    const full = {
      timeoutMs: 5000,
      noDelay: true,
      answerPings: true,
      answerClose: true,
      ...options,
    };
    return new Peer(await handshake(port, full), full);
  }

  /** Starts reading (once); resolves when the connection ends. */
  read(): Promise<void> {
    this.#reading ??= this.run((opcode, fin, buf, start, end) =>
      this.#frame(opcode, fin, buf.subarray(start, end))
    ).finally(() => clearInterval(this.#pingTimer));
    return this.#reading;
  }

  /** Sends a `p` ping now (framed peers), timing its pong. */
  ping(): void {
    const token = `r${++this.#pingCount}`;
    this.#pings.set(token, performance.now());
    void this.sendText("p" + token);
  }

  /** Pings every `ms` until the peer ends. */
  pingEvery(ms: number): void {
    this.#pingTimer = setInterval(() => {
      if (!this.closed) this.ping();
    }, ms);
  }

  /** Sends a chat message carrying the echo marker; its return is timed. */
  echo(): void {
    const n = ++this.#echoCount;
    this.#echoes.set(n, performance.now());
    void this.send(textFrame(`${this.#echoMarker}#${n}#`, this.framed));
  }

  /** Pings left without a pong. */
  get pingsLost(): number {
    return this.#pings.size;
  }

  /** Echoes not seen back. */
  get echoesLost(): number {
    return this.#echoes.size;
  }

  /** Closes the TCP connection (no close frame). */
  override close(): void {
    clearInterval(this.#pingTimer);
    super.close();
  }

  /** What this peer saw of the end of its connection. */
  outcome(): PeerOutcome {
    return {
      closeCode: this.closeCode,
      closeReason: this.closeReason,
      closeAtMs: this.closeAt === null ? null : Math.round(this.closeAt - this.openedAt),
      end: this.end,
      endAtMs: this.endAt === null ? null : Math.round(this.endAt - this.openedAt),
    };
  }

  #frame(opcode: number, fin: boolean, payload: Uint8Array): void {
    if (opcode !== Opcode.Text && opcode !== Opcode.Binary && opcode !== Opcode.Continuation) {
      return; // pings and the close frame: the raw peer answers them
    }
    if (!this.framed) {
      if (fin) this.messages++;
      if (this.#echoMarker !== undefined && this.#echoes.size > 0 && opcode === Opcode.Text) {
        this.#seeEcho(decoder.decode(payload));
      }
      return;
    }
    if (opcode === Opcode.Binary) {
      this.messages++;
      return;
    }
    this.#framedText(payload);
  }

  #framedText(payload: Uint8Array): void {
    const tag = payload[0];
    if (tag === 0x6d /* m */) {
      this.messages++;
      if (this.#echoMarker !== undefined && this.#echoes.size > 0) {
        this.#seeEcho(decoder.decode(payload));
      }
    } else if (tag === 0x62 /* b */) {
      const text = decoder.decode(payload.subarray(1));
      const parts = splitBatch(text);
      this.messages += typeof parts === "string" ? 1 : parts.length;
      if (this.#echoMarker !== undefined && this.#echoes.size > 0) this.#seeEcho(text);
    } else if (tag === 0x63 /* c: the hub's close notice, before its close frame */) {
      try {
        this.noticeCode = JSON.parse(decoder.decode(payload.subarray(1))).code;
      } catch { /* malformed: leave it unset */ }
    } else if (tag === 0x70 /* p */) {
      if (this.answerPings) {
        const pong = payload.slice();
        pong[0] = 0x50; // P
        void this.send(encodeClientFrame(Opcode.Text, pong));
      }
    } else if (tag === 0x50 /* P */ && this.#pings.size > 0) {
      const token = decoder.decode(payload.subarray(1));
      const sent = this.#pings.get(token);
      if (sent !== undefined) {
        this.rtts.push(performance.now() - sent);
        this.#pings.delete(token);
      }
    }
  }

  #seeEcho(text: string): void {
    const marker = `${this.#echoMarker}#`;
    let i = text.indexOf(marker);
    while (i >= 0) {
      const from = i + marker.length;
      const to = text.indexOf("#", from);
      const n = Number(text.slice(from, to));
      const sent = this.#echoes.get(n);
      if (sent !== undefined) {
        this.echoRtts.push(performance.now() - sent);
        this.#echoes.delete(n);
      }
      i = text.indexOf(marker, to);
    }
  }
}

// ---------------------------------------------------------------- probes

/** A healthy client that measures what an attack does to others. */
export interface ProbeReport {
  kind: "framed" | "plain";
  messages: number;
  rttP50: number | null;
  rttP99: number | null;
  rttMax: number | null;
  pings: number;
  pingsLost: number;
  echoP50?: number | null;
  echoP99?: number | null;
  echoes?: number;
  echoesLost?: number;
  closeCode: number | null;
  end: string;
}

/** Opens healthy probes: `framed` ones ping every `pingMs`; plain ones just read. */
export async function openProbes(
  port: number,
  framed: number,
  plain: number,
  pingMs = 100,
): Promise<Peer[]> {
  const peers: Peer[] = [];
  for (let i = 0; i < framed; i++) {
    const p = await Peer.open(port, { protocols: ["wshub.v1"], echoMarker: `PROBE${i}` });
    void p.read();
    p.pingEvery(pingMs);
    peers.push(p);
  }
  for (let i = 0; i < plain; i++) {
    const p = await Peer.open(port);
    void p.read();
    peers.push(p);
  }
  return peers;
}

/** What a probe saw. */
export function probeReport(p: Peer): ProbeReport {
  const report: ProbeReport = {
    kind: p.framed ? "framed" : "plain",
    messages: p.messages,
    rttP50: quantile(p.rtts, 0.5),
    rttP99: quantile(p.rtts, 0.99),
    rttMax: quantile(p.rtts, 1),
    pings: p.rtts.length + p.pingsLost,
    pingsLost: p.pingsLost,
    closeCode: p.closeCode,
    end: p.end,
  };
  if (p.echoRtts.length > 0 || p.echoesLost > 0) {
    report.echoP50 = quantile(p.echoRtts, 0.5);
    report.echoP99 = quantile(p.echoRtts, 0.99);
    report.echoes = p.echoRtts.length;
    report.echoesLost = p.echoesLost;
  }
  return report;
}

/** The probes' figures, merged: worst p99, all close codes. */
export function probesSummary(probes: Peer[]): {
  count: number;
  closed: number;
  closeCodes: Record<string, number>;
  rttP50: number | null;
  rttP99: number | null;
  pingsLost: number;
  messagesMin: number;
  detail: ProbeReport[];
} {
  const rtts = probes.flatMap((p) => p.rtts);
  return {
    count: probes.length,
    closed: probes.filter((p) => p.closeCode !== null || p.end !== "open").length,
    closeCodes: histogram(
      probes.filter((p) => p.closeCode !== null || p.end !== "open").map((p) =>
        p.closeCode ?? `none(${p.end})`
      ),
    ),
    rttP50: quantile(rtts, 0.5),
    rttP99: quantile(rtts, 0.99),
    pingsLost: probes.reduce((n, p) => n + p.pingsLost, 0),
    messagesMin: probes.length === 0 ? 0 : Math.min(...probes.map((p) => p.messages)),
    detail: probes.map(probeReport),
  };
}

// ---------------------------------------------------------------- frames

/** A masked text frame of `text` (tagged `m` when framed). */
export function textFrame(text: string, framed = false): Uint8Array {
  return encodeClientFrame(Opcode.Text, encoder.encode(framed ? "m" + text : text));
}

// ---------------------------------------------------------------- the attack

/** What an attack's body returns: its parameters, what it measured, and a one-line summary. */
export interface AttackResult {
  /** The attack's own parameters (`runAttack` adds every flag given, as `flags`). */
  params: Record<string, unknown>;
  summary: string;
  [measured: string]: unknown;
}

/** What {@linkcode runAttack} hands an attack's body. */
export interface Attack {
  readonly flags: Flags;
  /** `--timeout`, seconds: a target started here is killed past it. */
  readonly timeout: number;
  /**
   * Starts a target (see {@linkcode TargetSpec}; killed after `--timeout`), lets it settle for a
   * second, and takes its before-snapshot (`target.before`).
   */
  start(spec?: Omit<TargetSpec, "timeout">): Promise<Target>;
  /**
   * The end of a target: closes `peers`, waits `ms` (less if the target dies), reports what the
   * harness saw against the before-snapshot, and kills it.
   */
  finish(target: Target, peers?: Iterable<{ close(): void }>, ms?: number): Promise<TargetReport>;
}

/**
 * The frame every attack script runs in: reads `--timeout` (default `timeout`, or what it
 * computes from the flags) and the common flags, pins this process to CPU 1, meters its own
 * event-loop lag, runs `body`, kills any target still running, and prints the result as one JSON
 * line (the runner takes the last line): `attack`, `params` (with `flags`), `durationMs`, what
 * `body` measured, `attackerLagMaxMs` and `summary`.
 */
export async function runAttack(
  name: string,
  timeout: number | ((flags: Flags) => number),
  body: (attack: Attack) => Promise<AttackResult>,
): Promise<void> {
  const flags = new Flags();
  const seconds = flags.num("timeout", typeof timeout === "number" ? timeout : timeout(flags));
  await pinSelf(flags);
  const lag = new LagMeter();
  const started = performance.now();
  const targets: Target[] = [];
  const attack: Attack = {
    flags,
    timeout: seconds,
    async start(spec = {}) {
      const target = await Target.start(flags, { ...spec, timeout: seconds });
      targets.push(target);
      await delay(1000);
      target.before = target.snapshot();
      return target;
    },
    async finish(target, peers = [], ms = 0) {
      for (const peer of peers) {
        try {
          peer.close();
        } catch { /* already closed */ }
      }
      if (ms > 0) await target.wait(ms);
      const server = target.report(target.before, target.snapshot());
      await atMost(target.kill(), 5000, undefined);
      return server;
    },
  };
  try {
    const { params, summary, ...measured } = await body(attack);
    console.log(JSON.stringify({
      attack: name,
      params: { ...params, flags: flags.all() },
      durationMs: Math.round(performance.now() - started),
      ...measured,
      attackerLagMaxMs: lag.stop(),
      summary,
    }));
  } finally {
    lag.stop();
    await Promise.all(targets.map((target) => atMost(target.kill(), 5000, undefined)));
  }
}
