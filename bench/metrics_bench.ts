/**
 * Microbenchmarks of the metrics (issue #13): what a scrape costs (`hub.metrics()` on a hub with
 * 1,000 connections, against `hub.stats()` that it is built from), and what counting them costs
 * each delivery (bytes out and the delivery-wait histogram, observed by the writers at their
 * hand-off), against the same writers without. Run with `deno bench -A bench/metrics_bench.ts`
 * (part of `deno task bench`).
 *
 * The hand-off groups use sockets whose `send` does nothing, so they show the metrics' cost
 * against the writer's own work alone; a real `send` costs microseconds more per delivery.
 *
 * @module
 */

import { Hub } from "../mod.ts";
import { delay } from "../testing/async.ts";
import { encodePayload, type Payload } from "../src/protocol/mod.ts";
import { HandOffs } from "../src/server/hand_offs.ts";
import { type SendSocket, Writer, type WriterOptions } from "../src/server/writer.ts";

// --- A scrape ---------------------------------------------------------------------------------

const CONNECTIONS = 1000;

// A hub with 1,000 connections (half plain, half wshub.v1) in 10 rooms, that has seen traffic
// and closes. It stays up until the process ends: `deno bench` exits once the benchmarks are done.
const hub = new Hub<string>({
  pingInterval: 600_000, // nothing but the benchmark runs meanwhile
  onConnect(client, hub) {
    hub.join(client, `room-${Number(client.id.charCodeAt(0)) % 10}`);
  },
});
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  (req) => hub.upgrade(req),
);
const sockets: WebSocket[] = [];
for (let i = 0; i < CONNECTIONS; i++) {
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  sockets.push(new WebSocket(url, i % 2 === 0 ? [] : ["wshub.v1"]));
}
await Promise.all(sockets.map((socket) =>
  new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  })
));
while (hub.size < CONNECTIONS) await delay(10);
for (let i = 0; i < 100; i++) await hub.broadcast(`message ${i}`);
await delay(100);
for (let i = 0; i < 10; i++) sockets.pop()!.close(i % 2 === 0 ? 1000 : 4401);
while (hub.size > CONNECTIONS - 10) await delay(10);

Deno.bench({
  name: "hub.stats(), 990 connections (baseline)",
  group: "metrics scrape",
  baseline: true,
  fn() {
    if (hub.stats().connections < 0) throw new Error("unreachable");
  },
});

Deno.bench({
  name: "hub.metrics(), 990 connections",
  group: "metrics scrape",
  fn() {
    if (hub.metrics().length === 0) throw new Error("unreachable");
  },
});

Deno.bench({
  name: "hub.metricsResponse(), 990 connections",
  group: "metrics scrape",
  fn() {
    if (hub.metricsResponse().status !== 200) throw new Error("unreachable");
  },
});

// --- Per delivery -------------------------------------------------------------------------------

const WRITERS = 1000;

class NullSocket implements SendSocket {
  readonly bufferedAmount = 0;
  send(_data: string | Uint8Array): void {}
}

const options = (framed: boolean): WriterOptions => ({
  framed,
  coalesce: true,
  sendQueueLimit: 1024,
  overflow: "close",
  maxBufferedBytes: 1 << 20,
});

function writers(framed: boolean, handOffs?: HandOffs): Writer[] {
  return Array.from(
    { length: WRITERS },
    () => new Writer(new NullSocket(), options(framed), handOffs),
  );
}

const plainBare = writers(false);
const plainCounted = writers(false, new HandOffs());

/** One broadcast: the same stamped payload handed to each plain writer at once. */
function broadcastPlain(list: Writer[], payload: Payload): void {
  for (const writer of list) writer.push(payload, 0);
}

Deno.bench({
  name: "1,000 plain deliveries, no metrics (baseline)",
  group: "hand-off, plain clients (sent at once)",
  baseline: true,
  fn() {
    broadcastPlain(plainBare, encodePayload("x".repeat(128)));
  },
});

Deno.bench({
  name: "1,000 plain deliveries, bytes + wait histogram",
  group: "hand-off, plain clients (sent at once)",
  fn() {
    broadcastPlain(plainCounted, encodePayload("x".repeat(128)));
  },
});

const framedBare = writers(true);
const framedCounted = writers(true, new HandOffs());

/** Ten broadcasts queued to each framed writer, then the flush: one b frame of ten per writer. */
function batchFramed(list: Writer[]): void {
  for (let i = 0; i < 10; i++) {
    const payload = encodePayload("x".repeat(128));
    for (const writer of list) writer.push(payload, 0);
  }
  for (const writer of list) writer.flush(0);
}

Deno.bench({
  name: "10 × 1,000 framed deliveries coalesced, no metrics (baseline)",
  group: "hand-off, framed clients (coalesced)",
  baseline: true,
  fn() {
    batchFramed(framedBare);
  },
});

Deno.bench({
  name: "10 × 1,000 framed deliveries coalesced, bytes + wait histogram",
  group: "hand-off, framed clients (coalesced)",
  fn() {
    batchFramed(framedCounted);
  },
});

const observed = new HandOffs();
const stamped = encodePayload("x");

Deno.bench({
  name: "HandOffs.handed(), 1,000 observations",
  group: "observation",
  fn() {
    for (let i = 0; i < 1000; i++) observed.handed(stamped);
  },
});
