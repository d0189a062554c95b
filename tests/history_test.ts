// History and recovery in one process (src/server/history.ts, rooms.ts, the
// client's rooms.ts): positions, hub.history, rejoin after a cut with
// exactly what was missed, the verdicts when it cannot be (epoch changed,
// trimmed, too many, no history), and a stress of 200 disconnects under
// traffic with no gap and no duplicate.

import assert from "node:assert/strict";
import type { Backplane, BackplaneHost } from "../src/backplane/mod.ts";
import { MemoryHistory, recoveryVerdict } from "../src/server/history.ts";
import { cutStorm, inProcess } from "./_cut_storm.ts";
import { delay, follower, serveHub, TestClient, unbatch, until } from "./_helpers.ts";

Deno.test("MemoryHistory: offsets, size, ttl, since and limit, and a new epoch per stream", () => {
  let now = 0;
  const history = new MemoryHistory(() => now);
  const options = { size: 3, ttl: 1000, positionTtl: 1000 };
  const a1 = history.append("a", "one", options);
  assert.equal(a1.offset, 1);
  for (const data of ["two", "three", "four"]) history.append("a", data, options);
  let page = history.read("a", {});
  assert.equal(page.offset, 4);
  assert.deepEqual(page.publications.map((p) => [p.offset, p.data]), [[2, "two"], [3, "three"], [
    4,
    "four",
  ]]);
  page = history.read("a", { since: { offset: 2, epoch: a1.epoch } });
  assert.deepEqual(page.publications.map((p) => p.offset), [3, 4]);
  assert.deepEqual(history.read("a", { since: { offset: 2, epoch: "other" } }).publications, []);
  assert.deepEqual(
    history.read("a", { limit: 1 }).publications.map((p) => p.offset),
    [4],
    "the newest",
  );
  assert.deepEqual(
    history.read("a", { since: { offset: 1, epoch: a1.epoch }, limit: 1 }).publications.map((p) =>
      p.offset
    ),
    [2],
    "with since: the oldest after it",
  );
  now = 999;
  history.append("a", "five", options);
  now = 1500; // two..four expired, five is alive
  assert.deepEqual(history.read("a", {}).publications.map((p) => p.offset), [5]);
  now = 2000; // everything expired: the stream is gone, the next one has a new epoch
  assert.deepEqual(history.read("a", {}), { epoch: "", offset: 0, publications: [] });
  const b1 = history.append("a", "again", options);
  assert.equal(b1.offset, 1);
  assert.notEqual(b1.epoch, a1.epoch);
  now = 5000;
  history.prune();
  assert.equal(history.size, 0, "expired streams leave nothing behind");

  // By default the position outlives the publications: a client that missed nothing still recovers.
  const kept = new MemoryHistory(() => now);
  const last = kept.append("q", "only", { size: 3, ttl: 1000 });
  now += 60 * 60_000;
  kept.prune();
  const quiet = kept.read("q", { since: last });
  assert.deepEqual(quiet, { epoch: last.epoch, offset: 1, publications: [] });
  assert.deepEqual(recoveryVerdict(last, quiet, 10), { recovered: true });
  assert.deepEqual(recoveryVerdict({ offset: 0, epoch: last.epoch }, quiet, 10), {
    recovered: false,
    reason: "trimmed",
  });
  assert.equal(
    kept.append("q", "next", { size: 3, ttl: 1000 }).epoch,
    last.epoch,
    "the same stream",
  );
  now += 25 * 60 * 60_000;
  kept.prune();
  assert.equal(kept.size, 0, "a day later the position is forgotten too");
});

Deno.test("MemoryHistory agrees with a plain model: 5,000 random appends, reads and clock moves", () => {
  let now = 0;
  const history = new MemoryHistory(() => now);
  const options = { size: 50, ttl: 1000, positionTtl: 100_000 };
  // The model: every publication ever made, filtered on each read.
  const all: { offset: number; data: string; expires: number }[] = [];
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let epoch = "";
  for (let step = 0; step < 5000; step++) {
    const roll = random();
    if (roll < 0.5) {
      const data = `m${step}`;
      const at = history.append("r", data, options);
      epoch = at.epoch;
      all.push({ offset: at.offset, data, expires: now + options.ttl });
      assert.equal(at.offset, all.length);
    } else if (roll < 0.6) {
      now += Math.floor(random() * 300);
    } else {
      const kept = all.slice(-options.size).filter((e) => e.expires > now);
      const limit = random() < 0.3 ? undefined : Math.floor(random() * 60);
      const since = random() < 0.5 ? undefined : Math.floor(random() * (all.length + 1));
      let expected = since === undefined ? kept : kept.filter((e) => e.offset > since);
      if (limit !== undefined) {
        expected = since === undefined
          ? expected.slice(Math.max(0, expected.length - limit))
          : expected.slice(0, limit);
      }
      const page = history.read(
        "r",
        since === undefined ? { limit } : {
          limit,
          since: { offset: since, epoch },
        },
      );
      assert.deepEqual(
        page.publications,
        expected.map(({ offset, data }) => ({ offset, data })),
        `step ${step}: since ${since}, limit ${limit}`,
      );
    }
  }
});

