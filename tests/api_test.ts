// createApi (src/api/), the HTTP API of issue 19, against a real Deno.serve on 127.0.0.1 with real
// clients: every route's success; every refusal's status (401 with no detail, 404, 405 with
// Allow, 415, 413 with and without a Content-Length, 400 saying what is wrong, 503 while the
// backplane is down or the hub closing, 500 for the unexpected, logged), each a JSON body and
// never a stack trace; data published as given (a string stays a string); and, over Redis with
// real hub processes, /api/publish on one process reaching members on another and
// /api/disconnect closing the user everywhere.

import assert from "node:assert/strict";
import { type ApiOptions, createApi, Hub, type HubApi, quietLogger } from "../mod.ts";
import { RedisBackplane } from "../src/redis/mod.ts";
import { startRedis } from "../testing/redis.ts";
import { cluster, redisTest, teardown } from "./_cluster.ts";
import { answer, audience, KEY, newHub, serveApi } from "./_api.ts";
import { TestClient, until } from "./_helpers.ts";
import { HISTORY, recorder } from "./_publishers.ts";

Deno.test("createApi refuses to start without a good key, and checks its options", () => {
  const hub = newHub();
  try {
    assert.throws(() => createApi(hub, {} as ApiOptions), /createApi needs a key/);
    assert.throws(() => createApi(hub, { key: "" }), /createApi needs a key|at least 16/);
    assert.throws(() => createApi(hub, { key: "short" }), /at least 16 visible ASCII/);
    assert.throws(() => createApi(hub, { key: "with a space 0123456" }), /no spaces/);
    assert.throws(() => createApi(hub, { key: [] }), /createApi needs a key/);
    assert.throws(
      () => createApi(hub, { key: KEY, prefx: "/x" } as ApiOptions),
      /Unknown createApi option "prefx"; did you mean prefix\?/,
    );
    assert.throws(
      () => createApi(hub, { key: KEY, prefix: "api" }),
      /Invalid createApi option prefix/,
    );
    assert.throws(() => createApi(hub, { key: KEY, prefix: "/api/" }), /does not end with one/);
    assert.throws(() => createApi(hub, { key: KEY, maxBodyBytes: 0 }), /maxBodyBytes: 0/);
    assert.throws(() => createApi(hub, { key: KEY, maxBatch: 0 }), /maxBatch: 0/);
    assert.throws(() => createApi(hub, { key: KEY, maxBatch: 1.5 }), /maxBatch: 1.5/);
    assert.equal(typeof createApi(hub, { key: [KEY, `${KEY}-next`] }), "function");
  } finally {
    void hub.close();
  }
});

