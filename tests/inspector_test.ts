// The inspector's handler over real sockets, without a browser: its options; 401 and nothing else
// on every route (the live stream included) without credentials or with wrong ones, for Basic and
// for a function; security headers; the live stream (hello, ticks whose numbers are hub.stats(),
// the event log: connects, joins, refusals, leaves, disconnects), which ends when the hub closes,
// and the tap off again once no page listens; the tables, bounded whatever the number of clients,
// filtered and sorted (a stalled client first by queue depth); the actions, refused when read-only
// (403) or sent cross-site, and each one's effect.

import assert from "node:assert/strict";
import { connect } from "../src/client/mod.ts";
import { createInspector } from "../src/inspector/mod.ts";
import type { ClientsPage, LogEvent, RoomDetail, RoomsPage, Tick } from "../src/inspector/api.ts";
import { pageOf } from "../src/inspector/queries.ts";
import { inspectionOf } from "../src/server/inspection.ts";
import { Hub, quietLogger } from "../mod.ts";
import { delay, TestClient, until } from "./_helpers.ts";
import { AUTH, basic, PASSWORD, serveInspected, stalledPeer, Stream, USER } from "./_inspector.ts";

/** Every route under the prefix, with the method it answers. */
const ROUTES: [string, string][] = [
  ["GET", "/inspector"],
  ["GET", "/inspector/"],
  ["GET", "/inspector/app.js"],
  ["GET", "/inspector/style.css"],
  ["GET", "/inspector/api/stream"],
  ["GET", "/inspector/api/overview"],
  ["GET", "/inspector/api/clients"],
  ["GET", "/inspector/api/rooms"],
  ["GET", "/inspector/api/room?name=lobby"],
  ["GET", "/inspector/nothing-here"],
  ["HEAD", "/inspector/"],
  ["POST", "/inspector/api/close"],
  ["POST", "/inspector/api/disconnect-user"],
  ["POST", "/inspector/api/leave"],
  ["POST", "/inspector/api/publish"],
  ["DELETE", "/inspector/api/close"],
];

/** A response's status, its body discarded. */
async function status(response: Response): Promise<number> {
  await response.body?.cancel();
  return response.status;
}

Deno.test("createInspector: auth is required, options are checked", async () => {
  const hub = new Hub({ logger: quietLogger });
  const create = (options: unknown) =>
    createInspector(hub, options as Parameters<typeof createInspector>[1]);
  assert.throws(() => create(undefined), TypeError);
  assert.throws(() => create({}), /needs auth/);
  assert.throws(() => create({ auth: { user: "a" } }), TypeError);
  assert.throws(() => create({ auth: { user: "a", password: "" } }), RangeError);
  assert.throws(() => create({ auth: { user: "a:b", password: "x" } }), RangeError);
  assert.throws(() => create({ auth: () => true, readOnly: true }), /did you mean readonly/);
  for (const prefix of ["", "/", "inspector", "/inspector/", "/in spector"]) {
    assert.throws(() => create({ auth: () => true, prefix }), RangeError, prefix);
  }
  assert.throws(() => create({ auth: () => true, interval: 10 }), RangeError);
  assert.throws(() => createInspector({} as Hub, { auth: () => true }), /Not a Hub/);
  assert.equal(
    typeof create({ auth: () => true, prefix: "/admin/hub", readonly: true }),
    "function",
  );
  await hub.close();
});

