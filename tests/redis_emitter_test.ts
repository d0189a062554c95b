// RedisEmitter (src/redis/emitter.ts) against real Redis and real hub processes (issue 19): an
// emitter in a process of its own (tests/fixtures/emitter_process.ts) reaches clients on two hub
// processes exactly once each, in its order, its history publications continuing the room's
// stream; a client cut off while it publishes recovers what it missed; what it sends reaches
// plain, wshub.v1 and wshub.v2 clients byte for byte as the hub's own publish would; and under
// faults (Redis killed, frozen, slow to come up) every call resolves or rejects, saying which,
// and the same emitter works again once Redis is back. Skips only without redis-server (fails
// in CI).

import assert from "node:assert/strict";
import { type HistoryPage, Hub, quietLogger, SUBPROTOCOL } from "../mod.ts";
import { splitBatch, SUBPROTOCOL_V2 } from "../src/protocol/mod.ts";
import { RedisBackplane, RedisDownError, RedisEmitter } from "../src/redis/mod.ts";
import { redisCli, startRedis } from "../testing/redis.ts";
import { cluster, HubNode, redisTest, teardown } from "./_cluster.ts";
import { serveHub, TestClient, until, within } from "./_helpers.ts";
import { HISTORY, of, recorder } from "./_publishers.ts";

type Outcome = { result?: unknown; error?: string; message?: string };

/** Runs tests/fixtures/emitter_process.ts: each call's outcome, in order. */
async function emitterProcess(redis: string, calls: unknown[][]): Promise<Outcome[]> {
  const script = new URL("./fixtures/emitter_process.ts", import.meta.url).pathname;
  const config = { redis, history: HISTORY, historyRooms: "h:", calls };
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", script, JSON.stringify(config)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assert.ok(output.success, `the emitter process failed:\n${decoder.decode(output.stderr)}`);
  return decoder.decode(output.stdout).trim().split("\n").map((line) => JSON.parse(line));
}

redisTest(
  "an emitter in its own process: two hub processes' clients get each message once, in its order",
  async () => {
    const { redis, nodes } = await cluster(2, { history: HISTORY, historyRooms: "h:" });
    const [a, b] = nodes;
    const alice = recorder(`${a.url}?u=alice`);
    const bob = recorder(`${b.url}?u=bob`);
    const carol = await TestClient.open(`${b.url}?u=carol&room=lobby`);
    try {
      for (const { client } of [alice, bob]) {
        await client.join("lobby");
        await client.join("h:news");
      }
      // The hubs' own publications come first: the emitter's continue the stream.
      await a.call("/publish?room=h:news", "hub 1");
      await b.call("/publish?room=h:news", "hub 2");
      await until(() => alice.got.length === 2 && bob.got.length === 2, 5000, "the hubs' two");

      // Sixty calls of every kind, interleaved, none awaited before the next is made.
      const calls: unknown[][] = [];
      const expected = { alice: [] as unknown[], bob: [] as unknown[], carol: [] as unknown[] };
      for (let i = 0; i < 60; i++) {
        const value = i % 2 === 0 ? `v${i}` : { i };
        const call = [
          ["broadcast", value],
          ["sendToUser", "alice", value],
          ["sendToUser", "bob", value],
          ["publish", "lobby", value],
          ["publish", "h:news", value],
        ][i % 5];
        calls.push(call);
        if (call[0] !== "sendToUser" || call[1] === "alice") expected.alice.push(value);
        if (call[0] !== "sendToUser" || call[1] === "bob") expected.bob.push(value);
        if (call[0] === "broadcast" || call[1] === "lobby") {
          expected.carol.push(typeof value === "string" ? value : JSON.stringify(value));
        }
      }
      calls.push(["sendToUser", "nobody", "lost"]);
      const outcomes = await emitterProcess(redis.url, calls);
      assert.equal(outcomes.length, 61);
      assert.ok(outcomes.every((o) => o.error === undefined), JSON.stringify(outcomes));
      const results = outcomes.map((o) => o.result);
      // What Redis knew: both processes listen to broadcasts and have a member in each room;
      // each user is on one process, "nobody" on none.
      assert.deepEqual(
        results.filter((_, i) => i % 5 < 3 && i < 60),
        Array.from({ length: 36 }, (_, k) => k % 3 === 0 ? 2 : 1),
      );
      assert.equal(results[60], 0, "a user connected nowhere: 0 processes");
      const news = results.filter((_, i) => i % 5 === 4) as {
        processes: number;
        position: { offset: number; epoch: string };
      }[];
      const epoch = (await a.call<HistoryPage>("/history?room=h:news")).epoch;
      assert.deepEqual(
        news.map((r) => [r.processes, r.position.offset, r.position.epoch]),
        Array.from({ length: 12 }, (_, k) => [2, 3 + k, epoch]),
        "offsets 3…14, after the hubs' 1 and 2",
      );
      assert.deepEqual(results[3], { processes: 2 }, "no position without history");

      await b.call("/publish?room=h:news", "hub 3");
      await until(
        () => alice.got.length === 2 + 48 + 1 && bob.got.length === 2 + 48 + 1,
        10_000,
        "everything",
      );
      for (const [name, who] of [["alice", alice], ["bob", bob]] as const) {
        const got = who.got.map((g) => g.data);
        assert.deepEqual(got, ["hub 1", "hub 2", ...expected[name], "hub 3"], `${name}: in order`);
        assert.deepEqual(
          who.got.filter((g) => g.room === "h:news").map((g) => g.offset),
          Array.from({ length: 15 }, (_, k) => k + 1),
          `${name}: the stream's offsets, each once`,
        );
        assert.deepEqual(who.recoveries, [], `${name}: no gap to repair`);
      }
      assert.deepEqual(of(alice.got, "lobby"), of(bob.got, "lobby"), "one room, one order");
      await carol.received(expected.carol.length);
      assert.deepEqual(carol.messages, expected.carol, "the plain client: the same, as text");
      const page = await b.call<HistoryPage>("/history?room=h:news");
      assert.equal(page.offset, 15);
      assert.deepEqual(page.publications[2], { offset: 3, data: "v4" });
    } finally {
      for (const { client } of [alice, bob]) await client.close();
      await carol.close();
      await teardown(redis, nodes);
    }
  },
);

