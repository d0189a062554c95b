// The NATS backplane (src/nats/) with real processes: two and three hub
// processes (separate `deno run`s of tests/fixtures/cluster_node.ts with a
// "nats" URL) on different ports sharing one real nats-server with JetStream
// (testing/nats.ts), with plain and framed clients; and hubs in this process
// for presence races. Skips only where nats-server is absent (fails in CI).

import assert from "node:assert/strict";
import { connect as natsConnect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { delay, serveHub, TestClient, until, within } from "./_helpers.ts";
import { type Backplane, Hub, type PresenceEvent } from "../mod.ts";
import { NatsBackplane } from "../src/nats/mod.ts";
import { MAX_ESCAPED, token } from "../src/nats/subjects.ts";
import { closeAll, framed, type HubNode, startNodes, teardown, upAll } from "./_cluster.ts";
import { backplaneConformance } from "./_backplane_conformance.ts";
import { type NatsServer, natsTest, startNats } from "../testing/nats.ts";

async function natsCluster(count: number, options: { presenceTtl?: number } = {}) {
  const nats = await startNats();
  return { nats, nodes: await startNodes(nats.url, count, options) };
}

type Entry = { user: string; connections: number };
const byUser = (entries: Entry[]) => entries.sort((x, y) => x.user.localeCompare(y.user));

/** The keys of the presence bucket, read with a client of this test (making no consumer). */
async function bucketKeys(nats: NatsServer): Promise<string[]> {
  const nc = await natsConnect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info("KV_wshub_presence", { subjects_filter: ">" });
    return Object.keys(info.state.subjects ?? {}).map((s) => s.slice("$KV.wshub_presence.".length))
      .sort();
  } finally {
    await nc.close();
  }
}

/** The wshub subjects the server has subscriptions for, one entry per subscription. */
async function subscribedSubjects(nats: NatsServer): Promise<string[]> {
  const connz = await nats.monitoring<{ connections: { subscriptions_list?: string[] }[] }>(
    "/connz?subs=1",
  );
  return connz.connections.flatMap((c) => c.subscriptions_list ?? [])
    .filter((subject) => subject.startsWith("wshub.")).sort();
}

// What every backplane promises (tests/_backplane_conformance.ts), on NATS: one subscription per
// process to broadcasts and to each room and user with members there (subjects escaped), and no
// presence left in the bucket once the rooms are empty.
backplaneConformance({
  name: "NATS",
  test: natsTest,
  start: () => startNats(),
  statsKey: "nats",
  subscriptions: subscribedSubjects,
  expectedSubscriptions(nodes, members) {
    return [
      ...nodes.map(() => "wshub.b"),
      ...members.flatMap((m) => [
        ...m.rooms.map((room) => `wshub.r.${token(room)}`),
        ...m.users.map((user) => `wshub.u.${token(user)}`),
      ]),
    ].sort();
  },
  async afterEmptied(nats, nodes) {
    await until(
      async () => (await bucketKeys(nats)).every((key) => key.startsWith("l.")),
      5000,
      "empty presence purged (only the processes' leases left)",
    );
    assert.equal((await bucketKeys(nats)).length, nodes.length);
    const jsz = await nats.monitoring<{ consumers: number }>("/jsz");
    assert.equal(jsz.consumers, 0, "presence upkeep leaves no consumer behind");
  },
});

Deno.test("subject tokens: every allowed room name, any user id, injective, never a wildcard", () => {
  assert.equal(token("lobby"), "lobby");
  assert.equal(token("chat:42"), "chat_3A42");
  assert.equal(token("a.b"), "a_2Eb");
  assert.equal(token("_"), "_5F");
  assert.equal(token("é"), "_C3_A9");
  const specials = "._-:@/#+=~!";
  const names = [
    ...specials,
    specials,
    "..",
    "_2E",
    "_5F",
    "a_2Eb",
    "!".repeat(128),
    "x".repeat(128),
    "",
    "*",
    ">",
    "a b",
    "über *>",
    "\u0000",
  ];
  const tokens = names.map(token);
  assert.equal(new Set(tokens).size, names.length, "distinct names, distinct tokens");
  for (const [i, t] of tokens.entries()) {
    // One subject token, and a valid key-value key part: no dot, no wildcard, no space.
    assert.match(t, /^(=[A-Za-z0-9_-]{43}|[A-Za-z0-9_-]{1,256})$/, `${names[i]} → ${t}`);
  }
  assert.equal(token("!".repeat(128)).length, 44, "past MAX_ESCAPED: hashed");
  assert.ok("_21".length * 128 > MAX_ESCAPED);
  assert.equal(token("x".repeat(128)), "x".repeat(128));
  assert.equal(token(""), token(""), "stable");
  assert.match(token(""), /^=/);
});

