// End-to-end tests of the Hub over real sockets on 127.0.0.1: upgrade and
// admission, broadcast, user messages, onMessage ordering, error isolation,
// and close().

import assert from "node:assert/strict";
import { CloseCode, Hub, HubClosedError, type Logger, protocolToken } from "../mod.ts";
import { delay, RawPeer, refusedUpgrade, serveHub, TestClient, until, within } from "./_helpers.ts";

function byUserQuery(req: Request): string | undefined {
  return new URL(req.url).searchParams.get("user") ?? undefined;
}

Deno.test("broadcast reaches every plain and framed client", async () => {
  const served = serveHub<{ n: number }>();
  const plain = await Promise.all([1, 2, 3].map(() => TestClient.open(served.url)));
  const framed = await Promise.all([1, 2].map(() => TestClient.open(served.url, "wshub.v1")));
  await until(() => served.hub.size === 5, 2000, "five registrations");
  const count = await served.hub.broadcast({ n: 1 });
  assert.equal(count, 5);
  await served.hub.broadcast({ n: 2 });
  for (const client of plain) {
    assert.deepEqual(await client.received(2), ['{"n":1}', '{"n":2}']);
  }
  for (const client of framed) {
    await until(() => client.appMessages().length === 2, 2000, "two messages");
    assert.deepEqual(client.appMessages(), ['{"n":1}', '{"n":2}']);
    assert.ok((client.messages[0] as string).startsWith('h{"v":1'), "hello comes first");
  }
  await served.close();
  await Promise.all([...plain, ...framed].map((client) => client.closed));
});

Deno.test("a plain client gets strings and bytes exactly as they were sent", async () => {
  const served = serveHub<string | Uint8Array>();
  const client = await TestClient.open(served.url);
  await until(() => served.hub.size === 1, 2000, "registration");
  const text = 'héllo "wörld" 💬 p1 m{x} h{}';
  const bytes = new Uint8Array([0, 1, 0x6d, 0x70, 255, 128]);
  await served.hub.broadcast(text);
  await served.hub.broadcast(bytes);
  const [first, second] = await client.received(2);
  assert.equal(first, text);
  assert.deepEqual(second, bytes);
  await served.close();
  await client.closed;
});

Deno.test("sendToUser reaches all of a user's connections and nobody else", async () => {
  const served = serveHub<string>({ identify: byUserQuery });
  const alice = await Promise.all(
    [1, 2, 3].map((i) => TestClient.open(`${served.url}?user=alice`, i === 2 ? "wshub.v1" : [])),
  );
  const bob = await TestClient.open(`${served.url}?user=bob`);
  const anonymous = await TestClient.open(served.url);
  await until(() => served.hub.size === 5, 2000, "five registrations");
  assert.equal(served.hub.clientsOf("alice").length, 3);
  assert.equal(await served.hub.sendToUser("alice", "you have mail"), 3);
  assert.equal(await served.hub.sendToUser("carol", "nobody home"), 0);
  await served.hub.broadcast("everyone");
  for (const client of alice) {
    await until(() => client.appMessages().length === 2, 2000, "alice's messages");
    assert.deepEqual(client.appMessages(), ["you have mail", "everyone"]);
  }
  assert.deepEqual(await bob.received(1), ["everyone"]);
  assert.deepEqual(await anonymous.received(1), ["everyone"]);
  await delay(20);
  assert.equal(bob.messages.length, 1, "bob got nothing meant for alice");

  // The user index forgets connections as they leave, and the user with the last one.
  await alice[0].close();
  await until(() => served.hub.clientsOf("alice").length === 2, 2000, "alice's first tab to leave");
  assert.equal(await served.hub.sendToUser("alice", "still here"), 2);
  await Promise.all(alice.slice(1).map((client) => client.close()));
  await until(() => served.hub.stats().users === 1, 2000, "alice to leave the index");
  assert.equal(await served.hub.sendToUser("alice", "gone"), 0);
  await served.close();
  await Promise.all([bob.closed, anonymous.closed]);
});

