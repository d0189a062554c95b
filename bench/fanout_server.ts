/**
 * The fan-out contract of bench/raw_server.ts, through the Hub.
 *
 * `deno run -A bench/fanout_server.ts --port=N` serves `ws://127.0.0.1:N/ws` (any path): every
 * message received from any client is broadcast to every connection, the sender included. Plain
 * clients get exactly the bytes sent; `wshub.v1` clients get them framed (`m…`, or coalesced in
 * `b…` batches). A default Hub otherwise — heartbeats on at their defaults — except
 * `rateLimit: false`: the benchmark's publishers send as fast as the server takes them, as they do
 * to the raw server, and the default inbound limit (100 messages a second) would measure the
 * limiter instead of the fan-out. Other tools drive this file: keep its flags and behaviour fixed.
 *
 * `--metrics-every=MS` (off by default) also builds `hub.metrics()` every MS milliseconds, as a
 * Prometheus scrape would, to compare the fan-out with metrics read against never read.
 *
 * `--inspector` (off by default) also mounts `@wshub/hub/inspector` at /inspector and keeps one
 * page's live stream open (read in this process and thrown away), as an operator with the
 * inspector open would: to compare the fan-out with the inspector watched against not mounted.
 *
 * `--redis=URL` (e.g. `redis://127.0.0.1:6379`) gives the hub a `RedisBackplane` on that Redis:
 * several of these processes are then one fan-out server, a message received by any of them
 * reaching the connections of all. It listens only once the backplane is up (exits with code 1
 * after 10 s without it). Without the flag the backplane module is not even loaded.
 * `--redis-cluster=URL,URL…` does the same on a Redis Cluster (its seed nodes), `--nats=URL` with
 * a `NatsBackplane` on that NATS server (bench/backplane_flag.ts).
 *
 * `--no-rate-limit` is accepted and changes nothing: the limit is always off here (see above).
 *
 * @module
 */

import { Hub } from "../mod.ts";
import { createInspector } from "../src/inspector/mod.ts";
import { backplaneUp, flagBackplane } from "./backplane_flag.ts";

const arg = Deno.args.find((a) => a.startsWith("--port="));
const port = arg === undefined ? 8080 : Number(arg.slice("--port=".length));

const backplane = await flagBackplane(Deno.args);
const hub = new Hub({
  backplane,
  rateLimit: false,
  // The load generator opens every connection at once; this measures throughput, not admission.
  admissionRate: 1_000_000,
  onMessage(message, _client, hub) {
    hub.broadcast(message);
  },
});
if (backplane !== undefined) await backplaneUp(backplane);
const inspected = Deno.args.includes("--inspector");
const inspector = inspected
  ? createInspector(hub, { auth: { user: "bench", password: "bench" } })
  : undefined;
Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, (req, info) => {
  if (inspector !== undefined && new URL(req.url).pathname.startsWith("/inspector")) {
    return inspector(req);
  }
  return hub.upgrade(req, inspected ? { address: info.remoteAddr.hostname } : undefined);
});
if (inspected) {
  // One page watching: its live stream, read and dropped for as long as the server runs.
  const stream = await fetch(`http://127.0.0.1:${port}/inspector/api/stream`, {
    headers: { authorization: `Basic ${btoa("bench:bench")}` },
  });
  if (!stream.ok) throw new Error(`the inspector's stream answered ${stream.status}`);
  void stream.body!.pipeTo(new WritableStream());
  console.error("the inspector is mounted, and its live stream read");
}

const metricsArg = Deno.args.find((a) => a.startsWith("--metrics-every="));
if (metricsArg !== undefined) {
  const every = Number(metricsArg.slice("--metrics-every=".length));
  if (!(every > 0)) throw new Error(`${metricsArg}: expected a positive number of milliseconds`);
  setInterval(() => hub.metrics(), every);
  console.error(`reading hub.metrics() every ${every} ms`);
}
console.log(`listening on ws://127.0.0.1:${port}/ws`);
