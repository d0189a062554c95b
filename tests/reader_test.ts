// Bad input (issue #3): message sizes in UTF-8 bytes (1009), binary refused
// (1003), undecodable text (1007, onError, no crash), malformed wshub.v1
// frames (1002), bad handshakes, a second upgrade of one request, peers that
// vanish mid-message, and a bounded fuzz over real sockets after which the
// hub still serves a healthy client.

import assert from "node:assert/strict";
import { type Client, CloseCode, type DisconnectInfo } from "../mod.ts";
import { Hub } from "../mod.ts";
import { joinFrames } from "../src/protocol/mod.ts";
import { delay, RawPeer, serveHub, TestClient, unbatch, until, within } from "./_helpers.ts";
import { random, randomBytes, randomString, readAll, recordingLogger } from "./_wire.ts";

const encoder = new TextEncoder();

/** Sends `ok` (which must reach onMessage), then `tooBig` (which must close with `code`). */
async function acceptsThenCloses(
  options: { maxMessageBytes?: number; acceptBinary?: boolean },
  framed: boolean,
  ok: string | Uint8Array,
  bad: string | Uint8Array,
  code: number,
): Promise<void> {
  const received: (string | Uint8Array)[] = [];
  const infos: DisconnectInfo[] = [];
  const served = serveHub<unknown, string | Uint8Array>({
    ...options,
    onMessage(message) {
      received.push(message);
    },
    onDisconnect(_client, info) {
      infos.push(info);
    },
  });
  const client = await TestClient.open(served.url, framed ? "wshub.v1" : undefined);
  await until(() => served.hub.size === 1, 2000, "registration");
  const tag = (data: string | Uint8Array) =>
    !framed ? data : typeof data === "string" ? "m" + data : new Uint8Array([0x6d, ...data]);
  client.socket.send(tag(ok));
  client.socket.send(tag(bad));
  const closed = await within(client.closed, 2000, "the close");
  const what = `${framed ? "framed" : "plain"} ${typeof bad}`;
  assert.equal(closed.code, code, `${what}: close code on the wire`);
  assert.deepEqual(received, [ok], `${what}: the first message went through`);
  assert.equal(infos.length, 1);
  assert.equal(infos[0].code, code);
  assert.equal(infos[0].byHub, true);
  assert.equal(served.hub.size, 0);
  await served.close();
}

Deno.test("with the default options, a message over maxMessageBytes is 1009, not the byte rate limit's 1008", async () => {
  // 4 MiB is over both maxMessageBytes (1 MiB) and the default byte rate (1 MiB a second).
  for (const framed of [false, true]) {
    await acceptsThenCloses({}, framed, "small", "x".repeat(4 * 1024 * 1024), 1009);
  }
});

Deno.test("maxMessageBytes counts UTF-8 bytes: exactly at the limit passes, one byte more is 1009", async () => {
  const limit = { maxMessageBytes: 16 };
  for (const framed of [false, true]) {
    // 8 characters, 16 bytes; then 9 characters, 17 bytes (far fewer than 16 characters).
    await acceptsThenCloses(limit, framed, "é".repeat(8), "é".repeat(8) + "a", 1009);
    // Surrogate pairs: 8 UTF-16 units, 16 bytes; then 17 bytes.
    await acceptsThenCloses(limit, framed, "😀".repeat(4), "😀".repeat(4) + "a", 1009);
    // Mixed: 15 characters are 16 bytes; 16 characters are 17 bytes.
    await acceptsThenCloses(limit, framed, "a".repeat(14) + "é", "a".repeat(15) + "é", 1009);
    await acceptsThenCloses(limit, framed, new Uint8Array(16), new Uint8Array(17), 1009);
  }
});

Deno.test("binary messages are refused with 1003 when acceptBinary is false; text still passes", async () => {
  for (const framed of [false, true]) {
    await acceptsThenCloses({ acceptBinary: false }, framed, "text", new Uint8Array([1]), 1003);
  }
});

