// Rooms and presence over real sockets: publish reaches exactly a room's
// members (plain byte-for-byte, framed with the room), except, leave and
// disconnect, authorizeJoin, presence counted per user, presence events once
// per user, limits, coalescing, and nothing left behind.

import assert from "node:assert/strict";
import type { Client, PresenceEvent } from "../mod.ts";
import { connect, type HubClient, JoinError, type MessageMeta } from "../src/client/mod.ts";
import {
  delay,
  eventsOf,
  maskedFrame,
  serveHub,
  TestClient,
  unbatch,
  until,
  within,
} from "./_helpers.ts";
import { rawPeer } from "./_wire.ts";

type Received = { text: string; room?: string };

/** A client-module client that records every message with the room it came through. */
function member(url: string, token?: string): { client: HubClient<string>; got: Received[] } {
  const client = connect<string>(url, { token });
  const got: Received[] = [];
  client.on("message", (text, meta: MessageMeta) => got.push({ text, room: meta.room }));
  return { client, got };
}

Deno.test("publish reaches exactly the room's members: plain byte-for-byte, framed with the room", async () => {
  const served = serveHub<string>({
    identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
  });
  const a = member(`${served.url}?u=a`);
  const b = member(`${served.url}?u=b`);
  const outsider = member(`${served.url}?u=c`);
  const plain = await TestClient.open(`${served.url}?u=p`);
  await until(() => served.hub.size === 4, 2000, "registrations");
  await Promise.all([a.client.join("lobby"), b.client.join("lobby")]);
  const plainView = served.hub.clientsOf("p")[0];
  assert.equal(await served.hub.join(plainView, "lobby"), true);
  assert.deepEqual([...plainView.rooms], ["lobby"]);
  assert.deepEqual([...a.client.rooms], ["lobby"]);

  assert.equal(await served.hub.publish("lobby", "héllo 😀"), 3);
  const aView = served.hub.clientsOf("a")[0];
  assert.equal(await served.hub.publish("lobby", "not to a", { except: aView }), 2);
  assert.equal(await served.hub.publish("empty-room", "nobody"), 0);
  await served.hub.sendToUser("a", "direct");

  await until(() => a.got.length === 2 && b.got.length === 2, 2000, "the members' messages");
  assert.deepEqual(a.got, [{ text: "héllo 😀", room: "lobby" }, {
    text: "direct",
    room: undefined,
  }]);
  assert.deepEqual(b.got, [
    { text: "héllo 😀", room: "lobby" },
    { text: "not to a", room: "lobby" },
  ]);
  assert.deepEqual(
    await plain.received(2),
    ["héllo 😀", "not to a"],
    "plain: the payload as it is",
  );
  await delay(50);
  assert.deepEqual(outsider.got, [], "a client in no room gets nothing");

  // Binary payloads too.
  assert.equal(
    await served.hub.publish("lobby", new Uint8Array([1, 2, 3]) as unknown as string),
    3,
  );
  const bytes = new Promise<[Uint8Array, MessageMeta]>((resolve) =>
    b.client.on("binary", (data, meta) => resolve([data, meta]))
  );
  const [data, meta] = await within(bytes, 2000, "the binary room message");
  assert.deepEqual([...data], [1, 2, 3]);
  assert.equal(meta.room, "lobby");
  assert.deepEqual([...((await plain.received(3))[2] as Uint8Array)], [1, 2, 3]);

  await Promise.all([a.client.close(), b.client.close(), outsider.client.close()]);
  await served.close();
  await plain.closed;
});

Deno.test("leave and disconnect stop delivery; a client rejoins nothing it left", async () => {
  const served = serveHub<string>();
  const a = member(served.url);
  const b = member(served.url);
  await Promise.all([a.client.join("x"), b.client.join("x")]);
  await a.client.leave("x");
  assert.deepEqual([...a.client.rooms], []);
  assert.equal(await served.hub.publish("x", "after a left"), 1);
  await until(() => b.got.length === 1, 2000, "b's message");
  await b.client.close();
  await until(() => served.hub.size === 1, 2000, "b to leave");
  assert.equal(await served.hub.publish("x", "nobody"), 0);
  assert.equal(served.hub.stats().rooms, 0, "the emptied room is gone");
  assert.deepEqual(a.got, []);
  await a.client.close();
  await served.close();
});

