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