Deno.test("every route succeeds: publish, broadcast, user, disconnect, presence, history, info", async () => {
  const hub = newHub();
  const served = serveApi(hub);
  const { alice, plain, carol } = await audience(hub, served.ws);
  try {
    const ok = { status: 200, body: {} };

    // Data is published as given: "42" stays a string, an object an object, null null.
    assert.deepEqual(
      answer(await served.call("/api/publish", { body: { room: "lobby", data: "42" } })),
      ok,
    );
    assert.deepEqual(
      answer(await served.call("/api/publish", { body: { room: "lobby", data: { n: [1] } } })),
      ok,
    );
    assert.deepEqual(
      answer(await served.call("/api/publish", { body: { room: "lobby", data: null } })),
      ok,
    );
    const first = await served.call("/api/publish", { body: { room: "h:news", data: "one" } });
    assert.equal(first.status, 200);
    assert.equal(first.body.offset, 1);
    assert.match(first.body.epoch as string, /^[0-9a-f]{16}$/);
    assert.deepEqual(
      answer(await served.call("/api/publish", { body: { room: "h:news", data: ["two"] } })),
      { status: 200, body: { offset: 2, epoch: first.body.epoch } },
    );
    assert.deepEqual(answer(await served.call("/api/broadcast", { body: { data: "to all" } })), ok);
    assert.deepEqual(
      answer(await served.call("/api/user", { body: { user: "alice", data: { dm: true } } })),
      ok,
    );
    await until(() => alice.got.length === 7, 2000, "alice's seven");
    assert.deepEqual(alice.got.map((g) => [g.data, g.room, g.offset]), [
      ["42", "lobby", undefined],
      [{ n: [1] }, "lobby", undefined],
      [null, "lobby", undefined],
      ["one", "h:news", 1],
      [["two"], "h:news", 2],
      ["to all", undefined, undefined],
      [{ dm: true }, undefined, undefined],
    ]);
    await plain.received(4);
    assert.deepEqual(plain.messages, ["42", '{"n":[1]}', "null", "to all"], "plain: JSON text");

    const presence = await served.call("/api/presence?room=lobby");
    assert.deepEqual(answer(presence), {
      status: 200,
      body: {
        presence: [{ user: "alice", connections: 1 }, { user: "bob", connections: 1 }],
      },
    });
    await hub.publish("h:news", new Uint8Array([0, 255]));
    assert.deepEqual(answer(await served.call("/api/history?room=h:news&limit=2")), {
      status: 200,
      body: {
        epoch: first.body.epoch,
        offset: 3,
        publications: [{ offset: 2, data: ["two"] }, { offset: 3, base64: "AP8=" }],
      },
    });
    assert.deepEqual(answer(await served.call("/api/history?room=lobby")), {
      status: 200,
      body: { epoch: "", offset: 0, publications: [] },
    });
    const info = await served.call("/api/info");
    assert.equal(info.status, 200);
    assert.equal(info.body.connections, 3);
    assert.equal(info.body.backplane, "none");
    assert.equal(info.headers.get("cache-control"), "no-store");

    assert.deepEqual(answer(await served.call("/api/disconnect", { body: { user: "bob" } })), ok);
    const closed = await plain.closed;
    assert.deepEqual([closed.code, closed.reason], [4003, "access revoked"]);
    assert.deepEqual(
      answer(
        await served.call("/api/disconnect", {
          body: { user: "carol", code: 4000, reason: "see you" },
        }),
      ),
      ok,
    );
    await until(() => carol.closes.length === 1, 2000, "carol closed");
    assert.deepEqual([carol.closes[0].code, carol.closes[0].reason], [4000, "see you"]);
  } finally {
    await alice.client.close();
    await carol.client.close();
    await plain.close();
    await served.close();
  }
});

