// docs/protocol.md, checked over real sockets (issue #9): the `b` examples
// are the frames the hub sends, ping tokens are counted in UTF-16 units, and
// a framed client is cut pongTimeout after a ping nothing followed (not
// pingInterval + pongTimeout after it), as the README and the protocol page say.
// (Client-sent `h` and `b` frames closing with 1002, and maxMessageBytes not
// counting the tag, are covered in reader_test.ts.)

import assert from "node:assert/strict";
import { type DisconnectInfo, SUBPROTOCOL } from "../mod.ts";
import { tickInterval } from "../src/server/heartbeat.ts";
import { encodeCredential, Tag } from "../src/protocol/mod.ts";
import { serveHub, TestClient, unbatch, until, within } from "./_helpers.ts";

Deno.test("the b frames in docs/protocol.md are exactly what the hub sends", async () => {
  const served = serveHub<string>();
  const client = await TestClient.open(served.url, SUBPROTOCOL);
  await until(() => served.hub.size === 1, 2000, "registration");
  await client.received(1); // the hello
  const examples: [string[], string][] = [
    [["hello", "hi"], "b5:hello2:hi"],
    [["😀", "héllo", ""], "b2:😀5:héllo0:"],
  ];
  for (const [messages, frame] of examples) {
    const before = client.messages.length;
    for (const message of messages) void served.hub.broadcast(message); // one batch
    await client.received(before + 1);
    assert.equal(client.messages[before], frame);
  }
  assert.equal("😀".length, 2, "2 UTF-16 units");
  assert.equal(new TextEncoder().encode("😀").byteLength, 4, "4 UTF-8 bytes");
  await served.close();
  await client.closed;
});

Deno.test("the wshub.v2 table in docs/protocol.md is what the hub sends, and the hello says v 2", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/protocol.md", import.meta.url));
  const rows = doc.slice(doc.indexOf("### wshub.v2: texts are JSON")).split("\n")
    .filter((line) => line.startsWith("| "));
  const table = new Map(rows.map((row) => {
    const cells = row.split("|").map((cell) => cell.trim().replace(/^`|`$/g, ""));
    return [cells[1], { v1: cells[2], v2: cells[3] }];
  }));
  const served = serveHub<unknown>({ history: undefined });
  const v1 = await TestClient.open(served.url, SUBPROTOCOL);
  const v2 = await TestClient.open(served.url, "wshub.v2");
  try {
    await until(() => served.hub.size === 2, 2000, "registration");
    await v1.received(1);
    await v2.received(1);
    assert.match(v2.messages[0] as string, /^h\{"v":2,/);
    assert.match(v1.messages[0] as string, /^h\{"v":1,/);
    const cases: [string, () => unknown][] = [
      ['"hello"', () => served.hub.broadcast("hello")],
      ['"42"', () => served.hub.broadcast("42")],
      ["42", () => served.hub.broadcast(42)],
      ['{"a":1}', () => served.hub.broadcast({ a: 1 })],
      ["two strings, batched", () => {
        void served.hub.broadcast("hello");
        return served.hub.broadcast("hi");
      }],
    ];
    for (const [row, send] of cases) {
      const expected = table.get(row);
      assert.ok(expected, `the table has a row ${row}`);
      const [before1, before2] = [v1.messages.length, v2.messages.length];
      await send();
      await v1.received(before1 + 1);
      await v2.received(before2 + 1);
      assert.equal(v1.messages[before1], expected.v1, `wshub.v1: ${row}`);
      assert.equal(v2.messages[before2], expected.v2, `wshub.v2: ${row}`);
    }
  } finally {
    await v1.close();
    await v2.close();
    await served.close();
  }
});

Deno.test("ping tokens are 1-32 UTF-16 units: 16 emoji are answered, one unit more is 1002", async () => {
  const served = serveHub();
  const client = await TestClient.open(served.url, SUBPROTOCOL);
  await client.received(1); // the hello
  const token = "😀".repeat(16); // 16 characters, 32 units
  client.socket.send("p" + token);
  await client.received(2);
  assert.equal(client.messages[1], "P" + token);
  client.socket.send("p" + token + "a"); // 33 units
  const closed = await within(client.closed, 3000, "the close");
  assert.equal(closed.code, 1002);
  assert.match(closed.reason, /1-32/);
  await served.close();
});

Deno.test("a framed client is cut about pongTimeout after a ping that nothing followed", async () => {
  const pingInterval = 400, pongTimeout = 100;
  const tick = tickInterval({ pingInterval, pongTimeout, writeTimeout: 10_000 });
  let disconnectedAt = 0;
  const infos: DisconnectInfo[] = [];
  const served = serveHub({
    pingInterval,
    pongTimeout,
    onDisconnect(_client, info) {
      disconnectedAt = performance.now();
      infos.push(info);
    },
  });
  // Reads everything, answers nothing.
  const client = await TestClient.open(served.url, SUBPROTOCOL);
  await client.received(2, 3000); // the hello, then the first ping
  const pingSeenAt = performance.now();
  assert.equal(client.messages[1], "p1");
  await until(() => infos.length === 1, 3000, "the heartbeat cut-off");
  assert.equal(infos[0].code, 4000);
  const elapsed = disconnectedAt - pingSeenAt;
  // The ping left the hub at or before pingSeenAt; the cut comes at most two
  // ticks after its deadline (plus timer lateness).
  assert.ok(elapsed >= pongTimeout - 20, `cut ${elapsed.toFixed(1)} ms after the ping: too early`);
  assert.ok(
    elapsed < pingInterval,
    `cut ${elapsed.toFixed(1)} ms after the ping; expected about ${pongTimeout} + ${2 * tick}`,
  );
  assert.equal((await within(client.closed, 3000, "the close")).code, 4000);
  await served.close();
});

Deno.test("history in docs/protocol.md: a join's position, a rejoin with since, the epoch notice", async () => {
  const served = serveHub<string>({ history: { size: 10, ttl: 60_000 } });
  // The frames a client got, with B batches opened.
  const frames = (client: TestClient) =>
    (client.messages as string[]).flatMap((frame) => frame[0] === "B" ? unbatch(frame) : [frame]);
  const first = await TestClient.open(served.url, SUBPROTOCOL);
  await first.received(1); // the hello
  first.socket.send('j{"id":1,"room":"news"}');
  await first.received(2);
  assert.equal(first.messages[1], 'J{"id":1,"room":"news","epoch":"","offset":0}');
  for (const text of ["one", "two", "three"]) await served.hub.publish("news", text);
  await until(() => frames(first).length === 6, 2000, "the notice and three publications");
  const epoch = (await served.hub.history("news")).epoch;
  assert.match(epoch, /^[0-9a-f]{16}$/);
  assert.deepEqual(frames(first).slice(2), [
    `J{"room":"news","epoch":"${epoch}","offset":0}`, // the stream started: counting from 0
    "r4:news1:one",
    "r4:news2:two",
    "r4:news3:three",
  ]);

  // Another connection comes back having delivered offset 1.
  const second = await TestClient.open(served.url, SUBPROTOCOL);
  await second.received(1);
  second.socket.send(`j{"id":2,"room":"news","since":{"offset":1,"epoch":"${epoch}"}}`);
  await until(() => frames(second).length === 4, 2000, "the answer and what was missed");
  assert.deepEqual(frames(second).slice(1), [
    `J{"id":2,"room":"news","epoch":"${epoch}","offset":3,"recovered":true}`,
    "r4:news2:two",
    "r4:news3:three",
  ]);
  // An epoch that is not the stream's.
  second.socket.send('j{"id":3,"room":"news","since":{"offset":1,"epoch":"0000000000000000"}}');
  await until(() => frames(second).length === 5, 2000, "the refusal to recover");
  assert.equal(
    frames(second)[4],
    `J{"id":3,"room":"news","epoch":"${epoch}","offset":3,"recovered":false,"reason":"epoch_changed"}`,
  );
  await served.close();
  await Promise.all([first.closed, second.closed]);
});

Deno.test("the text-frame table of docs/protocol.md lists every tag once, and no two names share one", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/protocol.md", import.meta.url));
  const section = doc.slice(
    doc.indexOf("### Text frames"),
    doc.indexOf("#### Counting `b` lengths"),
  );
  const documented = section.split("\n").filter((line) => /^\| `.` /.test(line))
    .map((line) => line.slice(3, 4));
  const tags = Object.values(Tag);
  assert.equal(new Set(tags).size, tags.length, "every name has its own character");
  assert.equal(new Set(documented).size, documented.length, "no tag documented twice");
  assert.deepEqual([...documented].sort(), [...tags].sort());
});

