// Close codes and teardown (issue #3): every code the hub sends is valid on
// the wire and reaches a real client as sent; reasons are cut to 123 UTF-8
// bytes; client.close refuses codes an application may not send; a close
// goes out after what was queued before it; teardown is idempotent.

import assert from "node:assert/strict";
import { type Client, CloseCode, type DisconnectInfo, type HubOptions } from "../mod.ts";
import {
  closeReasonProblem,
  isSendableCloseCode,
  MAX_REASON_BYTES,
  truncateReason,
} from "../src/protocol/mod.ts";
import { connectionOf } from "../src/server/client_view.ts";
import { delay, serveHub, TestClient, until, within } from "./_helpers.ts";
import { random, randomString, rawPeer, readAll, seqPayload } from "./_wire.ts";

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text).length;

Deno.test("isSendableCloseCode: 1000-1003, 1007-1014 and 3000-4999, integers only", () => {
  const sendable = [
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    4000,
    4999,
  ];
  const not = [
    0,
    999,
    1004,
    1005,
    1006,
    1015,
    1016,
    2999,
    5000,
    65535,
    1000.5,
    3000.5,
    NaN,
    Infinity,
    -1000,
  ];
  for (const code of sendable) assert.equal(isSendableCloseCode(code), true, String(code));
  for (const code of not) assert.equal(isSendableCloseCode(code), false, String(code));
  for (const code of Object.values(CloseCode)) {
    assert.ok(isSendableCloseCode(code), `CloseCode ${code}`);
  }
});

Deno.test("truncateReason: at most 123 UTF-8 bytes, whole characters, as long as possible", () => {
  assert.equal(truncateReason(""), "");
  assert.equal(truncateReason("x".repeat(123)), "x".repeat(123));
  assert.equal(truncateReason("x".repeat(124)), "x".repeat(123));
  assert.equal(truncateReason("é".repeat(100)), "é".repeat(61)); // 122 bytes; one more is 124
  assert.equal(truncateReason("a" + "😀".repeat(40)), "a" + "😀".repeat(30)); // 121 bytes
  assert.equal(truncateReason("ab" + "€".repeat(60)), "ab" + "€".repeat(40)); // 122 bytes
  const { seed, next } = random(123);
  for (let i = 0; i < 3000; i++) {
    // Well-formed text only: a lone surrogate cannot go on the wire as it is.
    const reason = randomString(next, 100).replace(/[\ud800-\udfff]/g, "?");
    const cut = truncateReason(reason);
    assert.ok(bytes(cut) <= MAX_REASON_BYTES, `seed ${seed}`);
    assert.ok(reason.startsWith(cut), `seed ${seed}: a prefix`);
    if (cut !== reason) {
      const nextChar = String.fromCodePoint(reason.codePointAt(cut.length)!);
      assert.ok(bytes(cut + nextChar) > MAX_REASON_BYTES, `seed ${seed}: as long as possible`);
    }
  }
});

Deno.test("closeReasonProblem: up to 123 UTF-8 bytes is fine; longer, or not a string, says why", () => {
  assert.equal(closeReasonProblem(""), undefined);
  assert.equal(closeReasonProblem("x".repeat(123)), undefined);
  assert.equal(closeReasonProblem("é".repeat(61)), undefined, "122 bytes");
  assert.equal(
    closeReasonProblem("é".repeat(62)),
    "the close reason is 124 UTF-8 bytes; at most 123 fit in a close frame",
  );
  assert.equal(closeReasonProblem(4003), "a close reason is a string, not number");
});

Deno.test("client.close refuses codes an application may not send, before anything happens", async () => {
  let view: Client | undefined;
  const served = serveHub({
    onConnect(client) {
      view = client;
    },
  });
  const client = await TestClient.open(served.url);
  await until(() => view !== undefined, 2000, "onConnect");
  for (
    const code of [1005, 1006, 1001, 1002, 1011, 1015, 999, 2999, 5000, 0, 3000.5, 1000.1, NaN]
  ) {
    assert.throws(() => view!.close(code), RangeError, `code ${code}`);
  }
  assert.equal(view!.open, true, "a refused close does not close");
  view!.close(4999, "fine");
  const closed = await within(client.closed, 2000, "the close");
  assert.equal(closed.code, 4999);
  assert.equal(closed.reason, "fine");
  await served.close();
});

Deno.test("a long multibyte reason arrives cut to at most 123 UTF-8 bytes, on whole characters", async () => {
  const reason = "Ünïcødé 😀 ".repeat(20);
  const served = serveHub({
    onConnect(client) {
      client.close(4100, reason);
    },
  });
  const client = await TestClient.open(served.url);
  const closed = await within(client.closed, 2000, "the close");
  assert.equal(closed.code, 4100);
  assert.ok(bytes(closed.reason) <= 123, `${bytes(closed.reason)} bytes`);
  assert.ok(bytes(closed.reason) > 110, "not cut more than needed");
  assert.ok(reason.startsWith(closed.reason), "a prefix, no replacement character");
  assert.equal(closed.reason, truncateReason(reason));
  await served.close();
});