Deno.test("NatsBackplane options are checked", () => {
  assert.throws(() => new NatsBackplane({ servers: "" }), TypeError);
  assert.throws(() => new NatsBackplane({ servers: [] }), TypeError);
  assert.throws(() => new NatsBackplane({ servers: "redis://127.0.0.1:6379" }), TypeError);
  assert.throws(
    () => new NatsBackplane({ servers: "nats://127.0.0.1:4222", presenceTtl: 50 }),
    RangeError,
  );
  assert.throws(
    () => new NatsBackplane({ servers: "nats://127.0.0.1:4222", prefix: "a.b" }),
    TypeError,
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => new NatsBackplane({ server: "nats://127.0.0.1:4222" } as any),
    /Unknown NatsBackplane option "server"; did you mean servers\?/,
  );
  const backplane = new NatsBackplane({
    servers: ["nats://127.0.0.1:4222", "127.0.0.1:4223", "tls://nats.example:4222"],
  });
  assert.equal(backplane.status, "connecting");
  assert.equal((backplane as Backplane).history, undefined, "it keeps no history");
});

Deno.test("a hub given history with a NatsBackplane throws at construction, saying why", () => {
  assert.throws(
    () =>
      new Hub({
        backplane: new NatsBackplane({ servers: "nats://127.0.0.1:4222" }),
        history: { size: 10, ttl: 60_000 },
      }),
    (error: Error) =>
      error instanceof RangeError &&
      /history needs a backplane that keeps it/.test(error.message) &&
      /this backplane keeps none/.test(error.message),
  );
});

natsTest(
  "NATS: presence across processes, one entry and one event per user; kill -9 leaves within 4/3 presenceTtl",
  async () => {
    const presenceTtl = 1500;
    const { nats, nodes } = await natsCluster(3, { presenceTtl });
    const [a, b, c] = nodes;
    const framedClients: ReturnType<typeof framed>[] = [];
    try {
      const watcher = framed(`${b.url}?u=watcher&room=doc`);
      framedClients.push(watcher);
      await until(() => watcher.presence.length === 1, 5000, "the watcher's own join");
      const tabA = framed(`${a.url}?u=alice&room=doc`);
      framedClients.push(tabA);
      await until(() => watcher.presence.length >= 2, 5000, "two joins");
      const tabC = framed(`${c.url}?u=alice&room=doc`);
      framedClients.push(tabC);
      await until(
        () => tabC.client.state === "open" && tabC.client.rooms.has("doc"),
        5000,
        "tab c",
      );
      await until(
        async () =>
          (await a.call<Entry[]>("/presence?room=doc")).length === 2 &&
          (await a.call<Entry[]>("/presence?room=doc")).some((e) => e.connections === 2),
        5000,
        "c's share written",
      );
      for (const node of nodes) {
        assert.deepEqual(
          byUser(await node.call<Entry[]>("/presence?room=doc")),
          [{ user: "alice", connections: 2 }, { user: "watcher", connections: 1 }],
          "a user with a tab on two processes is one entry, with 2 connections, seen from each",
        );
        assert.deepEqual(
          await node.call("/presenceStats?room=doc"),
          { users: 2, connections: 3 },
          "the counts, summed from the bucket",
        );
      }
      await delay(200);
      assert.deepEqual(watcher.presence.map((e) => `${e.user} ${e.event}`), [
        "watcher join",
        "alice join",
      ], "alice's second tab, on another process, is no new join");
      const hooks = await Promise.all(nodes.map((node) => node.call<PresenceEvent[]>("/events")));
      assert.equal(hooks.flat().filter((e) => e.user === "alice" && e.event === "join").length, 1);

      // kill -9 the process with one of alice's tabs: she is still present through the other.
      c.kill();
      const killed = performance.now();
      await c.reaped();
      await tabC.client.close();
      await until(
        async () =>
          (await b.call<Entry[]>("/presence?room=doc")).find((e) => e.user === "alice")
            ?.connections === 1,
        presenceTtl * 4,
        "the dead process's share to be removed",
      );
      const took = performance.now() - killed;
      console.log(
        `a killed process's presence was removed after ${
          took.toFixed(0)
        } ms (presenceTtl ${presenceTtl})`,
      );
      // The bound: ⁴⁄₃ of presenceTtl after its last renewal, plus the few requests of the removal.
      assert.ok(took < presenceTtl * 4 / 3 + 500, `removed after ${took} ms`);
      assert.deepEqual(watcher.presence.map((e) => `${e.user} ${e.event}`), [
        "watcher join",
        "alice join",
      ]);
      const reaped = async (node: HubNode) =>
        (await node.call<{ nats: { reaped: number } }>("/stats")).nats.reaped;
      // One process removed c's presence (counted once its keys are purged too).
      await until(async () => (await reaped(a)) + (await reaped(b)) === 1, 2000, "c reaped");
      await delay(100);
      assert.equal((await reaped(a)) + (await reaped(b)), 1, "by one process only");
      const reapedByB = await reaped(b);
      // Now kill alice's last process: she leaves, once.
      a.kill();
      await a.reaped();
      await tabA.client.close();
      await until(() => watcher.presence.length === 3, presenceTtl * 4, "alice's leave");
      assert.deepEqual(watcher.presence[2], { room: "doc", user: "alice", event: "leave" });
      const leaves = (await b.call<PresenceEvent[]>("/events")).filter((e) => e.event === "leave");
      assert.deepEqual(
        leaves,
        [{ room: "doc", user: "alice", event: "leave" }],
        "fired once, by b",
      );
      await until(async () => await reaped(b) === reapedByB + 1, 2000, "b, alive, to reap a");
      // A graceful close removes presence at once (no ttl wait), and every key of this process.
      await watcher.client.close();
      await b.stop();
      assert.deepEqual(await bucketKeys(nats), [], "nothing left in the bucket");
    } finally {
      await closeAll(framedClients);
      await teardown(nats, nodes);
    }
  },
);

