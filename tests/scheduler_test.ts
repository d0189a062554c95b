// The scheduler seen through the hub: one loop, events applied in order,
// counters kept, nothing left behind.

import assert from "node:assert/strict";
import { serveHub, TestClient, until } from "./_helpers.ts";

Deno.test("events are applied in the order they were queued, across kinds", async () => {
  const served = serveHub<string>({ identify: () => "u" });
  const client = await TestClient.open(served.url);
  await until(() => served.hub.size === 1, 2000, "registration");
  const [registered] = served.hub.clients();
  const counts = await Promise.all([
    served.hub.broadcast("1"),
    served.hub.sendToUser("u", "2"),
    Promise.resolve(registered.send("3")),
    served.hub.broadcast("4"),
  ]);
  assert.deepEqual(counts, [1, 1, true, 1]);
  assert.deepEqual(await client.received(4), ["1", "2", "3", "4"]);
  await served.close();
  await client.closed;
});

Deno.test("stats count connections, messages and deliveries", async () => {
  const served = serveHub<string>({
    onMessage(message, _client, hub) {
      hub.broadcast(`echo ${message}`);
    },
  });
  const a = await TestClient.open(served.url);
  const b = await TestClient.open(served.url, "wshub.v1");
  await until(() => served.hub.size === 2, 2000, "registrations");
  a.socket.send("x");
  a.socket.send("y");
  await a.received(2);
  await until(() => b.appMessages().length === 2, 2000, "b's messages");
  let stats = served.hub.stats();
  assert.equal(stats.connections, 2);
  assert.equal(stats.connected, 2);
  assert.equal(stats.messagesIn, 2);
  assert.equal(stats.deliveries, 4);
  assert.equal(stats.disconnected, 0);
  await a.close();
  await until(() => served.hub.size === 1, 2000, "a to leave");
  stats = served.hub.stats();
  assert.equal(stats.disconnected, 1);
  assert.equal(stats.users, 0);
  await served.close();
  await b.closed;
  assert.equal(served.hub.stats().connections, 0);
});

Deno.test("a callback that throws in onConnect or onDisconnect is reported, not fatal", async () => {
  const errors: string[] = [];
  const served = serveHub<string>({
    onConnect() {
      throw new Error("connect bug");
    },
    onDisconnect() {
      throw new Error("disconnect bug");
    },
    onError(error) {
      errors.push(error.message);
    },
  });
  const a = await TestClient.open(served.url);
  await until(() => errors.length === 1, 2000, "the onConnect error");
  assert.equal(await served.hub.broadcast("still up"), 1);
  assert.deepEqual(await a.received(1), ["still up"]);
  await a.close();
  await until(() => errors.length === 2, 2000, "the onDisconnect error");
  assert.deepEqual(errors, [
    "The onConnect callback failed: connect bug",
    "The onDisconnect callback failed: disconnect bug",
  ]);
  await served.close();
});
