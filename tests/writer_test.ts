// Flow control (issue #3): coalescing into `b` frames, the bounded send queue
// and its overflow policies, the cap on Deno's write buffer, the write
// deadline (4001), and a real stalled peer — a raw TCP client that completes
// the handshake and never reads — next to healthy clients that must get every
// broadcast, in order, while the hub's memory stays bounded.

import assert from "node:assert/strict";
import { type Client, CloseCode, type DisconnectInfo, type Hub } from "../mod.ts";
import { connectionOf } from "../src/server/client_view.ts";
import { tickInterval } from "../src/server/heartbeat.ts";
import { delay, maskedFrame, serveHub, TestClient, unbatch, until, within } from "./_helpers.ts";
import { repeatFrame } from "../testing/ws_frames.ts";
import { exposeGc, rawPeer, readAll, SeqClient, seqOf, seqPayload } from "./_wire.ts";

/** Generous extra time for a loaded 2-core CI machine, on top of every documented bound. */
const CI_SLACK = 400;
const KiB = 1024;

/** Deno's write buffer of a client, as the hub's writer sees it. */
function buffered(client: Client): number {
  return connectionOf(client)!.socket.bufferedAmount;
}

/**
 * Broadcasts `"<seq>:xxx…"` payloads of `size` characters until `stop()` or
 * `max` messages, `chunk` at a time, then waits for the healthy clients to
 * have everything (so that they are never the slow ones, and so that the
 * event loop turns and Deno really writes). Each broadcast must resolve
 * promptly: it never waits for a slow client. `each` runs after every chunk.
 *
 * (A loop of `await hub.broadcast()` alone never yields to the event loop:
 * broadcast resolves in a microtask, Deno's writes cannot complete, and every
 * client's buffer looks full.)
 */
async function pump(
  hub: Hub<string>,
  healthy: SeqClient[],
  options: {
    start?: number;
    size: number;
    max: number;
    chunk?: number;
    stop?: () => boolean;
    each?: () => void;
  },
): Promise<number> {
  let seq = options.start ?? 0;
  const chunk = options.chunk ?? 4;
  while (seq < options.max && !(options.stop?.() ?? false)) {
    const end = Math.min(options.max, seq + chunk);
    for (; seq < end; seq++) {
      await within(hub.broadcast(seqPayload(seq, options.size)), 1000, `broadcast ${seq}`);
    }
    await within(Promise.all(healthy.map((c) => c.reach(seq))), 5000, "the healthy clients");
    options.each?.();
  }
  return seq;
}

/** Waits until every healthy client got messages 0..count-1, in order. */
async function allDelivered(healthy: SeqClient[], count: number): Promise<void> {
  await until(() => healthy.every((c) => c.next >= count), 5000, "every broadcast");
  for (const client of healthy) {
    assert.equal(client.error, undefined, "in order, nothing lost");
    assert.equal(client.next, count);
  }
}

Deno.test("coalescing: messages of one scheduler batch reach a framed client as one b frame, in order", async () => {
  const served = serveHub<string | Uint8Array>();
  const framed = await TestClient.open(served.url, "wshub.v1");
  const plain = await TestClient.open(served.url);
  await until(() => served.hub.size === 2, 2000, "registration");
  const texts = ["hello", "1:2", "", "é😀", "b3:abc", "::", "m", "p1"];
  for (const text of texts) void served.hub.broadcast(text); // one batch
  await until(() => framed.appMessages().length === texts.length, 2000, "the batch");
  const frames = framed.messages.slice(1); // after the hello
  assert.equal(frames.length, 1, "one frame for the whole batch");
  assert.equal((frames[0] as string)[0], "b");
  assert.deepEqual(unbatch(frames[0] as string), texts);
  assert.deepEqual(await plain.received(texts.length), texts, "plain: one frame each, as sent");

  // A binary message splits the run; order is kept across kinds.
  void served.hub.broadcast("a");
  void served.hub.broadcast("b");
  void served.hub.broadcast(new Uint8Array([1, 2]));
  void served.hub.broadcast("c");
  await until(() => framed.appMessages().length === texts.length + 4, 2000, "the second batch");
  const second = framed.messages.slice(2);
  assert.equal(second.length, 3);
  assert.deepEqual(unbatch(second[0] as string), ["a", "b"]);
  assert.deepEqual(second[1], new Uint8Array([0x6d, 1, 2]));
  assert.equal(second[2], "mc");
  await served.close();
  await Promise.all([framed.closed, plain.closed]);
});

