// The client against a real Hub on 127.0.0.1 (port 0): messages both ways,
// identity, heartbeats, the offline queue, close codes and server restarts.
import assert from "node:assert/strict";
import { type Client, Hub, type HubOptions, protocolToken } from "../mod.ts";
import {
  connect,
  type ConnectOptions,
  DecodeError,
  SendQueueFullError,
} from "../src/client/mod.ts";
import { delay, freePort, nextEvent, until, within } from "./_helpers.ts";

type Chat = { from?: string | null; text: string };

/** A hub served on 127.0.0.1; `port` 0 picks a free one. */
async function serve<T, In = unknown>(
  options: HubOptions<T, In>,
  port = 0,
): Promise<{ hub: Hub<T, In>; url: string; port: number; stop: () => Promise<void> }> {
  const hub = new Hub<T, In>(options);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    (req) => hub.upgrade(req),
  );
  await Promise.resolve();
  const addr = server.addr;
  return {
    hub,
    port: addr.port,
    url: `ws://127.0.0.1:${addr.port}/ws`,
    stop: async () => {
      await hub.close();
      await server.shutdown();
    },
  };
}

const fast: ConnectOptions<never>["reconnect"] = { initialDelay: 10, maxDelay: 50 };

Deno.test("JSON messages both ways, one at a time and coalesced, through listeners and for await", async () => {
  const received: unknown[] = [];
  const { hub, url, stop } = await serve<Chat>({
    onMessage(message, client) {
      received.push(message);
      const chat = message as Chat; // wshub.v2: the hub hands onMessage the value itself
      client.send({ from: "server", text: `echo ${chat.text}` });
    },
  });
  const client = connect<Chat>(url, { reconnect: fast });
  try {
    client.send({ text: "queued before open" });
    assert.equal(client.state, "connecting");
    const echo = await nextEvent(client, "message");
    assert.deepEqual(echo, { from: "server", text: "echo queued before open" });
    assert.equal(client.state, "open");
    assert.deepEqual(received, [{ text: "queued before open" }]);
    assert.equal(hub.clients()[0].protocol, "wshub.v2");

    // A burst of broadcasts: the hub may coalesce them into `b` frames; order holds.
    const texts: string[] = [];
    const iterating = (async () => {
      for await (const message of client) {
        texts.push(message.text);
        if (texts.length === 200) break;
      }
    })();
    for (let i = 0; i < 200; i++) hub.broadcast({ text: `n${i} ✓ 😀:${i}` });
    await within(iterating, 3_000, "the burst of 200 broadcasts");
    assert.deepEqual(texts, Array.from({ length: 200 }, (_, i) => `n${i} ✓ 😀:${i}`));
  } finally {
    await client.close();
    await stop();
  }
});

Deno.test("strings travel raw and bytes as binary, in both directions", async () => {
  const got: (string | Uint8Array)[] = [];
  const { url, stop } = await serve<string | Uint8Array, string | Uint8Array>({
    onMessage(message, client) {
      got.push(message);
      client.send(message); // echo as it came: a string stays text, bytes stay binary
    },
  });
  const client = connect<string | Uint8Array>(url, { reconnect: fast });
  try {
    const text = nextEvent(client, "message");
    const binary = nextEvent(client, "binary");
    client.send("plain text, not JSON");
    client.send(new Uint8Array([0, 1, 0x6d, 255]));
    assert.equal(await text, "plain text, not JSON");
    assert.deepEqual(await binary, new Uint8Array([0, 1, 0x6d, 255]));
    assert.equal(got[0], "plain text, not JSON");
    assert.deepEqual(got[1], new Uint8Array([0, 1, 0x6d, 255]));
  } finally {
    await client.close();
    await stop();
  }
});

Deno.test("a message decode rejects is skipped with an error event; the next one arrives", async () => {
  const { hub, url, stop } = await serve<unknown>({});
  const chatOnly = (text: string): Chat => {
    const value = JSON.parse(text);
    if (typeof value !== "object" || value === null) throw new TypeError("not a chat message");
    return value as Chat;
  };
  const client = connect<Chat>(url, { reconnect: fast, decode: chatOnly });
  const errors: Error[] = [];
  client.on("error", (error) => errors.push(error));
  try {
    await nextEvent(client, "open");
    const message = nextEvent(client, "message");
    await hub.broadcast("not a chat");
    await hub.broadcast({ text: "fine" });
    assert.deepEqual(await message, { text: "fine" });
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof DecodeError);
    assert.equal((errors[0] as DecodeError).text, '"not a chat"', "decode is given the JSON text");
    assert.equal(client.state, "open");
  } finally {
    await client.close();
    await stop();
  }
});