Deno.test("recoveryVerdict says why a recovery is incomplete", () => {
  const page = (epoch: string, offset: number, from: number) => ({
    epoch,
    offset,
    publications: Array.from(
      { length: offset - from + 1 },
      (_, i) => ({ offset: from + i, data: "x" }),
    ),
  });
  assert.deepEqual(recoveryVerdict({ offset: 5, epoch: "e" }, page("e", 8, 6), 100), {
    recovered: true,
  });
  assert.deepEqual(recoveryVerdict({ offset: 8, epoch: "e" }, page("e", 8, 9), 100), {
    recovered: true,
  });
  assert.deepEqual(recoveryVerdict({ offset: 5, epoch: "e" }, page("f", 8, 6), 100), {
    recovered: false,
    reason: "epoch_changed",
  });
  assert.deepEqual(recoveryVerdict({ offset: 2, epoch: "e" }, page("e", 8, 6), 100), {
    recovered: false,
    reason: "trimmed",
  });
  assert.deepEqual(recoveryVerdict({ offset: 2, epoch: "e" }, page("e", 8, 3), 5), {
    recovered: false,
    reason: "too_many",
  });
  assert.deepEqual(
    recoveryVerdict({ offset: 2, epoch: "e" }, { epoch: "", offset: 0, publications: [] }, 5),
    {
      recovered: false,
      reason: "expired",
    },
  );
  // Joined before the stream existed (epoch ""): recovers from offset 1 if it is still kept.
  const none = { epoch: "", offset: 0, publications: [] };
  assert.deepEqual(recoveryVerdict({ offset: 0, epoch: "" }, none, 5), { recovered: true });
  assert.deepEqual(recoveryVerdict({ offset: 0, epoch: "" }, page("e", 3, 1), 5), {
    recovered: true,
  });
  assert.deepEqual(recoveryVerdict({ offset: 0, epoch: "" }, page("e", 4, 2), 5), {
    recovered: false,
    reason: "trimmed",
  });
  const history = new MemoryHistory();
  history.append("r", "x", { size: 5, ttl: 60_000 });
  assert.deepEqual(history.read("r", { since: { offset: 0, epoch: "" } }).publications, [{
    offset: 1,
    data: "x",
  }]);
});

Deno.test("publications get positions; hub.history returns them; plain members get the payload only", async () => {
  const served = serveHub<string>({ history: { size: 10, ttl: 60_000 } });
  const f = follower(served.url);
  const joined = await f.client.join("news");
  assert.equal(joined.offset, 0, "an empty stream");
  const plain = await TestClient.open(served.url);
  await until(() => served.hub.size === 2, 2000, "registrations");
  await served.hub.join(served.hub.clients()[1], "news");
  for (let i = 1; i <= 3; i++) await served.hub.publish("news", `n${i}`);
  await until(() => f.seen.length === 3, 2000, "three publications");
  assert.deepEqual(f.seen, [{ text: "n1", offset: 1 }, { text: "n2", offset: 2 }, {
    text: "n3",
    offset: 3,
  }]);
  assert.deepEqual(await plain.received(3), ["n1", "n2", "n3"], "plain: the payloads as they are");
  const page = await served.hub.history("news");
  assert.equal(page.offset, 3);
  assert.deepEqual(page.publications, [{ offset: 1, data: "n1" }, { offset: 2, data: "n2" }, {
    offset: 3,
    data: "n3",
  }]);
  assert.deepEqual(
    (await served.hub.history("news", { since: { offset: 2, epoch: page.epoch } })).publications,
    [
      { offset: 3, data: "n3" },
    ],
  );
  assert.deepEqual(await served.hub.history("no-history-yet"), {
    epoch: "",
    offset: 0,
    publications: [],
  });
  await f.client.close();
  await served.close();
  await plain.closed;
});

