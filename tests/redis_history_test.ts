// Room history kept in Redis (src/redis/redis_history.ts) with real hub
// processes: publications from two processes get one order and consecutive
// offsets everywhere; a client of a process killed with -9 reconnects to
// another and recovers what it missed from Redis; a Redis that comes back
// empty starts a new epoch and members are told. Skips only where
// redis-server is absent (fails in CI).

import assert from "node:assert/strict";
import type { HistoryPage } from "../mod.ts";
import { follower, serveHub, TestClient, until, within } from "./_helpers.ts";
import { cutStorm, inProcess } from "./_cut_storm.ts";
import { connect } from "../src/client/mod.ts";
import { RedisBackplane, RedisDownError } from "../src/redis/mod.ts";
import { redisCli, startRedis } from "../testing/redis.ts";
import { cluster, HubNode, redisTest, teardown } from "./_cluster.ts";
import { promtoolCheckIfPresent } from "./_promtool.ts";

const HISTORY = { size: 1000, ttl: 60_000 };

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

redisTest(
  "publications from two processes: one order and consecutive offsets on both, the publisher's own included",
  async () => {
    const { redis, nodes } = await cluster(2, { history: HISTORY });
    const [a, b] = nodes;
    const fA = follower(`${a.url}?u=ann`);
    const fB = follower(`${b.url}?u=ben`);
    const plainB = await TestClient.open(`${b.url}?room=news`);
    try {
      await fA.client.join("news");
      await fB.client.join("news");
      // No settling delay: the first publications race the new subscriptions.
      const publishFrom = async (node: HubNode, name: string) => {
        for (let i = 0; i < 100; i++) await node.call("/publish?room=news", `${name}${i}`);
      };
      await Promise.all([publishFrom(a, "a"), publishFrom(b, "b")]);
      await until(() => fA.seen.length >= 200 && fB.seen.length >= 200, 10_000, "200 each");
      assert.deepEqual(fA.seen.map((s) => s.offset), range(1, 200), "a: each once, in order");
      assert.deepEqual(fB.seen.map((s) => s.offset), range(1, 200), "b: each once, in order");
      assert.deepEqual(fA.seen.map((s) => s.text), fB.seen.map((s) => s.text), "the same order");
      const fromA = fA.seen.map((s) => s.text).filter((t) => t.startsWith("a"));
      assert.deepEqual(fromA, range(0, 99).map((i) => `a${i}`), "a's own, in its order");
      await until(() => plainB.messages.length >= 200, 5000, "the plain member's");
      assert.deepEqual(plainB.messages, fB.seen.map((s) => s.text), "plain: no duplicate");

      // except, across the echo: the left-out member counts the offset and asks for nothing.
      const ids = await a.call<{ id: string; user: string }[]>("/ids");
      const ann = ids.find((entry) => entry.user === "ann")!;
      assert.equal(await a.call(`/publish?room=news&except=${ann.id}`, "not for ann"), 0);
      await a.call("/publish?room=news", "for all");
      await until(() => fA.seen.length === 201 && fB.seen.length === 202, 5000, "the last two");
      assert.deepEqual(fA.seen.at(-1), { text: "for all", offset: 202 });
      assert.deepEqual(fA.recoveries, [], "no gap was seen, so no repair was asked");

      // Any process reads the stream.
      const page = await b.call<HistoryPage>("/history?room=news");
      assert.equal(page.offset, 202);
      assert.equal(page.publications.length, 202);
      assert.deepEqual(page.publications.slice(-2), [
        { offset: 201, data: "not for ann" },
        { offset: 202, data: "for all" },
      ]);
      for (const node of [a, b]) {
        await until(
          async () => (await node.stats()).historyPending === 0,
          3000,
          "no own publication kept waiting",
        );
      }
      // The backplane's families in /metrics, valid for Prometheus.
      await until(
        async () =>
          (await a.call<{ redis: { roundTrip?: number } }>("/stats")).redis.roundTrip !== undefined,
        3000,
        "a round trip measured",
      );
      const text = await (await fetch(`http://127.0.0.1:${a.control}/metrics`)).text();
      assert.match(text, /^wshub_backplane_up 1$/m);
      assert.match(text, /^wshub_history_appends_total 102$/m, "a published 102 of the 202");
      assert.match(text, /^wshub_backplane_round_trip_seconds 0\.\d+/m);
      const check = await promtoolCheckIfPresent(text);
      if (check !== undefined) assert.equal(check.code, 0, check.output);
    } finally {
      await fA.client.close();
      await fB.client.close();
      await plainB.close();
      await teardown(redis, nodes);
    }
  },
);