Deno.test("refusals: 401 (no detail), 404, 405, 415, 413 and 400 say what is wrong, in JSON", async () => {
  const served = serveApi(newHub(), { maxBodyBytes: 256 });
  const refused = async (
    path: string,
    init: Parameters<typeof served.call>[1],
    status: number,
    error: RegExp,
  ) => {
    const result = await served.call(path, init);
    assert.equal(result.status, status, `${path} ${JSON.stringify(init)}`);
    assert.deepEqual(Object.keys(result.body), ["error"]);
    assert.match(result.body.error as string, error, `${path} ${JSON.stringify(init)}`);
    return result;
  };
  try {
    // 401: the same answer whatever is wrong with the credentials.
    const unauthorized = [
      await refused("/api/info", { key: null }, 401, /^unauthorized$/),
      await refused("/api/info", { key: `${KEY}x` }, 401, /^unauthorized$/),
      await refused("/api/info", { key: KEY.slice(1) }, 401, /^unauthorized$/),
      await refused(
        "/api/publish",
        { key: "", body: { room: "r", data: 1 } },
        401,
        /^unauthorized$/,
      ),
      await refused("/api/nothing", { key: null }, 401, /^unauthorized$/),
      await refused(
        "/api/info",
        { key: null, headers: { authorization: `Basic ${btoa(`api:${KEY}`)}` } },
        401,
        /^unauthorized$/,
      ),
    ];
    for (const result of unauthorized) {
      assert.equal(result.headers.get("www-authenticate"), 'Bearer realm="wshub"');
    }
    assert.equal(
      (await served.call("/api/info", { headers: { authorization: `bearer  ${KEY}` } })).status,
      200,
    );

    await refused(
      "/api/nothing",
      {},
      404,
      /no route \/nothing; the routes are POST \/api\/publish/,
    );
    await refused("/elsewhere", {}, 404, /the API is under \/api\//);
    await refused("/api", {}, 404, /the API is under/);
    const wrong = await refused("/api/publish", {}, 405, /takes POST, not GET/);
    assert.equal(wrong.headers.get("allow"), "POST");
    assert.equal(
      (await refused("/api/info", { method: "POST", body: {} }, 405, /takes GET/)).headers.get(
        "allow",
      ),
      "GET",
    );
    await refused("/api/publish", { method: "PUT", body: {} }, 405, /takes POST, not PUT/);

    await refused(
      "/api/publish",
      { body: '{"room":"r","data":1}', headers: { "content-type": "text/plain" } },
      415,
      /Content-Type: application\/json/,
    );
    await refused("/api/broadcast", { method: "POST" }, 415, /as JSON/);
    assert.equal(
      (await served.call("/api/broadcast", {
        body: { data: 1 },
        headers: { "content-type": "Application/JSON; charset=utf-8" },
      })).status,
      200,
      "a JSON media type with parameters is JSON",
    );

    const big = { room: "lobby", data: "x".repeat(256) };
    await refused("/api/publish", { body: big }, 413, /larger than 256 bytes/);
    // Without a Content-Length (chunked), it is cut off while read.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 20; i++) {
          controller.enqueue(new TextEncoder().encode("[1,2,3,4,5,6,7,8,9]"));
        }
        controller.close();
      },
    });
    await refused("/api/broadcast", { body: chunks }, 413, /larger than 256 bytes/);

    const bad = (body: unknown, error: RegExp, path = "/api/publish") =>
      refused(path, { body }, 400, error);
    await bad("{", /not valid JSON/);
    await bad("[1]", /must be a JSON object with room, data/);
    await bad('"text"', /must be a JSON object/);
    await bad({ room: "r", data: 1, except: "x" }, /unknown field "except"; known: room, data/);
    await bad({ data: 1 }, /room is missing/);
    await bad({ room: 7, data: 1 }, /room must be a string/);
    await bad({ room: "no spaces", data: 1 }, /invalid room: /);
    await bad({ room: "r".repeat(129), data: 1 }, /invalid room: /);
    await bad({ room: "r" }, /data is missing \(any JSON value\)/);
    await bad({}, /data is missing/, "/api/broadcast");
    await bad({ data: 1 }, /user is missing/, "/api/user");
    await bad({ user: "", data: 1 }, /user must be a non-empty string/, "/api/user");
    await bad({ user: 5, data: 1 }, /user must be a non-empty string/, "/api/user");
    await bad({ user: "u", code: 1001 }, /invalid code 1001: 1000 or 3000–4999/, "/api/disconnect");
    await bad({ user: "u", code: "4000" }, /invalid code "4000"/, "/api/disconnect");
    await bad({ user: "u", reason: "é".repeat(62) }, /124 UTF-8 bytes/, "/api/disconnect");
    await refused(
      "/api/broadcast",
      { body: new Uint8Array([0x7b, 0xff, 0x7d]) },
      400,
      /not valid UTF-8/,
    );
    await refused("/api/presence", {}, 400, /room is missing/);
    await refused("/api/presence?room=a&room=b", {}, 400, /parameter "room" given twice/);
    await refused("/api/presence?room=a&user=b", {}, 400, /unknown parameter "user"; known: room/);
    await refused("/api/history?room=a&limit=-1", {}, 400, /invalid limit "-1"/);
    await refused("/api/history?room=a&limit=two", {}, 400, /invalid limit "two"/);
    await refused("/api/info?verbose=1", {}, 400, /unknown parameter "verbose"; known: none/);
  } finally {
    await served.close();
  }
});