Deno.test("authorizeJoin allows, denies (sync and async) and throws; a refusal never closes", async () => {
  const errors: string[] = [];
  const served = serveHub<string>({
    identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
    authorizeJoin(client: Client<string>, room: string) {
      if (room === "boom") throw new Error("the policy store is down");
      if (room.startsWith("async-")) return delay(10).then(() => room !== "async-no");
      return room !== "admins" || client.user === "root";
    },
    onError: (error) => void errors.push(error.message),
  });
  const alice = member(`${served.url}?u=alice`);
  await alice.client.join("lobby");
  await alice.client.join("async-yes");
  const refusal = async (room: string) => {
    try {
      await alice.client.join(room);
      return "joined";
    } catch (error) {
      assert.ok(error instanceof JoinError);
      return error.code;
    }
  };
  assert.equal(await refusal("admins"), "forbidden");
  assert.equal(await refusal("async-no"), "forbidden");
  assert.equal(await refusal("boom"), "failed");
  assert.match(errors[0], /The authorizeJoin callback failed: the policy store is down/);
  assert.throws(() => alice.client.join("bad room"), RangeError, "checked by the client first");
  assert.equal(alice.client.state, "open", "never closed for it");
  assert.deepEqual([...alice.client.rooms].sort(), ["async-yes", "lobby"]);
  // Server-side joins are trusted: no authorizeJoin.
  assert.equal(await served.hub.join(served.hub.clientsOf("alice")[0], "admins"), true);
  await until(() => alice.client.rooms.has("admins"), 2000, "the client to learn of it");
  assert.throws(() => served.hub.join(served.hub.clientsOf("alice")[0], "a b"), RangeError);
  await alice.client.close();
  await served.close();
});

Deno.test("presence: a user with three tabs is one entry, and one join and one leave event", async () => {
  const events: PresenceEvent[] = [];
  const served = serveHub<string>({
    identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
    presenceEvents: (room) => room === "doc",
    presenceWindow: 0,
    onPresence: (event) => void events.push(event),
  });
  const watcher = member(`${served.url}?u=watcher`);
  const seen: PresenceEvent[] = [];
  watcher.client.on("presence", (diff) => seen.push(...eventsOf(diff)));
  await watcher.client.join("doc");
  const tabs = [0, 1, 2].map(() => member(`${served.url}?u=alice`));
  for (const tab of tabs) await tab.client.join("doc");
  const anonymous = member(served.url);
  await anonymous.client.join("doc");
  assert.deepEqual(
    (await served.hub.presence("doc")).sort((x, y) => x.user.localeCompare(y.user)),
    [{ user: "alice", connections: 3 }, { user: "watcher", connections: 1 }],
    "anonymous connections are not listed",
  );
  await tabs[0].client.close();
  await tabs[1].client.leave("doc");
  assert.deepEqual(await served.hub.presence("doc"), [
    { user: "watcher", connections: 1 },
    { user: "alice", connections: 1 },
  ]);
  await tabs[2].client.close();
  await until(() => seen.length === 3, 2000, "the watcher's events");
  assert.deepEqual(seen, [
    { room: "doc", user: "watcher", event: "join" },
    { room: "doc", user: "alice", event: "join" },
    { room: "doc", user: "alice", event: "leave" },
  ]);
  assert.deepEqual(events, seen, "the server hook saw the same transitions");
  // Presence events are per room: none for another room.
  await watcher.client.join("quiet");
  await delay(30);
  assert.equal(seen.length, 3);
  await Promise.all([watcher.client.close(), tabs[1].client.close(), anonymous.client.close()]);
  await served.close();
});