redisTest(
  "a client cut off while the emitter publishes recovers it from the room's stream",
  async () => {
    const { redis, nodes } = await cluster(2, { history: HISTORY, historyRooms: "h:" });
    let [a, b] = nodes;
    // Reconnects 300 ms after its process went away: it comes back to the restarted one.
    const away = recorder(`${a.url}?u=erin`, 300);
    const stays = recorder(`${b.url}?u=bob`);
    try {
      await away.client.join("h:news");
      await stays.client.join("h:news");
      assert.deepEqual(await emitterProcess(redis.url, [["publish", "h:news", "before"]]), [
        { result: { processes: 2, position: { offset: 1, epoch: await epochOf(b) } } },
      ]);
      await until(() => away.got.length === 1, 5000, "the first");
      const port = a.port;
      await a.stop(); // erin is told 1001 and waits to reconnect
      const outcomes = await emitterProcess(redis.url, [
        ["publish", "h:news", "missed 1"],
        ["publish", "h:news", { missed: 2 }],
        ["publish", "h:news", "missed 3"],
      ]);
      assert.deepEqual(
        outcomes.map((o) => (o.result as { processes: number }).processes),
        [1, 1, 1],
        "only b has a member now",
      );
      a = await HubNode.start(redis.url, { history: HISTORY, historyRooms: "h:", port });
      await until(() => away.recoveries.length === 1, 10_000, "erin's rejoin");
      assert.deepEqual(away.recoveries[0], { room: "h:news", recovered: true });
      await until(() => away.got.length === 4, 5000, "what it missed");
      assert.deepEqual(away.got.map((g) => [g.data, g.offset]), [
        ["before", 1],
        ["missed 1", 2],
        [{ missed: 2 }, 3],
        ["missed 3", 4],
      ]);
      assert.deepEqual(stays.got.map((g) => g.offset), [1, 2, 3, 4]);
    } finally {
      await away.client.close();
      await stays.client.close();
      await teardown(redis, [a, b]);
    }
  },
);

async function epochOf(node: HubNode): Promise<string> {
  return (await node.call<HistoryPage>("/history?room=h:news")).epoch;
}

/**
 * What a raw client was sent, as frames: batches split into what they carry (a `b` item is an
 * `m` frame), the hello, pings and join answers left out.
 */
function frames(client: TestClient): (string | Uint8Array)[] {
  const out: (string | Uint8Array)[] = [];
  for (const message of client.messages) {
    if (typeof message !== "string" || client.socket.protocol === "") {
      out.push(message);
      continue;
    }
    const tag = message[0];
    if (tag === "b" || tag === "B") {
      const items = splitBatch(message.slice(1));
      if (typeof items === "string") throw new Error(`bad batch: ${items}`);
      out.push(...items.map((item) => tag === "b" ? `m${item}` : item));
    } else if (tag === "m" || tag === "r") out.push(message);
  }
  return out;
}

