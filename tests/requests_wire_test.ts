// Requests (issue #13) on the wire, with peers that misbehave: malformed q and
// a frames (listed and fuzzed) in both directions, answers to ids never asked,
// ids that do not increase, the in-flight bound as a raw client sees it, the
// frames of docs/protocol.md, and the writer's caps on everything the hub
// writes for requests.

import assert from "node:assert/strict";
import { type Client, type DisconnectInfo, ReplyError, SUBPROTOCOL } from "../mod.ts";
import { connect, ConnectionClosedError, ProtocolError } from "../src/client/mod.ts";
import { decodeClientFrame, decodeServerFrame } from "../src/protocol/mod.ts";
import { connectionOf } from "../src/server/client_view.ts";
import { concatFrames } from "../testing/ws_frames.ts";
import { delay, maskedFrame, serveHub, TestClient, unbatch, until, within } from "./_helpers.ts";
import { random, randomString, rawPeer } from "./_wire.ts";

const encoder = new TextEncoder();

/** A framed TestClient that has its hello. */
async function framedClient(url: string): Promise<TestClient> {
  const client = await TestClient.open(url, SUBPROTOCOL);
  await client.received(1);
  assert.match(client.messages[0] as string, /^h/);
  return client;
}

/** Random q and a frames: mostly near-valid, some anything. */
function randomRequestFrame(next: () => number): string {
  const pieces = ["1", "2", "0", "9", "12", ":", "!", '{"error":"e","message":"m"}', "{", "x"];
  let frame = next() < 0.5 ? "q" : "a";
  const parts = 1 + Math.floor(next() * 5);
  for (let i = 0; i < parts; i++) {
    frame += next() < 0.75 ? pieces[Math.floor(next() * pieces.length)] : randomString(next, 4);
  }
  return frame;
}

Deno.test("hub: malformed q and a frames close with 1002 (a list, then a seeded fuzz)", async () => {
  const infos: DisconnectInfo[] = [];
  const served = serveHub({
    onRequest: (message) => message,
    onDisconnect: (_client, info) => infos.push(info),
  });
  const { seed, next } = random(1302);
  const frames = [
    "q",
    "q:x",
    "q0:x",
    "q01:x",
    "q1000000000000000:x",
    "q1",
    "q1!{}",
    "a",
    "a1",
    "a1?",
    "a1!nope",
    'a1!{"error":"e"}',
    ...Array.from({ length: 40 }, () => randomRequestFrame(next)),
  ];
  try {
    for (const frame of frames) {
      const decoded = decodeClientFrame(frame);
      const client = await framedClient(served.url);
      client.socket.send(frame);
      const what = `seed ${seed}, frame ${JSON.stringify(frame)}`;
      if (decoded.kind === "request") {
        // A valid request is answered with its own text (it is the first id).
        await client.received(2);
        assert.equal(client.messages[1], `a${decoded.request.id}:${decoded.request.text}`, what);
        await client.close();
        continue;
      }
      // Malformed, or an answer to a request the hub never sent: 1002.
      const closed = await within(client.closed, 2000, what);
      assert.equal(closed.code, 1002, what);
      if (decoded.kind === "answer") assert.match(closed.reason, /never sent/, what);
      else assert.match(closed.reason, /malformed (request|answer)/, what);
    }
    await until(() => served.hub.size === 0, 2000, "every client gone");
    // The hub still serves: a healthy client gets its answer.
    const healthy = await framedClient(served.url);
    healthy.socket.send("q1:still here");
    await healthy.received(2);
    assert.equal(healthy.messages[1], "a1:still here");
    await healthy.close();
    assert.ok(
      infos.every((info) => info.code === 1002 || info.code === 1005 || info.code === 1000),
    );
  } finally {
    await served.close();
  }
});

