// Inbound rate limits (src/server/rate_limit.ts): the token bucket's
// arithmetic, and over real sockets a flooding client closed (1008) or
// throttled (dropped frames, one error notice a second) while others are served.

import assert from "node:assert/strict";
import { type Client, type DisconnectInfo, Hub } from "../mod.ts";
import { RateLimiter, TokenBucket } from "../src/server/rate_limit.ts";
import { delay, serveHub, TestClient, until, within } from "./_helpers.ts";
import { answerPings, rawPeer, readAll } from "./_wire.ts";
import { joinFrames } from "../src/protocol/mod.ts";

Deno.test("TokenBucket: starts full, refills with time, never above its capacity", () => {
  const bucket = new TokenBucket(10, 0.01, 0); // 10 a second, bursts of 10
  for (let i = 0; i < 10; i++) assert.equal(bucket.take(1, 0), true, `token ${i}`);
  assert.equal(bucket.take(1, 0), false, "empty");
  assert.equal(bucket.take(1, 50), false, "half a token after 50 ms");
  assert.equal(bucket.take(1, 100), true, "one token after 100 ms");
  assert.equal(bucket.take(5, 10_000), true, "refilled");
  assert.equal(bucket.take(6, 10_000), false, "capped at 10: 5 left");
  assert.equal(bucket.take(5, 10_000), true);
  assert.equal(bucket.take(1, 5_000), false, "time going backwards adds nothing");
});

Deno.test("RateLimiter: a burst of messagesPerSecond × burst passes, then bytes or count refuse", () => {
  const limiter = new RateLimiter(
    { messagesPerSecond: 100, bytesPerSecond: 1000, burst: 2, action: "close", minByteBurst: 1 },
    0,
  );
  let passed = 0;
  while (limiter.allow(1, 0)) passed++;
  assert.equal(passed, 200);
  const bytes = new RateLimiter(
    { messagesPerSecond: 100, bytesPerSecond: 1000, burst: 2, action: "close", minByteBurst: 1 },
    0,
  );
  const large = new RateLimiter(
    { messagesPerSecond: 100, bytesPerSecond: 10, burst: 1, action: "close", minByteBurst: 500 },
    0,
  );
  assert.equal(large.allow(500, 0), true, "one message of maxMessageBytes always fits");
  assert.equal(large.allow(1, 0), false);
  assert.equal(bytes.allow(1500, 0), true);
  assert.equal(bytes.allow(600, 0), false, "2,000 bytes of burst, 1,500 spent");
  assert.equal(bytes.allow(500, 0), true);
  assert.equal(limiter.notify(0), true, "the first notice goes out");
  assert.equal(limiter.notify(999), false, "at most one a second");
  assert.equal(limiter.notify(1000), true);
});

Deno.test("rate limit options are validated with a message that says what to change", () => {
  assert.throws(() => new Hub({ rateLimit: { messagesPerSecond: 0 } }), /messagesPerSecond/);
  assert.throws(
    () => new Hub({ rateLimit: { action: "ignore" as "close" } }),
    /rateLimit.action: ignore/,
  );
  assert.throws(() => new Hub({ rateLimit: { burst: 0.5 } }), /rateLimit.burst: 0.5/);
  // A byte rate below maxMessageBytes is valid: the bucket still holds one largest message.
  void new Hub({ rateLimit: { bytesPerSecond: 1000, burst: 1 } }).close();
});

Deno.test("by default a flooding client is closed with 1008 and a peer that reads is unaffected", async () => {
  const disconnects: DisconnectInfo[] = [];
  let received = 0;
  const served = serveHub<string>({
    onMessage(message, _client, hub) {
      received++;
      hub.broadcast(message as string); // the README's chat pattern
    },
    onDisconnect(_client, info) {
      disconnects.push(info);
    },
  });
  const bystander = await TestClient.open(served.url, "wshub.v1");
  answerPings(bystander);
  const flooder = await TestClient.open(served.url, "wshub.v1");
  await until(() => served.hub.size === 2, 2000, "registrations");
  const started = performance.now();
  for (let i = 0; i < 1000; i++) flooder.socket.send(`mflood ${i}`);
  await within(flooder.closed, 3000, "the flooder's close");
  // The bucket refills at 100 a second while the flood is read: on a loaded machine that is more
  // than nothing. Anything past the burst plus that refill would be a limit not applied.
  const allowance = 200 + Math.ceil((performance.now() - started) / 10) + 1;
  // The close frame itself may be lost: Deno stops reading at the flooder's next frame and the
  // kernel then resets the connection. The close notice before it says why.
  const notice = flooder.messages.find((m) => typeof m === "string" && m[0] === "c") as string;
  assert.ok(notice !== undefined, "the flooder got a close notice");
  const { code, reason } = JSON.parse(notice.slice(1));
  assert.equal(code, 1008);
  assert.match(reason, /rate limit: more than 100 messages or 1048576 bytes a second/);
  assert.ok(received <= allowance, `at most the burst reached onMessage (${received})`);
  assert.equal(served.hub.stats().rateLimited >= 1, true);
  assert.deepEqual(disconnects.map((info) => info.code), [1008]);
  await until(() => bystander.appMessages().length === received, 3000, "the bystander's copies");
  assert.equal(bystander.socket.readyState, WebSocket.OPEN, "the bystander stays");
  await served.close();
  await bystander.closed;
});