Deno.test("token identity: hello carries the user, sendToUser reaches every connection of that user", async () => {
  const { hub, url, stop } = await serve<Chat>({
    identify: (req) => protocolToken(req) ?? new Response("who are you?", { status: 401 }),
  });
  const alice1 = connect<Chat>(url, { token: "alice", reconnect: fast });
  const alice2 = connect<Chat>(url, { token: "alice", reconnect: fast });
  const bob = connect<Chat>(url, { token: "bob", reconnect: fast });
  const bobGot: Chat[] = [];
  bob.on("message", (m) => bobGot.push(m));
  try {
    const hellos = await Promise.all([alice1, alice2, bob].map((c) => nextEvent(c, "open")));
    assert.deepEqual(hellos.map((h) => h.user), ["alice", "alice", "bob"]);
    assert.equal(alice1.user, "alice");
    assert.notEqual(hellos[0].id, hellos[1].id);
    const got = Promise.all([nextEvent(alice1, "message"), nextEvent(alice2, "message")]);
    assert.equal(await hub.sendToUser("alice", { text: "for alice" }), 2);
    assert.deepEqual(await got, [{ text: "for alice" }, { text: "for alice" }]);
    await hub.broadcast({ text: "for all" });
    await until(() => bobGot.length === 1, 3_000, "bob's broadcast");
    assert.deepEqual(bobGot, [{ text: "for all" }]);
  } finally {
    await Promise.all([alice1.close(), alice2.close(), bob.close()]);
    await stop();
  }
});

Deno.test("the client answers server pings (server sees rtt) and measures its own rtt", async () => {
  let server: Client<unknown> | undefined;
  const disconnects: number[] = [];
  const { url, stop } = await serve({
    pingInterval: 50,
    pongTimeout: 150,
    onConnect: (c) => server = c,
    onDisconnect: (_c, info) => disconnects.push(info.code),
  });
  const client = connect(url, { pingInterval: 20, reconnect: fast });
  try {
    const hello = await nextEvent(client, "open");
    assert.equal(hello.pingInterval, 50);
    assert.equal(hello.pongTimeout, 150);
    assert.equal(server?.framed, true, "the hub sees a wshub.v1 client");
    await until(() => server?.rtt !== undefined && client.rtt !== undefined, 3_000, "both rtts");
    assert.ok(client.rtt! >= 0 && client.rtt! < 1_000, `client rtt ${client.rtt}`);
    // Several server deadlines (200 ms) pass; the pongs keep the connection alive.
    await delay(700);
    assert.equal(client.state, "open");
    assert.deepEqual(disconnects, []);
  } finally {
    await client.close();
    await stop();
  }
});

Deno.test("sends while disconnected are queued up to queueLimit, then flushed in order", async () => {
  // Pick a free port, start with nothing listening on it.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const client = connect<Chat>(`ws://127.0.0.1:${port}/ws`, {
    queueLimit: 3,
    reconnect: { initialDelay: 5, maxDelay: 20 },
  });
  const received: Chat[] = [];
  let hub: Awaited<ReturnType<typeof serve<Chat>>> | undefined;
  try {
    client.send({ text: "1" });
    client.send({ text: "2" });
    client.send({ text: "3" });
    assert.equal(client.queued, 3);
    assert.throws(() => client.send({ text: "4" }), (error: unknown) => {
      assert.ok(error instanceof SendQueueFullError);
      assert.equal(error.limit, 3);
      assert.match(error.message, /Send queue is full: 3 messages .* raise the queueLimit option/);
      return true;
    });
    await nextEvent(client, "state", (s) => s === "reconnecting");
    hub = await serve<Chat>({ onMessage: (m) => void received.push(m as Chat) }, port);
    await nextEvent(client, "open");
    client.send({ text: "5" }); // open: goes straight out, after the queued ones
    await until(() => received.length === 4, 3_000, "4 messages");
    assert.deepEqual(received.map((m) => m.text), ["1", "2", "3", "5"]);
    assert.equal(client.queued, 0);
  } finally {
    await client.close();
    await hub?.stop();
  }
});

Deno.test("no reconnect after a deliberate close(); send then throws", async () => {
  let connects = 0;
  const infos: number[] = [];
  const { url, stop } = await serve({
    onConnect: () => connects++,
    onDisconnect: (_c, info) => infos.push(info.code),
  });
  const client = connect(url, { reconnect: { initialDelay: 1, maxDelay: 1 } });
  try {
    await nextEvent(client, "open");
    const closed = nextEvent(client, "close");
    await client.close(4100, "bye");
    assert.deepEqual(await closed, { code: 4100, reason: "bye", reconnecting: false });
    assert.equal(client.state, "closed");
    await until(() => infos.length === 1, 3_000, "the server's onDisconnect");
    assert.deepEqual(infos, [4100]);
    await delay(50);
    assert.equal(connects, 1);
    assert.throws(() => client.send("x"), /Cannot send: the client is closed/);
    await assert.rejects(client.join("lobby"), /Cannot join lobby: the client is closed/);
    assert.throws(
      () => client.close(1001),
      /Cannot close with code 1001: applications may use 1000 or an integer from 3000 to 4999/,
    );
  } finally {
    await client.close();
    await stop();
  }
});