redisTest(
  "a client of a process killed with -9 reconnects to another on the same port and recovers from Redis",
  async () => {
    const redis = await startRedis();
    const first = await HubNode.start(redis.url, { history: HISTORY, reusePort: true });
    const second = await HubNode.start(redis.url, {
      history: HISTORY,
      reusePort: true,
      port: first.port,
    });
    const nodes = [first, second];
    const f = follower(first.url, 300);
    try {
      for (const node of nodes) {
        await until(async () => (await node.stats()).backplane === "up", 5000, "the backplanes");
      }
      await f.client.join("news");
      const connected = await Promise.all(nodes.map((node) => node.stats()));
      const victim = connected[0].connections === 1 ? first : second;
      const survivor = victim === first ? second : first;
      for (let i = 1; i <= 3; i++) await survivor.call("/publish?room=news", `before ${i}`);
      await until(() => f.seen.length === 3, 5000, "the first three, through Redis");

      victim.kill();
      await victim.reaped();
      // The client waits 300 ms before reconnecting: these five are published while it is away.
      for (let i = 1; i <= 5; i++) await survivor.call("/publish?room=news", `missed ${i}`);
      await until(() => f.recoveries.length === 1, 10_000, "the rejoin's verdict");
      assert.deepEqual(f.recoveries[0], { room: "news", recovered: true });
      await survivor.call("/publish?room=news", "after");
      await until(() => f.seen.length === 9, 5000, "everything");
      assert.deepEqual(f.seen.map((s) => s.offset), range(1, 9));
      assert.deepEqual(f.seen.map((s) => s.text), [
        "before 1",
        "before 2",
        "before 3",
        "missed 1",
        "missed 2",
        "missed 3",
        "missed 4",
        "missed 5",
        "after",
      ]);
      assert.equal((await survivor.stats()).connections, 1, "it is on the survivor now");
    } finally {
      await f.client.close();
      await teardown(redis, nodes);
    }
  },
);

redisTest(
  "a hub process restarted: its client comes back to it and recovers from Redis what was published meanwhile",
  async () => {
    const redis = await startRedis();
    let a = await HubNode.start(redis.url, { history: HISTORY });
    const b = await HubNode.start(redis.url, { history: HISTORY });
    const f = follower(a.url, 300);
    try {
      for (const node of [a, b]) {
        await until(async () => (await node.stats()).backplane === "up", 5000, "the backplanes");
      }
      await f.client.join("news");
      await b.call("/publish?room=news", "before");
      await until(() => f.seen.length === 1, 5000, "the first, through Redis");
      const port = a.port;
      await a.stop(); // graceful: its clients are told 1001 and reconnect
      for (let i = 1; i <= 4; i++) await b.call("/publish?room=news", `while down ${i}`);
      a = await HubNode.start(redis.url, { history: HISTORY, port });
      await until(() => f.recoveries.length === 1, 10_000, "the rejoin's verdict");
      assert.deepEqual(f.recoveries[0], { room: "news", recovered: true });
      await b.call("/publish?room=news", "after");
      await until(() => f.seen.length === 6, 5000, "everything");
      assert.deepEqual(f.seen.map((s) => [s.text, s.offset]), [
        ["before", 1],
        ["while down 1", 2],
        ["while down 2", 3],
        ["while down 3", 4],
        ["while down 4", 5],
        ["after", 6],
      ]);
    } finally {
      await f.client.close();
      await teardown(redis, [a, b]);
    }
  },
);