Deno.test("publishWithPosition: the count and the position in a room with history; none without", async () => {
  const served = serveHub<string>({
    history: (room) => room === "news" ? { size: 10, ttl: 60_000 } : undefined,
  });
  const f = follower(served.url);
  try {
    await f.client.join("news");
    await f.client.join("chat");
    assert.equal(served.hub.backplaneStatus, "none");
    const first = await served.hub.publishWithPosition("news", "one");
    const second = await served.hub.publishWithPosition("news", "two");
    assert.equal(first.count, 1);
    assert.deepEqual(second, { count: 1, position: { offset: 2, epoch: first.position!.epoch } });
    assert.deepEqual(await served.hub.publishWithPosition("chat", "hi"), { count: 1 });
    assert.deepEqual(await served.hub.publishWithPosition("empty", "x"), { count: 0 });
    await until(() => f.seen.length === 3, 2000, "three publications");
    assert.deepEqual(f.seen.map((s) => s.offset), [1, 2, undefined]);
    assert.throws(() => served.hub.publishWithPosition("bad room", "x"), /Invalid room name/);
  } finally {
    await f.client.close();
    await served.close();
  }
  assert.deepEqual(await served.hub.publishWithPosition("news", "late"), { count: 0 }, "closed");
});

Deno.test("a client cut off rejoins and gets exactly what it missed, in order, before newer messages", async () => {
  const served = serveHub<string>({ history: { size: 100, ttl: 60_000 } });
  const f = follower(served.url);
  await f.client.join("news");
  await served.hub.publish("news", "before");
  await until(() => f.seen.length === 1, 2000, "the first");
  // Cut it off; publish while it is away; it reconnects by itself (backoff ≤ 20 ms).
  served.hub.clients()[0].close(4000, "cut");
  for (let i = 0; i < 5; i++) await served.hub.publish("news", `missed ${i}`);
  await until(() => f.recoveries.length === 1, 5000, "the rejoin's verdict");
  assert.deepEqual(f.recoveries[0], { room: "news", recovered: true });
  await served.hub.publish("news", "after");
  await until(() => f.seen.length === 7, 2000, "everything");
  assert.deepEqual(f.seen.map((s) => s.text), [
    "before",
    "missed 0",
    "missed 1",
    "missed 2",
    "missed 3",
    "missed 4",
    "after",
  ]);
  assert.deepEqual(f.seen.map((s) => s.offset), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(served.hub.stats().recoveries.recovered, 1);
  assert.match(served.hub.metrics(), /^wshub_recoveries_total\{outcome="recovered"\} 1$/m);
  await f.client.close();
  await served.close();
});

Deno.test("a framed member left out with except counts the offset: no gap, no repair", async () => {
  const served = serveHub<string>({ history: { size: 100, ttl: 60_000 } });
  const sender = follower(served.url);
  const other = follower(served.url);
  await sender.client.join("chat");
  await other.client.join("chat");
  await until(() => sender.client.hello !== undefined, 2000, "the hello");
  const senderOnHub = served.hub.clients().find((c) => c.id === sender.client.hello!.id);
  await served.hub.publish("chat", "one");
  assert.equal(await served.hub.publish("chat", "mine", { except: senderOnHub }), 1);
  await served.hub.publish("chat", "three");
  await until(() => sender.seen.length === 2 && other.seen.length === 3, 2000, "deliveries");
  assert.deepEqual(sender.seen, [{ text: "one", offset: 1 }, { text: "three", offset: 3 }]);
  assert.deepEqual(other.seen.map((s) => s.offset), [1, 2, 3]);
  assert.deepEqual(sender.recoveries, [], "no repair was asked for");
  await sender.client.close();
  await other.client.close();
  await served.close();
});

Deno.test("a client that joined before anything was published recovers the stream's first publications", async () => {
  const served = serveHub<string>({ history: { size: 100, ttl: 60_000 } });
  const f = follower(served.url);
  const joined = await f.client.join("fresh");
  assert.deepEqual([joined.epoch, joined.offset], ["", 0], "no stream yet");
  served.hub.clients()[0].close(4000, "cut");
  for (let i = 0; i < 3; i++) await served.hub.publish("fresh", `first ${i}`);
  await until(() => f.recoveries.length === 1, 5000, "the rejoin's verdict");
  assert.deepEqual(f.recoveries[0], { room: "fresh", recovered: true });
  await until(() => f.seen.length === 3, 2000, "what was missed");
  assert.deepEqual(f.seen.map((s) => [s.text, s.offset]), [["first 0", 1], ["first 1", 2], [
    "first 2",
    3,
  ]]);
  await f.client.close();
  await served.close();
});

Deno.test("recovered: false, with the reason: the hub restarted (epoch), trimmed, too many, no history", async () => {
  const keep3 = (room: string) => room === "news" ? { size: 3, ttl: 60_000 } : undefined;
  let served = serveHub<string>({ history: keep3, maxRecover: 5 });
  const port = served.port;
  const f = follower(served.url);
  await f.client.join("news");
  const plainRoom = await f.client.join("no-history");
  assert.equal(plainRoom.epoch, undefined, "a room without history has no position");
  await served.hub.publish("news", "one");
  await until(() => f.seen.length === 1, 2000, "one");

  // Trimmed: more published while away than the room keeps (size 3).
  served.hub.clients()[0].close(4000, "cut");
  for (let i = 0; i < 4; i++) await served.hub.publish("news", `lost ${i}`);
  await until(() => f.recoveries.length >= 1, 5000, "the verdict");
  await until(() => f.recoveries.length >= 2, 5000, "both verdicts");
  const byRoom = (room: string) => f.recoveries.filter((r) => r.room === room).at(-1);
  assert.deepEqual(byRoom("news"), { room: "news", recovered: false, reason: "trimmed" });
  assert.deepEqual(byRoom("no-history"), {
    room: "no-history",
    recovered: false,
    reason: "no_history",
  });
  const { recoveries } = served.hub.stats();
  assert.deepEqual([recoveries.trimmed, recoveries.no_history, recoveries.recovered], [1, 0, 0]);
  f.recoveries.length = 0;

  // The memory hub restarts: a new epoch, nothing can be recovered.
  await served.close();
  served = serveHub<string>({ history: keep3, maxRecover: 5 }, port);
  await until(() => byRoom("news") !== undefined, 10_000, "the verdict after the restart");
  assert.deepEqual(
    byRoom("news"),
    { room: "news", recovered: false, reason: "expired" },
    "no stream yet",
  );
  await served.close();

  // Too many: more missed than maxRecover, within what the room keeps.
  const keep100 = (room: string) => room === "news" ? { size: 100, ttl: 60_000 } : undefined;
  served = serveHub<string>({ history: keep100, maxRecover: 5 }, port);
  await until(() => f.client.state === "open" && served.hub.size === 1, 10_000, "reconnected");
  await served.hub.publish("news", "fresh");
  await until(() => f.seen.at(-1)?.text === "fresh", 2000, "fresh");
  served.hub.clients()[0].close(4000, "cut");
  for (let i = 0; i < 8; i++) await served.hub.publish("news", `many ${i}`);
  await until(() => byRoom("news")?.reason === "too_many", 5000, "too_many");
  assert.deepEqual(
    f.seen.map((s) => s.text),
    ["one", "fresh"],
    "nothing partial after a failed recovery",
  );
  await f.client.close();
  await served.close();
});

Deno.test("stress: 200 disconnects while ~2,000 publications a second go to the room: each once, in order", async () => {
  const served = serveHub<string>({ history: { size: 5000, ttl: 60_000 }, rateLimit: false });
  await cutStorm(inProcess(served, 200, 5));
  await served.close();
});

/**
 * A scripted server (not a hub): it sends what the test says, frame by
 * frame, and records what the client sends, so that the client's handling
 * of gaps, duplicates and new epochs is tested against exact frames.
 */
function scriptedServer() {
  const received: string[] = [];
  let socket: WebSocket | undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    // wshub.v2, as the reference client prefers it: texts are JSON (a string as a JSON string).
    const upgraded = Deno.upgradeWebSocket(req, { protocol: "wshub.v2" });
    socket = upgraded.socket;
    socket.onopen = () =>
      socket!.send('h{"v":2,"id":"c1","user":null,"pingInterval":25000,"pongTimeout":10000}');
    socket.onmessage = (event) => {
      const frame = String(event.data);
      if (frame[0] !== "p") received.push(frame); // the client's pings are not this test's
    };
    return upgraded.response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}/ws`,
    received,
    send: (frame: string) => socket!.send(frame),
    close: () => server.shutdown(),
  };
}

Deno.test("the client holds a publication back behind a gap, asks from its position, and drops duplicates", async () => {
  const server = scriptedServer();
  const f = follower(server.url);
  const joining = f.client.join("g");
  await until(() => server.received.length === 1, 2000, "the join");
  assert.equal(server.received[0], 'j{"id":1,"room":"g","presence":"diffs"}');
  server.send('J{"id":1,"room":"g","epoch":"e1","offset":0}');
  assert.deepEqual(await joining, { room: "g", epoch: "e1", offset: 0 });
  server.send('r1:g1:"a"');
  server.send('r1:g3:"c"'); // 2 is missing
  await until(() => server.received.length === 2, 2000, "the repair join");
  assert.equal(server.received[1], 'j{"id":2,"room":"g","since":{"offset":1,"epoch":"e1"}}');
  assert.deepEqual(f.seen.map((s) => s.text), ["a"], "c waits for b");
  server.send('J{"id":2,"room":"g","epoch":"e1","offset":3,"recovered":true}');
  server.send('r1:g2:"b"');
  server.send('r1:g3:"c"'); // the live copy of c, after the repair: a duplicate
  server.send('r1:g4:"d"');
  await until(() => f.seen.length === 4, 2000, "a to d");
  assert.deepEqual(f.seen, [
    { text: "a", offset: 1 },
    { text: "b", offset: 2 },
    { text: "c", offset: 3 },
    { text: "d", offset: 4 },
  ]);
  assert.deepEqual(f.recoveries, [{ room: "g", recovered: true }]);

  // A new epoch (the stream was lost): the client is told, and counts from the notice's offset.
  server.send('J{"room":"g","epoch":"e2","offset":0}');
  server.send('r1:g1:"fresh"');
  await until(() => f.seen.length === 5, 2000, "fresh");
  assert.deepEqual(f.seen.at(-1), { text: "fresh", offset: 1 });
  assert.deepEqual(f.recoveries.at(-1), { room: "g", recovered: false, reason: "epoch_changed" });

  // A repair that cannot be made: what was held goes out, in order, and the client is told.
  server.send('r1:g4:"x4"');
  server.send('r1:g3:"x3"');
  await until(() => server.received.length === 3, 2000, "the second repair join");
  assert.equal(server.received[2], 'j{"id":3,"room":"g","since":{"offset":1,"epoch":"e2"}}');
  server.send('J{"id":3,"room":"g","epoch":"e2","offset":4,"recovered":false,"reason":"trimmed"}');
  await until(() => f.seen.length === 7, 2000, "the held ones");
  assert.deepEqual(f.seen.slice(5).map((s) => s.text), ["x3", "x4"]);
  assert.deepEqual(f.recoveries.at(-1), { room: "g", recovered: false, reason: "trimmed" });
  server.send('r1:g5:"y"');
  await until(() => f.seen.length === 8, 2000, "the next one");
  await f.client.close();
  await server.close();
});

Deno.test("joining again on open while the client rejoins by itself: one rejoin, one verdict", async () => {
  const served = serveHub<string>({ history: { size: 100, ttl: 60_000 } });
  const f = follower(served.url);
  await f.client.join("news");
  const results: unknown[] = [];
  f.client.on("open", () => void f.client.join("news").then((result) => results.push(result)));
  await served.hub.publish("news", "before");
  await until(() => f.seen.length === 1, 2000, "the first");
  served.hub.clients()[0].close(4000, "cut");
  for (let i = 0; i < 3; i++) await served.hub.publish("news", `missed ${i}`);
  await until(() => results.length === 1, 5000, "the application's join");
  await served.hub.publish("news", "after");
  await until(() => f.seen.length === 5, 2000, "everything");
  assert.deepEqual(f.seen.map((s) => s.offset), [1, 2, 3, 4, 5]);
  assert.deepEqual(f.recoveries, [{ room: "news", recovered: true }], "one verdict");
  assert.equal(served.hub.stats().recoveries.recovered, 1, "one recovery on the server");
  assert.deepEqual(results[0], {
    room: "news",
    epoch: (await served.hub.history("news")).epoch,
    offset: 4,
    recovered: true,
  });
  await f.client.close();
  await served.close();
});

Deno.test("a rejoin whose history cannot be read: recovered false, unavailable; the position is kept", async () => {
  let host: BackplaneHost | undefined;
  const memory = new MemoryHistory();
  let failing = false;
  // A backplane whose store keeps streams here, and whose reads can be made to fail.
  const backplane: Backplane = {
    status: "up",
    history: {
      append(room, data, options) {
        const position = memory.append(room, data, options);
        queueMicrotask(() =>
          host!.deliver({ kind: "room", room, data, position, ref: options.ref })
        );
        return position;
      },
      read(room, options) {
        if (failing) return Promise.reject(new Error("the store is down"));
        return Promise.resolve(memory.read(room, options));
      },
    },
    start: (started) => void (host = started),
    publish() {},
    subscribe() {},
    unsubscribe() {},
    presenceChanged() {},
    presence: () => Promise.resolve([]),
    close: () => Promise.resolve(),
  };
  const served = serveHub<string>({ backplane, history: { size: 100, ttl: 60_000 } });
  const f = follower(served.url);
  await f.client.join("news");
  await served.hub.publish("news", "one");
  await until(() => f.seen.length === 1, 2000, "one");
  failing = true;
  served.hub.clients()[0].close(4000, "cut");
  await until(() => f.recoveries.length === 1, 5000, "the verdict");
  assert.deepEqual(f.recoveries[0], { room: "news", recovered: false, reason: "unavailable" });
  assert.equal(served.hub.stats().recoveries.unavailable, 1);
  // The store is back: the next cut recovers from the position the client kept.
  failing = false;
  await served.hub.publish("news", "two");
  await until(() => f.seen.length === 2, 2000, "two, live");
  served.hub.clients()[0].close(4000, "cut again");
  await served.hub.publish("news", "three");
  await until(() => f.recoveries.length === 2, 5000, "the second verdict");
  assert.deepEqual(f.recoveries[1], { room: "news", recovered: true });
  await until(() => f.seen.length === 3, 2000, "three, recovered");
  assert.deepEqual(f.seen.map((s) => [s.text, s.offset]), [["one", 1], ["two", 2], ["three", 3]]);
  await f.client.close();
  await served.close();
});

Deno.test("recovery budget: a client asking for the same publications in a loop is refused rate_limited; others are not", async () => {
  const served = serveHub<string>({
    history: { size: 100, ttl: 60_000 },
    maxRecover: 50,
    recoveryBudget: 100, // refilled at 10 a second
  });
  for (let i = 1; i <= 50; i++) await served.hub.publish("news", `n${i}`);
  const { epoch } = await served.hub.history("news", { limit: 0 });
  const looper = await TestClient.open(served.url, "wshub.v1");
  const frames = (client: TestClient) =>
    client.messages.flatMap((m) => typeof m === "string" && m[0] === "B" ? unbatch(m) : [m]);
  const answers = (client: TestClient) =>
    frames(client).filter((m): m is string => typeof m === "string" && m[0] === "J")
      .map((m) => JSON.parse(m.slice(1)));
  const published = (client: TestClient) =>
    frames(client).filter((m) => typeof m === "string" && m.startsWith("r4:news")).length;
  let id = 0;
  const ask = async (client: TestClient, ask: Record<string, unknown>) => {
    const before = answers(client).length;
    client.socket.send(`j${JSON.stringify({ id: ++id, room: "news", ...ask })}`);
    await until(() => answers(client).length > before, 2000, "the answer");
    return answers(client).at(-1);
  };
  const since = { since: { offset: 0, epoch } };
  assert.equal((await ask(looper, since)).recovered, true);
  assert.equal((await ask(looper, since)).recovered, true);
  assert.equal(published(looper), 100, "two recoveries of 50: the budget is spent");
  assert.deepEqual(await ask(looper, since), {
    id: 3,
    room: "news",
    epoch,
    offset: 50,
    recovered: false,
    reason: "rate_limited",
  }, "the position, and nothing else");
  const history = await ask(looper, { history: 10 });
  assert.deepEqual([history.recovered, history.reason], [false, "rate_limited"], "history too");
  await delay(50);
  assert.equal(published(looper), 100, "nothing was sent with the refusals");
  // Another client has its own budget.
  const other = await TestClient.open(served.url, "wshub.v1");
  assert.equal((await ask(other, since)).recovered, true);
  // The budget refills (10 a second): a recovery is allowed again once it is above zero.
  await delay(200);
  assert.equal((await ask(looper, since)).recovered, true);
  assert.equal(published(looper), 150);
  assert.equal((await ask(looper, since)).reason, "rate_limited", "in debt again");
  assert.equal(served.hub.stats().recoveries.rate_limited, 2, "counted (joins with since)");
  looper.socket.close();
  other.socket.close();
  await Promise.all([looper.closed, other.closed]);
  await served.close();
});