Deno.test("history with since: exactly what followed the position, and whether anything is missing", async () => {
  const hub = newHub();
  const served = serveApi(hub);
  const history = async (query: string) => answer(await served.call(`/api/history?${query}`));
  try {
    for (let i = 1; i <= 5; i++) await hub.publish("h:s", `s${i}`);
    const { epoch } = await hub.history("h:s");
    const page = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => ({ offset: from + i, data: `s${from + i}` }));

    assert.deepEqual(await history(`room=h:s&since=2&epoch=${epoch}`), {
      status: 200,
      body: { epoch, offset: 5, publications: page(3, 5), recovered: true },
    });
    assert.deepEqual(await history(`room=h:s&since=2&epoch=${epoch}&limit=2`), {
      status: 200,
      body: { epoch, offset: 5, publications: page(3, 4), recovered: true },
    });
    assert.deepEqual(await history(`room=h:s&since=5&epoch=${epoch}`), {
      status: 200,
      body: { epoch, offset: 5, publications: [], recovered: true },
    });
    // epoch= (empty): the room had no stream when the position was taken; all of it follows.
    assert.deepEqual(await history("room=h:s&since=0&epoch="), {
      status: 200,
      body: { epoch, offset: 5, publications: page(1, 5), recovered: true },
    });

    // A stale epoch: the stream started again, nothing after the position can be told.
    assert.deepEqual(await history("room=h:s&since=2&epoch=0000000000000000"), {
      status: 200,
      body: {
        epoch,
        offset: 5,
        publications: [],
        recovered: false,
        reason: "epoch_changed",
      },
    });
    // No stream (expired, or a room without history): nothing, and not recovered.
    assert.deepEqual(await history(`room=lobby&since=2&epoch=${epoch}`), {
      status: 200,
      body: { epoch: "", offset: 0, publications: [], recovered: false, reason: "expired" },
    });
    // Trimmed: the stream keeps 100; after 105, offsets 1 to 5 are gone.
    for (let i = 6; i <= 105; i++) await hub.publish("h:s", `s${i}`);
    assert.deepEqual(await history(`room=h:s&since=1&epoch=${epoch}&limit=3`), {
      status: 200,
      body: { epoch, offset: 105, publications: page(6, 8), recovered: false, reason: "trimmed" },
    });
    assert.deepEqual(await history(`room=h:s&since=5&epoch=${epoch}&limit=1`), {
      status: 200,
      body: { epoch, offset: 105, publications: page(6, 6), recovered: true },
    });

    const refused = async (query: string, error: RegExp) => {
      const result = await served.call(`/api/history?${query}`);
      assert.equal(result.status, 400, query);
      assert.match(result.body.error as string, error, query);
    };
    await refused(`room=h:s&since=-1&epoch=${epoch}`, /invalid since "-1": an integer ≥ 0/);
    await refused(`room=h:s&since=1.5&epoch=${epoch}`, /invalid since "1.5"/);
    await refused(`room=h:s&since=x&epoch=${epoch}`, /invalid since "x"/);
    await refused(`room=h:s&since=1e3&epoch=${epoch}`, /invalid since "1e3"/);
    await refused(`room=h:s&since=${2 ** 53}&epoch=${epoch}`, /invalid since/);
    await refused("room=h:s&since=1", /since and epoch go together/);
    await refused(`room=h:s&epoch=${epoch}`, /since and epoch go together/);
    await refused(`room=h:s&since=1&since=2&epoch=${epoch}`, /parameter "since" given twice/);
    await refused(`room=h:s&since=1&epoch=${"e".repeat(65)}`, /invalid epoch/);
    await refused(`room=h:s&since=1&epoch=a%20b`, /invalid epoch "a b"/);
    await refused(`room=h:s&since=1&epoch=${epoch}&limit=0`, /invalid limit 0 with since/);
    await refused(`room=h:s&since=1&epoch=${epoch}&limit=-2`, /invalid limit "-2"/);
    await refused(`since=1&epoch=${epoch}`, /room is missing/);
  } finally {
    await served.close();
  }
});

