// Dispatch (src/server/dispatch.ts): inboxes behind a slow async onMessage
// are bounded in bytes per client and for the whole hub, and a client that
// leaves takes its inbox with it: onMessage never runs after onDisconnect.

import assert from "node:assert/strict";
import type { Client, DisconnectInfo } from "../mod.ts";
import { delay, serveHub, TestClient, until, within } from "./_helpers.ts";

const MiB = 1024 * 1024;

Deno.test("a client whose waiting messages pass maxInboxBytes is closed with 1008", async () => {
  const never = new Promise<void>(() => {});
  const infos: DisconnectInfo[] = [];
  const served = serveHub({
    maxInboxBytes: 2 * MiB,
    rateLimit: false,
    onMessage: () => never,
    onDisconnect: (_client, info) => void infos.push(info),
  });
  const client = await TestClient.open(served.url);
  await until(() => served.hub.size === 1, 2000, "registration");
  const big = "x".repeat(MiB - 16);
  for (let i = 0; i < 4; i++) client.socket.send(big); // one in the handler, three waiting
  await within(client.closed, 3000, "the close");
  assert.deepEqual(infos.map((info) => [info.code, info.byHub]), [[1008, true]]);
  assert.match(infos[0].reason, /too many messages waiting for the handler/);
  assert.equal(served.hub.stats().inboxBytes, 0, "the closed client's inbox is gone");
  await served.close();
});

Deno.test("past maxTotalInboxBytes the client whose message does not fit gets 1013", async () => {
  const never = new Promise<void>(() => {});
  const codes = new Map<string, number>();
  const served = serveHub({
    maxInboxBytes: 4 * MiB,
    maxTotalInboxBytes: 3 * MiB,
    rateLimit: false,
    onMessage: () => never,
    onDisconnect: (client, info) => void codes.set(client.id, info.code),
  });
  const a = await TestClient.open(served.url);
  const b = await TestClient.open(served.url);
  await until(() => served.hub.size === 2, 2000, "registrations");
  const [viewA, viewB] = served.hub.clients();
  const big = "x".repeat(MiB);
  for (let i = 0; i < 3; i++) a.socket.send(big); // 1 running, 2 MiB waiting
  await until(() => served.hub.stats().inboxBytes === 2 * MiB, 2000, "a's backlog");
  for (let i = 0; i < 3; i++) b.socket.send(big); // 1 running, the 2nd would pass 3 MiB in all
  await within(b.closed, 3000, "b's close");
  assert.equal(codes.get(viewB.id), 1013);
  assert.equal(codes.has(viewA.id), false, "a, within its own bound, stays");
  assert.equal(served.hub.stats().inboxBytes, 2 * MiB);
  await served.close();
  await a.closed;
  assert.equal(served.hub.stats().inboxBytes, 0);
});

Deno.test("onMessage is never called for a client after its onDisconnect", async () => {
  const events: string[] = [];
  let release: (() => void) | undefined;
  const served = serveHub<string>({
    onMessage(message, client) {
      events.push(`message ${message} ${names.get(client)}`);
      return new Promise<void>((resolve) => release = resolve);
    },
    onDisconnect(client) {
      events.push(`disconnect ${names.get(client)}`);
    },
  });
  const names = new Map<Client<string>, string>();
  const client = await TestClient.open(served.url);
  await until(() => served.hub.size === 1, 2000, "registration");
  names.set(served.hub.clients()[0], "a");
  for (let i = 0; i < 10; i++) client.socket.send(String(i));
  await until(() => served.hub.stats().inboxBytes === 9, 2000, "nine messages waiting");
  await client.close();
  await until(() => events.includes("disconnect a"), 2000, "onDisconnect");
  assert.equal(served.hub.stats().inboxBytes, 0, "its inbox went with it");
  release!(); // the handler that was running settles after the client left
  await delay(50);
  assert.deepEqual(events, ["message 0 a", "disconnect a"]);
  await served.close();
});
