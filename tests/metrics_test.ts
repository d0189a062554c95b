// Metrics (issue #13): the Prometheus text exposition of hub.metrics() and
// hub.metricsResponse(). The builder's format and escaping, the histogram,
// the close-code labels, the stamp on payloads, the writers' hand-off
// counting, and a live hub that has seen traffic, checked with the real
// `promtool check metrics` and against what the test did.
//
// promtool comes from Debian's `prometheus` package. Where it is absent the
// promtool test skips, saying so, except in CI (CI=true), where it fails:
// .ci/run installs it.

import assert from "node:assert/strict";
import { Hub, ReplyError } from "../mod.ts";
import { connect, RequestError } from "../src/client/mod.ts";
import { encodePayload, framedOnly, Payload, roomPayload } from "../src/protocol/mod.ts";
import {
  BACKPLANE_METRICS,
  closeCodeLabel,
  DELIVERY_WAIT_BUCKETS,
  DELIVERY_WAIT_METRIC,
  HUB_METRICS,
} from "../src/server/metrics.ts";
import { HandOffs } from "../src/server/hand_offs.ts";
import {
  escapeLabelValue,
  Histogram,
  METRICS_CONTENT_TYPE,
  MetricsWriter,
} from "../src/server/prometheus.ts";
import { type SendSocket, Writer, type WriterOptions } from "../src/server/writer.ts";
import { delay, TestClient, until, within } from "./_helpers.ts";
import { promtoolCheck, promtoolTest } from "./_promtool.ts";

// --- The exposition builder ---------------------------------------------------

Deno.test("MetricsWriter: HELP and TYPE once per family, then its samples", () => {
  const out = new MetricsWriter();
  out.counter("app_jobs_total", "Jobs run.", 3);
  out.gauge("app_queue", "Jobs waiting, by queue.", [[{ queue: "a" }, 1], [{ queue: "b" }, 2.5]]);
  out.gauge("app_odd", "Odd values.", [[{ v: "nan" }, NaN], [{ v: "inf" }, Infinity], [
    { v: "-inf" },
    -Infinity,
  ]]);
  assert.equal(
    out.text(),
    [
      "# HELP app_jobs_total Jobs run.",
      "# TYPE app_jobs_total counter",
      "app_jobs_total 3",
      "# HELP app_queue Jobs waiting, by queue.",
      "# TYPE app_queue gauge",
      'app_queue{queue="a"} 1',
      'app_queue{queue="b"} 2.5',
      "# HELP app_odd Odd values.",
      "# TYPE app_odd gauge",
      'app_odd{v="nan"} NaN',
      'app_odd{v="inf"} +Inf',
      'app_odd{v="-inf"} -Inf',
      "",
    ].join("\n"),
  );
  assert.equal(new MetricsWriter().text(), "", "nothing written: empty, not a lone newline");
});

Deno.test("MetricsWriter: label values and help texts are escaped", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const out = new MetricsWriter();
  out.gauge("x", 'help with \\ and\na newline and "quotes"', [[{ room: 'x"y\\z\n' }, 1]]);
  assert.deepEqual(out.text().split("\n"), [
    '# HELP x help with \\\\ and\\na newline and "quotes"',
    "# TYPE x gauge",
    'x{room="x\\"y\\\\z\\n"} 1',
    "",
  ]);
});

Deno.test("MetricsWriter: invalid names, a counter without _total, and a family twice throw", () => {
  const out = new MetricsWriter();
  assert.throws(() => out.gauge("1x", "h", 1), RangeError);
  assert.throws(() => out.gauge("a-b", "h", 1), RangeError);
  assert.throws(() => out.counter("app_jobs", "h", 1), /_total/);
  assert.throws(() => out.gauge("g", "h", [[{ "bad-label": "x" }, 1]]), /label name/);
  assert.throws(() => out.gauge("g2", "h", [[{ __reserved: "x" }, 1]]), /label name/);
  out.gauge("twice", "h", 1);
  assert.throws(() => out.gauge("twice", "h", 1), /written already/);
  assert.throws(() => new Histogram([1, 1]), RangeError);
  assert.throws(() => new Histogram([2, 1]), RangeError);
});

