// src/redis/names.ts: the names docs/channel-format.md promises, under any prefix, and the
// prefix option checked.

import assert from "node:assert/strict";
import { checkPrefix, Names } from "../src/redis/names.ts";

Deno.test("names: the channels and keys of the channel format", () => {
  const names = new Names("app");
  assert.equal(names.broadcast(), "app:b");
  assert.equal(names.user("alice@example.com"), "app:u:alice@example.com");
  assert.equal(names.room("chat:42"), "app:r:chat:42");
  assert.equal(names.position("chat:42"), "app:hm:chat:42");
  assert.equal(names.stream("chat:42"), "app:h:chat:42");
  assert.equal(names.key("n", "node-1", "p"), "app:n:node-1:p");
  assert.equal(names.channelOf({ kind: "broadcast", data: "x" }), "app:b");
  assert.equal(names.channelOf({ kind: "user", user: "u", data: "x" }), "app:u:u");
  assert.equal(
    names.channelOf({ kind: "disconnect", user: "u", code: 4003, reason: "" }),
    "app:u:u",
    "a disconnection travels where the user's messages do",
  );
  assert.equal(names.channelOf({ kind: "room", room: "r", data: "x" }), "app:r:r");
});

Deno.test("names: the prefix defaults to wshub; an empty one or one with a newline is refused", () => {
  assert.equal(checkPrefix("RedisEmitter", undefined), "wshub");
  assert.equal(checkPrefix("RedisEmitter", "tenant-7"), "tenant-7");
  for (const bad of ["", "a\nb", 7]) {
    assert.throws(() => checkPrefix("RedisEmitter", bad), /Invalid RedisEmitter option prefix/);
  }
});

Deno.test("names: in cluster mode a room's, a user's and a process's names carry hash tags", () => {
  const names = new Names("app", true);
  assert.equal(names.broadcast(), "app:{b}");
  assert.equal(names.user("alice"), "app:u:{alice}");
  // A room's channel, position, stream and presence: one hash tag, so one slot.
  assert.equal(names.room("chat:42"), "app:r:{chat:42}");
  assert.equal(names.position("chat:42"), "app:hm:{chat:42}");
  assert.equal(names.stream("chat:42"), "app:h:{chat:42}");
  assert.equal(names.presence("chat:42"), "app:p:{chat:42}");
  assert.equal(names.presenceCount("chat:42"), "app:pc:{chat:42}");
  assert.equal(names.roomShare("chat:42", "n1"), "app:pn:{chat:42}:n1");
  assert.equal(names.rooms("n1"), "app:n:{n1}:rooms");
  assert.equal(names.lease("n1"), "app:n:{n1}");
  assert.equal(names.ping("n1"), "app:n:{n1}:ping");
  // A single server's names are those of version 1, unchanged.
  const single = new Names("app");
  assert.equal(single.presence("r"), "app:p:r");
  assert.equal(single.lease("n1"), "app:n:n1");
  assert.equal(single.share("n1"), "app:n:n1:p");
  assert.equal(single.ping("n1"), "app:n:n1:ping");
  assert.throws(() => checkPrefix("RedisBackplane", "a{b", true), /holds no \{ or \}/);
});
