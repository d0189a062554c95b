// Heartbeats over application frames (issue #3): pings every pingInterval,
// the read deadline (4000 within pingInterval + pongTimeout + 2 ticks), any
// inbound frame extends it, rtt, and no user payload is ever taken for a ping
// or a pong.

import assert from "node:assert/strict";
import { type Client, CloseCode, type DisconnectInfo } from "../mod.ts";
import { tickInterval } from "../src/server/heartbeat.ts";
import { delay, serveHub, TestClient, until, within } from "./_helpers.ts";
import { answerPings, rawPeer, readAll } from "./_wire.ts";

/** Generous extra time for a loaded 2-core CI machine, on top of every documented bound. */
const CI_SLACK = 250;

Deno.test("tickInterval: a quarter of the shortest timing, clamped to 5..1000 ms", () => {
  assert.equal(tickInterval({ pingInterval: 60, pongTimeout: 40, writeTimeout: 10_000 }), 10);
  assert.equal(tickInterval({ pingInterval: 100, pongTimeout: 30, writeTimeout: 1000 }), 7);
  assert.equal(tickInterval({ pingInterval: 1, pongTimeout: 1, writeTimeout: 1 }), 5);
  assert.equal(
    tickInterval({ pingInterval: 25_000, pongTimeout: 10_000, writeTimeout: 10_000 }),
    1000,
  );
  assert.equal(tickInterval({ pingInterval: 5000, pongTimeout: 5000, writeTimeout: 20 }), 5);
});

Deno.test("a framed peer that never answers is cut with 4000 within pingInterval + pongTimeout + 2 ticks", async () => {
  const pingInterval = 60, pongTimeout = 40, writeTimeout = 10_000;
  const tick = tickInterval({ pingInterval, pongTimeout, writeTimeout });
  let connectedAt = 0, disconnectedAt = 0;
  const infos: DisconnectInfo[] = [];
  const served = serveHub({
    pingInterval,
    pongTimeout,
    writeTimeout,
    onConnect() {
      connectedAt = performance.now();
    },
    onDisconnect(_client, info) {
      disconnectedAt = performance.now();
      infos.push(info);
    },
  });
  // A raw peer that reads everything (so it sees the close frame) but answers nothing.
  const beforeConnect = performance.now(); // at or before the registration
  const peer = await rawPeer(served.port, true);
  const drained = readAll(peer);
  await until(() => infos.length === 1, 3000, "the heartbeat cut-off");
  assert.deepEqual(infos, [{
    code: CloseCode.HeartbeatTimeout,
    reason: "heartbeat timeout",
    byHub: true,
  }]);
  // onConnect runs just after the registration (a busy machine may delay it
  // by a few ms); the upper bound is measured from it, the lower one from
  // before the connection existed.
  const elapsed = disconnectedAt - connectedAt;
  const bound = pingInterval + pongTimeout + 2 * tick;
  console.log(`heartbeat cut-off after ${elapsed.toFixed(1)} ms; documented bound ${bound} ms`);
  const sinceConnect = disconnectedAt - beforeConnect;
  assert.ok(sinceConnect >= pingInterval + pongTimeout, `cut too early: ${sinceConnect} ms`);
  assert.ok(elapsed <= bound + CI_SLACK, `cut after ${elapsed} ms, bound ${bound} ms`);
  assert.equal(served.hub.size, 0);
  assert.equal(served.hub.stats().timedOut, 1);

  const seen = await within(drained, 2000, "the close frame");
  assert.equal(seen.close?.code, 4000, "4000 went out on the wire");
  assert.ok((seen.data[0] as string).startsWith('h{"v":1'), "hello first");
  assert.ok(seen.data.slice(1).includes("p1"), "the first ping carried token 1");
  assert.ok(seen.data.slice(1).every((frame) => frame === "p1"), "only one ping went unanswered");
  peer.close();
  await served.close();
});