/** Runs one scenario against a fresh hub and returns the close event the real client saw. */
async function closeSeen(
  options: HubOptions<string>,
  framed: boolean,
  act: (client: TestClient) => void | Promise<void>,
): Promise<{ event: CloseEvent; info: DisconnectInfo | undefined }> {
  let info: DisconnectInfo | undefined;
  const served = serveHub<string>({
    ...options,
    onDisconnect(client, disconnect, hub) {
      info = disconnect;
      options.onDisconnect?.(client, disconnect, hub);
    },
  });
  const client = await TestClient.open(served.url, framed ? "wshub.v1" : undefined);
  await until(() => served.hub.size === 1, 2000, "registration");
  await act(client);
  if (options.drainTimeout !== undefined) void served.hub.close();
  const event = await within(client.closed, 3000, "the close");
  await served.close();
  return { event, info };
}

Deno.test("every close code the hub sends arrives at a real client as sent, cleanly", async () => {
  const never = new Promise<void>(() => {});
  const scenarios: [number, HubOptions<string>, boolean, (client: TestClient) => void][] = [
    [1000, { onMessage: (_m, c) => c.close() }, false, (c) => c.socket.send("x")],
    [1001, { drainTimeout: 0 }, false, () => {}],
    [1002, {}, true, (c) => c.socket.send("?")],
    [1003, { acceptBinary: false }, false, (c) => c.socket.send(new Uint8Array(1))],
    [1007, { decode: (d) => JSON.parse(d as string) }, false, (c) => c.socket.send("{")],
    [1008, { inboxLimit: 2, onMessage: () => never }, false, (c) => {
      for (let i = 0; i < 5; i++) c.socket.send(String(i));
    }],
    [1009, { maxMessageBytes: 4 }, false, (c) => c.socket.send("12345")],
    [
      1013,
      {
        // A queue past its limit is slow only if the peer has not taken what
        // Deno had for it after the event loop ran: 80 MiB in one go is more
        // than loopback moves in those few turns.
        sendQueueLimit: 1,
        maxBufferedBytes: 1,
        onMessage(_m, _c, hub) {
          for (let i = 0; i < 5; i++) hub.broadcast("x".repeat(16 * 1024 * 1024));
        },
      },
      false,
      (c) => c.socket.send("go"),
    ],
    [4000, { pingInterval: 20, pongTimeout: 20 }, true, () => {}],
    [3000, { onMessage: (_m, c) => c.close(3000, "app") }, true, (c) => c.socket.send("mx")],
  ];
  for (const [code, options, framed, act] of scenarios) {
    const { event, info } = await closeSeen(options, framed, act);
    assert.equal(event.code, code, `expected ${code}, saw ${event.code} (${event.reason})`);
    assert.equal(event.wasClean, true, `${code}: a clean close handshake`);
    assert.ok(bytes(event.reason) <= 123);
    assert.equal(info?.code, code);
    assert.equal(info?.byHub, true);
  }
});

Deno.test("4001 and 1013 for a stalled peer are valid close frames behind its unread data", async () => {
  for (
    const [code, options] of [
      [4001, { writeTimeout: 100, sendQueueLimit: 100_000 }],
      [1013, { sendQueueLimit: 4, writeTimeout: 30_000 }],
    ] as const
  ) {
    let info: DisconnectInfo | undefined;
    const served = serveHub<string>({
      ...options,
      maxBufferedBytes: 64 * 1024,
      onDisconnect(_client, disconnect) {
        info = disconnect;
      },
    });
    const peer = await rawPeer(served.port);
    await until(() => served.hub.size === 1, 2000, "registration");
    for (let seq = 0; seq < 1000 && info === undefined; seq++) {
      await served.hub.broadcast(seqPayload(seq, 32 * 1024));
      await delay(1); // let Deno write, so that the kernel's buffers fill as they would
    }
    assert.equal(info?.code, code);
    const drained = await within(readAll(peer), 5000, "the close frame");
    assert.deepEqual(drained.close?.code, code, `${code} on the wire after the data`);
    peer.close();
    await served.close();
  }
});

Deno.test("client.close goes out after everything queued before it, even past maxBufferedBytes", async () => {
  for (const framed of [false, true]) {
    const texts = Array.from({ length: 50 }, (_, i) => seqPayload(i, 100));
    const served = serveHub<string>({
      maxBufferedBytes: 1024,
      onConnect(client) {
        for (const text of texts) client.send(text);
        client.close(4100, "bye");
      },
    });
    const client = await TestClient.open(served.url, framed ? "wshub.v1" : undefined);
    const closed = await within(client.closed, 3000, "the close");
    assert.equal(closed.code, 4100);
    assert.deepEqual(
      framed ? client.appMessages() : client.messages,
      texts,
      `${framed ? "framed" : "plain"}: all 50 messages before the close`,
    );
    assert.equal(served.hub.size, 0, "unregistered at once");
    await served.close();
  }
});