Deno.test("text that decode cannot parse closes with 1007, calls onError, and the hub keeps serving", async () => {
  let unhandled = 0;
  const onUnhandled = (event: PromiseRejectionEvent) => {
    unhandled++;
    event.preventDefault();
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  const errors: { message: string; client?: string }[] = [];
  const received: unknown[] = [];
  const disconnects: number[] = [];
  let throwInOnError = false;
  const served = serveHub<unknown, unknown>({
    decode: (data) => {
      if (data === "throw a string") throw "not an Error";
      return JSON.parse(data as string);
    },
    onMessage(message, client, hub) {
      received.push(message);
      hub.broadcast({ echo: message, from: client.id });
    },
    onError(error, client) {
      errors.push({ message: error.message, client: client?.id });
      if (throwInOnError) throw new Error("onError itself failed");
    },
    onDisconnect(_client, info) {
      disconnects.push(info.code);
    },
  });
  const good = await TestClient.open(served.url);
  await until(() => served.hub.size === 1, 2000, "registration");
  const bad = await TestClient.open(served.url, "wshub.v1");
  await until(() => served.hub.size === 2, 2000, "registration");
  const [goodView, badView] = served.hub.clients();

  bad.socket.send('m{"valid":true}');
  bad.socket.send("m{not json");
  const closed = await within(bad.closed, 2000, "the 1007 close");
  assert.equal(closed.code, CloseCode.InvalidPayload);
  assert.deepEqual(received, [{ valid: true }]);
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /Could not decode a message from client/);
  assert.equal(errors[0].client, badView.id);
  assert.deepEqual(disconnects, [1007]);

  // The hub goes on serving the other client, through the same decode.
  good.socket.send('{"n":1}');
  await until(() => received.length === 2, 2000, "the good client's message");
  assert.deepEqual(received[1], { n: 1 });
  await until(() => good.messages.length === 2, 2000, "the broadcasts");
  assert.deepEqual(JSON.parse(good.messages[1] as string), { echo: { n: 1 }, from: goodView.id });

  // A decode that throws a non-Error, with an onError that throws too: still 1007, no crash.
  throwInOnError = true;
  const third = await TestClient.open(served.url);
  await until(() => served.hub.size === 2, 2000, "registration");
  third.socket.send("throw a string");
  assert.equal((await within(third.closed, 2000, "close")).code, 1007);
  assert.match(errors[1].message, /not an Error/);
  good.socket.send("[2]");
  await until(() => received.length === 3, 2000, "the hub still serves");
  assert.equal(served.hub.size, 1);
  await delay(10);
  assert.equal(unhandled, 0, "no unhandled rejection");
  globalThis.removeEventListener("unhandledrejection", onUnhandled);
  await served.close();
  await good.closed;
});

/** A hub that logs to a recording logger, and the DisconnectInfo of every client that left. */
function loggedHub() {
  const logger = recordingLogger();
  const infos: DisconnectInfo[] = [];
  const served = serveHub({ logger, onDisconnect: (_client, info) => void infos.push(info) });
  return { logger, infos, served };
}

Deno.test("malformed wshub.v1 frames close with 1002 and are logged at debug", async () => {
  const { logger, infos, served } = loggedHub();
  const bad: (string | Uint8Array)[] = [
    "",
    "x1",
    "b1:a", // server-to-client only
    "h{}", // server-to-client only
    "p",
    "p" + "1".repeat(33),
    "P",
    new Uint8Array(0),
    new Uint8Array([0x00, 1]),
    new Uint8Array([0x70, 0x31]), // a binary "p1" is not a ping
  ];
  for (const frame of bad) {
    const client = await TestClient.open(served.url, "wshub.v1");
    client.socket.send(frame);
    const closed = await within(client.closed, 2000, `the close for ${String(frame)}`);
    assert.equal(closed.code, 1002, `frame ${JSON.stringify(String(frame))}`);
    assert.ok(closed.reason.length > 0, "with a reason");
  }
  await until(() => infos.length === bad.length, 2000, "every unregistration");
  assert.ok(infos.every((info) => info.code === 1002 && info.byHub));
  const debug = logger.entries.filter((e) =>
    e.level === "debug" && /protocol error/.test(e.message)
  );
  assert.equal(debug.length, bad.length);
  assert.equal(served.hub.size, 0);
  assert.equal(logger.entries.filter((e) => e.level === "error").length, 0);
  await served.close();
});

