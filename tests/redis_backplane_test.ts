// The Redis backplane (src/redis/) with real processes: two and three hub
// processes (separate `deno run`s of tests/fixtures/cluster_node.ts) on
// different ports sharing one real redis-server (testing/redis.ts), with plain
// and framed clients. Skips only where redis-server is absent (fails in CI).

import assert from "node:assert/strict";
import { delay, nextEvent, serveHub, TestClient, until, within } from "./_helpers.ts";
import type { PresenceEvent } from "../mod.ts";
import { connect } from "../src/client/mod.ts";
import { RedisBackplane } from "../src/redis/mod.ts";
import { redisCli, startRedis } from "../testing/redis.ts";
import { cluster, framed, HubNode, redisTest, teardown } from "./_cluster.ts";

redisTest(
  "broadcast and room publishes reach every process once, in order; a user message only its user",
  async () => {
    const { redis, nodes } = await cluster(3);
    const [a, b, c] = nodes;
    const clients: TestClient[] = [];
    try {
      const plainB = await TestClient.open(`${b.url}?u=bob`);
      const plainC = await TestClient.open(`${c.url}?u=carol&room=lobby`);
      clients.push(plainB, plainC);
      const aliceA = framed(`${a.url}?u=alice&room=lobby`);
      const aliceC = framed(`${c.url}?u=alice`);
      await until(
        () => aliceA.client.state === "open" && aliceC.client.state === "open",
        5000,
        "open",
      );
      await until(async () => (await c.stats()).connections === 2, 5000, "c's registrations");
      // Let every process's subscriptions reach Redis before publishing.
      await delay(200);

      for (let i = 0; i < 20; i++) await a.call("/broadcast", `b${i}`);
      const expected = Array.from({ length: 20 }, (_, i) => `b${i}`);
      await until(
        () => plainB.messages.length >= 20 && plainC.messages.length >= 20,
        5000,
        "broadcasts",
      );
      assert.deepEqual(plainB.messages, expected, "bob on b: each once, in order");
      assert.deepEqual(plainC.messages, expected, "carol on c");
      await until(() => aliceA.got.length >= 20 && aliceC.got.length >= 20, 5000, "alice's");
      assert.deepEqual(aliceA.got.map((m) => m.text), expected, "alice on a (local delivery)");
      assert.deepEqual(aliceC.got.map((m) => m.text), expected);

      // A user message sent from b reaches alice on a and on c, and no one else.
      assert.equal(await b.call("/user?u=alice", "psst"), 0, "b has no connection of alice");
      await until(
        () => aliceA.got.length === 21 && aliceC.got.length === 21,
        5000,
        "alice's message",
      );
      assert.equal(aliceA.got[20].text, "psst");
      assert.equal(aliceC.got[20].text, "psst");

      // A room publish from b reaches the lobby's members on a and c; except on the publisher's own.
      await b.call("/publish?room=lobby", "to the lobby");
      const ids = await a.call<{ id: string; user: string }[]>("/ids");
      await a.call(`/publish?room=lobby&except=${ids[0].id}`, "not to alice on a");
      await until(() => plainC.messages.length === 22, 5000, "carol's room messages");
      assert.deepEqual(plainC.messages.slice(20), ["to the lobby", "not to alice on a"]);
      await until(() => aliceA.got.length === 22, 5000, "alice's room message");
      assert.deepEqual(aliceA.got[21], { text: "to the lobby", room: "lobby" });
      await delay(100);
      assert.equal(aliceA.got.length, 22, "except: alice on a was not sent the second");
      assert.equal(plainB.messages.length, 20, "bob is in no room and is not alice");
      assert.equal(aliceC.got.length, 21, "alice on c is not in the lobby");
      // Each backplane measures the round trip through Redis on its own pings (every 500 ms here).
      for (const node of nodes) {
        const { redis: stats } = await node.call<{ redis: { roundTrip?: number } }>("/stats");
        assert.ok(
          typeof stats.roundTrip === "number" && stats.roundTrip > 0 && stats.roundTrip < 1000,
          `roundTrip ${stats.roundTrip}`,
        );
      }
      await aliceA.client.close();
      await aliceC.client.close();
    } finally {
      await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
      await teardown(redis, nodes);
    }
  },
);

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
  "a process subscribes only while it has members: emptied rooms leave only the fixed channels",
  async () => {
    const { redis, nodes } = await cluster(2);
    const [a, b] = nodes;
    const members: ReturnType<typeof framed>[] = [];
    try {
      for (let i = 0; i < 5; i++) members.push(framed(`${a.url}?u=u${i}&room=room${i}`));
      members.push(framed(`${b.url}?u=u9&room=room0`));
      await until(() => members.every((m) => m.client.rooms.size === 1), 5000, "joins");
      await delay(100);
      // The fixed channels: broadcasts, and each process's own (its round-trip pings).
      const fixed = ["wshub:b", ...nodes.map((node) => `wshub:n:${node.id}:ping`)].sort();
      const channels = (await redisCli(redis.port, "PUBSUB", "CHANNELS")).split("\n").sort();
      assert.deepEqual(channels, [
        ...fixed,
        "wshub:r:room0",
        "wshub:r:room1",
        "wshub:r:room2",
        "wshub:r:room3",
        "wshub:r:room4",
        "wshub:u:u0",
        "wshub:u:u1",
        "wshub:u:u2",
        "wshub:u:u3",
        "wshub:u:u4",
        "wshub:u:u9",
      ]);
      await Promise.all(members.map((m) => m.client.close()));
      await until(
        async () =>
          (await redisCli(redis.port, "PUBSUB", "CHANNELS")).split("\n").sort().join() ===
            fixed.join(),
        5000,
        "unsubscribes",
      );
    } finally {
      await Promise.all(members.map((m) => m.client.close()));
      await teardown(redis, nodes);
    }
  },
);