natsTest(
  "NATS restarted during traffic: local traffic never stops; messages, subscriptions and presence come back",
  async () => {
    const { nats, nodes } = await natsCluster(2, { presenceTtl: 1500 });
    const [a, b] = nodes;
    const clients: TestClient[] = [];
    const bob = framed(`${b.url}?u=bob&room=news`);
    try {
      const onA = await TestClient.open(a.url);
      const onB = await TestClient.open(b.url);
      clients.push(onA, onB);
      await until(() => bob.client.rooms.has("news"), 5000, "bob's join");
      await delay(200);
      // Traffic flows while NATS goes away and comes back.
      let sent = 0;
      let stop = false;
      const traffic = (async () => {
        while (!stop) {
          await a.call("/broadcast", `t${sent++}`);
          await delay(10);
        }
      })();
      await until(() => onB.messages.length > 5, 5000, "cross-process traffic");
      await nats.kill();
      await until(async () => (await a.stats()).backplane === "down", 5000, "a to see NATS down");
      const during = sent;
      await until(() => onA.messages.includes(`t${during + 5}`), 5000, "local delivery, NATS down");
      await nats.restart(); // a fresh server: the presence bucket is gone too
      const back = performance.now();
      await upAll(nodes);
      await within(
        (async () => {
          while (!onB.messages.includes(`t${sent - 1}`)) await delay(10);
        })(),
        2500,
        "broadcasts to cross again",
      );
      stop = true;
      await traffic;
      console.log(
        `cross-process traffic resumed ${
          (performance.now() - back).toFixed(0)
        } ms after NATS came back`,
      );
      const texts = (messages: (string | Uint8Array)[]) =>
        messages.filter((m): m is string => typeof m === "string" && m.startsWith("t"));
      assert.ok(texts(onB.messages).length < sent, "what crossed during the outage is lost");
      assert.equal(new Set(onB.messages).size, onB.messages.length, "no duplicates");
      assert.equal(texts(onA.messages).length, sent, "local: all");
      // The room's and the user's subscriptions were renewed too.
      await a.call("/publish?room=news", "room after");
      await a.call("/user?u=bob", "user after");
      const after = () => bob.got.filter((m) => m.text.endsWith(" after"));
      await until(() => after().length === 2, 3000, "room and user messages after the restart");
      assert.deepEqual(after().map((m) => `${m.text} ${m.room}`), [
        "room after news",
        "user after undefined",
      ]);
      // Presence is written again into the new bucket.
      await until(
        async () => (await a.call<Entry[]>("/presence?room=news")).length === 1,
        5000,
        "bob's presence rewritten",
      );
      assert.deepEqual(await a.call<Entry[]>("/presence?room=news"), [
        { user: "bob", connections: 1 },
      ]);
      for (const node of nodes) {
        const { nats: stats } = await node.call<{ nats: { presencePending: number } }>("/stats");
        assert.equal(stats.presencePending, 0);
      }
    } finally {
      await bob.client.close();
      await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
      await teardown(nats, nodes);
    }
  },
);