Deno.test("Histogram.observeNear puts each value in the bucket observe would, from any starting bucket", () => {
  const bounds = [0.001, 0.01, 0.1, 1];
  const values = [0, 0.5, 1, 1.5, 10, 10.0001, 99, 100, 100.5, 999, 1000, 1000.1, 5000];
  const plain = new Histogram(bounds, 1000);
  for (const ms of values) plain.observe(ms);
  for (let start = 0; start <= bounds.length; start++) {
    const near = new Histogram(bounds, 1000);
    // In order, in reverse, and shuffled, each time carrying the returned bucket along.
    let bucket = start;
    for (const ms of [...values, ...values.toReversed(), ...values.filter((_, i) => i % 2 === 0)]) {
      bucket = near.observeNear(ms, bucket);
    }
    const expected = new Histogram(bounds, 1000);
    for (const ms of [...values, ...values, ...values.filter((_, i) => i % 2 === 0)]) {
      expected.observe(ms);
    }
    assert.deepEqual([...near.counts], [...expected.counts], `from bucket ${start}`);
    assert.ok(Math.abs(near.sum - expected.sum) < 1e-9);
  }
  assert.deepEqual([...plain.counts], [3, 2, 3, 3, 2]);
});

Deno.test("Histogram: bucket placement (bounds inclusive), cumulative buckets, sum and count", () => {
  const h = new Histogram([0.001, 0.01, 0.1], 1000); // seconds, observed in ms
  for (const ms of [0, 1, 1.5, 10, 99, 100, 100.5, 5000]) h.observe(ms);
  assert.deepEqual([...h.counts], [2, 2, 2, 2]);
  assert.equal(h.count, 8);
  assert.ok(Math.abs(h.sum - 5.312) < 1e-9, String(h.sum));
  const text = new MetricsWriter().histogram("w_seconds", "Waits.", h).text();
  assert.deepEqual(text.split("\n").slice(2), [
    'w_seconds_bucket{le="0.001"} 2',
    'w_seconds_bucket{le="0.01"} 4',
    'w_seconds_bucket{le="0.1"} 6',
    'w_seconds_bucket{le="+Inf"} 8',
    "w_seconds_sum 5.312",
    "w_seconds_count 8",
    "",
  ]);
  assert.equal(DELIVERY_WAIT_BUCKETS[0], 0.0001);
  assert.equal(DELIVERY_WAIT_BUCKETS.at(-1), 10);
});

Deno.test("closeCodeLabel: bounded values", () => {
  const cases: [number, string][] = [
    [1000, "1000"],
    [1001, "1001"],
    [1006, "1006"],
    [1013, "1013"],
    [1015, "1015"],
    [4000, "4000"],
    [4001, "4001"],
    [4002, "4002"],
    [3000, "app"],
    [4401, "app"],
    [4999, "app"],
    [1016, "other"],
    [2999, "other"],
    [5000, "other"],
    [0, "other"],
    [1000.5, "other"],
  ];
  for (const [code, label] of cases) assert.equal(closeCodeLabel(code), label, String(code));
});

// --- Stamps and hand-offs -------------------------------------------------------

Deno.test("payloads: the API's encoding stamps the time once, a room's form keeps it, the hub's own frames have none", () => {
  const before = performance.now();
  const payload = encodePayload({ a: 1 });
  const after = performance.now();
  assert.ok(payload.queuedAt >= before && payload.queuedAt <= after);
  assert.equal(roomPayload("lobby", payload).queuedAt, payload.queuedAt);
  assert.equal(roomPayload("lobby", encodePayload(new Uint8Array([1]))).queuedAt > 0, true);
  assert.equal(framedOnly("J{}").queuedAt, -1);
});

/** A payload queued `ago` ms ago. */
function queuedAgo(text: string, ago: number): Payload {
  return new Payload(text, { queuedAt: performance.now() - ago });
}

