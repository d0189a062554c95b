import assert from "node:assert/strict";
import type { Connection } from "../src/server/connection.ts";
import { Index, Registry } from "../src/server/registry.ts";

// The registry only reads `user` from a connection (and keeps its rooms in `roomSet`).
function connection(user: string | undefined): Connection {
  return { user } as Connection;
}

Deno.test("Registry indexes connections by user and forgets empty users", () => {
  const registry = new Registry();
  const a1 = connection("alice");
  const a2 = connection("alice");
  const anon = connection(undefined);
  assert.equal(registry.add(a1), true, "alice's first connection");
  assert.equal(registry.add(a2), false, "alice's second connection");
  assert.equal(registry.add(anon), false, "anonymous connections have no user");
  assert.equal(registry.size, 3);
  assert.equal(registry.users, 1);
  assert.deepEqual([...registry.ofUser("alice")], [a1, a2]);
  assert.equal(registry.ofUser("bob").size, 0);
  assert.deepEqual(registry.delete(a1), { lastOfUser: false, left: [] });
  assert.equal(registry.delete(a1), undefined, "deleting twice is harmless");
  assert.deepEqual([...registry.ofUser("alice")], [a2]);
  assert.deepEqual(registry.delete(a2), { lastOfUser: true, left: [] });
  assert.equal(registry.users, 0, "no map entry is left behind");
  assert.deepEqual([...registry.connections()], [anon]);
  assert.equal(registry.has(anon), true);
  assert.deepEqual(registry.delete(anon), { lastOfUser: false, left: [] });
  assert.equal(registry.size, 0);
});

Deno.test("Index reports first-member and last-member transitions, once each", () => {
  const index = new Index<string>();
  const [a, b] = [connection("a"), connection("b")];
  assert.equal(index.add("room", a), true);
  assert.equal(index.add("room", a), false, "adding twice is a no-op");
  assert.equal(index.add("room", b), false);
  assert.equal(index.size, 1);
  assert.equal(index.delete("room", a), false);
  assert.equal(index.delete("room", a), false, "removing a non-member is a no-op");
  assert.equal(index.delete("other", b), false, "removing from an absent key is a no-op");
  assert.equal(index.delete("room", b), true, "the last member leaves");
  assert.equal(index.size, 0, "the emptied key is gone");
  assert.deepEqual([...index.keys()], []);
});

Deno.test("rooms: membership, presence counts per user, and their transitions", () => {
  const registry = new Registry();
  const [a1, a2, b, anon] = [
    connection("alice"),
    connection("alice"),
    connection("bob"),
    connection(undefined),
  ];
  for (const c of [a1, a2, b, anon]) registry.add(c);
  assert.deepEqual(registry.join(a1, "lobby"), { firstInRoom: true, userJoined: true });
  assert.equal(registry.join(a1, "lobby"), undefined, "joining twice changes nothing");
  assert.deepEqual(registry.join(a2, "lobby"), { firstInRoom: false, userJoined: false });
  assert.deepEqual(registry.join(b, "lobby"), { firstInRoom: false, userJoined: true });
  assert.deepEqual(registry.join(anon, "lobby"), { firstInRoom: false, userJoined: false });
  registry.join(a1, "games");
  assert.deepEqual(registry.presence("lobby"), [
    { user: "alice", connections: 2 },
    { user: "bob", connections: 1 },
  ]);
  assert.deepEqual(
    registry.presenceStats("lobby"),
    { users: 2, connections: 3 },
    "counts without the list; the anonymous connection is not counted",
  );
  assert.deepEqual(registry.presenceStats("nowhere"), { users: 0, connections: 0 });
  assert.deepEqual([...registry.roomsOf(a1)], ["lobby", "games"]);
  assert.equal(registry.rooms, 2);
  assert.deepEqual(registry.leave(a1, "lobby"), {
    room: "lobby",
    lastInRoom: false,
    userLeft: false,
  });
  assert.equal(
    registry.leave(a1, "lobby"),
    undefined,
    "leaving a room one is not in changes nothing",
  );
  assert.deepEqual(registry.leave(a2, "lobby"), {
    room: "lobby",
    lastInRoom: false,
    userLeft: true,
  });
  assert.deepEqual(registry.presence("lobby"), [{ user: "bob", connections: 1 }]);
  assert.deepEqual(registry.presenceStats("lobby"), { users: 1, connections: 1 });
  // Leaving the hub leaves every room.
  assert.deepEqual(registry.delete(a1), {
    lastOfUser: false,
    left: [{ room: "games", lastInRoom: true, userLeft: true }],
  });
  registry.delete(b);
  assert.deepEqual(registry.delete(anon)?.left, [{
    room: "lobby",
    lastInRoom: true,
    userLeft: false,
  }]);
  registry.delete(a2);
  assert.deepEqual(registry.indexSizes(), {
    connections: 0,
    users: 0,
    rooms: 0,
    roomsOf: 0,
    presence: 0,
    identified: 0,
  });
});