Deno.test("coalescing: client.send and broadcasts in one batch, and coalesce: false", async () => {
  const served = serveHub<string>({
    coalesce: false,
    onMessage(_message, client, hub) {
      hub.broadcast("one");
      client.send("two");
      hub.broadcast("three");
    },
  });
  const framed = await TestClient.open(served.url, "wshub.v1");
  await until(() => served.hub.size === 1, 2000, "registration");
  framed.socket.send("mgo");
  await until(() => framed.appMessages().length === 3, 2000, "three messages");
  assert.deepEqual(framed.messages.slice(1), ["mone", "mtwo", "mthree"], "no b frame");
  await served.close();
  await framed.closed;

  const batched = serveHub<string>({
    onMessage(_message, client, hub) {
      hub.broadcast("one");
      client.send("two");
      hub.broadcast("three");
    },
  });
  const other = await TestClient.open(batched.url, "wshub.v1");
  await until(() => batched.hub.size === 1, 2000, "registration");
  other.socket.send("mgo");
  await until(() => other.appMessages().length === 3, 2000, "three messages");
  assert.deepEqual(other.messages.slice(1), ["b3:one3:two5:three"]);
  await batched.close();
  await other.closed;
});

Deno.test("a burst larger than sendQueueLimit in one batch does not overflow a healthy client", async () => {
  for (const overflow of ["close", "drop-oldest"] as const) {
    const disconnects: DisconnectInfo[] = [];
    const served = serveHub<string>({
      sendQueueLimit: 16,
      overflow,
      onDisconnect(_client, info) {
        disconnects.push(info);
      },
    });
    const framed = await SeqClient.open(served.url, true);
    const plain = await SeqClient.open(served.url, false);
    await until(() => served.hub.size === 2, 2000, "registration");
    for (let seq = 0; seq < 200; seq++) void served.hub.broadcast(seqPayload(seq, 20));
    await allDelivered([framed, plain], 200);
    assert.deepEqual(disconnects, [], `${overflow}: nobody was closed`);
    assert.equal(served.hub.stats().dropped, 0, `${overflow}: nothing dropped`);
    assert.ok(framed.batches > 0, "the framed client still got coalesced frames");
    await served.close();
    await Promise.all([framed.closed, plain.closed]);
  }
});

Deno.test("a coalesced frame never holds more than maxBufferedBytes", async () => {
  const maxBufferedBytes = 4 * KiB;
  const served = serveHub<string>({ maxBufferedBytes });
  const framed = await TestClient.open(served.url, "wshub.v1");
  await until(() => served.hub.size === 1, 2000, "registration");
  const texts = Array.from({ length: 200 }, (_, i) => seqPayload(i, 100));
  for (const text of texts) void served.hub.broadcast(text);
  await until(() => framed.appMessages().length === 200, 3000, "200 messages");
  assert.deepEqual(framed.appMessages(), texts, "in order, nothing lost");
  const sizes = framed.messages.slice(1).map((frame) =>
    new TextEncoder().encode(frame as string).length
  );
  console.log(
    `coalesced frame sizes (bytes) with maxBufferedBytes ${maxBufferedBytes}:`,
    sizes.join(" "),
  );
  assert.ok(sizes.length > 1, "several frames");
  for (const size of sizes) assert.ok(size <= maxBufferedBytes, `a ${size}-byte frame`);
  await served.close();
  await framed.closed;
});