redisTest(
  "Redis comes back empty: the room's stream starts again with a new epoch, and members are told",
  async () => {
    const { redis, nodes } = await cluster(2, { history: HISTORY });
    const [a, b] = nodes;
    const f = follower(a.url);
    try {
      const joined = await f.client.join("news");
      await b.call("/publish?room=news", "old 1");
      await b.call("/publish?room=news", "old 2");
      await until(() => f.seen.length === 2, 5000, "the first two");
      const before = await a.call<HistoryPage>("/history?room=news");
      assert.equal(before.offset, 2);
      assert.equal(joined.epoch, "", "the stream did not exist when it joined");

      await redis.restart();
      for (const node of nodes) {
        await until(async () => (await node.stats()).backplane === "up", 10_000, "back up");
      }
      // Pub/sub keeps nothing: publish until a's resubscription is in effect.
      let sent = 0;
      await until(
        async () => {
          await b.call("/publish?room=news", `new ${++sent}`);
          return f.seen.some((s) => s.text.startsWith("new"));
        },
        10_000,
        "a publication in the new stream",
      );
      const after = await a.call<HistoryPage>("/history?room=news");
      assert.notEqual(after.epoch, before.epoch, "a new epoch");
      assert.equal(after.offset, sent, "offsets start again at 1");
      assert.deepEqual(f.recoveries.at(-1), {
        room: "news",
        recovered: false,
        reason: "epoch_changed",
      });
      const fresh = f.seen.filter((s) => s.text.startsWith("new"));
      const firstOffset = fresh[0].offset!;
      assert.deepEqual(
        fresh.map((s) => s.offset),
        range(firstOffset, firstOffset + fresh.length - 1),
      );
      assert.equal(fresh.at(-1)!.text, `new ${fresh.at(-1)!.offset}`, "offset n is the nth");
    } finally {
      await f.client.close();
      await teardown(redis, nodes);
    }
  },
);

redisTest(
  "RedisHistory: text and bytes round-trip; since, limit, a foreign epoch; size trims",
  async () => {
    const redis = await startRedis();
    const backplane = new RedisBackplane({ url: redis.url });
    const statuses: string[] = [];
    backplane.start({
      deliver() {},
      presence() {},
      status: (status) => void statuses.push(status),
      logger: console,
    });
    try {
      await until(() => backplane.status === "up", 5000, "connected");
      const history = backplane.history;
      const options = { size: 3, ttl: 60_000 };
      const bytes = new Uint8Array([0, 10, 255, 13, 10]);
      const first = await history.append("r", "é\nline", options);
      await history.append("r", bytes, options);
      await history.append("r", "three", options);
      await history.append("r", "four", options);
      assert.equal(first.offset, 1);
      const page = await history.read("r", {});
      assert.deepEqual(page, {
        epoch: first.epoch,
        offset: 4,
        publications: [
          { offset: 2, data: bytes },
          { offset: 3, data: "three" },
          { offset: 4, data: "four" },
        ],
      });
      assert.deepEqual(
        (await history.read("r", { since: { offset: 2, epoch: first.epoch } })).publications
          .map((p) => p.offset),
        [3, 4],
      );
      assert.deepEqual(
        (await history.read("r", { since: { offset: 1, epoch: first.epoch }, limit: 1 }))
          .publications.map((p) => p.offset),
        [2],
        "with since: the oldest after it",
      );
      assert.deepEqual(
        (await history.read("r", { limit: 1 })).publications.map((p) => p.offset),
        [4],
        "without: the newest",
      );
      assert.deepEqual(
        (await history.read("r", { since: { offset: 1, epoch: "other" } })).publications,
        [],
      );
      assert.deepEqual(await history.read("none", {}), { epoch: "", offset: 0, publications: [] });
      assert.equal(backplane.stats().historyPending, 0, "appends without a ref keep nothing");
    } finally {
      await backplane.close();
      await redis.stop();
    }
  },
);

redisTest(
  "cut storms with history in Redis, publisher in the same process: every publication once, in order",
  async () => {
    // The issue-16 case: the same storm as with memory history, only a RedisBackplane added.
    // Three storms: cuts every ~60 ms, every ~20 ms, and back to back.
    const redis = await startRedis();
    const served = serveHub<string>({
      history: { size: 5000, ttl: 60_000 },
      rateLimit: false,
      backplane: new RedisBackplane({ url: redis.url }),
    });
    try {
      await until(() => served.hub.stats().backplane === "up", 5000, "the backplane");
      for (const [cuts, spacing] of [[66, 60], [100, 20], [200, 5]]) {
        await cutStorm(inProcess(served, cuts, spacing));
        // The next storm numbers from 0 again: it starts a new stream.
        await redisCliDel(redis.port, "wshub:h:ticks", "wshub:hm:ticks");
      }
      assert.equal(served.hub.stats().recoveries.unavailable, 0);
      assert.doesNotMatch(served.hub.metrics(), /^wshub_history_failures_total [1-9]/m);
    } finally {
      await served.close();
      await redis.stop();
    }
  },
);