Deno.test('action "drop": excess frames are dropped and counted, a framed client is told once a second', async () => {
  const received: string[] = [];
  const served = serveHub<string>({
    rateLimit: { messagesPerSecond: 20, burst: 1, action: "drop" },
    onMessage(message) {
      received.push(message as string);
    },
  });
  const client = await TestClient.open(served.url, "wshub.v1");
  await until(() => served.hub.size === 1, 2000, "registration");
  for (let i = 0; i < 100; i++) client.socket.send(`m${i}`);
  await until(() => served.hub.stats().rateLimited >= 75, 2000, "the drops to be counted");
  await delay(50);
  assert.ok(received.length >= 20 && received.length <= 25, `${received.length} passed`);
  assert.deepEqual(received.slice(0, 20), Array.from({ length: 20 }, (_, i) => String(i)));
  assert.equal(served.hub.stats().rateLimited, 100 - received.length);
  const notices = client.messages.filter((m) => typeof m === "string" && m[0] === "e");
  assert.equal(notices.length, 1, "one notice for the whole burst");
  const notice = JSON.parse((notices[0] as string).slice(1));
  assert.equal(notice.error, "rate_limited");
  assert.match(notice.message, /Messages were dropped: this connection sent more than 20/);
  assert.equal(client.socket.readyState, WebSocket.OPEN, "the client stays connected");
  assert.equal(served.hub.size, 1);
  await served.close();
  await client.closed;
});

Deno.test("pings count: a ping flood is closed with 1008 before it costs anything", async () => {
  let view: Client | undefined;
  const served = serveHub({
    onConnect(client) {
      view = client;
    },
  });
  const peer = await rawPeer(served.port, true);
  await until(() => view !== undefined, 2000, "registration");
  const ping = new TextEncoder().encode("p1");
  const started = performance.now();
  for (let i = 0; i < 1000; i++) await peer.sendFrame(1, ping);
  const drained = await within(readAll(peer), 3000, "the close frame");
  const allowance = 200 + Math.ceil((performance.now() - started) / 10); // burst + refill meanwhile
  const notice = drained.data.find((frame) => typeof frame === "string" && frame[0] === "c");
  assert.equal(JSON.parse((notice as string).slice(1)).code, 1008, "the close notice says 1008");
  const pongs = drained.data.filter((frame) => frame === "P1").length;
  assert.ok(pongs <= allowance, `at most the burst was answered (${pongs} of ${allowance})`);
  peer.close();
  await served.close();
});

Deno.test("each frame inside a client's B frame counts against the rate limits: 500 in one B are 1008", async () => {
  let received = 0;
  const served = serveHub<string>({ onMessage: () => void received++ });
  const flooder = await TestClient.open(served.url, "wshub.v1");
  await flooder.received(1); // the hello
  flooder.socket.send(joinFrames(Array.from({ length: 500 }, (_, i) => `m${i}`)));
  await within(flooder.closed, 3000, "the flooder's close");
  const notice = flooder.messages.find((m) => typeof m === "string" && m[0] === "c") as string;
  assert.equal(JSON.parse(notice.slice(1)).code, 1008);
  // The default burst is 200 messages; the frames after the one refused are not handled.
  await delay(50);
  assert.ok(received >= 200 && received <= 201, `${received} handled`);
  assert.equal(served.hub.stats().rateLimited, 1);
  await served.close();
});

Deno.test('each frame inside a client\'s B frame counts: with "drop", the ones past the limit are dropped', async () => {
  const received: string[] = [];
  const served = serveHub<string>({
    rateLimit: { messagesPerSecond: 20, burst: 1, action: "drop" },
    onMessage: (message) => void received.push(message as string),
  });
  const client = await TestClient.open(served.url, "wshub.v1");
  await client.received(1); // the hello
  client.socket.send(joinFrames(Array.from({ length: 500 }, (_, i) => `m${i}`)));
  await until(() => served.hub.stats().rateLimited + received.length === 500, 2000, "500 frames");
  assert.ok(received.length >= 20 && received.length <= 21, `${received.length} passed`);
  assert.deepEqual(received.slice(0, 20), Array.from({ length: 20 }, (_, i) => String(i)));
  await until(() => client.messages.some((m) => (m as string)[0] === "e"), 2000, "the notice");
  assert.equal(client.messages.filter((m) => (m as string)[0] === "e").length, 1);
  assert.equal(served.hub.size, 1, "the client stays");
  await served.close();
  await client.closed;
});