Deno.test("teardown is idempotent: onDisconnect once, however many closes are asked for or reported", async () => {
  const disconnects: [string, number][] = [];
  const served = serveHub<string>({
    onDisconnect(client, info) {
      disconnects.push([client.id, info.code]);
    },
  });
  const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(() => TestClient.open(served.url)));
  await until(() => served.hub.size === 4, 2000, "registrations");
  const [va, vb, vc, vd] = served.hub.clients();

  // a: the application closes it three times, with different codes: the first wins.
  va.close(4001 + 99, "first");
  va.close(4200, "second");
  va.close();
  assert.equal((await within(a.closed, 2000, "a")).code, 4100);

  // b: the application and the peer close it at the same moment.
  vb.close(4300);
  b.socket.close(4301);
  await within(b.closed, 2000, "b");

  // c: the close event fires twice (Deno does: 1001, then 1005), before the
  // scheduler has applied the first; then the peer really closes.
  const socket = connectionOf(vc)!.socket;
  socket.dispatchEvent(new CloseEvent("close", { code: 1001, reason: "" }));
  socket.dispatchEvent(new CloseEvent("close", { code: 1005, reason: "" }));
  await until(() => served.hub.size === 2, 2000, "c's unregistration");
  await c.close();
  assert.equal(vc.open, false);
  assert.equal(vc.send("late"), false, "a closed client takes nothing");
  vc.close(4000 + 500); // after the fact: nothing happens, nothing throws

  // d: hub.close() twice, then client.close on the closed hub.
  const first = served.hub.close();
  assert.equal(served.hub.close(), first, "the same promise");
  await first;
  vd.close(4100);
  assert.equal((await within(d.closed, 2000, "d")).code, 1001);
  await delay(20);

  const byClient = new Map<string, number[]>();
  for (const [id, code] of disconnects) byClient.set(id, [...(byClient.get(id) ?? []), code]);
  assert.deepEqual(byClient.get(va.id), [4100]);
  assert.equal(byClient.get(vb.id)?.length, 1);
  assert.deepEqual(byClient.get(vc.id), [1001]);
  assert.deepEqual(byClient.get(vd.id), [1001]);
  assert.equal(disconnects.length, 4);
  const stats = served.hub.stats();
  assert.equal(stats.connected, 4);
  assert.equal(stats.disconnected, 4);
  await served.server.shutdown();
});

Deno.test("client.close on a stalled peer: unregistered at once, its queue released within writeTimeout", async () => {
  const writeTimeout = 150;
  const served = serveHub<string>({
    writeTimeout,
    maxBufferedBytes: 64 * 1024,
    sendQueueLimit: 10_000,
  });
  const peer = await rawPeer(served.port);
  await until(() => served.hub.size === 1, 2000, "registration");
  const [view] = served.hub.clients();
  const writer = connectionOf(view)!.writer;
  let seq = 0;
  // Fill the kernel's and Deno's buffers until the hub's own queue holds messages.
  for (; seq < 2000 && view.queued === 0; seq++) {
    await served.hub.broadcast(seqPayload(seq, 32 * 1024));
    await delay(1);
  }
  for (const end = seq + 20; seq < end; seq++) {
    void served.hub.broadcast(seqPayload(seq, 32 * 1024));
  }
  await until(() => view.queued >= 20, 2000, "a queue");
  const closedAt = performance.now();
  view.close(4100, "kicked");
  await until(() => served.hub.size === 0, 500, "the unregistration");
  await until(() => writer.queued === 0, writeTimeout + 2000, "the queue's release");
  assert.ok(served.hub.stats().timedOut === 0, "a deliberate close is not counted as a timeout");
  // The write deadline runs from the queue's last progress, which was before the close.
  const released = performance.now() - closedAt;
  console.log(
    `stalled peer's queue released ${
      released.toFixed(1)
    } ms after client.close; writeTimeout ${writeTimeout} ms`,
  );
  assert.ok(released <= writeTimeout + 400, `released after ${released} ms`);
  const started = performance.now();
  await served.hub.close();
  assert.ok(performance.now() - started < 1500, "nothing holds close()");
  const drained = await within(readAll(peer), 5000, "the peer's frames");
  assert.equal(drained.close?.code, 4100, "the close frame comes last");
  const seqs = drained.data.map((frame) => Number((frame as string).split(":")[0]));
  assert.deepEqual(seqs, seqs.map((_, i) => i), "a contiguous prefix before it");
  peer.close();
  await served.server.shutdown();
});