redisTest(
  "a cut storm across two processes: the client on one, the publisher on the other",
  async () => {
    const { redis, nodes } = await cluster(2, { history: { size: 5000, ttl: 60_000 } });
    const [a, b] = nodes;
    try {
      await cutStorm({
        url: a.url,
        publish: (room, from, count) =>
          b.call(`/burst?room=${room}&from=${from}&count=${count}`).then(() => {}),
        cut: () => a.call("/cut").then(() => {}),
        registered: async () => (await a.stats()).connections === 1,
        cuts: 60,
        spacing: 40,
      });
      for (const node of nodes) {
        await until(
          async () => (await node.stats()).historyPending === 0,
          3000,
          "no own publication kept waiting",
        );
      }
    } finally {
      await teardown(redis, nodes);
    }
  },
);

redisTest(
  "joining a room whose stream exists gives its position; a client cut before its first publication recovers",
  async () => {
    // On Redis 7.0, the position-only read (COUNT 0) failed: the J had no position, and a
    // client cut before any publication came back with no_history and missed what followed.
    const redis = await startRedis();
    const served = serveHub<string>({
      history: { size: 100, ttl: 60_000 },
      backplane: new RedisBackplane({ url: redis.url }),
    });
    const f = follower(served.url, 100);
    try {
      await until(() => served.hub.stats().backplane === "up", 5000, "the backplane");
      await served.hub.publish("news", "before anyone joined");
      const empty = await served.hub.history("news", { limit: 0 });
      assert.equal(empty.offset, 1);
      assert.deepEqual(empty.publications, [], "limit 0: the position only");
      const joined = await f.client.join("news");
      assert.equal(joined.offset, 1, "the J carries the stream's position");
      assert.equal(joined.epoch, empty.epoch);
      served.hub.clients()[0].close(4000, "cut before any publication");
      for (let i = 1; i <= 3; i++) await served.hub.publish("news", `missed ${i}`);
      await until(() => f.recoveries.length === 1, 5000, "the rejoin's verdict");
      assert.deepEqual(f.recoveries[0], { room: "news", recovered: true });
      await until(() => f.seen.length === 3, 5000, "what it missed");
      assert.deepEqual(f.seen.map((s) => [s.text, s.offset]), [
        ["missed 1", 2],
        ["missed 2", 3],
        ["missed 3", 4],
      ]);
      assert.equal(served.hub.stats().recoveries.recovered, 1);
      assert.match(served.hub.metrics(), /^wshub_history_failures_total 0$/m);
    } finally {
      await f.client.close();
      await served.close();
      await redis.stop();
    }
  },
);

/** Deletes keys with redis-cli. */
async function redisCliDel(port: number, ...keys: string[]): Promise<void> {
  await redisCli(port, "DEL", ...keys);
}

redisTest("the Redis these tests run on is at least the README's minimum, 7.0", async () => {
  const redis = await startRedis();
  try {
    const info = await redisCli(redis.port, "INFO", "server");
    const version = info.match(/^redis_version:(\d+)\.(\d+)\.(\d+)/m);
    assert.ok(version, `no redis_version in INFO: ${info.slice(0, 200)}`);
    const [major, minor] = [Number(version[1]), Number(version[2])];
    console.log(`redis-server ${version[0].split(":")[1]}`);
    assert.ok(major > 7 || (major === 7 && minor >= 0), "Redis 7.0 or later");
  } finally {
    await redis.stop();
  }
});

redisTest(
  "hub.ready() waits for Redis; until then history() rejects with RedisDownError, then it works",
  async () => {
    const redis = await startRedis();
    await redis.kill();
    const backplane = new RedisBackplane({ url: redis.url });
    const served = serveHub<string>({ history: { size: 10, ttl: 60_000 }, backplane });
    try {
      let ready = false;
      const waiting = served.hub.ready().then(() => ready = true);
      const backplaneReady = backplane.ready();
      await assert.rejects(served.hub.history("news"), RedisDownError);
      await assert.rejects(
        served.hub.ready({ signal: AbortSignal.timeout(50) }),
        (error: Error) => error.name === "TimeoutError",
      );
      assert.equal(ready, false, "not while Redis is down");
      await redis.restart();
      await within(waiting, 5000, "hub.ready()");
      await within(backplaneReady, 1000, "backplane.ready()");
      await served.hub.publish("news", "stored");
      const page = await served.hub.history("news");
      assert.deepEqual(page.publications, [{ offset: 1, data: "stored" }]);
    } finally {
      await served.close();
      await redis.stop();
    }
  },
);

