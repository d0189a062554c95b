// Isolation under load, with the hub in its own process: a client that reads
// is never closed as a slow consumer because the hub itself is busy, and one
// flooding client is throttled without anyone else noticing.

import assert from "node:assert/strict";
import { encodeClientText, Opcode, repeatFrame } from "../testing/ws_frames.ts";
import { delay, RawPeer, TestClient, until, within } from "./_helpers.ts";
import { startHubProcess } from "./_process.ts";

/**
 * A plain client on a raw socket that reads as fast as it can and checks that
 * text messages `"<seq>:…"` arrive as 0, 1, 2…, without keeping them.
 */
class CountingReader {
  next = 0;
  error: string | undefined;
  readonly done: Promise<void>;

  constructor(readonly peer: RawPeer) {
    this.done = peer.run((opcode, _fin, buffer, from, to) => {
      if (opcode === Opcode.Text) this.#take(buffer, from, to);
    });
  }

  #take(buffer: Uint8Array, from: number, to: number): void {
    let seq = 0, i = from;
    for (; i < to && buffer[i] !== 0x3a; i++) seq = seq * 10 + buffer[i] - 0x30;
    if (seq !== this.next && this.error === undefined) {
      this.error = `expected ${this.next}, got ${seq}`;
    }
    this.next = seq + 1;
  }
}

Deno.test("a burst far past sendQueueLimit reaches every reader; only the stalled peer is slow", async () => {
  // 3,000 broadcasts of 2 KiB queued at once, without yielding: 6 MiB per client, when Deno's
  // buffer holds 1 MiB and the hub's queue 1,024 messages. Deno writes only when the event
  // loop runs, so every queue goes past its limit; the hub lets the loop run, and only the peer
  // that takes nothing is a slow consumer.
  const READERS = 30, BURST = 3000, SIZE = 2048;
  const hub = await startHubProcess({ options: { writeTimeout: 2000 } });
  const readers: CountingReader[] = [];
  let stalled: RawPeer | undefined;
  try {
    for (let i = 0; i < READERS; i++) {
      readers.push(new CountingReader(await RawPeer.connect(hub.port, { bufferSize: 1 << 20 })));
    }
    stalled = await RawPeer.connect(hub.port); // never reads
    await hub.until((stats) => stats.connections === READERS + 1, 5000, "the registrations");
    const produced = await fetch(
      `http://127.0.0.1:${hub.port}/produce?burst=${BURST}&size=${SIZE}`,
    );
    assert.equal((await produced.json()).sent, BURST);
    await until(() => readers.every((reader) => reader.next === BURST), 30_000, "every message");
    for (const reader of readers) assert.equal(reader.error, undefined, "in order");
    const stats = await hub.until((s) => s.disconnected === 1, 15_000, "the stalled peer's close");
    // The stalled peer is cut as slow: its queue overflows (1013), or, when the kernel took part
    // of its data while the hub let the event loop run, its writes stall (4001).
    const [[code, count]] = Object.entries(stats.closeCodes);
    assert.ok(["1013", "4001"].includes(code) && count === 1, JSON.stringify(stats.closeCodes));
    assert.equal(stats.connections, READERS, "every reader is still connected");
  } finally {
    stalled?.close();
    for (const reader of readers) reader.peer.close();
    await Promise.all(readers.map((reader) => reader.done));
    assert.equal((await hub.stop()).code, 0, hub.stderr);
  }
});

Deno.test("the README's chat pattern: one flooding client is closed, 23 others see every message", async () => {
  const hub = await startHubProcess({ chat: true });
  const clients: TestClient[] = [];
  let flooder: RawPeer | undefined;
  try {
    for (let i = 0; i < 20; i++) clients.push(await TestClient.open(hub.url));
    for (let i = 0; i < 3; i++) {
      const probe = await TestClient.open(hub.url, "wshub.v1");
      probe.socket.addEventListener("message", (event) => {
        if (typeof event.data === "string" && event.data[0] === "p") {
          probe.socket.send("P" + event.data.slice(1));
        }
      });
      clients.push(probe);
    }
    flooder = await RawPeer.connect(hub.port);
    await hub.until((stats) => stats.connections === 24, 5000, "24 registrations");
    // 17,000 messages in one go, far past the default 100 a second (bursts of 200).
    const frame = encodeClientText("flood");
    const writing = flooder.send(repeatFrame(frame, 17_000));
    // Meanwhile every other client says ten things.
    for (let round = 0; round < 10; round++) {
      clients.forEach((client, i) => {
        client.socket.send(client.socket.protocol ? `mc${i}:${round}` : `c${i}:${round}`);
      });
      await delay(50);
    }
    await writing;
    const expected = clients.length * 10;
    const said = (client: TestClient) =>
      client.appMessages().filter((m) => typeof m === "string" && m[0] === "c") as string[];
    await until(() => clients.every((c) => said(c).length === expected), 10_000, "every message");
    const stats = await hub.until((s) => s.disconnected === 1, 5000, "the flooder's close");
    assert.deepEqual(stats.closeCodes, { "1008": 1 }, "only the flooder was closed, for its rate");
    assert.equal(stats.connections, 23);
    assert.ok(stats.rateLimited >= 1);
    for (const client of clients) {
      const lines = said(client);
      for (let i = 0; i < clients.length; i++) {
        const from = lines.filter((line) => line.startsWith(`c${i}:`)).map((l) => l.split(":")[1]);
        assert.deepEqual(from, Array.from({ length: 10 }, (_, n) => String(n)), `from c${i}`);
      }
      assert.equal(client.socket.readyState, WebSocket.OPEN);
    }
  } finally {
    flooder?.close();
    assert.equal((await hub.stop()).code, 0, hub.stderr);
    await Promise.all(clients.map((client) => within(client.closed, 5000, "close")));
  }
});