Deno.test("401 and nothing else on every route, without credentials or with wrong ones", async () => {
  const served = serveInspected();
  const wrong: Record<string, string>[] = [
    {},
    { authorization: `Basic ${basic(USER, "wrong")}` },
    { authorization: `Basic ${basic("root", PASSWORD)}` },
    { authorization: `Basic ${basic(USER, `${PASSWORD}x`)}` },
    { authorization: `Basic ${basic(USER, PASSWORD.slice(0, -1))}` },
    { authorization: "Basic !!!" },
    { authorization: `Bearer ${basic(USER, PASSWORD)}` },
  ];
  for (const headers of wrong) {
    for (const [method, path] of ROUTES) {
      const response = await served.get(path, { method, headers });
      const body = await response.text();
      assert.equal(response.status, 401, `${method} ${path} with ${JSON.stringify(headers)}`);
      assert.equal(body, method === "HEAD" ? "" : "Unauthorized");
      assert.equal(
        response.headers.get("www-authenticate"),
        'Basic realm="wshub inspector", charset="UTF-8"',
      );
      assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
      assert.match(response.headers.get("content-security-policy")!, /default-src 'none'/);
    }
  }
  // Outside the prefix, not the inspector's: 404, whoever asks.
  for (const path of ["/", "/inspectorx", "/other/inspector"]) {
    const response = await served.get(path, { headers: {} });
    await response.body?.cancel();
    assert.equal(response.status, 404, path);
  }
  // With the credentials, each route answers.
  const page = await served.get("/inspector/");
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  const csp = page.headers.get("content-security-policy")!;
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(page.headers.get("x-frame-options"), "DENY");
  assert.equal(page.headers.get("x-content-type-options"), "nosniff");
  assert.equal(page.headers.get("cache-control"), "no-store");
  const html = await page.text();
  assert.doesNotMatch(
    html,
    /<script>|<style>|\son[a-z]+=|https?:\/\//i,
    "nothing inline, no network",
  );
  const redirect = await served.get("/inspector");
  await redirect.body?.cancel();
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.get("location"), "/inspector/");
  const script = await served.get("/inspector/app.js");
  assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.doesNotMatch(await script.text(), /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, "no network");
  const missing = await served.get("/inspector/nothing-here");
  await missing.body?.cancel();
  assert.equal(missing.status, 404);
  await served.close();
});

Deno.test("auth as a function: its verdict, async, and a throw lets nobody in", async () => {
  for (
    const auth of [
      (req: Request) => req.headers.get("x-token") === "let-me-in",
      (req: Request) => Promise.resolve(req.headers.get("x-token") === "let-me-in"),
      (req: Request) => {
        if (req.headers.get("x-token") !== "let-me-in") throw new Error("no");
        return true;
      },
    ]
  ) {
    const served = serveInspected({}, { auth });
    for (const [method, path] of ROUTES) {
      for (const headers of [{}, { "x-token": "nope" }, AUTH] as Record<string, string>[]) {
        const response = await served.get(path, { method, headers });
        await response.body?.cancel();
        assert.equal(response.status, 401, `${method} ${path}`);
        assert.equal(response.headers.get("www-authenticate"), null);
      }
    }
    const ok = await served.get("/inspector/api/overview", { headers: { "x-token": "let-me-in" } });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    await served.close();
  }
});