redisTest(
  "across processes and in Redis history, values keep their kind: a string that looks like JSON stays a string",
  async () => {
    const redis = await startRedis();
    const a = serveHub<unknown>({
      history: (room) => room === "kept" ? { size: 10, ttl: 60_000 } : undefined,
      backplane: new RedisBackplane({ url: redis.url }),
    });
    const b = serveHub<unknown>({
      history: (room) => room === "kept" ? { size: 10, ttl: 60_000 } : undefined,
      backplane: new RedisBackplane({ url: redis.url }),
    });
    const client = connect(b.url, { reconnect: false });
    const got: unknown[] = [];
    client.on("message", (message) => got.push(message));
    try {
      await until(
        () => a.hub.stats().backplane === "up" && b.hub.stats().backplane === "up",
        5000,
        "up",
      );
      await client.join("kept");
      await client.join("live");
      const values = ["42", { n: 42 }, null, "plain"];
      for (const value of values) await a.hub.publish("kept", value); // through the stream
      for (const value of values) await a.hub.publish("live", value); // pub/sub only
      for (const value of values) await a.hub.broadcast(value);
      await until(() => got.length === 12, 5000, "every value on the other process");
      assert.deepEqual(got, [...values, ...values, ...values]);
      const page = await b.hub.history("kept");
      assert.deepEqual(page.publications.map((p) => p.data), values);
    } finally {
      await client.close();
      await a.close();
      await b.close();
      await redis.stop();
    }
  },
);

redisTest(
  "Redis: a late joiner's join with history, and a client's presence query, answer for the whole cluster",
  async () => {
    const { redis, nodes } = await cluster(2, { history: { size: 100, ttl: 60_000 } });
    const [a, b] = nodes;
    const onA = connect(`${a.url}?u=ann`, { reconnect: false });
    const late = connect<string>(`${b.url}?u=ben`, { reconnect: false });
    const got: string[] = [];
    late.on("message", (text, meta) => {
      if (meta.room === "news") got.push(text);
    });
    try {
      await onA.join("news");
      for (let i = 1; i <= 10; i++) await a.call("/publish?room=news", `n${i}`);
      const joined = await late.join("news", { history: 5 });
      assert.equal(joined.offset, 5);
      await a.call("/publish?room=news", "n11");
      await until(() => got.length === 6, 5000, "the last five, then the live one");
      assert.deepEqual(got, ["n6", "n7", "n8", "n9", "n10", "n11"]);
      await until(
        async () => (await late.presence("news")).length === 2,
        5000,
        "ann (on a) and ben (on b) in the cluster's presence",
      );
      assert.deepEqual(
        (await late.presence("news")).sort((x, y) => x.user.localeCompare(y.user)),
        [{ user: "ann", connections: 1 }, { user: "ben", connections: 1 }],
      );
      assert.deepEqual(await late.presenceCounts("news"), { users: 2, connections: 2 });
    } finally {
      await onA.close();
      await late.close();
      await teardown(redis, nodes);
    }
  },
);