Deno.test("a stalled peer overflows its queue: 1013 and unregistered; the others get everything", async () => {
  const sendQueueLimit = 8, maxBufferedBytes = 64 * KiB, size = 32 * KiB;
  const disconnects: DisconnectInfo[] = [];
  const served = serveHub<string>({
    sendQueueLimit,
    maxBufferedBytes,
    writeTimeout: 30_000, // not what this test is about
    onDisconnect(_client, info) {
      disconnects.push(info);
    },
  });
  const healthy = [await SeqClient.open(served.url, false), await SeqClient.open(served.url, true)];
  await until(() => served.hub.size === 2, 2000, "registration");
  const peer = await rawPeer(served.port); // handshake done, never reads
  await until(() => served.hub.size === 3, 2000, "the stalled peer's registration");
  const stalled = served.hub.clients()[2];
  let maxQueued = 0, maxBuffered = 0;
  const sent = await pump(served.hub, healthy, {
    size,
    max: 3000, // ~96 MB: far more than any socket buffers hold
    stop: () => disconnects.length > 0,
    each() {
      maxQueued = Math.max(maxQueued, stalled.queued);
      maxBuffered = Math.max(maxBuffered, buffered(stalled));
    },
  });
  console.log(
    `stalled peer closed with 1013 after ${sent} messages (${
      (sent * size / 2 ** 20).toFixed(1)
    } MiB); ` +
      `max queued ${maxQueued}, max Deno buffer ${maxBuffered} bytes`,
  );
  assert.deepEqual(disconnects, [{
    code: CloseCode.SlowConsumer,
    reason: "send queue overflow: the client reads too slowly",
    byHub: true,
  }]);
  assert.equal(served.hub.size, 2);
  assert.equal(served.hub.stats().slowConsumers, 1);
  assert.ok(maxQueued <= sendQueueLimit, `queued ${maxQueued}`);
  assert.ok(maxBuffered <= maxBufferedBytes + size + 64, `Deno buffer ${maxBuffered}`);
  // The hub goes on: more broadcasts, to the two that are left.
  const total = await pump(served.hub, healthy, { start: sent, size, max: sent + 20 });
  await allDelivered(healthy, total);
  assert.equal(await served.hub.broadcast(seqPayload(total, 10)), 2);

  // The peer reads at last: a contiguous prefix of the broadcasts, then 1013 on the wire.
  const drained = await within(
    readAll(peer),
    5000,
    "the stalled peer's frames",
  );
  assert.equal(drained.close?.code, 1013);
  const seqs = drained.data.map((frame) => seqOf(frame as string));
  assert.deepEqual(seqs, seqs.map((_, i) => i), "a prefix, in order, with no gap");
  assert.ok(seqs.length < sent, "what overflowed was never sent");
  peer.close();
  await served.close();
  await Promise.all(healthy.map((client) => client.closed));
});

Deno.test("drop-oldest: a stalled peer stays, keeps the newest messages, and the gaps are what stats count", async () => {
  const sendQueueLimit = 8, size = 32 * KiB;
  const disconnects: DisconnectInfo[] = [];
  const served = serveHub<string>({
    sendQueueLimit,
    overflow: "drop-oldest",
    maxBufferedBytes: 64 * KiB,
    writeTimeout: 30_000,
    onDisconnect(_client, info) {
      disconnects.push(info);
    },
  });
  const healthy = [await SeqClient.open(served.url, false), await SeqClient.open(served.url, true)];
  await until(() => served.hub.size === 2, 2000, "registration");
  const peer = await rawPeer(served.port);
  await until(() => served.hub.size === 3, 2000, "the stalled peer's registration");
  const stalled = served.hub.clients()[2];
  let maxQueued = 0;
  const sent = await pump(served.hub, healthy, {
    size,
    max: 3000,
    stop: () => served.hub.stats().dropped >= 50,
    each() {
      maxQueued = Math.max(maxQueued, stalled.queued);
    },
  });
  await allDelivered(healthy, sent);
  const dropped = served.hub.stats().dropped;
  assert.ok(dropped >= 50, `dropped ${dropped}`);
  assert.ok(maxQueued <= sendQueueLimit, `queued ${maxQueued}`);
  assert.equal(served.hub.size, 3, "the slow peer is kept");
  assert.deepEqual(disconnects, []);

  // The peer starts reading: everything up to the last broadcast arrives, in order,
  // and exactly the dropped messages are missing.
  const reader = peer;
  const seqs: number[] = [];
  const decoder = new TextDecoder();
  await within(
    (async () => {
      while (seqs.at(-1) !== sent - 1) {
        const frame = await reader.next();
        if (frame === null) throw new Error("EOF before the last broadcast");
        if (frame.opcode === 1) seqs.push(seqOf(decoder.decode(frame.payload)));
      }
    })(),
    5000,
    "the last broadcast at the stalled peer",
  );
  console.log(`drop-oldest: ${sent} broadcast, ${seqs.length} received, ${dropped} dropped`);
  assert.equal(seqs[0], 0);
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], "in order");
  assert.equal(sent - seqs.length, dropped, "the gaps are exactly the dropped messages");
  assert.deepEqual(seqs.slice(-sendQueueLimit), Array.from({ length: 8 }, (_, i) => sent - 8 + i));
  peer.close();
  await until(() => served.hub.size === 2, 2000, "the peer's unregistration");
  await served.close();
  await Promise.all(healthy.map((client) => client.closed));
});