Deno.test("the live stream: hello, ticks that are hub.stats(), the event log; off once unread", async () => {
  const served = serveInspected({ authorizeJoin: (_client, room) => room !== "secret" });
  const { hub } = served;
  const inspection = inspectionOf(hub);
  const early = await TestClient.open(`${served.ws}?u=early`);
  await until(() => hub.size === 1, 2000, "early's registration");
  assert.equal(inspection.tap.on, false, "nobody watches: the tap is off");
  const head = await served.get("/inspector/api/stream", { method: "HEAD", headers: AUTH });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-type"), "text/event-stream; charset=utf-8");
  assert.equal(inspection.tap.on, false, "HEAD opens no stream");

  const stream = new Stream(await served.get("/inspector/api/stream"));
  const hello = await stream.hello();
  assert.equal(hello.readonly, false);
  assert.equal(hello.interval, 100);
  assert.equal(hello.backplane, false);
  assert.equal(hello.buckets.length, hello.tick.waits.counts.length - 1);
  assert.equal(hello.tick.stats.connections, 1);
  assert.deepEqual(hello.events.map((event) => event.type), ["watch"]);
  assert.equal(inspection.tap.on, true);

  const alice = connect(`${served.ws}?u=alice`);
  await until(() => hub.size === 2, 2000, "alice's registration");
  await alice.join("lobby");
  await alice.join("secret").catch(() => {});
  await alice.leave("lobby");
  const refused = await fetch(`${served.base}/ws`); // not an upgrade: 426
  await refused.body?.cancel();
  await alice.close();
  await until(() => hub.size === 1, 2000, "alice's departure");

  const log: LogEvent[] = [];
  const tick = await stream.until((tick: Tick) => {
    log.push(...tick.events);
    return log.some((event) => event.type === "disconnect");
  });
  const stats = hub.stats();
  for (const name of ["connections", "framedConnections", "users", "rooms", "connected"] as const) {
    assert.equal(tick.stats[name], stats[name], name);
  }
  assert.deepEqual(tick.stats.closeCodes, stats.closeCodes);
  assert.ok(tick.rates !== undefined && tick.rates.connections === 1);
  const id = log.find((event) => event.type === "connect")!.id;
  assert.deepEqual(
    log.map(({ type, user, room, code, status, error }) => ({
      type,
      user,
      room,
      code,
      status,
      error,
    })),
    [
      {
        type: "connect",
        user: "alice",
        room: undefined,
        code: undefined,
        status: undefined,
        error: undefined,
      },
      {
        type: "join",
        user: "alice",
        room: "lobby",
        code: undefined,
        status: undefined,
        error: undefined,
      },
      {
        type: "joinRefused",
        user: "alice",
        room: "secret",
        code: undefined,
        status: undefined,
        error: "forbidden",
      },
      {
        type: "leave",
        user: "alice",
        room: "lobby",
        code: undefined,
        status: undefined,
        error: undefined,
      },
      {
        type: "refused",
        user: undefined,
        room: undefined,
        code: undefined,
        status: 426,
        error: undefined,
      },
      {
        type: "disconnect",
        user: "alice",
        room: undefined,
        code: 1000,
        status: undefined,
        error: undefined,
      },
    ],
  );
  assert.equal(log[0].address, "127.0.0.1");
  assert.ok(log.every((event) => event.id === undefined || event.id === id));

  // A second page shares the feed; the tap stays on until the last one goes.
  const second = new Stream(await served.get("/inspector/api/stream"));
  const again = await second.hello();
  assert.ok(again.events.some((event) => event.type === "disconnect"), "the log so far");
  assert.ok(again.series.length > 0, "the charts so far");
  await stream.cancel();
  await delay(250);
  assert.equal(inspection.tap.on, true);
  await second.cancel();
  await until(() => !inspection.tap.on, 2000, "the tap to be off");

  await early.close();
  await served.close();
});

Deno.test("the stream ends when the hub closes, so that the server can shut down", async () => {
  const served = serveInspected();
  const stream = new Stream(await served.get("/inspector/api/stream"));
  await stream.hello();
  const closed = served.close(); // hub.close(), then server.shutdown()
  assert.equal(await stream.ended(3000), true);
  await closed;
  // Asked after the hub closed: ended at once.
  const late = serveInspected();
  await late.hub.close();
  const after = new Stream(await late.get("/inspector/api/stream"));
  assert.equal(await after.ended(1000), true);
  await late.close();
});