Deno.test("onMessage sees each client's messages in order, with its client and the hub", async () => {
  const seen: string[] = [];
  let sawHub = false;
  const served = serveHub<string>({
    identify: byUserQuery,
    onMessage(message, client, hub) {
      seen.push(`${client.user}:${message}`);
      sawHub ||= hub instanceof Hub;
    },
  });
  const client = await TestClient.open(`${served.url}?user=ann`, "wshub.v1");
  for (let i = 0; i < 200; i++) client.socket.send(`m${i}`);
  await until(() => seen.length === 200, 5000, "200 messages");
  assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => `ann:${i}`));
  assert.ok(sawHub);
  await served.close();
  await client.closed;
});

Deno.test("an async onMessage holds back only its own client's next message", async () => {
  const order: string[] = [];
  let releaseSlow!: () => void;
  const slowGate = new Promise<void>((resolve) => releaseSlow = resolve);
  const served = serveHub<string>({
    identify: byUserQuery,
    async onMessage(message, client) {
      order.push(`start ${client.user}:${message}`);
      if (client.user === "slow" && message === "1") await slowGate;
      await delay(1);
      order.push(`end ${client.user}:${message}`);
    },
  });
  const slow = await TestClient.open(`${served.url}?user=slow`);
  const fast = await TestClient.open(`${served.url}?user=fast`);
  slow.socket.send("1");
  slow.socket.send("2");
  await until(() => order.includes("start slow:1"), 2000, "the slow handler to start");
  fast.socket.send("a");
  await until(() => order.includes("end fast:a"), 2000, "the fast client's handler");
  assert.ok(!order.includes("start slow:2"), "slow:2 waits for slow:1 to finish");
  releaseSlow();
  await until(() => order.includes("end slow:2"), 2000, "slow:2");
  assert.ok(order.indexOf("end slow:1") < order.indexOf("start slow:2"));
  await served.close();
  await Promise.all([slow.closed, fast.closed]);
});

Deno.test("a throwing or rejecting onMessage is reported and the hub keeps serving", async () => {
  const errors: string[] = [];
  const served = serveHub<string>({
    onMessage(message, client, hub) {
      if (message === "throw") throw new Error("handler bug");
      if (message === "reject") return Promise.reject(new Error("async handler bug"));
      hub.broadcast(`echo ${message}`);
      void client;
    },
    onError(error) {
      errors.push(error.message);
    },
  });
  const client = await TestClient.open(served.url);
  client.socket.send("throw");
  client.socket.send("reject");
  client.socket.send("ok");
  assert.deepEqual(await client.received(1), ["echo ok"]);
  assert.deepEqual(errors, [
    "The onMessage callback failed: handler bug",
    "The onMessage callback failed: async handler bug",
  ]);
  assert.equal(served.hub.size, 1, "the connection survived");
  await served.close();
  await client.closed;
});

Deno.test("errors go to the logger when no onError is given", async () => {
  const warnings: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn(message) {
      warnings.push(message);
    },
    error(message) {
      warnings.push(message);
    },
  };
  const served = serveHub({
    logger,
    onMessage() {
      throw new Error("boom");
    },
  });
  const client = await TestClient.open(served.url);
  client.socket.send("x");
  await until(() => warnings.length === 1, 2000, "the warning");
  assert.equal(warnings[0], "The onMessage callback failed: boom");
  await served.close();
  await client.closed;
});

Deno.test("identify can refuse with 401 before any upgrade happens", async () => {
  let upgraded = 0;
  const served = serveHub({
    identify: (req) =>
      protocolToken(req) === "good" ? "alice" : new Response("unknown token", { status: 401 }),
    onConnect() {
      upgraded++;
    },
  });
  const refused = await RawPeer.connect(served.port, {
    headers: { "Sec-WebSocket-Protocol": "wshub.v1, wshub.token.bad" },
  });
  assert.equal(refused.status, 401);
  refused.close();
  const accepted = await TestClient.open(served.url, ["wshub.v1", "wshub.token.good"]);
  assert.equal(accepted.socket.protocol, "wshub.v1", "the token is never echoed");
  await until(() => upgraded === 1, 2000, "one registration");
  assert.equal(served.hub.clients()[0].user, "alice");
  assert.equal(served.hub.size, 1);
  await served.close();
  await accepted.closed;
});