Deno.test("hub: an answer to an id never asked is 1002; late and repeated answers are ignored", async () => {
  let view: Client<unknown> | undefined;
  const pingInterval = 200;
  const served = serveHub({ pingInterval, pongTimeout: 200, onConnect: (c) => void (view = c) });
  const client = await framedClient(served.url);
  try {
    await until(() => view !== undefined, 2000, "registration");
    const timedOut = view!.request("are you there?", { timeout: 50 });
    await client.received(2);
    assert.equal(client.messages[1], "q1:are you there?");
    await assert.rejects(timedOut, { name: "RequestTimeoutError" });
    client.socket.send('a1:"late"');
    client.socket.send('a1!{"error":"x","message":"repeated"}');
    await until(() => served.hub.stats().requests.late === 2, 2000, "the late answers");
    assert.equal(view!.open, true, "late answers are harmless");
    const answered = view!.request("again");
    await client.received(3);
    assert.equal(client.messages[2], "q2:again");
    client.socket.send("a2:yes");
    assert.equal(await answered, "yes");
    client.socket.send("a3:never asked");
    const closed = await within(client.closed, 2000, "the close");
    assert.equal(closed.code, 1002);
    assert.equal(closed.reason, "answer to request 3, which was never sent");
  } finally {
    await client.close();
    await served.close();
  }
});

Deno.test("hub: request ids must increase on a connection: a repeated or smaller id is 1002", async () => {
  const served = serveHub({ onRequest: (message) => message });
  try {
    for (const [first, second] of [["q5:a", "q5:b"], ["q5:a", "q4:b"]]) {
      const client = await framedClient(served.url);
      client.socket.send(first);
      await client.received(2);
      assert.equal(client.messages[1], "a5:a");
      client.socket.send(second);
      const closed = await within(client.closed, 2000, "the close");
      assert.equal(closed.code, 1002);
      assert.match(closed.reason, /does not increase \(last 5\)/);
    }
    // Gaps are fine: ids increase, they need not be consecutive.
    const client = await framedClient(served.url);
    client.socket.send("q1:a");
    client.socket.send("q7:b");
    client.socket.send("q100:c");
    // Answers may coalesce into one B frame (whole frames, like room messages).
    const frames = () =>
      client.messages.slice(1).flatMap((m) =>
        typeof m === "string" && m[0] === "B" ? unbatch(m) : [m]
      );
    await until(() => frames().length === 3, 5000, "three answers");
    assert.deepEqual(frames(), ["a1:a", "a7:b", "a100:c"]);
    await client.close();
  } finally {
    await served.close();
  }
});

Deno.test("docs/protocol.md: the request frames are what the hub sends and reads", async () => {
  const holds: (() => void)[] = [];
  const served = serveHub<unknown, unknown>({
    maxRequestsInFlight: 2,
    decode: (data) => JSON.parse(data as string),
    async onRequest(message) {
      const { op, a, b } = message as { op: string; a: number; b: number };
      if (op === "hold") await new Promise<void>((resolve) => holds.push(resolve));
      if (op === "add") return { sum: a + b };
      if (op === "fail") throw new ReplyError("no such account", "not_found");
      if (op === "crash") throw new Error("private");
      return op;
    },
    onError() {},
  });
  const client = await framedClient(served.url);
  const doc = await Deno.readTextFile(new URL("../docs/protocol.md", import.meta.url));
  const documented = (frame: string) =>
    assert.ok(doc.includes("`" + frame + "`"), `docs/protocol.md shows ${frame}`);
  try {
    const exchange = async (request: string, answer: string) => {
      if (!answer.includes("too_many")) documented(answer);
      const before = client.messages.length;
      client.socket.send(request);
      await client.received(before + 1);
      assert.equal(client.messages[before], answer, `the answer to ${request}`);
    };
    // The examples of docs/protocol.md, verbatim.
    documented('q1:{"op":"add","a":1,"b":2}');
    await exchange('q1:{"op":"add","a":1,"b":2}', 'a1:{"sum":3}');
    await exchange('q2:{"op":"fail"}', 'a2!{"error":"not_found","message":"no such account"}');
    await exchange(
      'q3:{"op":"crash"}',
      'a3!{"error":"handler_error","message":"The request failed"}',
    );
    // Two in flight (one running, one waiting behind it): the third is refused at once.
    client.socket.send('q4:{"op":"hold"}');
    client.socket.send('q5:{"op":"hold"}');
    await exchange(
      'q6:{"op":"add","a":1,"b":1}',
      'a6!{"error":"too_many_requests","message":"2 requests from this connection are already being handled (maxRequestsInFlight); wait for their answers before sending more"}',
    );
    await until(() => holds.length === 1, 2000, "q4 running");
    holds[0]();
    await until(() => holds.length === 2, 2000, "q5 running");
    holds[1]();
    await client.received(7);
    assert.deepEqual(client.messages.slice(5), ["a4:hold", "a5:hold"], "strings go raw");
  } finally {
    await client.close();
    await served.close();
  }
  const bare = serveHub();
  const other = await framedClient(bare.url);
  try {
    other.socket.send("q4:hello");
    await other.received(2);
    assert.equal(
      other.messages[1],
      'a4!{"error":"no_handler","message":"This server answers no requests"}',
    );
    documented(other.messages[1] as string);
  } finally {
    await other.close();
    await bare.close();
  }
});

