// POST /api/batch (src/api/routes.ts), against a real Deno.serve on 127.0.0.1 with real clients:
// mixed commands reaching clients in order with one reply each, a bad command failing alone
// (checked exactly as its own route checks it), a malformed body or a batch past maxBatch refused
// whole with nothing sent, the key still required, consecutive offsets in a room with history,
// and the reason the route exists: a batch's publications reach a wshub.v1 client in fewer
// WebSocket messages than there are publications (the hub's writers coalesce them).

import assert from "node:assert/strict";
import { answer, audience, KEY, newHub, serveApi } from "./_api.ts";
import { TestClient, until } from "./_helpers.ts";
import { decodeServerFrame, type ServerFrame } from "../src/protocol/frames.ts";

Deno.test("batch: mixed commands reach real clients in order, one reply each; a bad one fails alone", async () => {
  const hub = newHub();
  const served = serveApi(hub);
  const { alice, plain, carol } = await audience(hub, served.ws);
  try {
    const result = await served.call("/api/batch", {
      body: {
        commands: [
          { publish: { room: "lobby", data: "a" } },
          { publish: { room: "h:news", data: { n: 1 } } },
          { publish: { room: "no spaces", data: 1 } },
          { broadcast: { data: "to all" } },
          { shout: { data: 1 } },
          { user: { user: "alice", data: { dm: true } } },
          { publish: { room: "lobby", data: 1, except: "x" } },
          { publish: { room: "lobby" } },
          {},
          { publish: { room: "lobby", data: 1 }, broadcast: { data: 1 } },
          "publish",
          { broadcast: [1] },
          { disconnect: { user: "u", code: 1001 } },
          { publish: { room: "h:news", data: "two" } },
          { disconnect: { user: "carol", code: 4000, reason: "bye" } },
        ],
      },
    });
    assert.equal(result.status, 200);
    const error = (message: string) => ({ error: { status: 400, message } });
    const replies = result.body.replies as Record<string, unknown>[];
    const epoch = replies[1].epoch;
    assert.match(epoch as string, /^[0-9a-f]{16}$/);
    assert.deepEqual(replies, [
      {},
      { offset: 1, epoch },
      replies[2], // checked below: the room name's problem, as /api/publish words it
      {},
      error('unknown command "shout"; known: publish, broadcast, user, disconnect'),
      {},
      error('publish: unknown field "except"; known: room, data'),
      error("publish: data is missing (any JSON value)"),
      error("a command has exactly one of publish, broadcast, user, disconnect; this one has none"),
      error(
        "a command has exactly one of publish, broadcast, user, disconnect; this one has " +
          '"publish", "broadcast"',
      ),
      error("a command must be an object with one of publish, broadcast, user, disconnect"),
      error("broadcast: its value must be a JSON object with data"),
      error("disconnect: invalid code 1001: 1000 or 3000–4999"),
      { offset: 2, epoch },
      {},
    ]);
    const badRoom = replies[2].error as { status: number; message: string };
    assert.equal(badRoom.status, 400);
    assert.match(badRoom.message, /^publish: invalid room: ./);

    await until(() => alice.got.length === 5, 2000, "alice's five");
    assert.deepEqual(alice.got.map((g) => [g.data, g.room, g.offset]), [
      ["a", "lobby", undefined],
      [{ n: 1 }, "h:news", 1],
      ["to all", undefined, undefined],
      [{ dm: true }, undefined, undefined],
      ["two", "h:news", 2],
    ]);
    await plain.received(2);
    assert.deepEqual(plain.messages, ["a", "to all"]);
    await until(() => carol.closes.length === 1, 2000, "carol closed");
    assert.deepEqual([carol.closes[0].code, carol.closes[0].reason], [4000, "bye"]);
  } finally {
    await alice.client.close();
    await carol.client.close();
    await plain.close();
    await served.close();
  }
});