Deno.test("no reconnect after the server closes with a do-not-retry code (4403)", async () => {
  let connects = 0;
  const { url, stop } = await serve({
    onConnect(client) {
      connects++;
      client.close(4403, "forbidden");
    },
  });
  const client = connect(url, { reconnect: { initialDelay: 1, maxDelay: 1 } });
  const states: string[] = [];
  client.on("state", (s) => states.push(s));
  try {
    const info = await nextEvent(client, "close");
    assert.deepEqual(info, { code: 4403, reason: "forbidden", reconnecting: false });
    await delay(50);
    assert.equal(connects, 1);
    assert.equal(client.state, "closed");
    assert.deepEqual(states.at(-1), "closed");
    assert.ok(!states.includes("reconnecting"));
  } finally {
    await client.close();
    await stop();
  }
});

Deno.test("reconnects after retryable server closes (4001, 4000, 4999)", async () => {
  const codes = [4001, 4000, 4999]; // applications may only use 1000 and 3000-4999
  let connects = 0;
  const { url, stop } = await serve({
    onConnect(client) {
      const code = codes[connects++];
      if (code) client.close(code, `test ${code}`);
    },
  });
  const client = connect(url, { reconnect: { initialDelay: 1, maxDelay: 5 } });
  const closes: number[] = [];
  client.on("close", (info) => {
    if (info.reconnecting) closes.push(info.code);
  });
  try {
    await nextEvent(client, "open", () => connects === 4);
    await until(() => closes.length === 3, 3_000, "three retried closes");
    assert.deepEqual(closes, codes);
    assert.equal(client.state, "open");
  } finally {
    await client.close();
    await stop();
  }
});

Deno.test("after a server restart on the same port the client reconnects and chats again", async () => {
  const first = await serve<Chat>({
    onMessage: (m, _c, hub) => void hub.broadcast(m as Chat),
  });
  const client = connect<Chat>(first.url, { reconnect: { initialDelay: 20, maxDelay: 100 } });
  const states: string[] = [];
  client.on("state", (s) => states.push(s));
  let second: typeof first | undefined;
  try {
    await nextEvent(client, "open");
    const lost = nextEvent(client, "close");
    await first.stop(); // hub.close() sends 1001: retried
    const info = await lost;
    assert.equal(info.code, 1001);
    assert.equal(info.reconnecting, true);
    assert.equal(client.state, "reconnecting");
    client.send({ text: "sent while the server was down" });

    second = await serve<Chat>({
      onMessage: (m, _c, hub) => void hub.broadcast(m as Chat),
    }, first.port);
    const echoed = await nextEvent(client, "message", undefined, 5_000);
    assert.deepEqual(echoed, { text: "sent while the server was down" });
    assert.equal(client.state, "open");
    assert.deepEqual(states.slice(0, 3), ["open", "reconnecting", "open"]);
  } finally {
    await client.close();
    await second?.stop();
  }
});

Deno.test("aborting the signal closes the client; invalid options fail fast with clear messages", async () => {
  const { url, stop } = await serve({});
  const controller = new AbortController();
  const client = connect(url, { signal: controller.signal });
  try {
    await nextEvent(client, "open");
    const closed = nextEvent(client, "state", (s) => s === "closed");
    controller.abort();
    await closed;
  } finally {
    await client.close();
    await stop();
  }
  assert.throws(() => connect("ftp://x"), /scheme must be ws: or wss:/);
  assert.throws(() => connect("not a url"), /Invalid hub URL/);
  assert.throws(() => connect(url, { token: "has space" }), /RFC 7230 token characters/);
  assert.throws(() => connect(url, { queueLimit: -1 }), /queueLimit must be/);
  assert.throws(() => connect(url, { reconnect: { factor: 0 } }), /factor must be/);
});

Deno.test("a connection attempt that fails is reported as 1006, as CloseInfo says (Deno says 0)", async () => {
  const port = freePort(); // nothing listens there
  const client = connect(`ws://127.0.0.1:${port}/ws`, {
    reconnect: { initialDelay: 50, maxDelay: 50 },
  });
  try {
    const info = await nextEvent(client, "close");
    assert.equal(info.code, 1006);
    assert.equal(info.reconnecting, true);
  } finally {
    await client.close();
  }
});

Deno.test("what the client sends in one turn reaches the hub in order, in B frames within maxMessageBytes", async () => {
  const seen: string[] = [];
  const { url, stop } = await serve<string, string>({
    maxMessageBytes: 300, // a B frame of at most 301 bytes: a few frames each
    rateLimit: false,
    onMessage: (message) => void seen.push(message),
    onRequest: (message) => {
      seen.push(`request ${message}`);
      return "ok";
    },
  });
  const client = connect<string>(url, { reconnect: fast });
  try {
    await nextEvent(client, "open");
    assert.equal(client.hello?.batch, 301);
    const texts = Array.from({ length: 100 }, (_, i) => `message ${i} ✓ 😀`);
    client.send("first");
    const joined = client.join("lobby");
    const answered = client.request("ask");
    for (const text of texts) client.send(text);
    assert.deepEqual(await within(joined, 2_000, "the join"), { room: "lobby" });
    assert.equal(await within(answered, 2_000, "the answer"), "ok");
    await until(() => seen.length === 102, 2_000, "every message");
    assert.deepEqual(seen, ["first", "request ask", ...texts]);
  } finally {
    await client.close();
    await stop();
  }
});