Deno.test("HandOffs: each stamped payload observed once, in its bucket; unstamped ones not at all", () => {
  const handOffs = new HandOffs();
  handOffs.handed(queuedAgo("a", 30)); // 30 ms: the 0.05 s bucket
  handOffs.handed(framedOnly("J{}"));
  handOffs.handedRun([queuedAgo("b", 0), framedOnly("x"), queuedAgo("c", 0)], 0, 3);
  const { counts, count, bounds } = handOffs.waits;
  assert.equal(count, 3);
  const bucket = (seconds: number) => bounds.indexOf(seconds);
  assert.equal(counts[bucket(0.05)], 1, `${[...counts]}`);
  assert.ok(handOffs.waits.sum >= 0.03 && handOffs.waits.sum < 0.2, String(handOffs.waits.sum));
});

Deno.test("HandOffs: a reading of the clock is not reused after the synchronous run that took it", async () => {
  const handOffs = new HandOffs();
  const stamped = encodePayload("x"); // queuedAt: now
  handOffs.handed(stamped); // reads the clock: about 0 ms
  await delay(30);
  handOffs.handed(stamped); // a fresh reading: about 30 ms, not 0
  const { counts, bounds } = handOffs.waits;
  const fresh = counts.slice(bounds.indexOf(0.025) + 1).reduce((a, b) => a + b, 0);
  assert.equal(fresh, 1, `the second wait is at least 25 ms: ${[...counts]}`);
});

Deno.test("HandOffs: a run or a payload handed again to other sockets is observed again, once per socket", async () => {
  await delay(Math.max(0, 800 - performance.now())); // stamps 700 ms back are not negative
  const base = performance.now();
  const stamped = (text: string, ago: number) => new Payload(text, { queuedAt: base - ago });
  // Waits far from their buckets' bounds: the test's own milliseconds move none across one.
  const run = [stamped("a", 35), framedOnly("x"), stamped("b", 700), stamped("c", 170)];
  const single = stamped("d", 370);
  // Each hand-off observed on its own: new arrays and payloads, nothing to reuse.
  const expected = new HandOffs();
  for (let i = 0; i < 20; i++) expected.handedRun([...run], 1, 4);
  for (let i = 0; i < 20; i++) expected.handed(stamped("d", 370));
  // The same run and the same payload handed to 20 sockets each.
  const handOffs = new HandOffs();
  for (let i = 0; i < 20; i++) handOffs.handedRun(run, 1, 4);
  for (let i = 0; i < 20; i++) handOffs.handed(single);
  await delay(0); // readings of the clock are forgotten after the synchronous run
  handOffs.handedRun(run, 0, 4); // another range of the same array: observed afresh
  expected.handedRun([...run], 0, 4);
  assert.deepEqual([...handOffs.waits.counts], [...expected.waits.counts]);
  assert.equal(handOffs.waits.count, 20 * 2 + 20 + 3);
  assert.ok(
    Math.abs(handOffs.waits.sum - expected.waits.sum) < 0.05,
    `${handOffs.waits.sum} vs ${expected.waits.sum}`,
  );
});

/** A socket that takes everything, or fails once `fail` is set. */
class FakeSocket implements SendSocket {
  bufferedAmount = 0;
  sent: (string | Uint8Array)[] = [];
  fail = false;
  send(data: string | Uint8Array): void {
    if (this.fail) throw new DOMException("closed", "InvalidStateError");
    this.sent.push(data);
  }
}

const writerOptions = (framed: boolean, coalesce = true): WriterOptions => ({
  framed,
  coalesce,
  sendQueueLimit: 100,
  overflow: "close",
  maxBufferedBytes: 1 << 20,
});

