// The light client (`@wshub/hub/client/core`) against a real Hub on 127.0.0.1: the same
// connection as the full client's, no rooms and no requests of its own, and sensible answers to
// what only those would ask for: room messages and presence from joins the server made,
// requests answered no_handler, join answers ignored.

import assert from "node:assert/strict";
import { type Client, RequestError } from "../mod.ts";
import { encodeJoined, encodeLeft, encodePresenceAnswer } from "../src/protocol/mod.ts";
import { connect, type CoreClient, ProtocolError } from "../src/client/core.ts";
import type { MessageMeta, PresenceDiff } from "../src/client/mod.ts";
import { serveHub, until, within } from "./_helpers.ts";

type Chat = { text: string };

/** A light client that records its messages (with their meta) and errors. */
function light(url: string) {
  const client: CoreClient<Chat> = connect<Chat>(url, { reconnect: { initialDelay: 10 } });
  const got: { message: Chat; meta: MessageMeta }[] = [];
  const errors: Error[] = [];
  client.on("message", (message, meta) => got.push({ message, meta }));
  client.on("error", (error) => errors.push(error));
  return { client, got, errors };
}

Deno.test("core client: messages both ways, queued before open, then closed", async () => {
  const received: unknown[] = [];
  const served = serveHub<Chat>({
    onMessage(message, client) {
      received.push(message);
      client.send({ text: `echo ${(message as Chat).text}` });
    },
  });
  const { client, got, errors } = light(served.url);
  try {
    client.send({ text: "queued" });
    assert.equal(client.state, "connecting");
    await until(() => got.length === 1, 2_000, "the echo");
    assert.equal(client.state, "open");
    assert.deepEqual(received, [{ text: "queued" }]);
    assert.deepEqual(got[0], { message: { text: "echo queued" }, meta: {} });
    assert.equal(served.hub.clients()[0].protocol, "wshub.v2");
    assert.deepEqual(errors, []);
  } finally {
    await client.close();
    await served.close();
  }
  assert.equal(client.state, "closed");
});

Deno.test("core client: no room or request methods, and their options are refused", () => {
  assert.throws(
    () => connect("ws://127.0.0.1:1/ws", { onRequest: () => 1 } as never),
    /Unknown connect option "onRequest"/,
  );
  assert.throws(
    () => connect("ws://127.0.0.1:1/ws", { requestTimeout: 5 } as never),
    /Unknown connect option "requestTimeout"/,
  );
  const client = connect("ws://127.0.0.1:1/ws", { reconnect: false });
  for (const method of ["join", "leave", "presence", "presenceCounts", "request", "onRequest"]) {
    assert.equal(method in client, false, method);
  }
  assert.equal("rooms" in client, false);
  return client.close();
});

Deno.test("core client: a room the server put it in reaches it, with the room in the meta", async () => {
  const served = serveHub<Chat>({
    history: { size: 10, ttl: 60_000 },
    presenceEvents: true,
    presenceWindow: 0,
    identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
  });
  const { client, got, errors } = light(`${served.url}?u=ann`);
  const diffs: PresenceDiff[] = [];
  client.on("presence", (diff) => diffs.push(diff));
  try {
    await until(() => client.state === "open", 2_000, "open");
    const view = served.hub.clientsOf("ann")[0];
    // The hub tells the client of the join (a J frame it never asked for): ignored.
    assert.equal(await served.hub.join(view, "news"), true);
    await served.hub.publish("news", { text: "first" });
    await served.hub.publish("news", { text: "second" });
    await until(() => got.length === 2, 2_000, "the room's publications");
    assert.deepEqual(got.map(({ message }) => message.text), ["first", "second"]);
    assert.equal(got[0].meta.room, "news");
    assert.equal(typeof got[0].meta.offset, "number", "a room with history gives the position");
    assert.equal(got[1].meta.offset, got[0].meta.offset! + 1);

    const other = light(`${served.url}?u=bob`);
    try {
      await until(() => other.client.state === "open", 2_000, "bob open");
      await served.hub.join(served.hub.clientsOf("bob")[0], "news");
      await until(() => diffs.some((d) => d.joins.includes("bob")), 2_000, "bob's presence");
      assert.equal(diffs.at(-1)?.room, "news");
    } finally {
      await other.client.close();
    }
    assert.equal(client.state, "open");
    assert.deepEqual(errors, []);
  } finally {
    await client.close();
    await served.close();
  }
});

Deno.test("core client: the server's requests are answered no_handler at once", async () => {
  let view: Client<unknown> | undefined;
  const served = serveHub({ onConnect: (client) => void (view = client) });
  const { client, errors } = light(served.url);
  try {
    await until(() => client.state === "open" && view !== undefined, 2_000, "open");
    const started = performance.now();
    const error = await within(
      view!.request("anyone?", { timeout: 5_000 }).then(
        () => assert.fail("expected a rejection"),
        (error: unknown) => error,
      ),
      2_000,
      "the answer",
    );
    assert.ok(error instanceof RequestError);
    assert.equal(error.code, "no_handler");
    assert.match(error.message, /answers no requests/);
    assert.ok(performance.now() - started < 1_000, "answered, not timed out");
    assert.equal(client.state, "open");
    assert.deepEqual(errors, []);
  } finally {
    await client.close();
    await served.close();
  }
});

Deno.test("core client: answers to what it never asked are ignored, but an answer to a request is a protocol error", async () => {
  // A hand-written wshub.v2 server: join, leave and presence answers (ignored, even malformed:
  // the light client does not read them), a message, then an answer to a request this client
  // cannot have sent.
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, signal: ac.signal },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "wshub.v2" });
      socket.onopen = () => {
        socket.send('h{"v":2,"id":"x","user":null,"pingInterval":25000,"pongTimeout":10000}');
        socket.send(encodeJoined({ room: "r", id: 1 }));
        socket.send(encodeLeft({ room: "r", id: 2 }));
        socket.send(encodePresenceAnswer({ id: 3, room: "r", presence: [] }));
        socket.send("J{not json");
        socket.send("B3:L{}1:W");
        socket.send('m{"text":"still here"}');
        socket.send('a1:"never asked"');
      };
      return response;
    },
  );
  const { client, got, errors } = light(`ws://127.0.0.1:${server.addr.port}/ws`);
  try {
    const info = await within(
      new Promise<{ code: number }>((resolve) => client.on("close", resolve)),
      3_000,
      "the close",
    );
    assert.deepEqual(got.map(({ message }) => message.text), ["still here"]);
    assert.equal(info.code, 1002);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof ProtocolError);
    assert.match(errors[0].message, /answer to request 1, never sent/);
    assert.equal(client.state, "closed");
  } finally {
    await client.close();
    ac.abort();
    await server.finished;
  }
});
