// The Redis backplane (src/redis/) with real processes: two and three hub
// processes (separate `deno run`s of tests/fixtures/cluster_node.ts) on
// different ports sharing one real redis-server (testing/redis.ts), with plain
// and framed clients. Skips only where redis-server is absent (fails in CI).

import assert from "node:assert/strict";
import { delay, serveHub, TestClient, until, within } from "./_helpers.ts";
import type { PresenceEvent } from "../mod.ts";
import { connect } from "../src/client/mod.ts";
import { RedisBackplane } from "../src/redis/mod.ts";
import { redisCli, startRedis } from "../testing/redis.ts";
import { cluster, framed, redisTest, teardown } from "./_cluster.ts";
import { backplaneConformance } from "./_backplane_conformance.ts";

// What every backplane promises (tests/_backplane_conformance.ts), on Redis: one channel per
// room and per user with members here, whoever else listens, and two fixed ones per process.
backplaneConformance({
  name: "Redis",
  test: redisTest,
  start: startRedis,
  statsKey: "redis",
  async subscriptions(redis) {
    return (await redisCli(redis.port, "PUBSUB", "CHANNELS")).split("\n").sort();
  },
  expectedSubscriptions(nodes, members) {
    const rooms = new Set(members.flatMap((m) => m.rooms.map((room) => `wshub:r:${room}`)));
    const users = new Set(members.flatMap((m) => m.users.map((user) => `wshub:u:${user}`)));
    const pings = nodes.map((node) => `wshub:n:${node.id}:ping`);
    return ["wshub:b", ...pings, ...rooms, ...users].sort();
  },
});

redisTest(
  "presence across processes: one entry and one event per user; kill -9 leaves within presenceTtl",
  async () => {
    const presenceTtl = 1000;
    const { redis, nodes } = await cluster(3, { presenceTtl });
    const [a, b, c] = nodes;
    try {
      const watcher = framed(`${b.url}?u=watcher&room=doc`);
      // Events from different processes have no order between them: let the watcher's come first.
      await until(() => watcher.presence.length === 1, 5000, "the watcher's own join");
      const tabA = framed(`${a.url}?u=alice&room=doc`);
      await until(() => watcher.presence.length >= 2, 5000, "two joins");
      const tabC = framed(`${c.url}?u=alice&room=doc`);
      await until(
        () => tabC.client.state === "open" && tabC.client.rooms.has("doc"),
        5000,
        "tab c",
      );
      const entries = await b.call<{ user: string; connections: number }[]>("/presence?room=doc");
      assert.deepEqual(
        entries.sort((x, y) => x.user.localeCompare(y.user)),
        [{ user: "alice", connections: 2 }, { user: "watcher", connections: 1 }],
        "a user with a tab on two processes is one entry, with 2 connections",
      );
      for (const node of nodes) {
        assert.deepEqual(
          await node.call("/presenceStats?room=doc"),
          { users: 2, connections: 3 },
          "the counts, cluster-wide, from any process",
        );
      }
      await delay(200);
      assert.deepEqual(watcher.presence.map((e) => `${e.user} ${e.event}`), [
        "watcher join",
        "alice join",
      ], "alice's second tab, on another process, is no new join");
      // The server hook fired once in the whole cluster for alice's join.
      const hooks = await Promise.all(nodes.map((node) => node.call<PresenceEvent[]>("/events")));
      assert.equal(hooks.flat().filter((e) => e.user === "alice" && e.event === "join").length, 1);

      // kill -9 the process with one of alice's tabs: she is still present through the other.
      c.kill();
      await c.reaped();
      await tabC.client.close();
      const started = performance.now();
      await until(
        async () => {
          const now = await b.call<{ user: string; connections: number }[]>("/presence?room=doc");
          return now.find((e) => e.user === "alice")?.connections === 1;
        },
        presenceTtl * 4,
        "the dead process's share to be removed",
      );
      const took = performance.now() - started;
      console.log(
        `a killed process's presence was removed after ${
          took.toFixed(0)
        } ms (presenceTtl ${presenceTtl})`,
      );
      assert.deepEqual(watcher.presence.map((e) => `${e.user} ${e.event}`), [
        "watcher join",
        "alice join",
      ]);
      // Now kill alice's last process: she leaves, once.
      a.kill();
      await a.reaped();
      await tabA.client.close();
      await until(() => watcher.presence.length === 3, presenceTtl * 4, "alice's leave");
      assert.deepEqual(watcher.presence[2], { room: "doc", user: "alice", event: "leave" });
      // A graceful close removes presence at once (no ttl wait).
      await watcher.client.close();
      await b.stop();
      assert.equal(await redisCli(redis.port, "EXISTS", "wshub:p:doc"), "0");
      assert.equal(await redisCli(redis.port, "EXISTS", "wshub:pc:doc"), "0", "nor its total");
    } finally {
      await teardown(redis, nodes);
    }
  },
);