Deno.test("the client table: bounded pages, filters, sorts; a stalled client first by queue", async () => {
  const served = serveInspected({
    writeTimeout: 60_000,
    sendQueueLimit: 1_000_000,
    maxBufferedBytes: 64 * 1024,
  });
  const { hub } = served;
  const clients: TestClient[] = [];
  for (let i = 0; i < 60; i++) {
    clients.push(new TestClient(`${served.ws}?u=user${i % 20}`, i % 2 === 0 ? "wshub.v1" : []));
  }
  await Promise.all(clients.map((client) => client.opened));
  await until(() => hub.size === 60, 3000, "60 registrations");
  for (const client of hub.clientsOf("user3")) await hub.join(client, "three");
  await hub.join(hub.clientsOf("user4")[0], "three");

  const page = async (query: string) => {
    const response = await served.get(`/inspector/api/clients?${query}`);
    assert.equal(response.status, 200, query);
    return await response.json() as ClientsPage;
  };
  const first = await page("");
  assert.equal(first.total, 60);
  assert.equal(first.rows.length, 50, "50 rows by default");
  assert.equal(first.sort, "connected");
  assert.equal(first.order, "desc");
  const views = hub.clients();
  assert.equal(first.rows[0].id, views.at(-1)!.id, "newest first");
  assert.equal((await page("limit=100000")).rows.length, 60, "at most 200, here all 60");
  assert.equal((await page("offset=55&limit=10")).rows.length, 5);
  const ascending = await page("order=asc&offset=10&limit=5");
  assert.deepEqual(ascending.rows.map((row) => row.id), views.slice(10, 15).map((v) => v.id));
  const row = first.rows[0];
  assert.equal(row.address, "127.0.0.1");
  assert.equal(typeof row.connectedAt, "number");
  assert.equal(row.queued, 0);
  assert.equal(row.expiresAt, undefined);
  // A client whose credential expires (expiring identities give the view `expiresAt`): shown.
  const expiring = views.at(-1)!;
  Object.defineProperty(expiring, "expiresAt", { value: 1_900_000_000_000, configurable: true });
  assert.equal((await page("limit=1")).rows[0].expiresAt, 1_900_000_000_000);

  const ofUser = await page("user=user3");
  assert.equal(ofUser.total, 3);
  assert.ok(ofUser.rows.every((row) => row.user === "user3" && row.rooms[0] === "three"));
  assert.equal((await page("room=three")).total, 4);
  assert.equal((await page("room=three&user=user4")).total, 1);
  assert.equal((await page("room=nowhere")).total, 0);

  // A client that never reads, sent far more than the kernel and Deno's buffer hold.
  const stalled = await stalledPeer(served.port, "stalled");
  await until(() => hub.size === 61, 3000, "the stalled client");
  const chunk = "x".repeat(1024);
  for (let i = 0; i < 20_000; i++) void hub.sendToUser("stalled", chunk);
  await hub.sendToUser("stalled", chunk);
  const byQueue = await page("sort=queued&limit=5");
  assert.equal(byQueue.rows[0].user, "stalled");
  assert.ok(byQueue.rows[0].queued > 1000, `queued ${byQueue.rows[0].queued}`);
  assert.ok(byQueue.rows.slice(1).every((row) => row.queued === 0));
  // Deno's buffer may have drained into the kernel's by now: only its order is checked.
  const byBuffered = await page("sort=buffered&limit=61");
  const buffered = byBuffered.rows.map((row) => row.buffered);
  assert.deepEqual(buffered, [...buffered].sort((a, b) => b - a));
  const last = await page("sort=queued&order=asc&offset=60&limit=5");
  assert.deepEqual(last.rows.map((row) => row.user), ["stalled"]);

  stalled.close();
  await Promise.all(clients.map((client) => client.close()));
  await served.close();
});

Deno.test("pageOf: a partial sort equals a full stable sort, at any depth", () => {
  const items = Array.from({ length: 3000 }, (_, i) => ({ i, key: (i * 7919) % 101 }));
  for (const descending of [true, false]) {
    const sorted = [...items].sort((a, b) => descending ? b.key - a.key : a.key - b.key);
    for (const [offset, limit] of [[0, 10], [0, 50], [37, 13], [450, 50], [600, 50], [2990, 50]]) {
      assert.deepEqual(
        pageOf(items, (item) => item.key, descending, offset, limit),
        sorted.slice(offset, offset + limit),
        `${descending ? "desc" : "asc"} ${offset}+${limit}`,
      );
    }
  }
  assert.deepEqual(pageOf(["b", "c", "a"], (s) => s, false, 0, 2), ["a", "b"]);
});