Deno.test("a failure the API did not expect is a 500 with no detail, logged", async () => {
  const errors: unknown[] = [];
  const hub = newHub();
  // A hub whose presence breaks in a way no refusal covers (createApi takes any HubApi).
  const broken = new Proxy(hub, {
    get(target, name) {
      if (name === "presence") return () => Promise.reject(new Error("disk on fire at x.ts:1"));
      const value = Reflect.get(target, name);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as HubApi<unknown>;
  const api = createApi(broken, {
    key: KEY,
    logger: { ...quietLogger, error: (_message, properties) => void errors.push(properties) },
  });
  try {
    const response = await api(
      new Request("http://x/api/presence?room=r", { headers: { authorization: `Bearer ${KEY}` } }),
    );
    assert.equal(response.status, 500);
    assert.deepEqual(await response.json(), { error: "internal error" });
    assert.equal(errors.length, 1);
  } finally {
    await hub.close();
  }
});

redisTest("503 while the backplane is down (nothing sent) or the hub is closing", async () => {
  const redis = await startRedis();
  const hub = new Hub({
    logger: quietLogger,
    backplane: new RedisBackplane({ url: redis.url }),
    history: HISTORY,
  });
  const served = serveApi(hub);
  const client = await TestClient.open(served.ws);
  try {
    await hub.ready({ signal: AbortSignal.timeout(5000) });
    assert.equal((await served.call("/api/broadcast", { body: { data: "up" } })).status, 200);
    await client.received(1);
    await redis.kill();
    await until(() => hub.backplaneStatus === "down", 5000, "the hub sees Redis gone");
    for (
      const [path, body] of [
        ["/api/publish", { room: "r", data: 1 }],
        ["/api/broadcast", { data: "down" }],
        ["/api/user", { user: "u", data: 1 }],
        ["/api/disconnect", { user: "u" }],
      ] as const
    ) {
      const result = await served.call(path, { body });
      assert.equal(result.status, 503, path);
      assert.match(result.body.error as string, /the backplane is down.*nothing was sent/);
      assert.equal(result.headers.get("retry-after"), "1");
    }
    assert.deepEqual(client.messages, ["up"], "nothing was sent, not even here");
    assert.equal((await served.call("/api/presence?room=r")).status, 200, "this process's");
    const history = await served.call("/api/history?room=r");
    assert.equal(history.status, 503);
    assert.match(history.body.error as string, /history store is not reachable/);
    await hub.close();
    for (const path of ["/api/presence?room=r", "/api/info"]) {
      const result = await served.call(path);
      if (path === "/api/info") assert.equal(result.status, 200, "stats still answer");
      else {assert.deepEqual(answer(result), {
          status: 503,
          body: { error: "the hub is closing; try another process" },
        });}
    }
    assert.equal((await served.call("/api/broadcast", { body: { data: 1 } })).status, 503);
  } finally {
    await client.close();
    await served.close();
    await redis.stop();
  }
});

redisTest(
  "/api/publish on one process reaches members on another; /api/disconnect closes the user everywhere",
  async () => {
    const { redis, nodes } = await cluster(2, {
      history: HISTORY,
      historyRooms: "h:",
      apiKey: KEY,
    });
    const [a, b] = nodes;
    const onA = recorder(`${a.url}?u=alice`);
    const onB = recorder(`${b.url}?u=alice`);
    const bob = recorder(`${b.url}?u=bob`);
    const post = async (node: typeof a, path: string, body: unknown) => {
      const response = await fetch(`http://127.0.0.1:${node.control}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    };
    try {
      await bob.client.join("h:news");
      await onA.client.join("h:news");
      const published = await post(a, "/api/publish", { room: "h:news", data: { text: "hi" } });
      assert.equal(published.status, 200);
      assert.equal(published.body.offset, 1);
      await until(() => bob.got.length === 1 && onA.got.length === 1, 5000, "both members");
      assert.deepEqual(bob.got[0], { data: { text: "hi" }, room: "h:news", offset: 1 });
      assert.deepEqual((await post(a, "/api/user", { user: "bob", data: "psst" })).status, 200);
      await until(() => bob.got.length === 2, 5000, "bob's message, across Redis");
      assert.equal(bob.got[1].data, "psst");

      assert.deepEqual(await post(b, "/api/disconnect", { user: "alice", reason: "banned" }), {
        status: 200,
        body: {},
      });
      await until(
        () => onA.closes.length === 1 && onB.closes.length === 1,
        5000,
        "alice closed on both processes",
      );
      for (const { closes } of [onA, onB]) {
        assert.deepEqual([closes[0].code, closes[0].reason], [4003, "banned"]);
      }
      assert.equal(bob.closes.length, 0, "bob stays");
      const presence =
        await (await fetch(`http://127.0.0.1:${b.control}/api/presence?room=h:news`, {
          headers: { authorization: `Bearer ${KEY}` },
        })).json();
      assert.deepEqual(presence, { presence: [{ user: "bob", connections: 1 }] }, "cluster-wide");
    } finally {
      for (const { client } of [onA, onB, bob]) await client.close();
      await teardown(redis, nodes);
    }
  },
);