Deno.test("a handshake with a malformed or missing key gets 400 and registers nothing", async () => {
  const logger = recordingLogger();
  const served = serveHub({ logger });
  for (const key of ["short", "dGhlIHNhbXBsZSBub25jZQ", "!!!!!!!!!!!!!!!!!!!!!!==", ""]) {
    const peer = await RawPeer.connect(served.port, { key });
    assert.equal(peer.status, 400, `key ${JSON.stringify(key)}`);
    peer.close();
  }
  const missing = await RawPeer.connect(served.port, { headers: { "Sec-WebSocket-Key": null } });
  assert.equal(missing.status, 400);
  missing.close();
  assert.equal(served.hub.size, 0);
  assert.equal(served.hub.stats().connected, 0);
  assert.equal(logger.entries.filter((e) => /upgrade refused/.test(e.message)).length, 5);
  // A good handshake still works afterwards.
  const ok = await RawPeer.connect(served.port);
  assert.equal(ok.status, 101);
  await until(() => served.hub.size === 1, 2000, "registration");
  ok.close();
  await until(() => served.hub.size === 0, 2000, "unregistration");
  await served.close();
});

Deno.test("a second hub.upgrade of the same request is refused, the first one works, nothing leaks", async () => {
  const logger = recordingLogger();
  const disconnects: number[] = [];
  const hub = new Hub<string>({
    logger,
    onDisconnect(_client, info) {
      disconnects.push(info.code);
    },
  });
  const seconds: number[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const first = hub.upgrade(req) as Response;
    const second = hub.upgrade(req) as Response;
    seconds.push(second.status);
    return first;
  });
  const url = `ws://127.0.0.1:${server.addr.port}/ws`;
  const client = await TestClient.open(url);
  await until(() => hub.size === 1, 2000, "registration");
  assert.deepEqual(seconds, [400]);
  assert.ok(logger.entries.some((e) => e.level === "debug" && /upgrade failed/.test(e.message)));
  await hub.broadcast("hi");
  assert.deepEqual(await client.received(1), ["hi"]);
  await client.close();
  await until(() => hub.size === 0, 2000, "unregistration");
  assert.deepEqual(disconnects, [1005]);

  assert.equal(hub.stats().connected, 1);
  assert.equal(hub.stats().disconnected, 1);
  await hub.close();
  await server.shutdown();
});

Deno.test("a peer that vanishes mid-message is unregistered once, logged at debug, and nothing leaks", async () => {
  const { logger, infos, served } = loggedHub();
  // A non-final text fragment, then the TCP connection closes.
  const fragment = await RawPeer.connect(served.port, {
    headers: { "Sec-WebSocket-Protocol": "wshub.v1" },
  });
  await until(() => served.hub.size === 1, 2000, "registration");
  await fragment.sendFrame(1, encoder.encode("mhalf a mess"), false);
  await delay(20);
  fragment.close();
  // Half a frame header, then close.
  const half = await RawPeer.connect(served.port);
  await until(() => served.hub.size === 1, 2000, "registration");
  await half.write(new Uint8Array([0x81, 0xfe, 0x01]));
  await delay(20);
  half.close();
  // The handshake, then nothing at all.
  const mute = await RawPeer.connect(served.port);
  await until(() => served.hub.size === 1, 2000, "registration");
  mute.close();

  await until(() => served.hub.size === 0, 2000, "every unregistration");
  await delay(50); // a repeated close event would land here
  assert.equal(infos.length, 3, "onDisconnect exactly once per connection");
  for (const info of infos) {
    assert.equal(info.byHub, false);
    assert.equal(info.code, 1006, "abnormal closure: no close frame was received");
  }
  const stats = served.hub.stats();
  assert.equal(stats.connections, 0);
  assert.equal(stats.connected, 3);
  assert.equal(stats.disconnected, 3);
  assert.equal(stats.messagesIn, 0, "half a message is no message");
  assert.ok(
    logger.entries.some((e) => e.level === "debug"),
    "the abrupt ends were logged at debug",
  );
  assert.equal(logger.entries.filter((e) => e.level !== "debug").length, 0, "and only at debug");
  // The hub serves a new client.
  const client = await TestClient.open(served.url);
  await until(() => served.hub.size === 1, 2000, "registration");
  await served.hub.broadcast("still here");
  assert.deepEqual(await client.received(1), ["still here"]);
  await served.close();
  await client.closed;
});