Deno.test("Writer: bytes out and one observation per recipient, direct, coalesced, and not when the socket refused", () => {
  const handOffs = new HandOffs();
  // A plain client: each payload handed at once.
  const plainSocket = new FakeSocket();
  const plain = new Writer(plainSocket, writerOptions(false), handOffs);
  plain.push(encodePayload("héllo"), 0); // 6 bytes
  plain.push(framedOnly("J{}"), 0); // not for plain clients: neither sent nor counted
  assert.equal(handOffs.bytes, 6);
  assert.equal(handOffs.waits.count, 1);
  // A framed client with coalescing: three texts in one b frame at the flush.
  const framedSocket = new FakeSocket();
  const framed = new Writer(framedSocket, writerOptions(true), handOffs);
  assert.equal(framed.sendControl("h{}"), true); // a control frame: bytes, no observation
  assert.equal(handOffs.bytes, 9);
  for (const text of ["a", "bb", "ccc"]) framed.push(encodePayload(text), 0);
  framed.push(framedOnly("J{}"), 0); // the hub's own frame: in the batch too, not observed
  assert.equal(handOffs.waits.count, 1, "nothing handed before the flush");
  assert.equal(framed.flush(0), true);
  assert.equal(framedSocket.sent.length, 2, "hello, then one batch of four");
  const batchBytes = framedSocket.sent[1].length; // ASCII
  assert.equal(handOffs.bytes, 9 + batchBytes);
  assert.equal(handOffs.waits.count, 4, "each payload of the batch observed");
  // Not coalescing: each framed payload on its own.
  const single = new Writer(new FakeSocket(), writerOptions(true, false), handOffs);
  single.push(encodePayload("z"), 0); // "mz": 2 bytes
  assert.equal(handOffs.waits.count, 5);
  assert.equal(handOffs.bytes, 9 + batchBytes + 2);
  // A socket that refuses: nothing counted.
  const brokenSocket = new FakeSocket();
  brokenSocket.fail = true;
  const broken = new Writer(brokenSocket, writerOptions(false), handOffs);
  broken.push(encodePayload("lost"), 0);
  assert.equal(handOffs.waits.count, 5);
  assert.equal(handOffs.bytes, 9 + batchBytes + 2);
  // A writer without HandOffs (unit tests elsewhere) still works.
  new Writer(new FakeSocket(), writerOptions(false)).push(encodePayload("x"), 0);
});

// --- A live hub, checked by promtool -----------------------------------------------

