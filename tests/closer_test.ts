// The closer (src/server/closer.ts): close notices before close frames for
// framed clients, and sockets whose peer never answers the close released by
// force after closeTimeout, counted, and not held against maxConnections.

import assert from "node:assert/strict";
import { connect } from "../src/client/mod.ts";
import type { CloseInfo } from "../src/client/mod.ts";
import type { Client } from "../mod.ts";
import { delay, maskedFrame, serveHub, TestClient, until, within } from "./_helpers.ts";
import { NOTICE_GRACE, NOTICE_PATIENCE } from "../src/server/closer.ts";
import { rawPeer, readAll } from "./_wire.ts";
import { repeatFrame } from "../testing/ws_frames.ts";

Deno.test("a framed client is told the code first, then sent the close frame", async () => {
  let view: Client | undefined;
  const served = serveHub({ onConnect: (client) => void (view = client) });
  const client = await TestClient.open(served.url, "wshub.v1");
  await until(() => view !== undefined, 2000, "registration");
  view!.close(4100, "bye now");
  const closed = await within(client.closed, 2000, "the close");
  const notices = client.messages.filter((m) => typeof m === "string" && m[0] === "c");
  assert.deepEqual(notices.map((m) => JSON.parse((m as string).slice(1))), [
    { code: 4100, reason: "bye now" },
  ]);
  assert.equal(closed.code, 4100, "the close frame follows (this client did not close itself)");
  await served.close();
});

Deno.test("a peer that never answers the close frame is released after closeTimeout", async () => {
  let view: Client | undefined;
  const served = serveHub({ closeTimeout: 200, onConnect: (client) => void (view = client) });
  const peer = await rawPeer(served.port); // never sends its close frame
  await until(() => view !== undefined, 2000, "registration");
  view!.close(4200, "go");
  await until(() => served.hub.stats().closing === 1, 1000, "the socket to be closing");
  assert.equal(served.hub.size, 0, "unregistered at once");
  assert.equal(served.hub.stats().sockets, 1, "still held, and counted");
  await until(() => served.hub.stats().forcedReleases === 1, 2000, "the forced release");
  const stats = served.hub.stats();
  assert.equal(stats.closing, 0);
  assert.equal(stats.sockets, 0, "no longer held against maxConnections");
  assert.equal(stats.leakedSockets, 0, "nothing was left unsent");
  // The peer got the close frame, then the connection ended.
  const drained = await within(readAll(peer), 2000, "EOF");
  assert.equal(drained.close?.code, 4200);
  peer.close();
  await served.close();
});

Deno.test("hub.close() while 40 clients talk: every reference client learns 1001", async () => {
  const served = serveHub<string>({ onMessage() {} });
  const infos: CloseInfo[] = [];
  const clients = Array.from({ length: 40 }, () => {
    const client = connect<string>(served.url);
    client.on("close", (info) => infos.push(info));
    return client;
  });
  await until(() => served.hub.size === 40, 5000, "40 registrations");
  const talking = setInterval(() => {
    for (const client of clients) if (client.state === "open") client.send("chatter");
  }, 10);
  const broadcasting = setInterval(() => void served.hub.broadcast("news ".repeat(100)), 5);
  await delay(300);
  await served.hub.close();
  clearInterval(talking);
  clearInterval(broadcasting);
  await until(() => infos.length >= 40, 5000, "40 close events");
  assert.deepEqual(
    infos.slice(0, 40).map((info) => info.code),
    Array(40).fill(1001),
    "each client's first close was the hub's 1001",
  );
  await Promise.all(clients.map((client) => client.close()));
  await served.server.shutdown();
});

Deno.test("a framed peer that keeps sending after its close notice gets the close frame at once", async () => {
  let view: Client | undefined;
  const served = serveHub({ onMessage() {}, onConnect: (client) => void (view = client) });
  const peer = await rawPeer(served.port, true);
  await until(() => view !== undefined, 2000, "registration");
  const decoder = new TextDecoder();
  const nextText = async () => {
    for (;;) {
      const frame = await peer.next();
      if (frame === null) throw new Error("EOF");
      if (frame.opcode === 1) return decoder.decode(frame.payload);
    }
  };
  assert.equal((await nextText())[0], "h");
  view!.close(4100, "stop");
  assert.equal(await nextText(), 'c{"code":4100,"reason":"stop"}');
  // It does not answer the notice's ping; it keeps talking, NOTICE_PATIENCE + 1 frames.
  const notified = performance.now();
  const frame = maskedFrame(1, new TextEncoder().encode("mstill talking"), { fin: true });
  await peer.write(repeatFrame(frame, NOTICE_PATIENCE + 1));
  const drained = await within(readAll(peer), 2000, "the close frame");
  assert.equal(drained.close?.code, 4100);
  // Not the grace's timer: that would have taken NOTICE_GRACE (1 s) from the notice.
  const waited = performance.now() - notified;
  assert.ok(waited < NOTICE_GRACE * 0.9, `the close frame came ${waited.toFixed(0)} ms after`);
  peer.close();
  await served.close();
});