redisTest(
  "a hub started while Redis is down serves its own clients, and joins the cluster once Redis is up",
  async () => {
    const redis = await startRedis();
    await redis.kill();
    const nodes = [await HubNode.start(redis.url), await HubNode.start(redis.url)];
    const [a, b] = nodes;
    const clients: TestClient[] = [];
    try {
      assert.notEqual((await a.stats()).backplane, "up");
      const onA = await TestClient.open(a.url);
      const onB = await TestClient.open(b.url);
      clients.push(onA, onB);
      assert.equal(await a.call("/broadcast", "local only"), 1);
      await until(() => onA.messages.includes("local only"), 2000, "local delivery without Redis");
      await redis.restart();
      await until(
        async () => (await a.stats()).backplane === "up" && (await b.stats()).backplane === "up",
        5000,
        "up",
      );
      await delay(200);
      await a.call("/broadcast", "across");
      await until(() => onB.messages.includes("across"), 3000, "cross-process delivery");
      assert.equal(onB.messages.includes("local only"), false);
    } finally {
      await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
      await teardown(redis, nodes);
    }
  },
);

redisTest(
  "disconnectUser on process A closes the user's connections on A and B (4003), returns A's count, leaves others",
  async () => {
    const { redis, nodes } = await cluster(2);
    const [a, b] = nodes;
    const clients = [
      framed(`${a.url}?u=mallory`),
      framed(`${a.url}?u=mallory`),
      framed(`${b.url}?u=mallory`),
      framed(`${a.url}?u=alice`),
      framed(`${b.url}?u=bob`),
    ];
    try {
      await Promise.all(clients.map(({ client }) => nextEvent(client, "open", undefined, 5_000)));
      const closes = clients.slice(0, 3).map(({ client }) => nextEvent(client, "close"));
      const started = performance.now();
      assert.equal(await a.call("/disconnect?u=mallory", ""), 2, "A's own count");
      const infos = await Promise.all(closes);
      const elapsed = performance.now() - started;
      for (const info of infos) {
        assert.deepEqual(info, { code: 4003, reason: "access revoked", reconnecting: false });
      }
      console.log(`revoked on both processes in ${elapsed.toFixed(1)} ms`);
      assert.ok(elapsed < 2_000, "a bus round trip, not a heartbeat or a TTL");
      await delay(100);
      assert.equal(clients[3].client.state, "open");
      assert.equal(clients[4].client.state, "open");
      const [statsA, statsB] = await Promise.all([a.stats(), b.stats()]);
      assert.equal(statsA.connections, 1);
      assert.equal(statsB.connections, 1);
      assert.equal((statsA.credentials as { revoked: number }).revoked, 2);
      assert.equal((statsB.credentials as { revoked: number }).revoked, 1);
    } finally {
      await Promise.all(clients.map(({ client }) => client.close()));
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