Deno.test("limits: maxRoomsPerConnection is answered too_many_rooms; hub.join says false", async () => {
  const served = serveHub<string>({ maxRoomsPerConnection: 2 });
  const a = member(served.url);
  await a.client.join("one");
  await a.client.join("two");
  await assert.rejects(
    a.client.join("three"),
    (error: JoinError) => error.code === "too_many_rooms",
  );
  assert.equal(await served.hub.join(served.hub.clients()[0], "three"), false);
  await a.client.join("one"); // already in it: fine
  assert.equal(a.client.state, "open");
  await a.client.close();
  await served.close();
});

Deno.test("room messages queued in one batch reach a framed client as one B frame, in order", async () => {
  const served = serveHub<string>();
  const peer = await TestClient.open(served.url, "wshub.v1");
  await until(() => served.hub.size === 1, 2000, "registration");
  await served.hub.join(served.hub.clients()[0], "r");
  const published = [];
  for (let i = 0; i < 5; i++) published.push(served.hub.publish("r", `m${i}`));
  published.push(served.hub.broadcast("to all"));
  await Promise.all(published);
  await until(() => peer.messages.some((m) => typeof m === "string" && m[0] === "B"), 2000, "a B");
  const batch = peer.messages.find((m) => typeof m === "string" && m[0] === "B") as string;
  // Room messages keep their room (r<length>:<room><offset>:<text>); the broadcast its m tag.
  assert.deepEqual(unbatch(batch), [
    "r1:r:m0",
    "r1:r:m1",
    "r1:r:m2",
    "r1:r:m3",
    "r1:r:m4",
    "mto all",
  ]);
  await served.close();
});

Deno.test("after a server restart and after being cut off (4000) the client rejoins its rooms", async () => {
  let deny = false;
  const hubOptions = {
    pingInterval: 100,
    pongTimeout: 100,
    authorizeJoin: (_client: Client<string>, room: string) => !(deny && room === "vip"),
  };
  let served = serveHub<string>(hubOptions);
  const port = served.port;
  const a = member(served.url);
  const refused: JoinError[] = [];
  a.client.on("error", (error) => {
    if (error instanceof JoinError) refused.push(error);
  });
  await Promise.all([a.client.join("lobby"), a.client.join("vip")]);
  // The server restarts on the same port: the client reconnects and rejoins, then sends.
  await served.close();
  served = serveHub<string>(hubOptions, port);
  await until(() => a.client.state === "open" && a.client.rooms.size === 2, 10_000, "the rejoin");
  assert.equal(await served.hub.publish("lobby", "back"), 1);
  await until(() => a.got.some((m) => m.text === "back"), 2000, "the message after the rejoin");
  // Cut off as the heartbeat does (4000); by now the server refuses one of the rooms.
  deny = true;
  served.hub.clients()[0].close(4000, "heartbeat timeout");
  await until(
    () => a.client.state === "open" && refused.length === 1,
    10_000,
    "the refused rejoin",
  );
  assert.equal(refused[0].room, "vip");
  assert.equal(refused[0].code, "forbidden");
  assert.deepEqual([...a.client.rooms], ["lobby"], "the refused room is dropped, the other kept");
  await a.client.close();
  await served.close();
});

/** A join request and a message in one TCP write: both are queued before either is applied. */
function joinThenMessage(room: string): Uint8Array {
  const text = (s: string) => maskedFrame(1, new TextEncoder().encode(s), { fin: true });
  return new Uint8Array([...text(`j{"id":1,"room":"${room}"}`), ...text("mhello")]);
}

Deno.test("a message sent right after a join request is handled after the join (50 raw peers)", async () => {
  const outside: string[] = [];
  let handled = 0;
  const served = serveHub<string, string>({
    decode: (data) => String(data),
    rateLimit: false,
    onMessage(_message, client) {
      handled++;
      if (!client.rooms.has("lobby")) outside.push(client.id);
    },
  });
  const peers = await Promise.all(Array.from({ length: 50 }, () => rawPeer(served.port, true)));
  await until(() => served.hub.size === 50, 5000, "registration");
  await Promise.all(peers.map((peer) => peer.write(joinThenMessage("lobby"))));
  await until(() => handled === 50, 5000, "onMessage");
  for (const peer of peers) peer.close();
  await served.close();
  assert.equal(
    outside.length,
    0,
    `${outside.length} of 50 messages were handled before their join`,
  );
});

