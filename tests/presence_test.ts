// Presence as members hear it (src/server/presence.ts): windows that batch a room's changes into
// one diff (a join and a leave inside one cancelling out), each member's mode (u events, U diffs,
// nothing), the final states sent to a member whose list was taken inside a window, and nothing
// left behind. First the part on its own (its timer real, the loop played by the test), then
// over real sockets: a wshub.v1 peer that asked for nothing, one that asked for diffs, the
// reference client.

import assert from "node:assert/strict";
import type { Connection } from "../src/server/connection.ts";
import type { Delivery } from "../src/server/delivery.ts";
import type { HubEvent } from "../src/server/events.ts";
import { Presence } from "../src/server/presence.ts";
import { Registry } from "../src/server/registry.ts";
import { Counters } from "../src/server/stats.ts";
import type { Payload, PresenceDiff } from "../src/protocol/mod.ts";
import { connect } from "../src/client/mod.ts";
import { delay, serveHub, TestClient, unbatch, until } from "./_helpers.ts";

/** A member as presence reads it: framed or not, its user; the registry keeps its rooms. */
function member(user: string, framed = true): Connection {
  return { user, framed } as Connection;
}

/** A Presence over a real registry, with what it sends recorded per member, and its loop. */
function setup(window: number, presenceEvents: (room: string) => boolean = () => true) {
  const registry = new Registry();
  const sent = new Map<Connection, string[]>();
  const delivery = {
    deliver(connection: Connection, payload: Payload) {
      const frames = sent.get(connection) ?? [];
      frames.push(payload.framed as string);
      sent.set(connection, frames);
    },
  } as unknown as Delivery;
  const counters = new Counters();
  const flushes: number[] = [];
  const loop: { presence?: Presence } = {};
  const push = (event: HubEvent) => {
    assert.equal(event.type, "presenceFlush");
    flushes.push(performance.now());
    loop.presence!.flush(performance.now()); // what the loop does with the event
    return true;
  };
  const presence = new Presence({ window, presenceEvents }, { registry, delivery, counters, push });
  loop.presence = presence;
  const join = (connection: Connection, room: string, mode?: "events" | "diffs" | "none") => {
    if (!registry.has(connection)) registry.add(connection);
    const change = registry.join(connection, room)!;
    presence.joined(connection, room, mode ?? "events");
    if (change.userJoined) presence.changed({ room, user: connection.user!, event: "join" });
  };
  const leave = (connection: Connection, room: string) => {
    const change = registry.leave(connection, room)!;
    presence.left(connection, room);
    if (change.userLeft) presence.changed({ room, user: connection.user!, event: "leave" });
  };
  return { registry, presence, sent, counters, flushes, join, leave };
}

const diff = (frame: string): PresenceDiff => JSON.parse(frame.slice(1));

Deno.test("a window's changes go out as one diff per room; a join and a leave inside it cancel", async () => {
  const { presence, sent, counters, join, leave } = setup(80);
  const [watcher, alice, bob] = [member("watcher"), member("alice"), member("bob")];
  const told = () => sent.get(watcher)?.length ?? 0;
  join(watcher, "doc", "diffs");
  await until(() => told() === 1, 2000, "the first window");
  assert.deepEqual(sent.get(watcher)?.map(diff), [{ room: "doc", joins: ["watcher"], leaves: [] }]);
  // One window: alice flaps ten times and ends out; bob comes and stays.
  for (let i = 0; i < 10; i++) {
    join(alice, "doc", "diffs");
    leave(alice, "doc");
  }
  join(bob, "doc", "diffs");
  assert.equal(told(), 1, "nothing is sent before the window ends");
  await until(() => told() === 2, 2000, "the second window");
  await delay(100);
  assert.deepEqual(sent.get(watcher)!.slice(1).map(diff), [
    { room: "doc", joins: ["bob"], leaves: [] },
  ], "alice's twenty changes cancelled out; one frame for the window");
  assert.deepEqual(sent.get(bob)!.map(diff), [{ room: "doc", joins: ["bob"], leaves: [] }]);
  // A window where everything cancels sends nothing at all.
  join(alice, "doc", "diffs");
  leave(alice, "doc");
  await until(() => presence.windows === 0, 2000, "the third window");
  assert.equal(told(), 2, "nothing to tell");
  assert.equal(counters.presenceDiffs, 2);
  assert.deepEqual(presence.sizes(), { modes: 2, windows: 0, fresh: 0 });
  presence.stop();
});