Deno.test("hub: maxMessageBytes counts a request's id and colon, not its tag", async () => {
  const served = serveHub({ maxMessageBytes: 16, onRequest: () => "ok" });
  try {
    const client = await framedClient(served.url);
    client.socket.send("q1:" + "x".repeat(14)); // 16 bytes after the tag: 1:xxxxxxxxxxxxxx
    await client.received(2);
    assert.equal(client.messages[1], "a1:ok");
    client.socket.send("q2:" + "x".repeat(15)); // 17
    assert.equal((await within(client.closed, 2000, "the close")).code, 1009);
  } finally {
    await served.close();
  }
});

/** Samples a socket's bufferedAmount every millisecond until stopped; returns the peak. */
function samplePeak(socket: WebSocket): { stop: () => number } {
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, socket.bufferedAmount);
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, socket.bufferedAmount);
    },
  };
}

Deno.test("hub: answers and error answers obey the writer's caps; a peer that never reads them is cut (1013)", async () => {
  const maxBufferedBytes = 64 * 1024, sendQueueLimit = 16, size = 16 * 1024;
  let view: Client<unknown> | undefined;
  const infos: DisconnectInfo[] = [];
  const served = serveHub({
    maxBufferedBytes,
    sendQueueLimit,
    rateLimit: false, // the caps alone
    writeTimeout: 60_000,
    maxRequestsInFlight: 100_000,
    onConnect: (client) => void (view = client),
    onDisconnect: (_client, info) => infos.push(info),
    onRequest(message) {
      if (message === "fail") throw new ReplyError("y".repeat(size), "big");
      return "x".repeat(size);
    },
  });
  const peer = await rawPeer(served.port, true); // framed, and never reads
  try {
    await until(() => view !== undefined, 2000, "registration");
    const socket = connectionOf(view!)!.socket;
    const sampler = samplePeak(socket);
    // 4,000 requests, each answered with 16 KiB (64 MB in all): far more than
    // the kernel's buffers take from a peer that never reads.
    let id = 1;
    for (let burst = 0; burst < 40 && infos.length === 0; burst++) {
      const frames: Uint8Array[] = [];
      for (let i = 0; i < 100; i++, id++) {
        frames.push(maskedFrame(1, encoder.encode(`q${id}:${id % 2 === 0 ? "fail" : "ok"}`)));
      }
      await peer.write(concatFrames(frames));
      await delay(2);
    }
    await until(() => infos.length === 1, 10_000, "the slow consumer to be cut");
    const peak = sampler.stop();
    assert.equal(infos[0].code, 1013);
    const { requests } = served.hub.stats();
    assert.ok(requests.answered > 10 && requests.failed > 10, JSON.stringify(requests));
    assert.equal(requests.inFlight, 0);
    // Deno's buffer never holds more than the cap plus one frame.
    assert.ok(
      peak <= maxBufferedBytes + size + 64,
      `Deno buffered ${peak} bytes (cap ${maxBufferedBytes})`,
    );
  } finally {
    peer.close();
    await served.close();
  }
});