Deno.test("the credential frames in docs/protocol.md are what the hub sends", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/protocol.md", import.meta.url));
  const section = doc.slice(doc.indexOf("#### Expiring credentials"));
  const expiresAt = Date.now() + 60_000;
  let accept = true;
  const served = serveHub({
    identify: () => ({ user: "ann", expiresAt }),
    refresh: () => {
      if (accept) return { user: "ann", expiresAt: expiresAt + 300_000 };
      throw new Error("no");
    },
  });
  const client = await TestClient.open(served.url, "wshub.v2");
  try {
    await client.received(1);
    assert.equal(JSON.parse((client.messages[0] as string).slice(1)).expiresAt, expiresAt);
    client.socket.send(encodeCredential("fresh"));
    await client.received(2);
    const accepted = `t{"expiresAt":${expiresAt + 300_000},"refreshed":true}`;
    assert.equal(client.messages[1], accepted);
    assert.ok(section.includes('`t{"expiresAt":1767225900000,"refreshed":true}`'));
    accept = false;
    client.socket.send(encodeCredential("stale"));
    await client.received(3);
    const refused = (client.messages[2] as string).replace(/\d{13}/, "1767225600000");
    assert.ok(section.includes(`\`${refused}\``), `${refused} is documented`);
  } finally {
    await client.close();
    await served.close();
  }
});

Deno.test("the client B example in docs/protocol.md is a message, a request and a ping, in order", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/protocol.md", import.meta.url));
  const example = doc.slice(doc.indexOf("#### Batches of frames")).match(/`(B8:[^`]+)`/)![1];
  assert.equal(example, 'B8:m{"n":1}7:q1:"hi"6:pabc12');
  const seen: unknown[] = [];
  const served = serveHub({
    onMessage: (message) => void seen.push(message),
    onRequest: (message) => {
      seen.push(message);
      return "yes";
    },
  });
  const client = await TestClient.open(served.url, "wshub.v2");
  await client.received(1); // the hello
  assert.equal(JSON.parse((client.messages[0] as string).slice(1)).batch, 1024 * 1024 + 1);
  client.socket.send(example);
  await client.received(3);
  assert.deepEqual(client.messages.slice(1).sort(), ["Pabc12", 'a1:"yes"']);
  assert.deepEqual(seen, [{ n: 1 }, "hi"]);
  await served.close();
  await client.closed;
});