Deno.test("the room table and a room's detail: members, presence, history, publications", async () => {
  const served = serveInspected({
    history: (room) => room === "news" ? { size: 10, ttl: 60_000 } : undefined,
  });
  const { hub } = served;
  const stream = new Stream(await served.get("/inspector/api/stream")); // the tap hears publications
  await stream.hello();
  const a = connect(`${served.ws}?u=alice`);
  const b = connect(`${served.ws}?u=bob`);
  const c = connect(`${served.ws}?u=bob`);
  await until(() => hub.size === 3, 2000, "registrations");
  await Promise.all([a.join("news"), b.join("news"), c.join("news"), a.join("chat")]);
  await hub.publish("news", { headline: "<b>hello</b>" });
  await hub.publish("chat", "x".repeat(500));
  await hub.publish("chat", new Uint8Array([1, 2, 3]));

  const rooms = await (await served.get("/inspector/api/rooms")).json() as RoomsPage;
  assert.equal(rooms.total, 2);
  assert.deepEqual(rooms.rows.map(({ name, members, users }) => ({ name, members, users })), [
    { name: "news", members: 3, users: 2 },
    { name: "chat", members: 1, users: 1 },
  ]);
  assert.equal(rooms.rows[0].history!.offset, 1);
  assert.equal(rooms.rows[1].history, null);
  const byName = await (await served.get("/inspector/api/rooms?sort=name&order=asc&contains=a"))
    .json() as RoomsPage;
  assert.deepEqual(byName.rows.map((row) => row.name), ["chat"]);

  const news = await (await served.get("/inspector/api/room?name=news")).json() as RoomDetail;
  assert.equal(news.memberCount, 3);
  assert.deepEqual(news.presence, [{ user: "alice", connections: 1 }, {
    user: "bob",
    connections: 2,
  }]);
  assert.equal(news.cluster, undefined, "no backplane: no cluster-wide counts");
  assert.equal(news.history!.offset, 1);
  assert.deepEqual(news.history!.publications.map((p) => p.preview), [
    '{"headline":"<b>hello</b>"}',
  ]);
  assert.deepEqual(news.recent.map((p) => [p.offset, p.members]), [[1, 3]]);
  const chat = await (await served.get("/inspector/api/room?name=chat")).json() as RoomDetail;
  assert.equal(chat.history, undefined);
  assert.deepEqual(chat.recent.map((p) => [p.preview?.length, p.size]), [[201, 500], [
    undefined,
    3,
  ]]);
  const bad = await served.get("/inspector/api/room?name=no%20spaces");
  await bad.body?.cancel();
  assert.equal(bad.status, 400);

  await stream.cancel();
  await Promise.all([a.close(), b.close(), c.close()]);
  await served.close();
});

