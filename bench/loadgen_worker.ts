/**
 * A load generator Worker: holds a share of the subscribers, counts and times their deliveries.
 * Driven by bench/loadgen.ts through `postMessage`.
 *
 * @module
 */

/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

import { openClient, Receiver, type StartMessage, type WorkerReply } from "./payload.ts";
import { within } from "../testing/async.ts";
import { threadCpuMs } from "./proc.ts";
import type { RawPeer } from "../testing/raw_peer.ts";

const sockets: RawPeer[] = [];
let receiver: Receiver | undefined;
let expected = 0;
let cpuAtGo = 0;
let timer: ReturnType<typeof setInterval> | undefined;

function post(msg: WorkerReply): void {
  self.postMessage(msg);
}

async function start(m: StartMessage): Promise<void> {
  const rx = new Receiver(m.mode, m.size, m.base);
  receiver = rx;
  expected = m.count * m.messages;
  let failed = 0;
  let error: string | undefined;
  let next = 0;
  const connectOne = async (): Promise<void> => {
    while (next < m.count) {
      next++;
      try {
        const { promise, resolve } = Promise.withResolvers<void>();
        sockets.push(await openClient(m, rx, resolve));
        await within(promise, 10_000, "the hello");
      } catch (e) {
        failed++;
        error ??= String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(m.concurrency, m.count) }, connectOne));
  post({ type: "ready", connected: sockets.length, failed, error });
}

function go(): void {
  cpuAtGo = threadCpuMs();
  let lastReported = -1;
  timer = setInterval(() => {
    const rx = receiver!;
    if (rx.received !== lastReported) {
      lastReported = rx.received;
      post({ type: "progress", received: rx.received });
    }
    if (rx.received >= expected) {
      post({ type: "done" });
      clearInterval(timer);
    }
  }, 20);
}

function finish(): void {
  if (timer !== undefined) clearInterval(timer);
  const rx = receiver!;
  const closeCodes: Record<string, number> = {};
  let closed = 0;
  for (const s of sockets) {
    if (s.closed) {
      closed++;
      const code = s.closeCode ?? 0; // 0: the connection ended without a close frame
      closeCodes[code] = (closeCodes[code] ?? 0) + 1;
    }
  }
  post({
    type: "result",
    received: rx.received,
    corrupt: rx.corrupt,
    protocolErrors: rx.protocolErrors,
    firstUs: rx.firstUs,
    lastUs: rx.lastUs,
    hist: { counts: rx.hist.counts, max: rx.hist.max, total: rx.hist.total },
    closed,
    closeCodes,
    threadCpuMs: threadCpuMs() - cpuAtGo,
  });
  for (const s of sockets) s.close();
}

self.onmessage = (e: MessageEvent) => {
  const m = e.data;
  if (m.type === "start") start(m as StartMessage);
  else if (m.type === "go") go();
  else if (m.type === "finish") finish();
};
