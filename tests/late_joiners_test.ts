// What users used to build by hand (issue 16): a late joiner's recent publications with
// `client.join(room, { history: n })` — the last n, then the live ones, no gap, no duplicate —
// and a client asking who is in a room with `client.presence()` / `presenceCounts()`, under the
// same authorization as a join.

import assert from "node:assert/strict";
import { connect, JoinError } from "../src/client/mod.ts";
import { delay, serveHub, TestClient, unbatch, until } from "./_helpers.ts";

Deno.test("join with history: the last n publications, then the live ones; none twice, none missing", async () => {
  const served = serveHub<number>({ history: { size: 100, ttl: 60_000 }, rateLimit: false });
  const clients: ReturnType<typeof connect<number>>[] = [];
  try {
    for (let i = 1; i <= 30; i++) await served.hub.publish("feed", i);
    const first = connect<number>(served.url, { reconnect: false });
    clients.push(first);
    const got: { value: number; offset?: number }[] = [];
    first.on("message", (value, meta) => got.push({ value, offset: meta.offset }));
    const joined = await first.join("feed", { history: 10 });
    assert.equal(joined.offset, 20, "the answer's offset is the one before the first sent");
    await until(() => got.length === 10, 2000, "the last ten");
    await served.hub.publish("feed", 31);
    await until(() => got.length === 11, 2000, "the live one");
    assert.deepEqual(got.map((g) => g.value), Array.from({ length: 11 }, (_, i) => 21 + i));
    assert.deepEqual(got.map((g) => g.offset), Array.from({ length: 11 }, (_, i) => 21 + i));

    // Late joiners while publications flow: each sees a run with no gap and no duplicate up to
    // the last publication, starting at most n before its join.
    let next = 32;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await served.hub.publish("feed", next++);
        await delay(1);
      }
    })();
    const runs: number[][] = [];
    for (let j = 0; j < 10; j++) {
      const late = connect<number>(served.url, { reconnect: false });
      clients.push(late);
      const run: number[] = [];
      runs.push(run);
      late.on("message", (value) => run.push(value));
      await late.join("feed", { history: 5 });
      await delay(5);
    }
    publishing = false;
    await publisher;
    const last = next - 1;
    for (const run of runs) {
      await until(() => run.at(-1) === last, 3000, "every late joiner's last publication");
      assert.ok(run.length >= 5, "at least the five it asked for");
      assert.deepEqual(run, Array.from({ length: run.length }, (_, i) => run[0] + i), "no gap");
    }
    // A room without history: the option is harmless.
    const none = connect<number>(served.url, { reconnect: false });
    clients.push(none);
    assert.deepEqual(await none.join("no-history-here", { history: 5 }), {
      room: "no-history-here",
      epoch: "",
      offset: 0,
    });
    assert.throws(() => none.join("feed", { history: 0 }), RangeError);
  } finally {
    for (const client of clients) await client.close();
    await served.close();
  }
});

Deno.test("presence from the client: members may ask; others as authorizeJoin says; counts without the list", async () => {
  const served = serveHub({
    identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
    authorizeJoin: (client, room) => room !== "secret" || client.user === "admin",
  });
  const alice = connect(`${served.url}?u=alice`, { reconnect: false });
  const alice2 = connect(`${served.url}?u=alice`, { reconnect: false });
  const bob = connect(`${served.url}?u=bob`, { reconnect: false });
  const admin = connect(`${served.url}?u=admin`, { reconnect: false });
  try {
    await alice.join("lobby");
    await alice2.join("lobby");
    await admin.join("secret");
    const entries = await alice.presence("lobby");
    assert.deepEqual(entries, [{ user: "alice", connections: 2 }]);
    assert.deepEqual(await bob.presence("lobby"), entries, "a non-member the join would allow");
    assert.deepEqual(await bob.presenceCounts("lobby"), { users: 1, connections: 2 });
    const refused = await bob.presence("secret").then(() => undefined, (error) => error);
    assert.ok(refused instanceof JoinError);
    assert.equal(refused.code, "forbidden");
    assert.match(refused.message, /Could not ask who is in secret \(forbidden\)/);
    assert.deepEqual(await admin.presence("secret"), [{ user: "admin", connections: 1 }]);
    await assert.rejects(bob.presence("not a room"), RangeError, "checked before it is sent");
    assert.deepEqual(await bob.presence("empty"), [], "an empty room");
    assert.equal(bob.rooms.size, 0, "asking is not joining");
  } finally {
    for (const client of [alice, alice2, bob, admin]) await client.close();
    await served.close();
  }
  const offline = connect(`${served.url}?u=late`, { reconnect: false });
  await assert.rejects(offline.presence("lobby"), /not connected/, "not queued while offline");
  await offline.close();
});

Deno.test("presence queries on the wire: w answered by W, in order with the rest; a bad room is answered", async () => {
  const served = serveHub({ identify: () => "carol" });
  const raw = await TestClient.open(served.url, "wshub.v2");
  try {
    await raw.received(1); // the hello
    raw.socket.send('j{"id":1,"room":"lobby"}');
    raw.socket.send('w{"id":2,"room":"lobby"}');
    raw.socket.send('w{"id":3,"room":"lobby","counts":true}');
    raw.socket.send('w{"id":4,"room":"bad room"}');
    // Frames may come coalesced in a B frame: unpack them.
    const frames = () =>
      (raw.messages.slice(1) as string[]).flatMap((m) => m[0] === "B" ? unbatch(m) : [m]);
    await until(() => frames().filter((f) => f[0] === "W").length === 3, 3000, "three answers");
    assert.deepEqual(frames().filter((f) => f[0] === "W").map((f) => JSON.parse(f.slice(1))), [
      { id: 2, room: "lobby", presence: [{ user: "carol", connections: 1 }] },
      { id: 3, room: "lobby", users: 1, connections: 1 },
      {
        id: 4,
        room: "bad room",
        error: "invalid_room",
        message: 'room name "bad room" may only contain ASCII letters, digits and _-.:@/#+=~!',
      },
    ]);
    raw.socket.send('w{"room":"lobby"}'); // no id: a protocol error
    assert.equal((await raw.closed).code, 1002);
  } finally {
    await served.close();
  }
});