Deno.test("each member in its mode: u events (sent together), a U diff, or nothing; plain members nothing", async () => {
  const { sent, join, leave, presence } = setup(50, (room) => room !== "silent");
  const [events, diffs, none, plain] = [
    member("e"),
    member("d"),
    member("n"),
    member("p", false),
  ];
  join(events, "doc");
  join(diffs, "doc", "diffs");
  join(none, "doc", "none");
  join(plain, "doc");
  await until(() => presence.windows === 0, 2000, "the window");
  const users = ["e", "d", "n", "p"];
  assert.deepEqual(
    sent.get(events),
    users.map((user) => `u${JSON.stringify({ room: "doc", user, event: "join" })}`),
  );
  assert.deepEqual(sent.get(diffs)?.map(diff), [{ room: "doc", joins: users, leaves: [] }]);
  assert.equal(sent.get(none), undefined, "presence: none");
  assert.equal(sent.get(plain), undefined, "plain members get no presence");
  // A leave goes out as a leave; rooms without presence events open no window.
  leave(none, "doc");
  join(events, "silent");
  assert.equal(presence.windows, 1, "doc's window; none for the silent room");
  await until(() => presence.windows === 0, 2000, "the next window");
  assert.deepEqual(sent.get(diffs)!.slice(1).map(diff), [
    { room: "doc", joins: [], leaves: ["n"] },
  ]);
  presence.stop();
});

Deno.test("a member whose list was taken inside a window gets every changed user's final state", async () => {
  const { presence, sent, join, leave } = setup(100);
  const [old, fresh, alice, bob] = [member("old"), member("fresh"), member("alice"), member("bob")];
  const closed = () => until(() => presence.windows === 0, 2000, "the window");
  join(old, "doc", "diffs");
  join(fresh, "doc", "diffs");
  join(bob, "doc", "diffs");
  await closed();
  // In one window: alice joins; `fresh` is answered who is in (alice is listed), half way
  // through; alice leaves again; bob leaves and comes back.
  join(alice, "doc", "diffs");
  await delay(50);
  presence.listed(fresh, "doc");
  leave(alice, "doc");
  leave(bob, "doc");
  join(bob, "doc", "diffs");
  await closed();
  assert.equal(sent.get(old)!.length, 1, "for a member with an older list, nothing changed");
  assert.deepEqual(sent.get(fresh)!.slice(1).map(diff), [
    { room: "doc", joins: ["bob"], leaves: ["alice"] },
  ], "final states: alice (listed) is gone, bob is there");
  // The next window, opened within a window's length of the list, still counts it as fresh; one
  // opened later no more.
  join(alice, "doc", "diffs");
  leave(alice, "doc");
  await closed();
  assert.deepEqual(sent.get(fresh)!.slice(2).map(diff), [
    { room: "doc", joins: [], leaves: ["alice"] },
  ]);
  await delay(120);
  join(alice, "doc", "diffs");
  leave(alice, "doc");
  await closed();
  assert.equal(sent.get(fresh)!.length, 3, "cancelled again once the list is old");
  presence.upkeep(performance.now());
  assert.deepEqual(presence.sizes(), { modes: 3, windows: 0, fresh: 0 }, "fresh views forgotten");
  presence.stop();
});

Deno.test("window 0: every change is told at once; stop() clears the timer and forgets everything", () => {
  const { presence, sent, flushes, join, leave } = setup(0);
  const [watcher, alice] = [member("watcher"), member("alice")];
  join(watcher, "doc", "diffs");
  join(alice, "doc");
  leave(alice, "doc");
  assert.equal(flushes.length, 0, "no timer");
  assert.deepEqual(sent.get(watcher)?.map(diff), [
    { room: "doc", joins: ["watcher"], leaves: [] },
    { room: "doc", joins: ["alice"], leaves: [] },
    { room: "doc", joins: [], leaves: ["alice"] },
  ]);
  const windowed = setup(60_000);
  windowed.join(member("w"), "doc");
  assert.equal(windowed.presence.windows, 1, "a window is open, its timer set");
  windowed.presence.stop(); // the sanitizer fails this test if the timer is left
  assert.deepEqual(windowed.presence.sizes(), { modes: 0, windows: 0, fresh: 0 });
  presence.departed(watcher);
  assert.deepEqual(presence.sizes(), { modes: 0, windows: 0, fresh: 0 });
});