Deno.test("write deadline: stalled peers, plain and framed, are cut with 4001 within writeTimeout + 2 ticks", async () => {
  const writeTimeout = 200, size = 32 * KiB;
  const tick = tickInterval({ pingInterval: 25_000, pongTimeout: 10_000, writeTimeout });
  const cutAt = new Map<Client, number>();
  const infos: DisconnectInfo[] = [];
  const served = serveHub<string>({
    writeTimeout,
    sendQueueLimit: 100_000, // the deadline, not the queue, must cut them
    maxBufferedBytes: 64 * KiB,
    onDisconnect(client, info) {
      cutAt.set(client, performance.now());
      infos.push(info);
    },
  });
  const healthy = [await SeqClient.open(served.url, false), await SeqClient.open(served.url, true)];
  await until(() => served.hub.size === 2, 2000, "registration");
  const peers = [await rawPeer(served.port), await rawPeer(served.port, true)];
  await until(() => served.hub.size === 4, 2000, "the stalled peers' registration");
  const stalled = served.hub.clients().slice(2);
  // The stall is visible once Deno's buffer for the peer stays non-empty (the
  // kernel's socket buffers are full): the deadline runs from then.
  // That is the start of the last run of observations with a non-empty buffer.
  const stuckSince = new Map<Client, number>();
  const sent = await pump(served.hub, healthy, {
    size,
    max: 5000,
    stop: () => cutAt.size === 2,
    each() {
      for (const client of stalled) {
        if (cutAt.has(client)) continue;
        if (buffered(client) === 0) stuckSince.delete(client);
        else if (!stuckSince.has(client)) stuckSince.set(client, performance.now());
      }
    },
  });
  assert.deepEqual(infos.map((info) => [info.code, info.byHub]), [[4001, true], [4001, true]]);
  const bound = writeTimeout + 2 * tick;
  for (const client of stalled) {
    const elapsed = cutAt.get(client)! - stuckSince.get(client)!;
    console.log(
      `${client.framed ? "framed" : "plain"} stalled peer cut ${
        elapsed.toFixed(1)
      } ms after its buffer stuck; bound ${bound} ms`,
    );
    assert.ok(elapsed <= bound + CI_SLACK, `cut after ${elapsed} ms`);
  }
  assert.equal(served.hub.stats().timedOut, 2, "only the stalled peers timed out");
  await allDelivered(healthy, sent);
  assert.equal(served.hub.size, 2);
  for (const peer of peers) peer.close();
  await served.close();
  await Promise.all(healthy.map((client) => client.closed));
});

Deno.test("memory stays bounded while a stalled peer is sent far more than it could hold", async () => {
  const sendQueueLimit = 16, maxBufferedBytes = 128 * KiB, size = 32 * KiB, count = 1600;
  const gc = exposeGc();
  const served = serveHub<string>({
    sendQueueLimit,
    maxBufferedBytes,
    overflow: "drop-oldest", // keeps the stalled peer registered for the whole run
    writeTimeout: 60_000,
  });
  const healthy = [await SeqClient.open(served.url, false), await SeqClient.open(served.url, true)];
  await until(() => served.hub.size === 2, 2000, "registration");
  const peer = await rawPeer(served.port);
  await until(() => served.hub.size === 3, 2000, "the stalled peer's registration");
  const stalled = served.hub.clients()[2];
  // Warm up (JIT, buffers) before the baseline.
  const warmup = await pump(served.hub, healthy, { size, max: 100 });
  /** What is alive in the JS heap (and its external buffers) after a full collection. */
  const live = () => {
    gc();
    const usage = Deno.memoryUsage();
    return { heap: usage.heapUsed + usage.external, rss: usage.rss };
  };
  const before = live();
  let peakHeap = before.heap, peakRss = before.rss, maxQueued = 0, maxBuffered = 0, chunks = 0;
  const sent = await pump(served.hub, healthy, {
    start: warmup,
    size,
    max: count,
    chunk: 8,
    each() {
      maxQueued = Math.max(maxQueued, stalled.queued);
      maxBuffered = Math.max(maxBuffered, buffered(stalled));
      if (++chunks % 25 === 0) {
        const now = live();
        peakHeap = Math.max(peakHeap, now.heap);
        peakRss = Math.max(peakRss, now.rss);
      }
    },
  });
  await allDelivered(healthy, sent);
  const broadcastBytes = (count - warmup) * size;
  const heapGrowth = peakHeap - before.heap, rssGrowth = peakRss - before.rss;
  const MiB = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  console.log(
    `broadcast ${MiB(broadcastBytes)} MiB to a stalled peer (and to 2 healthy clients): ` +
      `live heap growth ${MiB(heapGrowth)} MiB, RSS growth ${MiB(rssGrowth)} MiB (after GC), ` +
      `max queued ${maxQueued}, max Deno buffer ${maxBuffered / KiB} KiB, ` +
      `dropped ${served.hub.stats().dropped}`,
  );
  assert.equal(served.hub.size, 3, "the stalled peer was there all along");
  assert.ok(maxQueued <= sendQueueLimit);
  assert.ok(maxBuffered <= maxBufferedBytes + size + 64);
  // Bounded: what a stalled client may pin is sendQueueLimit messages
  // (512 KiB here) plus maxBufferedBytes; an unbounded hub would hold it all.
  assert.ok(heapGrowth < broadcastBytes / 10, `live heap grew ${heapGrowth} bytes`);
  assert.ok(rssGrowth < broadcastBytes / 2, `RSS grew ${rssGrowth} bytes`);
  peer.close();
  await served.close();
  await Promise.all(healthy.map((client) => client.closed));
});