natsTest(
  "NATS: room names with every allowed special character, and odd user ids, cross processes intact",
  async () => {
    const { nats, nodes } = await natsCluster(2);
    const [a, b] = nodes;
    const rooms = [
      "a.b",
      ".",
      "..",
      "_2E",
      "x:y@z/w#v+u=t~s!r",
      "=",
      "_",
      "-",
      "!".repeat(128),
      "._-:@/#+=~!",
    ];
    const members = rooms.map((room, i) =>
      framed(`${b.url}?u=${encodeURIComponent(`user ${i}.*>`)}&room=${encodeURIComponent(room)}`)
    );
    try {
      await until(() => members.every((m) => m.client.rooms.size === 1), 5000, "joins");
      await delay(200);
      for (const room of rooms) {
        await a.call(`/publish?room=${encodeURIComponent(room)}`, `to ${room}`);
      }
      await until(() => members.every((m) => m.got.length === 1), 5000, "one message each");
      for (const [i, room] of rooms.entries()) {
        assert.deepEqual(members[i].got, [{ text: `to ${room}`, room }], `room ${room}`);
        await until(
          async () =>
            (await a.call<Entry[]>(`/presence?room=${encodeURIComponent(room)}`)).length === 1,
          5000,
          `presence of ${room}`,
        );
        assert.deepEqual(await a.call<Entry[]>(`/presence?room=${encodeURIComponent(room)}`), [
          { user: `user ${i}.*>`, connections: 1 },
        ]);
      }
      await a.call(`/user?u=${encodeURIComponent("user 3.*>")}`, "to user 3");
      await until(() => members[3].got.length === 2, 5000, "the user message");
      assert.equal(members[3].got[1].text, "to user 3");
      await delay(100);
      assert.ok(members.every((m, i) => m.got.length === (i === 3 ? 2 : 1)), "no one else");
    } finally {
      await Promise.all(members.map((m) => m.client.close()));
      await teardown(nats, nodes);
    }
  },
);

natsTest(
  "NATS presence is atomic: one user churning on three processes at once joins and leaves once per round",
  async () => {
    const nats = await startNats();
    const events: PresenceEvent[][] = [[], [], []];
    const backplanes = [0, 1, 2].map(() =>
      new NatsBackplane({ servers: nats.url, presenceTtl: 3000 })
    );
    const served = backplanes.map((backplane, i) =>
      serveHub({
        backplane,
        presenceEvents: true,
        identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
        onPresence: (event) => void events[i].push(event),
      })
    );
    const watcher = framed(`${served[0].url}?u=watcher`);
    try {
      await until(() => backplanes.every((bp) => bp.status === "up"), 5000, "up");
      await watcher.client.join("churn");
      const rounds = 8;
      for (let round = 0; round < rounds; round++) {
        const tabs = served.map((s) => framed(`${s.url}?u=alice`));
        await Promise.all(tabs.map((tab) => tab.client.join("churn")));
        await until(
          () => watcher.presence.filter((e) => e.user === "alice").length === 2 * round + 1,
          5000,
          `round ${round}: alice's join`,
        );
        await Promise.all(tabs.map((tab) => tab.client.close()));
        await until(
          () => watcher.presence.filter((e) => e.user === "alice").length === 2 * round + 2,
          5000,
          `round ${round}: alice's leave`,
        );
      }
      await delay(200);
      const seen = watcher.presence.filter((e) => e.user === "alice").map((e) => e.event);
      assert.deepEqual(
        seen,
        Array.from({ length: 2 * rounds }, (_, i) => i % 2 ? "leave" : "join"),
      );
      const hooks = events.flat().filter((e) => e.user === "alice");
      assert.equal(hooks.filter((e) => e.event === "join").length, rounds, "onPresence: joins");
      assert.equal(hooks.filter((e) => e.event === "leave").length, rounds, "onPresence: leaves");
      assert.deepEqual(await served[1].hub.presence("churn"), [{
        user: "watcher",
        connections: 1,
      }]);
      const stats = backplanes.map((bp) => bp.stats());
      console.log(
        `presence writes ${stats.map((s) => s.presenceWrites)}, conflicts ${
          stats.map((s) => s.presenceConflicts)
        }`,
      );
      assert.ok(stats.every((s) => s.presencePending === 0));
    } finally {
      await watcher.client.close();
      await Promise.all(served.map((s) => s.close()));
      await nats.stop();
    }
  },
);