Deno.test("identify may be async; one that throws yields 500 and no upgrade", async () => {
  const served = serveHub({
    async identify(req) {
      await delay(1);
      const user = byUserQuery(req);
      if (user === "crash") throw new Error("database down");
      return user;
    },
    onError() {},
  });
  const ok = await TestClient.open(`${served.url}?user=zoe`);
  await until(() => served.hub.size === 1, 2000, "registration");
  assert.equal(served.hub.clients()[0].user, "zoe");
  assert.equal((await refusedUpgrade(`${served.url}?user=crash`)).status, 500);
  assert.equal(served.hub.size, 1);
  await served.close();
  await ok.closed;
});

Deno.test("the seed's way: identity in Sec-WebSocket-Protocol, echoed back", async () => {
  const served = serveHub<string>({
    identify: (req) => req.headers.get("sec-websocket-protocol") ?? undefined,
  });
  const client = await TestClient.open(served.url, "alice");
  assert.equal(client.socket.protocol, "alice", "the chosen protocol is echoed");
  await until(() => served.hub.size === 1, 2000, "registration");
  const [registered] = served.hub.clients();
  assert.equal(registered.user, "alice");
  assert.equal(registered.framed, false);
  assert.equal(await served.hub.sendToUser("alice", "hi"), 1);
  assert.deepEqual(await client.received(1), ["hi"], "a plain connection: no tag");
  await served.close();
  await client.closed;
});

Deno.test("a WHATWG client offering several protocols gets wshub.v1 echoed", async () => {
  const served = serveHub();
  const client = await TestClient.open(served.url, ["chat", "wshub.v1"]);
  assert.equal(client.socket.protocol, "wshub.v1");
  await until(() => served.hub.size === 1, 2000, "registration");
  assert.equal(served.hub.clients()[0].framed, true);
  await served.close();
  await client.closed;
});

Deno.test("cross-site upgrades are refused with 403 unless allowed", async () => {
  const sameOrigin = serveHub();
  const host = `127.0.0.1:${sameOrigin.port}`;
  const evil = await RawPeer.connect(sameOrigin.port, {
    headers: { Origin: "https://evil.example" },
  });
  assert.equal(evil.status, 403);
  evil.close();
  const same = await RawPeer.connect(sameOrigin.port, { headers: { Origin: `http://${host}` } });
  assert.equal(same.status, 101);
  same.close();
  const noOrigin = await RawPeer.connect(sameOrigin.port);
  assert.equal(noOrigin.status, 101, "non-browser clients send no Origin");
  noOrigin.close();
  await until(() => sameOrigin.hub.size === 0, 2000, "the raw peers to be gone");
  await sameOrigin.close();

  const listed = serveHub({ allowedOrigins: ["https://app.example"] });
  const app = await RawPeer.connect(listed.port, { headers: { Origin: "https://app.example" } });
  assert.equal(app.status, 101);
  app.close();
  const other = await RawPeer.connect(listed.port, {
    headers: { Origin: `http://127.0.0.1:${listed.port}` },
  });
  assert.equal(other.status, 403, "a list replaces the same-origin default");
  other.close();
  await until(() => listed.hub.size === 0, 2000, "the raw peer to be gone");
  await listed.close();
});

Deno.test("a request that is not an upgrade gets 426, a POST upgrade 405", async () => {
  const served = serveHub();
  const plainGet = await fetch(`http://127.0.0.1:${served.port}/ws`);
  assert.equal(plainGet.status, 426);
  assert.equal(plainGet.headers.get("upgrade"), "websocket");
  assert.match(await plainGet.text(), /WebSocket only/);
  const post = await fetch(`http://127.0.0.1:${served.port}/ws`, {
    method: "POST",
    headers: { upgrade: "websocket" },
    body: "x",
  });
  assert.equal(post.status, 405);
  await post.body?.cancel();
  assert.equal(served.hub.size, 0);
  await served.close();
});

Deno.test("client.send is ordered with broadcasts queued before it", async () => {
  const served = serveHub<string>({
    onConnect(client, hub) {
      hub.broadcast("first");
      client.send("second");
      hub.broadcast("third");
    },
  });
  const client = await TestClient.open(served.url);
  assert.deepEqual(await client.received(3), ["first", "second", "third"]);
  await served.close();
  await client.closed;
});