Deno.test("a client that answers pings stays, has an rtt, and is cut once it stops answering", async () => {
  const pingInterval = 40, pongTimeout = 60, writeTimeout = 10_000;
  const tick = tickInterval({ pingInterval, pongTimeout, writeTimeout });
  let disconnectedAt = 0;
  const infos: DisconnectInfo[] = [];
  const served = serveHub({
    pingInterval,
    pongTimeout,
    writeTimeout,
    onDisconnect(_client, info) {
      disconnectedAt = performance.now();
      infos.push(info);
    },
  });
  const client = await TestClient.open(served.url, "wshub.v1");
  let answering = true;
  let lastAnswer = 0;
  client.socket.addEventListener("message", (event) => {
    const data = event.data;
    if (answering && typeof data === "string" && data[0] === "p") {
      client.socket.send("P" + data.slice(1));
      lastAnswer = performance.now();
    }
  });
  await until(() => served.hub.size === 1, 2000, "registration");
  const [server] = served.hub.clients();
  assert.equal(server.rtt, undefined, "no rtt before the first pong");

  await delay(4 * (pingInterval + pongTimeout));
  const pings = client.messages.filter((m) => typeof m === "string" && m[0] === "p");
  assert.ok(pings.length >= 3, `expected several pings, got ${pings.length}`);
  assert.deepEqual(pings.slice(0, 3), ["p1", "p2", "p3"], "tokens count up per connection");
  assert.equal(served.hub.size, 1, "a client that answers is kept");
  assert.equal(infos.length, 0);
  const rtt: number | undefined = served.hub.clients()[0].rtt;
  console.log(`rtt measured by the hub: ${rtt?.toFixed(2)} ms`);
  assert.ok(typeof rtt === "number" && rtt >= 0 && rtt < pongTimeout + CI_SLACK, `rtt ${rtt}`);

  answering = false;
  const closed = await within(client.closed, 3000, "the cut-off");
  assert.equal(closed.code, 4000, "the client saw 4000 on the wire");
  assert.equal(closed.reason, "heartbeat timeout");
  const silence = disconnectedAt - lastAnswer;
  const bound = pingInterval + pongTimeout + 2 * tick;
  console.log(`cut ${silence.toFixed(1)} ms after the last pong; bound ${bound} ms`);
  assert.ok(silence <= bound + CI_SLACK, `cut ${silence} ms after the last pong`);
  assert.deepEqual(infos.map((info) => info.code), [4000]);
  assert.equal(served.hub.size, 0);
  await served.close();
});

Deno.test("any inbound frame extends the read deadline; a silent client in the same hub is cut", async () => {
  const pingInterval = 60, pongTimeout = 150;
  const disconnected: string[] = [];
  const received: string[] = [];
  const names = new Map<Client, string>();
  const served = serveHub({
    pingInterval,
    pongTimeout,
    onConnect(client) {
      names.set(client, `client${names.size}`);
    },
    onMessage(message) {
      received.push(message as string);
    },
    onDisconnect(client, info) {
      disconnected.push(`${names.get(client)}:${info.code}`);
    },
  });
  // client0 sends application messages, client1 its own pings, client2 nothing.
  const talker = await TestClient.open(served.url, "wshub.v1");
  await until(() => served.hub.size === 1, 2000, "registration");
  const pinger = await TestClient.open(served.url, "wshub.v1");
  await until(() => served.hub.size === 2, 2000, "registration");
  const silent = await TestClient.open(served.url, "wshub.v1");
  await until(() => served.hub.size === 3, 2000, "registration");

  const started = performance.now();
  let n = 0;
  while (performance.now() - started < 4 * (pingInterval + pongTimeout) && n < 200) {
    talker.socket.send(`m${n}`);
    pinger.socket.send(`p${n}`);
    n++;
    await delay(20);
  }
  assert.deepEqual(disconnected, ["client2:4000"], "only the silent client was cut");
  assert.equal((await within(silent.closed, 1000, "silent close")).code, 4000);
  assert.equal(served.hub.size, 2);
  const [talkerView, pingerView] = served.hub.clients();
  assert.equal(talkerView.rtt, undefined, "application messages are not pongs");
  assert.equal(pingerView.rtt, undefined, "the client's own pings are not pongs");
  if (received.length !== n) console.log("DBG", n, JSON.stringify(received), served.hub.stats());
  // The last message may still be in flight (Nagle and delayed ACKs on loopback can hold a small
  // write for tens of milliseconds): wait for it, boundedly.
  await until(() => received.length >= n, 1000, "every application message");
  assert.equal(received.length, n, "every application message reached onMessage");
  assert.deepEqual(received.slice(0, 3), ["0", "1", "2"]);
  const pongs = pinger.messages.filter((m) => typeof m === "string" && m[0] === "P");
  assert.ok(pongs.length >= n - 1, `the hub answered the client's pings (${pongs.length}/${n})`);
  assert.equal(pongs[0], "P0");
  await served.close();
  await Promise.all([talker.closed, pinger.closed]);
});