Deno.test("hub: requests to a peer that never reads obey the caps; its pending ones are rejected when it is cut", async () => {
  const maxBufferedBytes = 64 * 1024, sendQueueLimit = 16, size = 16 * 1024;
  let view: Client<unknown> | undefined;
  const served = serveHub({
    maxBufferedBytes,
    sendQueueLimit,
    writeTimeout: 60_000,
    maxRequestsInFlight: 4000,
    requestTimeout: 60_000,
    onConnect: (client) => void (view = client),
  });
  const peer = await rawPeer(served.port, true);
  try {
    await until(() => view !== undefined, 2000, "registration");
    const socket = connectionOf(view!)!.socket;
    const sampler = samplePeak(socket);
    const pending: Promise<unknown>[] = [];
    for (let burst = 0; burst < 40 && view!.open; burst++) {
      for (let i = 0; i < 100; i++) {
        const request = view!.request("z".repeat(size));
        request.catch(() => {}); // settled below, all together
        pending.push(request);
      }
      await delay(2);
    }
    const outcomes = await within(Promise.allSettled(pending), 10_000, "every request to settle");
    const peak = sampler.stop();
    assert.equal(view!.open, false);
    for (const outcome of outcomes) {
      assert.equal(outcome.status, "rejected");
      const error = (outcome as PromiseRejectedResult).reason;
      assert.ok(error instanceof ConnectionClosedError, String(error));
      assert.equal(error.code, 1013);
    }
    const { requests, closeCodes } = served.hub.stats();
    assert.equal(closeCodes["1013"], 1);
    assert.equal(requests.aborted, outcomes.length);
    assert.equal(requests.pending, 0);
    assert.ok(
      peak <= maxBufferedBytes + size + 64,
      `Deno buffered ${peak} bytes (cap ${maxBufferedBytes})`,
    );
  } finally {
    peer.close();
    await served.close();
  }
});

/** A fake hub (Deno.serve) that greets each connection, then sends `script(index)`'s frames. */
function fakeHub(script: (index: number) => string[]): {
  url: string;
  closes: number[];
  close: () => Promise<void>;
} {
  const closes: number[] = [];
  let count = 0;
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, signal: ac.signal },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req, { protocol: SUBPROTOCOL });
      const frames = script(count++);
      socket.onopen = () => {
        socket.send('h{"v":1,"id":"x","user":null,"pingInterval":25000,"pongTimeout":10000}');
        for (const frame of frames) socket.send(frame);
      };
      socket.onclose = (event) => closes.push(event.code);
      return response;
    },
  );
  return {
    url: `ws://127.0.0.1:${server.addr.port}/ws`,
    closes,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

Deno.test("client: malformed q and a frames, repeated ids and answers never asked are protocol errors", async () => {
  const { seed, next } = random(1303);
  const cases: string[][] = [
    ["q"],
    ["q01:x"],
    ["q1!{}"],
    ["a1?x"],
    ["a1!{}"],
    ['a1!{"error":"e","message":"m"}'], // never asked
    ["q2:x", "q2:y"], // repeated id
    ["q3:x", "q1:y"], // smaller id
  ];
  for (let i = 0; i < 16; i++) {
    const frame = randomRequestFrame(next);
    if (decodeServerFrame(frame).kind !== "request") cases.push([frame]);
  }
  const fake = fakeHub((index) => cases[index]);
  try {
    for (const [index, frames] of cases.entries()) {
      const what = `seed ${seed}, frames ${JSON.stringify(frames)}`;
      const client = connect(fake.url, {
        reconnect: false,
        decode: (text) => text,
        onRequest: () => "fine",
      });
      const errors: Error[] = [];
      client.on("error", (error) => errors.push(error));
      const info = await within(
        new Promise<{ code: number }>((resolve) => client.on("close", resolve)),
        3000,
        what,
      );
      assert.equal(info.code, 1002, what);
      assert.ok(errors[0] instanceof ProtocolError, what);
      assert.equal(client.state, "closed", `${what}: not retried`);
      await client.close();
      await until(() => fake.closes.length === index + 1, 2000, "the fake hub's close event");
      assert.equal(fake.closes[index], 4002, `${what}: 4002 on the wire`);
    }
  } finally {
    await fake.close();
  }
});