Deno.test("actions: close, disconnect a user, remove from a room, publish; each checked", async () => {
  const served = serveInspected();
  const { hub } = served;
  const plain = await TestClient.open(`${served.ws}?u=carol`);
  const tabs = [
    await TestClient.open(`${served.ws}?u=dave`),
    await TestClient.open(`${served.ws}?u=dave`),
  ];
  const framed = connect(`${served.ws}?u=erin`);
  await until(() => hub.size === 4, 2000, "registrations");
  await hub.join(hub.clientsOf("carol")[0], "lobby");
  await framed.join("lobby");

  const result = async (response: Response) => ({
    status: response.status,
    ...(await response.json()),
  });
  assert.deepEqual(await result(await served.act("publish", { room: "lobby", data: "hi all" })), {
    status: 200,
    ok: true,
    count: 2,
  });
  assert.deepEqual(await plain.received(1), ["hi all"]);
  assert.deepEqual(
    await result(await served.act("publish", { room: "lobby", data: '{"n":1}', json: true })),
    { status: 200, ok: true, count: 2 },
  );
  assert.deepEqual(await plain.received(2), ["hi all", '{"n":1}']);
  assert.equal(
    await status(await served.act("publish", { room: "lobby", data: "{", json: true })),
    400,
  );

  const erin = hub.clientsOf("erin")[0];
  assert.deepEqual(await result(await served.act("leave", { id: erin.id, room: "lobby" })), {
    status: 200,
    ok: true,
    count: 1,
  });
  assert.deepEqual([...erin.rooms], []);

  const carol = hub.clientsOf("carol")[0];
  assert.equal(await status(await served.act("close", { id: carol.id, code: 999 })), 400);
  assert.equal(await status(await served.act("close", { id: "no-such-client" })), 404);
  assert.deepEqual(await result(await served.act("close", { id: carol.id })), {
    status: 200,
    ok: true,
    count: 1,
  });
  const closed = await plain.closed;
  assert.deepEqual([closed.code, closed.reason], [1000, "closed from the inspector"]);

  assert.deepEqual(await result(await served.act("disconnect-user", { user: "dave" })), {
    status: 200,
    ok: true,
    count: 2,
  });
  for (const tab of tabs) assert.equal((await tab.closed).code, 4003); // hub.disconnectUser: revoked
  assert.equal(hub.clientsOf("dave").length, 0);

  assert.equal(await status(await served.act("explode", {})), 404);
  assert.equal(await status(await served.act("close", {})), 400);
  await framed.close();
  await served.close();
});

Deno.test("actions are refused when read-only, cross-site, or not JSON", async () => {
  const readonly = serveInspected({}, { readonly: true });
  const client = await TestClient.open(`${readonly.ws}?u=frank`);
  await until(() => readonly.hub.size === 1, 2000, "frank");
  const id = readonly.hub.clients()[0].id;
  for (
    const [name, body] of [
      ["close", { id }],
      ["disconnect-user", { user: "frank" }],
      ["leave", { id, room: "lobby" }],
      ["publish", { room: "lobby", data: "x" }],
    ] as const
  ) {
    const response = await readonly.act(name, body);
    assert.equal(response.status, 403, name);
    assert.deepEqual(await response.json(), { ok: false, error: "this inspector is read-only" });
  }
  const stream = new Stream(await readonly.get("/inspector/api/stream"));
  assert.equal((await stream.hello()).readonly, true);
  await stream.cancel();
  assert.equal(readonly.hub.size, 1, "frank is still there");
  await client.close();
  await readonly.close();

  const served = serveInspected();
  const refusals: [Record<string, string>, number][] = [
    [{ "sec-fetch-site": "cross-site" }, 403],
    [{ "sec-fetch-site": "same-site" }, 403],
    [{ origin: "http://evil.example" }, 403],
    [{ origin: "null" }, 403],
    [{ "content-type": "application/x-www-form-urlencoded" }, 415],
    [{ "content-type": "text/plain" }, 415],
  ];
  for (const [headers, status] of refusals) {
    const response = await served.act("publish", { room: "lobby", data: "x" }, headers);
    await response.body?.cancel();
    assert.equal(response.status, status, JSON.stringify(headers));
  }
  const same = await served.act("publish", { room: "lobby", data: "x" }, {
    origin: served.base,
    "sec-fetch-site": "same-origin",
  });
  assert.equal(same.status, 200);
  await same.body?.cancel();
  const huge = await served.act("publish", { room: "lobby", data: "x".repeat(70_000) });
  await huge.body?.cancel();
  assert.equal(huge.status, 413);
  const notJson = await fetch(`${served.base}/inspector/api/publish`, {
    method: "POST",
    headers: { ...AUTH, "content-type": "application/json" },
    body: "[1, 2",
  });
  await notJson.body?.cancel();
  assert.equal(notJson.status, 400);
  await served.close();
});