redisTest(
  "a storm of rejoins: every follower recovers once and in order, at about one Redis read per room",
  async () => {
    const redis = await startRedis();
    const backplane = new RedisBackplane({ url: redis.url });
    const served = serveHub<string>({ history: HISTORY, backplane });
    const rooms = ["r0", "r1", "r2", "r3", "r4"];
    const followers = Array.from({ length: 40 }, (_, i) => ({
      room: rooms[i % rooms.length],
      ...follower(served.url),
    }));
    try {
      await served.hub.ready();
      await Promise.all(followers.map(({ client, room }) => client.join(room)));
      for (let i = 1; i <= 20; i++) {
        for (const room of rooms) await served.hub.publish(room, `${room}-${i}`);
      }
      await until(() => followers.every((f) => f.seen.length === 20), 5000, "20 each");
      const before = backplane.stats();
      // Everyone cut at once (as a restart does), publications going on meanwhile.
      for (const client of served.hub.clients()) client.close(4000, "cut");
      for (let i = 21; i <= 30; i++) {
        for (const room of rooms) await served.hub.publish(room, `${room}-${i}`);
      }
      await until(
        () => followers.every((f) => f.recoveries.length === 1 && f.seen.length === 30),
        10_000,
        "every follower back, with all 30",
      );
      for (const { room, seen, recoveries } of followers) {
        assert.deepEqual(seen.map((s) => s.offset), range(1, 30), `${room}: no gap, no duplicate`);
        assert.deepEqual(seen.map((s) => s.text), range(1, 30).map((i) => `${room}-${i}`));
        assert.deepEqual(recoveries, [{ room, recovered: true }]);
      }
      const after = backplane.stats();
      const reads = after.historyReads - before.historyReads;
      const calls = after.historyReadCalls - before.historyReadCalls;
      console.log(
        `${reads} recoveries: ${calls} read calls to Redis, ` +
          `${after.historyReadsShared - before.historyReadsShared} answered without their own`,
      );
      assert.equal(reads, 40, "one recovery per follower");
      assert.ok(calls <= 2 * rooms.length, `${calls} read calls for ${rooms.length} rooms`);
    } finally {
      await Promise.all(followers.map(({ client }) => client.close()));
      await served.close();
      await redis.stop();
    }
  },
);

redisTest(
  "a room's kept read is dropped when its channel skips an offset: a rejoin then reads Redis and misses nothing",
  async () => {
    const redis = await startRedis();
    const backplane = new RedisBackplane({ url: redis.url });
    const served = serveHub<string>({ history: HISTORY, backplane });
    const first = follower(served.url);
    const second = follower(served.url);
    try {
      await served.hub.ready();
      await first.client.join("news");
      for (let i = 1; i <= 3; i++) await served.hub.publish("news", `n${i}`);
      await until(() => first.seen.length === 3, 5000, "three");
      // The second joins: its read is kept, and answers later reads of the room.
      await second.client.join("news");
      // A publication Redis has but the channel never carried (a message lost on the way):
      // stored by hand, without the PUBLISH of the append script.
      const offset = await redisCli(redis.port, "HINCRBY", "wshub:hm:news", "s", "1");
      assert.equal(offset, "4");
      const expires = String(Date.now() + 60_000);
      await redisCli(redis.port, "XADD", "wshub:h:news", "4-0", "d", "n4", "t", "1", "x", expires);
      await served.hub.publish("news", "n5"); // offset 5 on the channel: 4 was skipped
      await until(() => first.seen.length >= 4, 5000, "the gap repaired");
      assert.deepEqual(first.seen.map((s) => s.text), ["n1", "n2", "n3", "n4", "n5"]);
      // The second, cut and back, recovers from 3 (or wherever it was): from Redis, n4 included.
      served.hub.clients()[1].close(4000, "cut");
      await until(() => second.recoveries.length >= 1, 5000, "the rejoin");
      await served.hub.publish("news", "n6");
      await until(() => second.seen.at(-1)?.text === "n6", 5000, "n6");
      assert.deepEqual(second.seen.map((s) => s.offset), range(4, 6), "4 to 6, once each");
      assert.deepEqual(second.recoveries.filter((r) => !r.recovered), []);
    } finally {
      await first.client.close();
      await second.client.close();
      await served.close();
      await redis.stop();
    }
  },
);

redisTest(
  "publishWithPosition with history in Redis: the stream's position; while Redis is down, none",
  async () => {
    const redis = await startRedis();
    const served = serveHub<string>({
      backplane: new RedisBackplane({ url: redis.url }),
      history: HISTORY,
    });
    const f = follower(served.url);
    try {
      await served.hub.ready({ signal: AbortSignal.timeout(5000) });
      assert.equal(served.hub.backplaneStatus, "up");
      await f.client.join("news");
      const first = await served.hub.publishWithPosition("news", "one");
      assert.equal(first.count, 1, "counted once its copy came back from Redis");
      assert.equal(first.position?.offset, 1);
      const second = await served.hub.publishWithPosition("news", "two");
      assert.deepEqual(second.position, { offset: 2, epoch: first.position!.epoch });
      await redis.kill();
      await until(() => served.hub.backplaneStatus === "down", 5000, "the hub sees Redis gone");
      assert.deepEqual(
        await served.hub.publishWithPosition("news", "local only"),
        { count: 1 },
        "delivered here, without a position: the stream did not take it",
      );
    } finally {
      await f.client.close();
      await served.close();
      await redis.stop();
    }
  },
);