Deno.test("no user payload is ever taken for a ping or a pong, in either direction", async () => {
  const received: (string | Uint8Array)[] = [];
  const served = serveHub<string | Uint8Array, string | Uint8Array>({
    pingInterval: 60,
    pongTimeout: 1000,
    onMessage(message) {
      received.push(message);
    },
  });
  const framed = await TestClient.open(served.url, "wshub.v1");
  await until(() => served.hub.size === 1, 2000, "registration");
  const plain = await TestClient.open(served.url);
  await until(() => served.hub.size === 2, 2000, "registration");
  const [framedView] = served.hub.clients();

  // Wait for the hub's first ping, then echo its token inside an application message.
  await until(() => framed.messages.includes("p1"), 2000, "the first ping");
  framed.socket.send("mP1");
  framed.socket.send("mp1");
  framed.socket.send(new Uint8Array([0x6d, 0x70, 0x31]));
  await until(() => received.length === 3, 2000, "three application messages");
  assert.deepEqual(received, ["P1", "p1", new Uint8Array([0x70, 0x31])]);
  assert.equal(framedView.rtt, undefined, "mP1 is user text, not the pong for p1");
  assert.ok(!framed.messages.includes("P1"), "mp1 is user text, not a ping to answer");
  // The real pong, for the latest ping (a new one may have gone out meanwhile).
  for (let i = 0; i < 100 && framedView.rtt === undefined; i++) {
    const pings = framed.messages.filter((m) => typeof m === "string" && /^p\d+$/.test(m));
    framed.socket.send("P" + (pings.at(-1) as string).slice(1));
    await delay(20);
  }
  assert.ok(framedView.rtt !== undefined, "a real pong sets the rtt");

  // A plain client's "p1" and "P1" are application messages and get no answer.
  plain.socket.send("p1");
  plain.socket.send("P1");
  await until(() => received.length === 5, 2000, "the plain messages");
  assert.deepEqual(received.slice(3), ["p1", "P1"]);

  // A framed client's own ping is answered and is not an application message.
  framed.socket.send("p77");
  await until(() => framed.messages.includes("P77"), 2000, "the hub's pong");
  assert.equal(received.length, 5);

  // Outbound: user text that looks like control frames stays tagged for framed
  // clients and is exact for plain ones.
  await served.hub.broadcast("p1");
  await served.hub.broadcast("P1");
  await served.hub.broadcast("h{}");
  await until(() => framed.appMessages().length === 3, 2000, "framed copies");
  assert.deepEqual(framed.appMessages(), ["p1", "P1", "h{}"]);
  assert.ok(
    framed.messages.every((m) => typeof m !== "string" || /^(h\{"v":1|p\d+$|P77$|m|b)/.test(m)),
    "every frame to the framed client is hello, a hub ping, the pong, or tagged data",
  );
  assert.deepEqual(await plain.received(3), ["p1", "P1", "h{}"]);
  assert.equal(served.hub.size, 2, "nothing here is a protocol error");
  await served.close();
  await Promise.all([framed.closed, plain.closed]);
});

Deno.test("plain clients get no application pings and are not cut by the heartbeat", async () => {
  const pingInterval = 20, pongTimeout = 20;
  const served = serveHub({ pingInterval, pongTimeout });
  const plain = await TestClient.open(served.url);
  const framed = await TestClient.open(served.url, "wshub.v1");
  answerPings(framed);
  await until(() => served.hub.size === 2, 2000, "registration");
  await delay(6 * (pingInterval + pongTimeout));
  assert.deepEqual(plain.messages, [], "a plain client is sent no wshub.v1 frames");
  assert.ok(framed.messages.filter((m) => m[0] === "p").length >= 3, "the framed one is pinged");
  assert.equal(served.hub.size, 2);
  assert.equal(served.hub.stats().timedOut, 0);
  await served.close();
  await Promise.all([plain.closed, framed.closed]);
});