Deno.test("client.close sends its code after what was queued, and unregisters", async () => {
  const disconnects: { code: number; byHub: boolean }[] = [];
  const served = serveHub<string>({
    onConnect(client) {
      client.send("bye soon");
      client.close(4100, "kicked");
    },
    onDisconnect(_client, info) {
      disconnects.push({ code: info.code, byHub: info.byHub });
    },
  });
  const client = await TestClient.open(served.url);
  const closed = await within(client.closed, 2000, "the close");
  assert.equal(closed.code, 4100);
  assert.equal(closed.reason, "kicked");
  assert.deepEqual(client.messages, ["bye soon"]);
  assert.deepEqual(disconnects, [{ code: 4100, byHub: true }]);
  assert.equal(served.hub.size, 0);
  await served.close();
});

Deno.test("close() closes every client with 1001 and resolves once the scheduler stopped", async () => {
  const served = serveHub<string>();
  const clients = await Promise.all(
    [undefined, "wshub.v1", undefined].map((p) => TestClient.open(served.url, p)),
  );
  await until(() => served.hub.size === 3, 2000, "three registrations");
  await served.hub.close();
  assert.equal(served.hub.size, 0);
  assert.equal(served.hub.closed, true);
  assert.equal(await served.hub.broadcast("late"), 0, "a closed hub queues nothing");
  // Sending resolves 0 or false (fire-and-forget calls must not turn into unhandled rejections);
  // questions reject: an empty answer would read as an empty room.
  assert.equal(await served.hub.sendToUser("u", "late"), 0);
  assert.equal(await served.hub.publish("room", "late"), 0);
  await assert.rejects(served.hub.presence("room"), HubClosedError);
  await assert.rejects(
    served.hub.history("room"),
    /hub.history\(\) cannot be answered: the hub is closed/,
  );
  await assert.rejects(served.hub.ready(), HubClosedError);
  for (const client of clients) {
    assert.equal((await within(client.closed, 2000, "close")).code, CloseCode.GoingAway);
  }
  const late = await fetch(`http://127.0.0.1:${served.port}/ws`, {
    headers: { upgrade: "websocket", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" },
  });
  assert.equal(late.status, 503);
  await late.body?.cancel();
  await served.server.shutdown();
});

Deno.test("ready() resolves at once without a backplane; waiting ones reject when the hub closes", async () => {
  const hub = new Hub();
  await hub.ready();
  await hub.close();
  // With a backplane that never comes up: ready() waits, a signal ends the wait, close() too.
  const never = new Hub({
    backplane: {
      status: "connecting",
      start() {},
      publish() {},
      subscribe() {},
      unsubscribe() {},
      presenceChanged() {},
      presence: () => Promise.resolve([]),
      close: () => Promise.resolve(),
    },
  });
  const aborted = new AbortController();
  const waiting = never.ready({ signal: aborted.signal });
  const untilClosed = never.ready();
  aborted.abort(new Error("gave up"));
  await assert.rejects(waiting, /gave up/);
  await never.close();
  await assert.rejects(untilClosed, HubClosedError);
});

Deno.test("aborting the signal closes the hub", async () => {
  const controller = new AbortController();
  const served = serveHub({ signal: controller.signal });
  const client = await TestClient.open(served.url);
  await until(() => served.hub.size === 1, 2000, "registration");
  controller.abort();
  assert.equal((await within(client.closed, 2000, "close")).code, 1001);
  await served.hub.close();
  await served.server.shutdown();
});

Deno.test("options out of range are refused with a clear error", () => {
  assert.throws(() => new Hub({ pingInterval: 0 }), /pingInterval: 0; expected a finite number/);
  assert.throws(() => new Hub({ overflow: "block" as "close" }), /overflow: block/);
});

Deno.test("a value with no JSON form is refused at the call", async () => {
  const hub = new Hub<unknown>();
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => hub.broadcast(cyclic), TypeError);
  assert.throws(() => hub.sendToUser("a", () => {}), /a function has no JSON form/);
  assert.throws(() => hub.broadcast(undefined), /this message: undefined has no JSON form/);
  await hub.close();
});
