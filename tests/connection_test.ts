import assert from "node:assert/strict";
import type { Client } from "../mod.ts";
import { serveHub, TestClient, until } from "./_helpers.ts";

Deno.test("a Client describes its connection and refuses codes an application may not send", async () => {
  let seen: Client<string> | undefined;
  const served = serveHub<string>({
    identify: () => "dora",
    onConnect(client) {
      seen = client;
    },
  });
  const socket = await TestClient.open(served.url, "wshub.v1");
  await until(() => seen !== undefined, 2000, "onConnect");
  const client = seen!;
  assert.equal(client.user, "dora");
  assert.equal(client.framed, true);
  assert.equal(client.protocol, "wshub.v1");
  assert.match(client.id, /^[0-9a-f-]{36}$/);
  assert.ok(Math.abs(client.connectedAt - Date.now()) < 5000);
  assert.equal(client.open, true);
  assert.equal(client.queued, 0);
  assert.equal(client.rtt, undefined, "no pong yet");
  for (const code of [1001, 1005, 1006, 1011, 2999, 5000]) {
    assert.throws(() => client.close(code), RangeError, `code ${code}`);
  }
  assert.equal(client.open, true, "a refused close changes nothing");
  client.close(3000, "x".repeat(200));
  assert.equal(client.send("too late"), false, "nothing is queued once closing");
  const event = await socket.closed;
  assert.equal(event.code, 3000);
  assert.ok(new TextEncoder().encode(event.reason).length <= 123, "reason cut to 123 bytes");
  assert.equal(client.open, false);
  await served.close();
});

Deno.test("a plain Client has no protocol and never an rtt", async () => {
  let seen: Client | undefined;
  const served = serveHub({
    onConnect(client) {
      seen = client;
    },
  });
  const socket = await TestClient.open(served.url);
  await until(() => seen !== undefined, 2000, "onConnect");
  assert.equal(seen!.framed, false);
  assert.equal(seen!.protocol, "");
  assert.equal(seen!.rtt, undefined);
  await served.close();
  await socket.closed;
});