natsTest("NATS: a hub closed while NATS is down closes at once and leaks nothing", async () => {
  const nats = await startNats();
  await nats.kill();
  const statuses: string[] = [];
  const backplane = new NatsBackplane({
    servers: nats.url,
    onStatus: (status) => void statuses.push(status),
  });
  const hub = new Hub({ backplane });
  try {
    await until(() => backplane.status === "down", 3000, "down");
    const started = performance.now();
    await hub.close();
    assert.ok(performance.now() - started < 3000);
    assert.equal(backplane.status, "closed");
    assert.deepEqual(statuses, ["down", "closed"]);
  } finally {
    await nats.stop();
  }
});

natsTest(
  "NATS without JetStream: messages still cross, the hub is told presence needs -js; past max_payload, dropped",
  async () => {
    const nats = await startNats({ jetstream: false });
    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn: (message: string) => void warnings.push(message),
      error: (message: string) => void warnings.push(message),
    };
    const backplanes = [0, 1].map(() => new NatsBackplane({ servers: nats.url }));
    const served = backplanes.map((backplane) => serveHub({ backplane, logger }));
    const backplaneOf = (s: (typeof served)[number]) => backplanes[served.indexOf(s)];
    const clients: TestClient[] = [];
    try {
      await until(() => served.every((s) => s.hub.stats().backplane === "up"), 5000, "up");
      const onB = await TestClient.open(served[1].url);
      clients.push(onB);
      await delay(100);
      await served[0].hub.broadcast("across");
      await until(() => onB.messages.includes("across"), 3000, "cross-process delivery");
      await until(() => warnings.some((w) => /JetStream/.test(w)), 5000, "the warning");
      assert.deepEqual(await served[0].hub.presence("any"), [], "local presence instead");
      // Past the server's max_payload (1 MB): delivered here, counted as dropped, one warning.
      const big = "x".repeat(1_100_000);
      await served[0].hub.broadcast(big);
      await served[0].hub.broadcast(big);
      await served[0].hub.broadcast("small again");
      await until(() => onB.messages.includes("small again"), 3000, "traffic after the big ones");
      assert.equal(onB.messages.length, 2, "the big ones did not cross");
      assert.equal(backplaneOf(served[0]).stats().dropped, 2);
      assert.equal(warnings.filter((w) => /could not be published/.test(w)).length, 1);
    } finally {
      await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
      await Promise.all(served.map((s) => s.close()));
      await nats.stop();
    }
  },
);

natsTest(
  "NATS: a message of an unknown envelope version is ignored and counted; version 1 is delivered",
  async () => {
    const nats = await startNats();
    const backplane = new NatsBackplane({ servers: nats.url });
    const served = serveHub({ backplane });
    const plain = await TestClient.open(served.url);
    const raw = await natsConnect({ servers: nats.url });
    try {
      await until(() => backplane.status === "up" && served.hub.size === 1, 5000, "up");
      // The broadcast subject is subscribed at start; a round trip proves it is in effect.
      await raw.flush();
      await delay(100);
      raw.publish("wshub.b", '{"v":7,"o":"a-newer-hub","k":"b","t":1}\nfrom the future');
      raw.publish("wshub.b", '{"v":1,"o":"publisher","k":"b","t":1}\nversion 1');
      await raw.flush();
      await plain.received(1);
      await delay(100);
      assert.deepEqual(plain.messages, ["version 1"]);
      assert.equal(backplane.stats().unknownVersion, 1);
      assert.match(served.hub.metrics(), /^wshub_backplane_unknown_version_total 1$/m);
    } finally {
      await raw.close();
      await plain.close();
      await served.close();
      await nats.stop();
    }
  },
);