Deno.test("pongs obey the cap on Deno's buffer: a ping flood that never reads pins at most the cap", async () => {
  const maxBufferedBytes = 64 * 1024;
  let view: Client<string> | undefined;
  const served = serveHub<string>({
    maxBufferedBytes,
    rateLimit: false, // the caps alone, without the rate limit that would close it first
    writeTimeout: 60_000,
    onConnect: (client) => void (view = client),
  });
  const peer = await rawPeer(served.port, true); // framed, and never reads
  await until(() => view !== undefined, 2000, "registration");
  const socket = connectionOf(view!)!.socket;
  // 500,000 pings of 32 characters: 17 MB of pongs if each were answered, more than the
  // kernel's buffers take from a peer that never reads.
  const ping = maskedFrame(1, new TextEncoder().encode("p" + "7".repeat(32)));
  const burst = repeatFrame(ping, 10_000);
  let peak = 0;
  for (let round = 0; round < 50; round++) {
    await peer.write(burst);
    peak = Math.max(peak, socket.bufferedAmount);
    await delay(1);
  }
  peak = Math.max(peak, socket.bufferedAmount);
  assert.equal(served.hub.stats().messagesIn, 0, "pings are not messages");
  // The kernel's buffers take what they can; Deno's never holds more than the cap plus one frame.
  assert.ok(peak <= maxBufferedBytes + 64, `Deno buffered ${peak} bytes (cap ${maxBufferedBytes})`);
  assert.equal(view!.open, true, "a flood of pings is not an error in itself");
  peer.close();
  await served.close();
});

Deno.test("drop-oldest never drops the protocol's own frames: a join's answer and its presence event arrive", async () => {
  const sendQueueLimit = 4, size = 64 * KiB;
  const served = serveHub<string>({
    identify: () => "ann",
    presenceEvents: true,
    presenceWindow: 0, // the event queued right behind the join's answer
    sendQueueLimit,
    overflow: "drop-oldest",
    maxBufferedBytes: 16 * KiB,
    coalesce: false,
    writeTimeout: 30_000,
  });
  const peer = await rawPeer(served.port, true); // reads nothing until the end
  await until(() => served.hub.size === 1, 2000, "registration");
  const client = served.hub.clients()[0];
  const big = "x".repeat(size);
  for (let i = 0; i < 16; i++) client.send(big); // the queue fills; Deno's buffer is full
  await peer.sendFrame(1, new TextEncoder().encode('j{"id":1,"room":"lobby"}'));
  await until(() => client.rooms.has("lobby"), 2000, "the join");
  for (let i = 0; i < 16; i++) client.send(`after ${i}`); // each pushes out the oldest message
  assert.ok(served.hub.stats().dropped >= 8, `dropped ${served.hub.stats().dropped}`);
  assert.ok(client.queued <= sendQueueLimit, `queued ${client.queued}`);

  const reader = peer;
  const texts: string[] = [];
  const decoder = new TextDecoder();
  await within(
    (async () => {
      while (texts.at(-1) !== "mafter 15") {
        const frame = await reader.next();
        if (frame === null) throw new Error("EOF before the last message");
        if (frame.opcode === 1) texts.push(decoder.decode(frame.payload).slice(0, 40));
      }
    })(),
    5000,
    "the last message",
  );
  const joined = texts.findIndex((t) => t.startsWith("J"));
  assert.ok(joined >= 0, `the join's answer was dropped: ${texts.map((t) => t.slice(0, 12))}`);
  assert.deepEqual(JSON.parse(texts[joined].slice(1)), { id: 1, room: "lobby" });
  assert.ok(texts.some((t) => t.startsWith("u")), "the presence event was dropped");
  // Kept in order, ahead of the messages queued after them, and counted in the queue's limit.
  assert.deepEqual(texts.slice(-2), ["mafter 14", "mafter 15"], "the newest messages are kept");
  assert.ok(joined < texts.findIndex((t) => t.startsWith("u")), "the answer, then the event");
  peer.close();
  await served.close();
});