Deno.test("fuzz over real sockets: random frames and random bytes, then the hub still serves", async () => {
  const { seed, next } = random(31337);
  const received: (string | Uint8Array)[] = [];
  const codes = new Map<number, number>();
  let connected = 0;
  const served = serveHub<unknown, string | Uint8Array>({
    maxMessageBytes: 64,
    onConnect() {
      connected++;
    },
    onMessage(message) {
      received.push(message);
    },
    onDisconnect(_client, info) {
      codes.set(info.code, (codes.get(info.code) ?? 0) + 1);
    },
  });
  const healthy = await TestClient.open(served.url, "wshub.v1");
  await until(() => served.hub.size === 1, 2000, "registration");
  let expectedMessages = 0;
  // Framed clients sending random frames (a third with a valid tag).
  for (let round = 0; round < 25; round++) {
    const client = await TestClient.open(served.url, "wshub.v1");
    await until(() => connected === round + 2, 2000, "registration");
    let valid = true;
    for (let i = 0; i < 1 + Math.floor(next() * 4); i++) {
      let frame: string | Uint8Array;
      if (next() < 0.5) {
        const body = randomString(next, 80);
        frame = next() < 0.33 ? "m" + body : body;
      } else {
        const body = randomBytes(next, 80);
        frame = next() < 0.33 ? new Uint8Array([0x6d, ...body]) : body;
      }
      client.socket.send(frame);
      // Messages up to the first invalid frame reach onMessage.
      const size = typeof frame === "string" ? encoder.encode(frame).length : frame.length;
      const first = typeof frame === "string" ? frame.charCodeAt(0) : frame[0];
      if (valid && first === 0x6d && size <= 65) expectedMessages++;
      else if (
        valid && !(typeof frame === "string" && /^[pP].{1,32}$/su.test(frame) && size <= 65)
      ) {
        valid = false;
      }
    }
    await delay(5);
    await client.close();
  }
  // Raw peers sending random bytes after the handshake (mostly invalid WebSocket framing).
  for (let round = 0; round < 10; round++) {
    const peer = await RawPeer.connect(served.port);
    await peer.write(randomBytes(next, 200));
    const reader = readAll(peer);
    await delay(10);
    peer.close();
    await reader;
  }
  await until(() => served.hub.size === 1, 3000, "every fuzzed client gone");
  console.log(
    `fuzz seed ${seed}: close codes ${JSON.stringify([...codes])}, ${received.length} messages`,
  );
  assert.equal(
    received.length,
    expectedMessages,
    `seed ${seed}: messages before the first bad frame`,
  );
  const stats = served.hub.stats();
  assert.equal(stats.connections, 1);
  assert.equal(stats.connected, stats.disconnected + 1);
  // The healthy client is still served both ways.
  await served.hub.broadcast("after the fuzz");
  await until(() => healthy.appMessages().includes("after the fuzz"), 2000, "the broadcast");
  healthy.socket.send("mstill talking");
  await until(() => received.at(-1) === "still talking", 2000, "the healthy client's message");
  const [view]: Client[] = served.hub.clients();
  assert.equal(view.open, true);
  await served.close();
  await healthy.closed;
});

/** A framed client of `served` (v1 unless `protocol`), registered, its hello read. */
async function framedClient(url: string, protocol = "wshub.v1"): Promise<TestClient> {
  const client = await TestClient.open(url, protocol);
  await client.received(1); // the hello
  return client;
}

Deno.test("a client's B frame is handled frame by frame, in order: a join, room publishes, a request, a ping", async () => {
  const served = serveHub<string, string>({
    onMessage(message, client, hub) {
      void hub.publish("lobby", `${client.id}:${message}`);
    },
    onRequest: (message) => `re ${message}`,
  });
  const member = await framedClient(served.url);
  member.socket.send('j{"id":1,"room":"lobby"}');
  await member.received(2); // the join's answer
  const sender = await framedClient(served.url);
  const hello = JSON.parse((sender.messages[0] as string).slice(1));
  assert.equal(
    hello.batch,
    1024 * 1024 + 1,
    "the hello announces B frames up to maxMessageBytes + 1",
  );
  sender.socket.send(
    joinFrames(['j{"id":1,"room":"lobby"}', "mone", "mtwo", "q1:ask", "pt1", "mthree"]),
  );
  const id = hello.id;
  const frames = (client: TestClient) =>
    (client.messages.slice(1) as string[]).flatMap((m) => m[0] === "B" ? unbatch(m) : [m]);
  const rooms = () => frames(member).filter((m) => m[0] === "r");
  await until(() => rooms().length === 3, 2000, "3 publishes");
  assert.deepEqual(rooms(), [`r5:lobby:${id}:one`, `r5:lobby:${id}:two`, `r5:lobby:${id}:three`]);
  await until(() => frames(sender).length >= 6, 2000, "the sender's frames");
  // The join's answer before its own copies (it joined first), then the request's answer; the
  // pong, as for any ping, went out at once from the reader, before what the loop sends.
  const got = frames(sender);
  assert.deepEqual(got.filter((m) => m[0] === "J" || m[0] === "r"), [
    'J{"id":1,"room":"lobby"}',
    `r5:lobby:${id}:one`,
    `r5:lobby:${id}:two`,
    `r5:lobby:${id}:three`,
  ]);
  assert.ok(got.indexOf("a1:re ask") > got.indexOf(`r5:lobby:${id}:two`), "the answer in order");
  assert.deepEqual(got.filter((m) => m[0] === "P"), ["Pt1"]);
  await served.close();
  await Promise.all([member.closed, sender.closed]);
});