/** The samples of an exposition by their line's name and labels, as written. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    map.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return map;
}

promtoolTest(
  "a live hub's /metrics passes promtool check metrics and reflects the traffic",
  async () => {
    const pingInterval = 250, pongTimeout = 250;
    const hub = new Hub<string, string>({
      identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
      pingInterval,
      pongTimeout,
      onConnect(client, hub) {
        if (client.user !== undefined) hub.join(client, "lobby");
      },
      onRequest(request) {
        if (request === "fail") throw new ReplyError("no", "bad_op");
        return `re:${request}`;
      },
    });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      if (new URL(req.url).pathname === "/metrics") return hub.metricsResponse();
      return hub.upgrade(req);
    });
    const base = `127.0.0.1:${server.addr.port}`;
    const url = (user: string) => `ws://${base}/ws?u=${user}`;
    const a = await TestClient.open(url("a")); // plain
    const b = await TestClient.open(url("b")); // plain
    const c = connect<string>(url("c")); // framed (wshub.v2: the default decode gives strings back)
    const d = connect<string>(url("d")); // framed
    const got = { c: [] as string[], d: [] as string[] };
    c.on("message", (text) => got.c.push(text));
    d.on("message", (text) => got.d.push(text));
    try {
      await until(() => hub.size === 4 && hub.clientsIn("lobby").length === 4, 3000, "4 in lobby");
      // Registered on the hub is not open on the client yet: it opens on the hello.
      await until(() => c.state === "open" && d.state === "open", 3000, "the framed clients open");

      // Ten application messages to hand to sockets: 4 + 1 + 4 + 1.
      assert.equal(await hub.broadcast("b1"), 4);
      assert.equal(await hub.sendToUser("a", "u1"), 1);
      assert.equal(await hub.publish("lobby", "p1"), 4);
      assert.equal(hub.clientsOf("c")[0].send("s1"), true);
      a.socket.send("hello hub"); // one message in
      assert.equal(await c.request("x"), "re:x"); // answered
      await assert.rejects(c.request("fail"), RequestError); // failed
      await a.received(3);
      await b.received(2);
      await until(
        () => got.c.length === 3 && got.d.length === 2,
        3000,
        "the framed clients' messages",
      );
      await until(() => hub.stats().messagesIn === 1, 2000, "the message in");

      // A framed client that never answers a ping: cut by the heartbeat (4000).
      const silent = await TestClient.open(url("s"), "wshub.v1");
      await until(() => hub.stats().timeouts.heartbeat === 1, 3000, "the heartbeat timeout");
      await within(silent.closed, 2000, "the silent client's close");
      // Closes by code: 1000 from a plain client, an application code from the hub.
      await b.close(1000);
      hub.clientsOf("d")[0].close(4401, "bye");
      await until(() => hub.size === 2, 3000, "two closes");

      // Pings and pongs go on (every 250 ms): the bytes sent can only grow while this reads.
      const bytesBefore = hub.stats().bytesOut;
      const response = await fetch(`http://${base}/metrics`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), METRICS_CONTENT_TYPE);
      const text = await response.text();

      const check = await promtoolCheck(text);
      console.log(
        `promtool check metrics: exit ${check.code}${
          check.output ? `: ${check.output}` : ", no problem"
        }`,
      );
      assert.equal(check.code, 0, `promtool check metrics failed:\n${check.output}\n\n${text}`);
      assert.equal(check.output, "", "no lint problem");

      const m = samples(text);
      const stats = hub.stats();
      const expect = (key: string, value: number) => assert.equal(m.get(key), value, key);
      expect('wshub_connections{kind="plain"}', 1);
      expect('wshub_connections{kind="framed"}', 1);
      expect("wshub_users", 2);
      expect("wshub_rooms", 1);
      expect("wshub_connections_accepted_total", 5);
      expect('wshub_disconnections_total{code="1000"}', 1);
      expect('wshub_disconnections_total{code="4000"}', 1);
      expect('wshub_disconnections_total{code="app"}', 1);
      expect("wshub_messages_received_total", 1);
      expect("wshub_deliveries_total", stats.deliveries);
      assert.ok(stats.deliveries >= 10 + 2, "the ten messages and two answers at least");
      const sent = m.get("wshub_sent_bytes_total")!;
      assert.ok(
        bytesBefore <= sent && sent <= stats.bytesOut,
        `wshub_sent_bytes_total ${sent} between ${bytesBefore} and ${stats.bytesOut}`,
      );
      assert.ok(stats.bytesOut > 10 * 2, "at least the messages' bytes");
      // Exactly the ten application messages, each handed to its socket once.
      expect("wshub_delivery_wait_seconds_count", 10);
      expect('wshub_delivery_wait_seconds_bucket{le="+Inf"}', 10);
      expect('wshub_delivery_wait_seconds_bucket{le="10"}', 10);
      assert.ok(m.get("wshub_delivery_wait_seconds_sum")! < 10 * 1, "waits well under a second");
      expect('wshub_timeouts_total{kind="heartbeat"}', 1);
      expect('wshub_timeouts_total{kind="write"}', 0);
      expect('wshub_timeouts_total{kind="idle"}', 0);
      expect("wshub_inbound_requests_total", 2);
      expect('wshub_inbound_requests_ended_total{outcome="answered"}', 1);
      expect('wshub_inbound_requests_ended_total{outcome="failed"}', 1);
      expect("wshub_inbound_requests_in_flight", 0);
      expect("wshub_sockets", stats.sockets);
      expect("wshub_refused_for_capacity_total", 0);
      const families = (exposition: string) =>
        exposition.split("\n").filter((l) => l.startsWith("# "));
      assert.deepEqual(families(text), families(hub.metrics()), "metricsResponse() is metrics()");
    } finally {
      await c.close();
      await d.close();
      await a.close();
      await hub.close();
      await server.shutdown();
    }
  },
);

Deno.test("the metrics table of docs/metrics.md lists every family of the catalogue, once", async () => {
  const readme = await Deno.readTextFile(new URL("../docs/metrics.md", import.meta.url));
  const documented = [...readme.matchAll(/^\| `(wshub_[a-z_]+)(?:\{[a-z]+\})?` +\|/gm)]
    .map((match) => match[1]);
  assert.equal(new Set(documented).size, documented.length, "no family listed twice");
  const catalogue = [
    ...HUB_METRICS.map((metric) => metric.name),
    DELIVERY_WAIT_METRIC.name,
    ...BACKPLANE_METRICS.map((metric) => metric.name),
  ];
  assert.deepEqual([...documented].sort(), [...catalogue].sort());
});