redisTest(
  "Redis stops mid-traffic and comes back: local traffic never stops, cross-process resumes",
  async () => {
    const { redis, nodes } = await cluster(2);
    const [a, b] = nodes;
    const clients: TestClient[] = [];
    try {
      const onA = await TestClient.open(a.url);
      const onB = await TestClient.open(b.url);
      clients.push(onA, onB);
      await delay(200);
      await a.call("/broadcast", "before");
      await until(() => onB.messages.includes("before"), 5000, "cross-process before");
      await redis.kill();
      await until(async () => (await a.stats()).backplane === "down", 5000, "a to see Redis down");
      // Local delivery goes on while Redis is down.
      assert.equal(await a.call("/broadcast", "during"), 1);
      await until(() => onA.messages.includes("during"), 2000, "local delivery during the outage");
      await redis.restart();
      const back = performance.now();
      await until(
        async () => {
          const [sa, sb] = await Promise.all([a.stats(), b.stats()]);
          return sa.backplane === "up" && sb.backplane === "up";
        },
        5000,
        "both back up",
      );
      // Cross-process traffic resumes: resubscribed within 2 s.
      await within(
        (async () => {
          for (let i = 0; !onB.messages.includes(`after ${i - 1}`); i++) {
            await a.call("/broadcast", `after ${i}`);
            await delay(50);
          }
        })(),
        2500,
        "cross-process traffic to resume",
      );
      console.log(
        `cross-process traffic resumed ${
          (performance.now() - back).toFixed(0)
        } ms after Redis came back`,
      );
      assert.equal(
        onB.messages.includes("during"),
        false,
        "what crossed during the outage is lost (documented)",
      );
    } finally {
      await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
      await teardown(redis, nodes);
    }
  },
);

redisTest(
  "presence windows across two processes over Redis: one diff per window, a flapper's joins and leaves cancel",
  async () => {
    const { redis, nodes } = await cluster(2, { presenceWindow: 500 });
    const [a, b] = nodes;
    const watcher = framed(`${b.url}?u=watcher`);
    const flapper = connect(`${a.url}?u=flapper`, { reconnect: false });
    const carol = connect(`${a.url}?u=carol`, { reconnect: false });
    try {
      await watcher.client.join("doc");
      await until(() => watcher.diffs.length === 1, 5000, "the watcher's own join");
      // Inside one window (b's, opened by the first change it hears): the flapper comes and goes
      // five times, on another process, and ends out; carol comes and stays.
      for (let i = 0; i < 5; i++) {
        await flapper.join("doc");
        await flapper.leave("doc");
      }
      await carol.join("doc");
      await until(() => watcher.diffs.length === 2, 5000, "the window's diff");
      await delay(700); // a second window would have ended by now
      assert.deepEqual(watcher.diffs, [
        { room: "doc", joins: ["watcher"], leaves: [] },
        { room: "doc", joins: ["carol"], leaves: [] },
      ], "one frame for the window, the flapper's ten changes cancelled out");
      // The server hook, on the process where each change was made, heard every one at once.
      const events = await a.call<PresenceEvent[]>("/events");
      assert.equal(events.filter((e) => e.user === "flapper").length, 10);
    } finally {
      await Promise.all([watcher.client.close(), flapper.close(), carol.close()]);
      await teardown(redis, nodes);
    }
  },
);

redisTest(
  "the presence changes of one turn go to Redis as one call; a leave and a rejoin in one turn cost none",
  async () => {
    const redis = await startRedis();
    const backplane = new RedisBackplane({ url: redis.url });
    const served = serveHub<string>({
      backplane,
      identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
    });
    const clients = Array.from({ length: 30 }, (_, i) => connect(`${served.url}?u=user${i}`));
    try {
      await served.hub.ready();
      await until(() => served.hub.size === 30, 5000, "30 connections");
      const before = backplane.stats().presenceCalls;
      await Promise.all(served.hub.clients().map((client) => served.hub.join(client, "lobby")));
      await until(
        async () => (await served.hub.presenceStats("lobby")).users === 30,
        5000,
        "30 users in Redis",
      );
      const calls = backplane.stats().presenceCalls - before;
      assert.ok(calls <= 2, `30 joins in ${calls} call(s)`);
      assert.deepEqual(await served.hub.presenceStats("lobby"), { users: 30, connections: 30 });
      // A leave and a rejoin in one turn: the sum is nothing, so nothing is sent.
      const [first] = served.hub.clients();
      const again = backplane.stats().presenceCalls;
      await Promise.all([served.hub.leave(first, "lobby"), served.hub.join(first, "lobby")]);
      await delay(50);
      assert.equal(backplane.stats().presenceCalls, again);
      assert.equal((await served.hub.presence("lobby")).length, 30);
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await served.close();
      await redis.stop();
    }
  },
);
