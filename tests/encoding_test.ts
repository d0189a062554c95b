// One encoding both ways (issue 16): with wshub.v2, what one side's application sends is the value
// the other side's application receives — strings (even ones that look like JSON), numbers,
// objects, null, bytes — in messages, room publications, requests and their replies, and history.
// Plain clients keep getting every payload byte for byte, and wshub.v1 clients texts as given.

import assert from "node:assert/strict";
import { Hub } from "../mod.ts";
import { connect } from "../src/client/mod.ts";
import { serveHub, TestClient, until } from "./_helpers.ts";

/** Values whose kind a naive encoding would lose. */
const VALUES: unknown[] = [
  "hello there",
  "42",
  '{"looks":"like JSON"}',
  "",
  42,
  0,
  true,
  null,
  { a: 1, nested: { list: [1, "two", null] } },
  [1, 2, 3],
];

Deno.test("wshub.v2: the server's values reach the reference client as the same values, strings included", async () => {
  const served = serveHub<unknown>();
  const client = connect(served.url, { reconnect: false });
  const received: unknown[] = [];
  client.on("message", (message) => received.push(message));
  try {
    await until(() => client.state === "open" && served.hub.size === 1, 3000, "open");
    assert.equal(served.hub.clients()[0].protocol, "wshub.v2");
    for (const value of VALUES) served.hub.clients()[0].send(value); // one by one, and batched
    await until(() => received.length === VALUES.length, 3000, "every value");
    assert.deepEqual(received, VALUES);
    assert.equal(typeof received[1], "string", '"42" stays a string');
  } finally {
    await client.close();
    await served.close();
  }
});

Deno.test("wshub.v2: the reference client's values reach onMessage as the same values", async () => {
  const received: unknown[] = [];
  const served = serveHub<unknown>({ onMessage: (message) => void received.push(message) });
  const client = connect(served.url, { reconnect: false });
  try {
    for (const value of VALUES) client.send(value); // queued before open, then sent
    await until(() => received.length === VALUES.length, 3000, "every value");
    assert.deepEqual(received, VALUES);
    client.send(new Uint8Array([1, 2, 255]));
    await until(() => received.length === VALUES.length + 1, 3000, "the bytes");
    assert.deepEqual(received.at(-1), new Uint8Array([1, 2, 255]));
  } finally {
    await client.close();
    await served.close();
  }
});

Deno.test("wshub.v2: requests and replies keep their values both ways", async () => {
  const served = serveHub<unknown>({ onRequest: (request) => request });
  const client = connect(served.url, { reconnect: false, onRequest: (request) => request });
  try {
    await until(() => client.state === "open" && served.hub.size === 1, 3000, "open");
    for (const value of VALUES) {
      assert.deepEqual(
        await client.request(value),
        value,
        `client → hub: ${JSON.stringify(value)}`,
      );
      assert.deepEqual(
        await served.hub.clients()[0].request(value),
        value,
        `hub → client: ${JSON.stringify(value)}`,
      );
    }
  } finally {
    await client.close();
    await served.close();
  }
});

Deno.test("history keeps values: hub.history() and a recovering client get back what was published", async () => {
  const served = serveHub<unknown>({ history: { size: 100, ttl: 60_000 } });
  const client = connect(served.url, { reconnect: { initialDelay: 0, maxDelay: 20 } });
  const seen: unknown[] = [];
  client.on("message", (message, meta) => {
    if (meta.room === "r") seen.push(message);
  });
  try {
    await client.join("r");
    served.hub.clients()[0].close(4000, "cut"); // everything below is recovered on rejoin
    for (const value of VALUES) await served.hub.publish("r", value);
    await served.hub.publish("r", new Uint8Array([7, 8]));
    const page = await served.hub.history("r");
    assert.deepEqual(page.publications.map((p) => p.data), [...VALUES, new Uint8Array([7, 8])]);
    await until(() => seen.length === VALUES.length, 5000, "the recovered publications");
    assert.deepEqual(seen, VALUES);
  } finally {
    await client.close();
    await served.close();
  }
});

Deno.test("plain clients get every payload byte for byte; wshub.v1 clients texts as given", async () => {
  const served = serveHub<unknown>();
  const plain = await TestClient.open(served.url);
  const v1 = await TestClient.open(served.url, "wshub.v1");
  try {
    await until(() => served.hub.size === 2, 2000, "two clients");
    assert.equal(served.hub.clients().find((c) => c.framed)?.protocol, "wshub.v1");
    await served.hub.broadcast("hello there");
    await served.hub.broadcast({ a: 1 });
    await served.hub.broadcast("42");
    await plain.received(3);
    assert.deepEqual(plain.messages, ["hello there", '{"a":1}', "42"]);
    await until(() => v1.appMessages().length === 3, 2000, "the v1 client's messages");
    assert.deepEqual(v1.appMessages(), ["hello there", '{"a":1}', "42"]);
  } finally {
    await plain.close();
    await v1.close();
    await served.close();
  }
});

Deno.test("onMessage gets plain and wshub.v1 texts as they came, and a decode option sees wshub.v2 JSON", async () => {
  const received: unknown[] = [];
  const decoded: unknown[] = [];
  const hub = new Hub<unknown, unknown>({ onMessage: (message) => void received.push(message) });
  const withDecode = new Hub<unknown, string>({
    decode: (data) => `decoded ${String(data)}`,
    onMessage: (message) => void decoded.push(message),
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => new URL(req.url).pathname === "/decode" ? withDecode.upgrade(req) : hub.upgrade(req),
  );
  const base = `ws://127.0.0.1:${server.addr.port}`;
  const plain = await TestClient.open(`${base}/`);
  const v1 = await TestClient.open(`${base}/`, "wshub.v1");
  const v2 = connect(`${base}/decode`, { reconnect: false });
  try {
    plain.socket.send('{"a":1}');
    v1.socket.send("m42");
    v2.send("hi");
    await until(() => received.length === 2 && decoded.length === 1, 3000, "the messages");
    assert.deepEqual(received.sort(), ["42", '{"a":1}'], "texts as they came");
    assert.deepEqual(decoded, ['decoded "hi"'], "decode is given the JSON text");
  } finally {
    await plain.close();
    await v1.close();
    await v2.close();
    await hub.close();
    await withDecode.close();
    await server.shutdown();
  }
});