redisTest(
  "what the emitter sends reaches plain, v1 and v2 clients exactly as the hub's own would",
  async () => {
    const redis = await startRedis();
    const served = serveHub({
      backplane: new RedisBackplane({ url: redis.url }),
      identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
    });
    const emitter = new RedisEmitter({ url: redis.url });
    const url = `${served.url}?u=alice`;
    const clients = [
      await TestClient.open(url),
      await TestClient.open(url, SUBPROTOCOL),
      await TestClient.open(url, SUBPROTOCOL_V2),
    ];
    try {
      assert.deepEqual(clients.map((c) => c.socket.protocol), ["", "wshub.v1", "wshub.v2"]);
      await served.hub.ready();
      for (const client of served.hub.clients()) await served.hub.join(client, "lobby");
      await until(
        async () =>
          (await redisCli(redis.port, "PUBSUB", "NUMSUB", "wshub:r:lobby")).endsWith("\n1"),
        5000,
        "the hub listening to the room",
      );
      const values = ["hi", "42", '{"a":1}', "", { a: [1, "é"] }, 42, null, true, [1, "x"]];
      const sends = [
        ...values.map((value) => ["publish", "lobby", value] as const),
        ["publish", "lobby", new Uint8Array([0, 10, 255])] as const,
        ["broadcast", { text: "to all" }] as const,
        ["sendToUser", "alice", "to alice"] as const,
      ];
      const send = (by: Record<string, (...args: unknown[]) => Promise<unknown>>) =>
        Promise.all(sends.map(([method, ...args]) => by[method](...args)));
      const hub = served.hub as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
      await send(hub);
      for (const client of clients) {
        await until(() => frames(client).length === sends.length, 5000, "the hub's own");
      }
      const fromHub = clients.map((client) => frames(client));
      for (const client of clients) client.messages.length = 0;
      await send(emitter as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>);
      for (const client of clients) {
        await until(() => frames(client).length === sends.length, 5000, "the emitter's");
      }
      assert.deepEqual(clients.map((client) => frames(client)), fromHub);
      assert.equal(fromHub[2][1], 'r5:lobby:"42"', "v2: a string stays a string");
      assert.equal(fromHub[0][1], "42", "plain: the text as it was given");
    } finally {
      for (const client of clients) await client.close();
      await emitter.close();
      await served.close();
      await redis.stop();
    }
  },
);

redisTest(
  "faults: Redis down rejects at once, frozen rejects after timeout, maxPending bounds; back, it works",
  async () => {
    const redis = await startRedis();
    const statuses: string[] = [];
    const emitter = new RedisEmitter({
      url: redis.url,
      history: HISTORY,
      timeout: 500,
      maxPending: 5,
      onStatus: (status) => void statuses.push(status),
    });
    const hub = new Hub({ backplane: new RedisBackplane({ url: redis.url }), logger: quietLogger });
    try {
      // Calls made before the first connection wait for it, and go out in order.
      const early = await within(
        Promise.all(Array.from({ length: 5 }, (_, i) => emitter.publish("h:r", `early ${i}`))),
        5000,
        "the early calls",
      );
      assert.deepEqual(early.map((r) => r.position?.offset), [1, 2, 3, 4, 5]);
      assert.equal(emitter.status, "up");

      await redis.kill();
      await until(() => emitter.status === "down", 5000, "the emitter sees Redis gone");
      for (
        const call of [
          () => emitter.broadcast("lost?"),
          () => emitter.sendToUser("alice", "lost?"),
          () => emitter.publish("r", "lost?"),
          () => emitter.publish("h:r", "lost?"),
          () => emitter.disconnectUser("alice"),
        ]
      ) {
        await assert.rejects(
          within<unknown>(call(), 2000, "a rejection"),
          (error) => error instanceof RedisDownError && /nothing was sent/.test(error.message),
        );
      }

      await redis.restart();
      await within(emitter.ready(), 10_000, "the same emitter, connected again");
      await hub.ready({ signal: AbortSignal.timeout(10_000) });
      await until(
        async () => await emitter.broadcast("back") === 1,
        10_000,
        "the hub listening again",
      );
      const { position } = await emitter.publish("h:r", "new stream");
      assert.equal(position?.offset, 1, "Redis came back empty: a new stream");

      // Frozen: the calls are sent, so their outcome is unknown when no answer comes.
      redis.freeze();
      const sent = Array.from({ length: 5 }, (_, i) => emitter.broadcast(`frozen ${i}`));
      await assert.rejects(
        emitter.broadcast("one too many"),
        (error) => error instanceof RedisDownError && /maxPending/.test(error.message),
      );
      for (const outcome of await Promise.allSettled(sent)) {
        assert.equal(outcome.status, "rejected");
        assert.match(
          (outcome as PromiseRejectedResult).reason.message,
          /did not answer within 500 ms \(timeout\): the message may or may not have been published/,
        );
      }
      redis.thaw();
      await until(
        async () => (await emitter.broadcast("thawed").catch(() => -1)) === 1,
        10_000,
        "calls working again",
      );
      assert.deepEqual(statuses.slice(0, 3), ["up", "down", "up"]);
    } finally {
      if (redis.running) redis.thaw(); // a frozen Redis would hold the closes' last replies
      await emitter.close();
      await hub.close();
      await redis.stop();
    }
  },
);