Deno.test("a malformed client B frame closes with 1002 and its reason; the frames before the bad item were applied", async () => {
  const logger = recordingLogger();
  let seen: string[] = [];
  const served = serveHub<string, string>({ logger, onMessage: (text) => void seen.push(text) });
  const bystander = await framedClient(served.url);
  const cases: [string, RegExp, string[]][] = [
    ["B", /empty batch frame/, []],
    ["Bx:mhi", /malformed batch frame: expected <length>: at offset 1/, []],
    ["B9:mhi", /a message runs past the end/, []],
    ["B3:mhi3:mho1", /malformed batch frame: expected <length>: at offset 11/, ["hi", "ho"]],
    ["B3:mhi6:B3:mho", /^in a B frame: a B frame inside a B frame$/, ["hi"]],
    ["B3:mhi4:b1:x3:mho", /^in a B frame: unknown text frame tag "b"$/, ["hi"]],
    ["B3:mhi3:h{}3:mho", /^in a B frame: unknown text frame tag "h"$/, ["hi"]],
    ["B3:mhi0:3:mho", /^in a B frame: empty frame$/, ["hi"]],
    ["B3:mhi3:j{}3:mho", /^in a B frame: /, ["hi"]],
  ];
  for (const [frame, reason, applied] of cases) {
    seen = [];
    const client = await framedClient(served.url);
    client.socket.send(frame);
    const closed = await within(client.closed, 2000, `the close for ${frame}`);
    assert.equal(closed.code, 1002, frame);
    assert.match(closed.reason, reason, frame);
    assert.deepEqual(seen, applied, `${frame}: what was applied`);
  }
  assert.equal(logger.entries.filter((e) => /protocol error/.test(e.message)).length, cases.length);
  assert.equal(logger.entries.filter((e) => e.level === "error").length, 0);
  seen = [];
  bystander.socket.send("B6:mstill3:mok");
  await until(() => seen.length === 2, 2000, "the bystander's B");
  assert.deepEqual(seen, ["still", "ok"]);
  assert.equal(served.hub.size, 1, "the bystander stays");
  await served.close();
  await bystander.closed;
});

Deno.test("a client's B frame is limited as one frame (1009), and a plain client's B is a message", async () => {
  let seen: string[] = [];
  const served = serveHub<string, string>({
    maxMessageBytes: 16,
    onMessage: (text) => void seen.push(text),
  });
  // One frame inside over the limit: the whole frame is over it too.
  const big = await framedClient(served.url);
  assert.equal(JSON.parse((big.messages[0] as string).slice(1)).batch, 17);
  big.socket.send(joinFrames(["m" + "x".repeat(17)]));
  assert.equal((await within(big.closed, 2000, "the close")).code, 1009);
  // 17 bytes in all (é is two): accepted.
  const exact = await framedClient(served.url);
  exact.socket.send("B2:ma3:mbc4:mdéx");
  await until(() => seen.length === 3, 2000, "three messages");
  assert.deepEqual(seen, ["a", "bc", "déx"]);
  // One byte more, each frame small: 1009, nothing applied.
  seen = [];
  exact.socket.send("B2:ma3:mbc4:mdéé");
  const closed = await within(exact.closed, 2000, "the close");
  assert.equal(closed.code, 1009);
  assert.match(closed.reason, /message larger than 16 bytes/);
  assert.deepEqual(seen, []);
  // A plain client has no frames: B… is its text.
  const plain = await TestClient.open(served.url);
  plain.socket.send("B2:ma");
  await until(() => seen.length === 1, 2000, "the plain message");
  assert.deepEqual(seen, ["B2:ma"]);
  await served.close();
  await plain.closed;
});