Deno.test("over sockets: a wshub.v1 peer that asked for nothing gets u frames, one asking gets U", async () => {
  const served = serveHub<string>({
    identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
    presenceEvents: true,
    presenceWindow: 150,
  });
  const legacy = await TestClient.open(`${served.url}?u=legacy`, "wshub.v1");
  const modern = await TestClient.open(`${served.url}?u=modern`, "wshub.v1");
  legacy.socket.send(`j${JSON.stringify({ id: 1, room: "doc" })}`);
  modern.socket.send(`j${JSON.stringify({ id: 1, room: "doc", presence: "diffs" })}`);
  const flat = (client: TestClient) =>
    client.messages.flatMap((m) => typeof m === "string" && m[0] === "B" ? unbatch(m) : [m]);
  const presence = (client: TestClient) =>
    flat(client).filter((m) => typeof m === "string" && (m[0] === "u" || m[0] === "U"));
  await until(() => presence(modern).length >= 1, 3000, "the first window");
  const alice = connect(`${served.url}?u=alice`, { reconnect: false });
  for (let i = 0; i < 5; i++) {
    await alice.join("doc");
    await alice.leave("doc");
  }
  await alice.join("doc");
  await until(() => presence(modern).length >= 2, 3000, "the second window");
  await delay(200);
  assert.deepEqual(presence(modern).map((m) => JSON.parse((m as string).slice(1))), [
    { room: "doc", joins: ["legacy", "modern"], leaves: [] },
    { room: "doc", joins: ["alice"], leaves: [] },
  ]);
  assert.deepEqual(presence(legacy), [
    'u{"room":"doc","user":"legacy","event":"join"}',
    'u{"room":"doc","user":"modern","event":"join"}',
    'u{"room":"doc","user":"alice","event":"join"}',
  ], "per-user events built from the same windows");
  // A malformed presence mode is a protocol error, like any malformed join.
  legacy.socket.send(`j${JSON.stringify({ id: 2, room: "x", presence: "all" })}`);
  const closed = await legacy.closed;
  assert.equal(closed.code, 1002);
  await alice.close();
  modern.socket.close();
  await modern.closed;
  await served.close();
});

Deno.test("the reference client: one presence event per diff; join(room, { presence: false }) hears none", async () => {
  const served = serveHub<string>({
    identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
    presenceEvents: true,
    presenceWindow: 100,
  });
  const watcher = connect(`${served.url}?u=watcher`);
  const quiet = connect(`${served.url}?u=quiet`);
  const seen: PresenceDiff[] = [];
  const heard: PresenceDiff[] = [];
  watcher.on("presence", (diff) => seen.push(diff));
  quiet.on("presence", (diff) => heard.push(diff));
  await watcher.join("doc");
  await quiet.join("doc", { presence: false });
  await until(() => seen.length === 1, 3000, "the first window");
  assert.deepEqual(seen, [{ room: "doc", joins: ["watcher", "quiet"], leaves: [] }]);
  // The server-side join of a room gets u events; a run of them is one diff for the application.
  const [a, b] = [connect(`${served.url}?u=a`), connect(`${served.url}?u=b`)];
  await until(() => served.hub.size === 4, 3000, "four connections");
  const [ca, cb] = [served.hub.clientsOf("a")[0], served.hub.clientsOf("b")[0]];
  const [cw] = served.hub.clientsOf("watcher");
  await served.hub.join(cw, "lobby");
  await served.hub.join(ca, "lobby");
  await served.hub.join(cb, "lobby");
  await until(() => seen.length === 2, 3000, "the lobby's window");
  assert.deepEqual(seen[1], { room: "lobby", joins: ["watcher", "a", "b"], leaves: [] });
  // After a reconnect the client rejoins "doc" still asking for no presence.
  served.hub.clientsOf("quiet")[0].close(4000, "cut");
  await until(() => quiet.state === "open" && quiet.rooms.has("doc"), 5000, "the rejoin");
  await delay(250);
  assert.deepEqual(heard, [], "quiet heard nothing, before or after its reconnect");
  await Promise.all([watcher.close(), quiet.close(), a.close(), b.close()]);
  await served.close();
});