Deno.test("batch: a malformed body or one past maxBatch is refused whole, nothing sent; the key is required", async () => {
  const hub = newHub();
  const served = serveApi(hub, { maxBatch: 3, maxBodyBytes: 512 });
  const plain = await TestClient.open(`${served.ws}?u=bob`);
  const refused = async (
    init: Parameters<typeof served.call>[1],
    status: number,
    error: RegExp,
  ) => {
    const result = await served.call("/api/batch", init);
    assert.equal(result.status, status, JSON.stringify(init));
    assert.deepEqual(Object.keys(result.body), ["error"]);
    assert.match(result.body.error as string, error, JSON.stringify(init));
  };
  const broadcast = { broadcast: { data: "x" } };
  try {
    await until(() => hub.size === 1, 2000, "bob registered");
    await refused({ body: "{" }, 400, /not valid JSON/);
    await refused({ body: "[]" }, 400, /must be a JSON object with commands/);
    await refused({ body: {} }, 400, /commands is missing/);
    await refused({ body: { commands: broadcast } }, 400, /commands must be an array/);
    await refused(
      { body: { commands: [broadcast], atomic: true } },
      400,
      /unknown field "atomic"; known: commands/,
    );
    await refused(
      { body: { commands: [broadcast, broadcast, broadcast, broadcast] } },
      413,
      /the batch has 4 commands, past maxBatch \(3\): split it/,
    );
    await refused(
      { body: { commands: [{ broadcast: { data: "x".repeat(512) } }] } },
      413,
      /larger than 512 bytes/,
    );
    await refused({ key: null, body: { commands: [broadcast] } }, 401, /^unauthorized$/);
    await refused({ key: `${KEY}x`, body: { commands: [broadcast] } }, 401, /^unauthorized$/);
    await refused({}, 405, /takes POST, not GET/);
    await refused(
      {
        body: JSON.stringify({ commands: [broadcast] }),
        headers: { "content-type": "text/plain" },
      },
      415,
      /as JSON/,
    );
    assert.deepEqual(answer(await served.call("/api/batch", { body: { commands: [] } })), {
      status: 200,
      body: { replies: [] },
    });

    // None of the refused batches sent anything: the first message bob gets is this one.
    assert.deepEqual(
      answer(
        await served.call("/api/batch", {
          body: { commands: [{ broadcast: { data: "first" } }, { broadcast: { data: "2nd" } }] },
        }),
      ),
      { status: 200, body: { replies: [{}, {}] } },
    );
    await plain.received(2);
    assert.deepEqual(plain.messages, ["first", "2nd"]);
  } finally {
    await plain.close();
    await served.close();
  }
});

Deno.test("batch: publications to a room with history get consecutive offsets, in the stream in order", async () => {
  const hub = newHub();
  const served = serveApi(hub);
  try {
    const first = await served.call("/api/publish", { body: { room: "h:log", data: 0 } });
    const epoch = first.body.epoch;
    const commands = Array.from({ length: 10 }, (_, i) => ({
      publish: { room: "h:log", data: i + 1 },
    }));
    const result = await served.call("/api/batch", { body: { commands } });
    assert.deepEqual(answer(result), {
      status: 200,
      body: { replies: commands.map((_, i) => ({ offset: i + 2, epoch })) },
    });
    const page = await hub.history("h:log");
    assert.deepEqual(
      page.publications.map(({ offset, data }) => [offset, data]),
      Array.from({ length: 11 }, (_, i) => [i + 1, i]),
    );
  } finally {
    await served.close();
  }
});

Deno.test("batch: K publications reach a wshub.v1 client in fewer than K WebSocket messages", async () => {
  const hub = newHub();
  const served = serveApi(hub);
  const client = await TestClient.open(`${served.ws}?u=dave`, "wshub.v1");
  const K = 50;
  try {
    await until(() => hub.size === 1, 2000, "dave registered");
    await hub.join(hub.clientsOf("dave")[0], "room");
    const result = await served.call("/api/batch", {
      body: {
        commands: Array.from(
          { length: K },
          (_, i) => ({ publish: { room: "room", data: `p${i}` } }),
        ),
      },
    });
    assert.equal(result.status, 200);
    // Counted once everything arrived, so it does not depend on timing: the WebSocket messages
    // that carried any of the room's publications (r: one, B: several frames in one).
    const texts = Array.from({ length: K }, (_, i) => `p${i}`);
    await until(() => roomTexts(client).flat().length === K, 3000, "all K publications");
    assert.deepEqual(roomTexts(client).flat(), texts, "every publication, in order");
    const carriers = roomTexts(client).filter((inOne) => inOne.length > 0).length;
    assert.ok(carriers < K, `${K} publications in ${carriers} WebSocket messages: not coalesced`);
  } finally {
    await client.close();
    await served.close();
  }
});

/** For each WebSocket message `client` got, the texts of the room publications it carried. */
function roomTexts(client: TestClient): string[][] {
  const textsOf = (frame: ServerFrame): string[] =>
    frame.kind === "room" && typeof frame.data === "string"
      ? [frame.data]
      : frame.kind === "frames"
      ? frame.frames.flatMap(textsOf)
      : [];
  return client.messages.map((message) => textsOf(decodeServerFrame(message)));
}