Deno.test("with an async authorizeJoin, later messages wait for the verdict (allowed or refused)", async () => {
  const log: string[] = [];
  const served = serveHub<string, string>({
    decode: (data) => String(data),
    async authorizeJoin(_client, room) {
      await delay(30);
      log.push(`decided ${room}`);
      return room !== "closed";
    },
    onMessage(message, client) {
      log.push(`${message} in ${[...client.rooms].join(",") || "no room"}`);
    },
  });
  const peer = await rawPeer(served.port, true);
  await until(() => served.hub.size === 1, 5000, "registration");
  await peer.write(joinThenMessage("open"));
  await until(() => log.length === 2, 5000, "the first pair");
  await peer.write(joinThenMessage("closed"));
  await until(() => log.length === 4, 5000, "the second pair");
  assert.deepEqual(log, ["decided open", "hello in open", "decided closed", "hello in open"]);
  assert.deepEqual(served.hub.stats().requests.inFlight, 0);
  peer.close();
  await served.close();
});

Deno.test("room changes budget: a flapping client's joins are refused rate_limited with retryAfter; others are not", async () => {
  const served = serveHub<string>({ roomChangeBurst: 4, roomChangesPerSecond: 10 });
  const flapper = member(served.url);
  const other = member(served.url);
  await flapper.client.join("a");
  await flapper.client.leave("a");
  await flapper.client.join("a");
  await flapper.client.leave("a"); // four changes: the burst is spent
  const refused = await flapper.client.join("a").then(
    () => undefined,
    (error: JoinError) => error,
  );
  assert.ok(refused instanceof JoinError);
  assert.equal(refused.code, "rate_limited");
  assert.ok(
    refused.retryAfter! > 0 && refused.retryAfter! <= 100,
    `retryAfter ${refused.retryAfter}`,
  );
  assert.match(refused.message, /more than 4 times at once or 10 a second; join again in \d+ ms/);
  assert.equal(flapper.client.state, "open", "never closed for it");
  // Others are not touched; the server's own joins do not count, nor are leaves ever refused.
  await other.client.join("a");
  const [flapperView] = served.hub.clients();
  assert.equal(await served.hub.join(flapperView, "b"), true);
  await until(() => flapper.client.rooms.has("b"), 2000, "the server's join");
  await flapper.client.leave("b");
  assert.equal(flapper.client.rooms.has("b"), false);
  // After retryAfter, it may join again.
  await delay(refused.retryAfter! + 20);
  await flapper.client.join("a");
  assert.deepEqual([...flapper.client.rooms], ["a"]);
  assert.equal(served.hub.stats().roomChangesRefused, 1);
  assert.match(served.hub.metrics(), /^wshub_room_changes_refused_total 1$/m);
  await Promise.all([flapper.client.close(), other.client.close()]);
  await served.close();
});

Deno.test("presenceStats: users and connections without the list; the counts query gives the same", async () => {
  const served = serveHub<string>({
    identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
  });
  const tabs = [member(`${served.url}?u=alice`), member(`${served.url}?u=alice`)];
  const bob = member(`${served.url}?u=bob`);
  const anonymous = member(served.url);
  for (const { client } of [...tabs, bob, anonymous]) await client.join("lobby");
  assert.deepEqual(await served.hub.presenceStats("lobby"), { users: 2, connections: 3 });
  assert.deepEqual(await bob.client.presenceCounts("lobby"), { users: 2, connections: 3 });
  assert.deepEqual(await served.hub.presenceStats("empty"), { users: 0, connections: 0 });
  await tabs[0].client.close();
  assert.deepEqual(await served.hub.presenceStats("lobby"), { users: 2, connections: 2 });
  assert.throws(() => served.hub.presenceStats("a b"), RangeError);
  await Promise.all([tabs[1].client.close(), bob.client.close(), anonymous.client.close()]);
  await served.close();
  await assert.rejects(served.hub.presenceStats("lobby"), /hub.presenceStats\(\)/);
});