redisTest(
  "an emitter created while Redis is down: calls reject once the first attempt fails; close ends all",
  async () => {
    const redis = await startRedis();
    await redis.kill();
    const emitter = new RedisEmitter({ url: redis.url, timeout: 1000 });
    try {
      await assert.rejects(
        within(emitter.broadcast("nobody"), 5000, "a rejection"),
        RedisDownError,
      );
      const waiting = assert.rejects(emitter.ready(), /closed/);
      await emitter.close();
      await waiting;
      await assert.rejects(emitter.broadcast("after close"), /The RedisEmitter is closed/);
      assert.equal(emitter.status, "closed");
    } finally {
      await emitter.close();
      await redis.stop();
    }
  },
);

redisTest("close() does not wait forever on a Redis that stopped answering", async () => {
  const redis = await startRedis();
  const emitter = new RedisEmitter({ url: redis.url, timeout: 300 });
  try {
    await emitter.ready({ signal: AbortSignal.timeout(5000) });
    redis.freeze();
    const pending = emitter.broadcast("into the void").then(() => "resolved", (e) => e.message);
    await within(emitter.close(), 5000, "close, despite the frozen Redis");
    assert.match(await pending, /may or may not have been published|not connected/);
    assert.equal(emitter.status, "closed");
  } finally {
    redis.thaw();
    await emitter.close();
    await redis.stop();
  }
});

Deno.test("RedisEmitter checks its options and every call's arguments, naming what is wrong", async () => {
  type Loose = ConstructorParameters<typeof RedisEmitter>[0];
  assert.throws(() => new RedisEmitter({} as Loose), /Invalid RedisEmitter option url: missing/);
  assert.throws(
    () => new RedisEmitter({ url: "redis://127.0.0.1:1", prefx: "x" } as Loose),
    /Unknown RedisEmitter option "prefx"; did you mean prefix\?/,
  );
  assert.throws(
    () => new RedisEmitter({ url: "redis://127.0.0.1:1", timeout: 0 }),
    /Invalid RedisEmitter option timeout: 0/,
  );
  assert.throws(
    () => new RedisEmitter({ url: "redis://127.0.0.1:1", history: { size: 0, ttl: 1 } }),
    /Invalid RedisEmitter option history.size: 0/,
  );
  assert.throws(
    () => new RedisEmitter({ url: "redis://127.0.0.1:1", prefix: "" }),
    /Invalid RedisEmitter option prefix/,
  );
  // Nothing listens on port 1: the emitter is down, but arguments are checked first.
  const emitter = new RedisEmitter({ url: "redis://127.0.0.1:1" });
  try {
    assert.throws(() => emitter.publish("no spaces", "x"), /Invalid room name/);
    assert.throws(() => emitter.sendToUser("", "x"), /a user id is a non-empty string/);
    assert.throws(() => emitter.broadcast(10n as unknown), /JSON/);
    assert.throws(() => emitter.disconnectUser("u", { code: 1001 }), /Cannot close with code 1001/);
    assert.throws(
      () => emitter.disconnectUser("u", { reason: "é".repeat(62) }),
      /124 UTF-8 bytes; at most 123/,
    );
    assert.throws(
      () => emitter.disconnectUser("u", { cod: 4000 } as never),
      /Unknown disconnect option "cod"/,
    );
  } finally {
    await emitter.close();
  }
});
