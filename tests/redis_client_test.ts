// What the Redis backplane relies on in node-redis (`npm:@redis/client`, v6)
// under Deno, checked against a real redis-server started per test.
//
// Deno 2.8+ turned the ops and resources sanitizers off by default; they are
// turned back on for this whole file. Deno's sanitizers do not see node:net
// sockets at all (a socket left open passes), so every test also asks the
// server that no client connection is left (`assertNoClients`).

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  ClientClosedError,
  ClientOfflineError,
  createClient,
  defineScript,
  DisconnectsClientError,
  type RedisClientOptions,
  type RedisClientType,
  RESP_TYPES,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
} from "@redis/client";
import { delay, until, within } from "./_helpers.ts";
import { redisCli, type RedisServer, skipReason, startRedis } from "../testing/redis.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const ignore = (await skipReason()) !== undefined;

function redisTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, fn });
}

// ---------------------------------------------------------------------------
// The client set-up the backplane will use.

/**
 * Reconnect backoff: 50 ms doubling to a 1 s cap, plus 0–100 ms jitter, never
 * giving up. node-redis sleeps for the returned delay with an uncancellable
 * timer (node:timers/promises) that destroy()/close() do not clear, so the
 * strategy records when its last delay ends and `shutdown()` waits that out.
 */
class Backoff {
  until = 0;
  readonly retries: number[] = [];
  strategy = (retries: number, _cause: Error): number => {
    const ms = Math.min(50 * 2 ** retries, 1_000) + Math.floor(Math.random() * 100);
    this.retries.push(retries);
    this.until = Math.max(this.until, performance.now() + ms);
    return ms;
  };
  /** Resolves once no backoff timer can still be pending. */
  async settled(): Promise<void> {
    const left = this.until - performance.now();
    if (left > 0) await delay(left + 5);
  }
}

type Client = RedisClientType;
type Events = { type: string; at: number; error?: Error }[];

/** A command client with the options the backplane will use; events are recorded. */
function makeClient(
  url: string,
  extra: Partial<RedisClientOptions> = {},
): { client: Client; backoff: Backoff; events: Events } {
  const backoff = new Backoff();
  const events: Events = [];
  const client = createClient({
    url,
    // OSS Redis has no maintenance push notifications: skip the handshake command.
    maintNotifications: "disabled",
    ...extra,
    socket: { connectTimeout: 1_000, reconnectStrategy: backoff.strategy, ...extra.socket },
  }) as Client;
  watch(client, events);
  return { client, backoff, events };
}

/** Records the status events; the `error` listener is what keeps node-redis reconnecting. */
function watch(client: Client, events: Events): void {
  for (const type of ["connect", "ready", "reconnecting", "end", "terminated"]) {
    client.on(type, () => events.push({ type, at: performance.now() }));
  }
  client.on(
    "error",
    (error: Error) => events.push({ type: "error", at: performance.now(), error }),
  );
}

/** Clean shutdown that leaves no timer, op or connection behind. */
async function shutdown(client: Client, backoff: Backoff): Promise<void> {
  if (client.isReady) {
    await client.close(); // waits for pending replies
  } else if (client.isOpen) {
    client.destroy(); // close() would wait forever for replies that cannot come
  }
  await backoff.settled();
}

/** `client`'s duplicate, connected, with an 'error' listener of its own (duplicates copy none). */
async function subscriberOf(client: Client): Promise<Client> {
  const subscriber = client.duplicate();
  subscriber.on("error", () => {});
  await subscriber.connect();
  return subscriber;
}

/** Client connections the server still has, other than redis-cli's own. */
async function otherClients(port: number): Promise<number> {
  const list = await redisCli(port, "CLIENT", "LIST");
  return list.split("\n").filter((line) => line !== "" && !line.includes("cmd=client|list"))
    .length;
}

async function assertNoClients(redis: RedisServer): Promise<void> {
  let left = -1;
  const deadline = performance.now() + 1_000;
  while (performance.now() < deadline) {
    left = await otherClients(redis.port);
    if (left === 0) return;
    await delay(10);
  }
  assert.fail(`${left} client connection(s) still open on the server`);
}

/** A Uint8Array as a Buffer over the same memory (node-redis rejects plain Uint8Arrays). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

// ---------------------------------------------------------------------------

redisTest("close(), quit() and destroy() leave no timer, op or connection behind", async () => {
  await using redis = await startRedis();
  for (const how of ["close", "quit", "destroy"] as const) {
    const { client, backoff, events } = makeClient(redis.url);
    await client.connect();
    assert.equal(await client.set("k", how), "OK");
    assert.equal(await client.get("k"), how);
    const subscriber = await subscriberOf(client);
    await subscriber.subscribe("c", () => {});
    assert.equal(await otherClients(redis.port), 2);
    const pending = client.incr(`n:${how}`); // sent, reply not yet read
    if (how === "close") {
      // close() stops new commands at once and waits for the pending replies.
      const closing = client.close();
      await assert.rejects(client.ping(), ClientClosedError);
      await Promise.all([closing, subscriber.close()]);
      assert.equal(await pending, 1);
    } else if (how === "quit") {
      // quit() is deprecated in favour of close(); it sends QUIT after the pending commands.
      assert.equal(await client.quit(), "OK");
      assert.equal(await pending, 1);
      await subscriber.quit();
    } else {
      // destroy() drops the socket and rejects whatever is pending.
      client.destroy();
      subscriber.destroy();
      await assert.rejects(pending, DisconnectsClientError);
    }
    assert.equal(client.isOpen, false);
    await assert.rejects(client.ping(), ClientClosedError);
    assert.deepEqual(events.map((e) => e.type), ["connect", "ready", "end"]);
    await backoff.settled();
    await assertNoClients(redis);
  }
});

redisTest("binary-safe PUBLISH/SUBSCRIBE: Buffers in, Buffers out with bufferMode", async () => {
  await using redis = await startRedis();
  const { client, backoff } = makeClient(redis.url);
  await client.connect();
  const subscriber = await subscriberOf(client);

  const payloads: Uint8Array[] = [
    Uint8Array.from({ length: 256 }, (_, i) => i), // every byte value
    new Uint8Array([0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80, 0x80]), // invalid UTF-8
    new Uint8Array([0x0d, 0x0a, 0x24, 0x2a, 0x3e, 0x00]), // RESP framing bytes
    new Uint8Array(0),
    crypto.getRandomValues(new Uint8Array(65_536)),
  ];
  const gotBuffers: { message: Buffer; channel: Buffer }[] = [];
  const gotStrings: string[] = [];
  // bufferMode (third argument) = true: the listener gets (Buffer, Buffer).
  await subscriber.subscribe("bin", (message, channel) => {
    gotBuffers.push({ message, channel });
  }, true);
  await subscriber.subscribe("bin", (message) => gotStrings.push(message)); // same channel, strings

  // A plain Uint8Array is refused by the encoder; a Buffer view of it is not copied.
  await assert.rejects(
    client.publish("bin", payloads[0] as unknown as Buffer),
    /must be of type "string \| Buffer"/,
  );
  for (const payload of payloads) {
    assert.equal(await client.publish("bin", asBuffer(payload)), 1); // one subscriber connection
  }
  await until(() => gotBuffers.length === payloads.length, 2_000, "binary messages");
  for (const [i, payload] of payloads.entries()) {
    assert.ok(Buffer.isBuffer(gotBuffers[i].message));
    assert.ok(gotBuffers[i].message.equals(payload), `payload ${i} intact`);
    assert.equal(gotBuffers[i].channel.toString(), "bin");
  }
  // The string listener decodes as UTF-8: invalid sequences become U+FFFD (lossy).
  await until(() => gotStrings.length === payloads.length, 1_000, "string messages");
  assert.ok(gotStrings[1].includes("\ufffd"));

  // Replies are strings by default; a type mapping returns Buffers.
  await client.set("bin", asBuffer(payloads[1]));
  assert.equal(typeof await client.get("bin"), "string");
  const raw = await client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get("bin");
  assert.ok(Buffer.isBuffer(raw) && raw.equals(payloads[1]));

  await shutdown(subscriber, backoff);
  await shutdown(client, backoff);
  await assertNoClients(redis);
});

redisTest("one connection's publishes across many channels arrive in publish order", async () => {
  await using redis = await startRedis();
  const { client, backoff } = makeClient(redis.url);
  await client.connect();
  const subscriber = await subscriberOf(client);
  const channels = Array.from({ length: 20 }, (_, i) => `room:${i}`);
  const received: number[] = [];
  await subscriber.subscribe(channels, (message, channel) => {
    const seq = message.readUInt32BE(0);
    assert.equal(channel.toString(), channels[seq % channels.length]);
    received.push(seq);
  }, true);
  const total = 10_000;
  const sent: Promise<number>[] = [];
  for (let seq = 0; seq < total; seq++) {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(seq);
    sent.push(client.publish(channels[seq % channels.length], payload)); // pipelined
  }
  await Promise.all(sent);
  await until(() => received.length === total, 5_000, "all messages");
  for (let i = 0; i < total; i++) {
    if (received[i] !== i) assert.fail(`message ${received[i]} arrived at position ${i}`);
  }
  await shutdown(subscriber, backoff);
  await shutdown(client, backoff);
  await assertNoClients(redis);
});

redisTest(
  "many channels are (un)subscribed in one command; PUBSUB CHANNELS ends empty",
  async () => {
    await using redis = await startRedis();
    const { client: subscriber, backoff } = makeClient(redis.url);
    await subscriber.connect();
    const channels = Array.from({ length: 1_000 }, (_, i) => `room:${i}`);
    await redisCli(redis.port, "CONFIG", "RESETSTAT");
    await subscriber.subscribe(channels, () => {});
    const stats = await redisCli(redis.port, "INFO", "commandstats");
    assert.match(stats, /cmdstat_subscribe:calls=1,/, "one SUBSCRIBE with 1,000 channels");
    assert.equal((await redisCli(redis.port, "PUBSUB", "CHANNELS")).split("\n").length, 1_000);

    await subscriber.unsubscribe(channels.slice(0, 500));
    assert.match(
      await redisCli(redis.port, "INFO", "commandstats"),
      /cmdstat_unsubscribe:calls=1,/,
    );
    assert.equal((await redisCli(redis.port, "PUBSUB", "CHANNELS")).split("\n").length, 500);
    assert.equal(
      await redisCli(redis.port, "PUBSUB", "NUMSUB", "room:0", "room:999"),
      "room:0\n0\nroom:999\n1",
    );

    await subscriber.unsubscribe(); // no argument: every channel
    assert.equal(await redisCli(redis.port, "PUBSUB", "CHANNELS"), "");
    // RESP3: the same connection can run ordinary commands while subscribed, and after.
    assert.equal(await subscriber.ping(), "PONG");
    await shutdown(subscriber, backoff);
    await assertNoClients(redis);
  },
);

/**
 * The shape of the history append the backplane will use: offset via HINCRBY,
 * XADD with MAXLEN, PEXPIRE, PUBLISH of offset + payload; returns [offset, epoch].
 * The caller passes a fresh epoch candidate each time; it is kept only when the
 * stream's hash is new, so the epoch changes exactly when Redis lost the stream.
 */
const APPEND = defineScript({
  NUMBER_OF_KEYS: 2,
  SCRIPT: `
local offset = redis.call('HINCRBY', KEYS[1], 's', 1)
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[4]
  redis.call('HSET', KEYS[1], 'e', epoch)
end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], offset .. '-0', 'd', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[5], struct.pack('>I8', offset) .. ARGV[1])
return {offset, epoch}`,
  parseCommand(
    parser,
    meta: string,
    stream: string,
    payload: Buffer,
    maxLen: number,
    ttlMs: number,
    epoch: string,
    channel: string,
  ) {
    parser.pushKeys([meta, stream]);
    parser.push(payload, String(maxLen), String(ttlMs), epoch, channel);
  },
  transformReply: (reply: unknown) => reply as [number, string],
});

redisTest("Lua: defineScript runs via EVALSHA and survives NOSCRIPT after a restart", async () => {
  await using redis = await startRedis();
  const backoff = new Backoff();
  const client = createClient({
    url: redis.url,
    maintNotifications: "disabled",
    scripts: { append: APPEND },
    socket: { reconnectStrategy: backoff.strategy },
  });
  client.on("error", () => {});
  await client.connect();
  const subscriber = await subscriberOf(client);
  const published: Buffer[] = [];
  await subscriber.subscribe("room:a", (message) => published.push(message), true);

  const payload = Buffer.from([0xff, 0x00, 0xc3]);
  const append = () =>
    client.append("h:room:a", "s:room:a", payload, 3, 60_000, crypto.randomUUID(), "room:a");
  await redisCli(redis.port, "CONFIG", "RESETSTAT");
  const [first, epoch] = await append();
  assert.equal(first, 1); // integers come back as numbers
  assert.deepEqual(await append(), [2, epoch]);
  for (let i = 0; i < 5; i++) await append();
  assert.equal(await client.xLen("s:room:a"), 3, "MAXLEN trimmed the stream");
  const ttl = await client.pTTL("s:room:a");
  assert.ok(ttl > 0 && ttl <= 60_000);
  const stats = await redisCli(redis.port, "INFO", "commandstats");
  // The first EVALSHA fails with NOSCRIPT; the client retries it as EVAL (which caches it).
  assert.match(stats, /cmdstat_evalsha:calls=7,.*failed_calls=1/);
  assert.match(stats, /cmdstat_eval:calls=1,/);
  await until(() => published.length === 7, 1_000, "published offsets");
  assert.equal(published[6].readBigUInt64BE(0), 7n);
  assert.ok(published[6].subarray(8).equals(payload));

  // A restarted Redis has an empty script cache (and no data): NOSCRIPT again,
  // handled by the same fallback, no SCRIPT LOAD needed.
  await redis.restart();
  await until(() => client.isReady && subscriber.isReady, 3_000, "reconnect");
  assert.equal(await redisCli(redis.port, "SCRIPT", "EXISTS", APPEND.SHA1), "0");
  const [offset, newEpoch] = await append();
  assert.equal(offset, 1, "the offset starts over…");
  assert.notEqual(newEpoch, epoch, "…under a new epoch");
  assert.equal(await redisCli(redis.port, "SCRIPT", "EXISTS", APPEND.SHA1), "1");

  // Plain EVAL with numbers and arrays.
  assert.equal(await client.eval("return 41 + 1"), 42);
  assert.deepEqual(
    await client.eval("return {KEYS[1], ARGV[1], 3}", { keys: ["k"], arguments: ["a"] }),
    ["k", "a", 3],
  );
  await shutdown(subscriber, backoff);
  await shutdown(client, backoff);
  await assertNoClients(redis);
});

redisTest(
  "started while Redis is down: error/reconnecting repeat, connect() waits, ready once up",
  async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: PromiseRejectionEvent) => unhandled.push(e.reason);
    globalThis.addEventListener("unhandledrejection", onUnhandled);
    await using redis = await startRedis();
    await redis.kill(); // the port is known and dead
    const { client, backoff, events } = makeClient(redis.url);
    const connecting = client.connect();
    await delay(400);
    assert.equal(client.isOpen, true);
    assert.equal(client.isReady, false);
    const types = events.map((e) => e.type);
    assert.equal(types[0], "error");
    assert.match(String(events[0].error), /ECONNREFUSED/);
    assert.ok(types.filter((t) => t === "reconnecting").length >= 2, types.join());
    assert.ok(!types.includes("ready"));
    assert.deepEqual(backoff.retries.slice(0, 3), [0, 1, 2], "the strategy sees growing retries");
    // Commands wait in the offline queue meanwhile.
    const queued = client.set("k", "queued");

    const restarting = performance.now();
    await redis.restart();
    await within(connecting, 2_000, "connect()");
    assert.equal(await queued, "OK");
    const ready = events.find((e) => e.type === "ready")!.at - restarting;
    console.log(
      `  ready ${ready.toFixed(0)} ms after restart() began (incl. redis-server start-up)`,
    );
    assert.ok(ready < 1_500);
    assert.deepEqual(
      events.slice(-2).map((e) => e.type),
      ["connect", "ready"],
    );
    await shutdown(client, backoff);
    await assertNoClients(redis);
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
    assert.deepEqual(unhandled, []);
  },
);

redisTest(
  "without an 'error' listener a failed first connect rejects connect() and never retries",
  async () => {
    await using redis = await startRedis();
    await redis.kill();
    const client = createClient({ url: redis.url, maintNotifications: "disabled" });
    const reconnecting: number[] = [];
    client.on("reconnecting", () => reconnecting.push(performance.now()));
    // EventEmitter throws an 'error' that has no listener; it escapes through connect().
    await assert.rejects(client.connect(), /ECONNREFUSED/);
    await redis.restart();
    await delay(300);
    assert.equal(client.isReady, false);
    assert.deepEqual(reconnecting, []);
    client.destroy();
  },
);

redisTest(
  "without an 'error' listener a dropped connection silently kills the client",
  async () => {
    // Run in a child Deno: node-redis emits 'error' from a node:net 'close' handler;
    // with no listener EventEmitter throws, which aborts the reconnect. Deno neither
    // exits nor tells the test runner: it prints "Uncaught Error" to stdout when the
    // process ends, and the exit code stays 0.
    await using redis = await startRedis();
    const code = `
    import { createClient } from "@redis/client";
    const client = createClient({ url: Deno.args[0], maintNotifications: "disabled" });
    await client.connect();
    console.log("connected");
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    console.log("isReady=" + client.isReady + " isOpen=" + client.isOpen);
    client.destroy();`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--config",
        new URL("../deno.json", import.meta.url).pathname,
        code,
        redis.url,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    const read = async (what: string, done: () => boolean) => {
      while (!done()) {
        const chunk = await within(reader.read(), 10_000, what);
        if (chunk.done) return;
        out += chunk.value;
      }
    };
    await read("child connected", () => out.includes("connected\n")); // handshake done
    await redis.kill();
    await delay(100);
    await redis.restart(); // the child's client will not come back
    await read("child exit", () => false);
    const { code: exitCode } = await within(child.status, 5_000, "child exit");
    out += await stderr;
    assert.match(out, /connected\nisReady=false isOpen=true\n/);
    assert.match(out, /Uncaught Error: Socket closed unexpectedly/);
    assert.equal(exitCode, 0);
    assert.equal(await otherClients(redis.port), 0);
  },
);

redisTest(
  "killed mid-traffic and restarted: both reconnect, the subscriber resubscribes every channel",
  async () => {
    await using redis = await startRedis();
    const { client, backoff, events } = makeClient(redis.url);
    await client.connect();
    // duplicate() copies the options (same reconnect strategy, hence the same Backoff)
    // but not the listeners: the duplicate needs its own 'error' listener.
    const subscriber = client.duplicate();
    const subEvents: Events = [];
    watch(subscriber, subEvents);
    await subscriber.connect();
    const channels = Array.from({ length: 200 }, (_, i) => `room:${i}`);
    const lastSeen = new Map<string, number>();
    await subscriber.subscribe(channels, (_message, channel) => {
      lastSeen.set(channel, performance.now());
    });

    // Traffic: one PUBLISH per channel every 10 ms round, from the command client.
    let stop = false;
    const failures: string[] = [];
    const traffic = (async () => {
      while (!stop) {
        await Promise.all(
          channels.map((c) =>
            client.publish(c, "x").catch((e: Error) => void failures.push(e.message))
          ),
        );
        await delay(10);
      }
    })();
    try {
      await until(() => lastSeen.size === channels.length, 2_000, "traffic on every channel");

      await redis.kill();
      await delay(300);
      assert.equal(client.isReady, false);
      assert.equal(subscriber.isReady, false);
      // Measured from the restart() call, so redis-server's own start-up is included.
      const restarting = performance.now();
      await redis.restart();
      const startup = performance.now() - restarting;
      await until(() => subscriber.isReady, 2_000, "subscriber ready");
      const subReady = subEvents.findLast((e) => e.type === "ready")!.at - restarting;
      // 'ready' fires after the SUBSCRIBE replies: every channel is back on the server.
      assert.equal((await redisCli(redis.port, "PUBSUB", "CHANNELS")).split("\n").length, 200);
      await until(
        () => channels.every((c) => (lastSeen.get(c) ?? 0) > restarting),
        2_000,
        "a message on every channel after the restart",
      );
      const allFlowing = Math.max(...channels.map((c) => lastSeen.get(c)!)) - restarting;
      console.log(
        `  after restart() began: redis-server answered PING ${startup.toFixed(0)} ms, ` +
          `subscriber ready ${subReady.toFixed(0)} ms, all 200 channels flowing ` +
          `${allFlowing.toFixed(0)} ms; publishes rejected during the outage: ${failures.length}`,
      );
      assert.ok(allFlowing < 2_000);
    } finally {
      stop = true;
      await traffic;
    }

    // Status as events: error → reconnecting (→ error → reconnecting …) → connect → ready.
    // The first error is the dropped socket: a clean close (FIN), or ECONNRESET when
    // the killed server still had unread input (the kernel answers with RST).
    const dropped = /Socket closed unexpectedly|ECONNRESET/;
    const after = events.map((e) => e.type).slice(2);
    assert.equal(after[0], "error");
    assert.match(String(events[2].error), dropped);
    assert.deepEqual(after.slice(-2), ["connect", "ready"]);
    assert.ok(subEvents.some((e) => e.type === "reconnecting"));
    // Publishes in flight at the kill were rejected with that error; later ones were
    // queued (offline queue) and sent after the reconnect.
    assert.ok(failures.every((f) => dropped.test(f)), failures.join());

    await shutdown(subscriber, backoff);
    await shutdown(client, backoff);
    await assertNoClients(redis);
  },
);

redisTest(
  "commands while Redis is down: queued until a timeout, or refused with disableOfflineQueue",
  async () => {
    await using redis = await startRedis();
    const queued = makeClient(redis.url, { commandOptions: { timeout: 300 } });
    const refusing = makeClient(redis.url, { disableOfflineQueue: true });
    await queued.client.connect();
    await refusing.client.connect();
    // A command already sent is not retried: it fails with the socket error.
    // (The v6 command timeout only covers time spent unsent in the queue.)
    const inFlight = assert.rejects( // handler attached now: the rejection comes during kill()
      queued.client.sendCommand(["BLPOP", "nothing", "0"]),
      SocketClosedUnexpectedlyError,
    );
    await delay(50);
    await redis.kill();
    await inFlight;
    await until(() => !queued.client.isReady && !refusing.client.isReady, 1_000, "disconnect");

    await assert.rejects(refusing.client.ping(), ClientOfflineError);
    const started = performance.now();
    await assert.rejects(queued.client.ping(), TimeoutError); // 5 s by default in v6
    const waited = performance.now() - started;
    assert.ok(waited >= 290 && waited < 1_000, `${waited} ms`);
    const late = queued.client.ping(); // within its timeout once Redis is back
    await redis.restart();
    assert.equal(await late, "PONG");
    await until(() => refusing.client.isReady, 2_000, "refusing client back");
    assert.equal(await refusing.client.ping(), "PONG");

    await shutdown(queued.client, queued.backoff);
    await shutdown(refusing.client, refusing.backoff);
    await assertNoClients(redis);
  },
);

redisTest(
  "a frozen Redis: sent commands wait forever unless pingInterval + socketTimeout notice",
  async () => {
    await using redis = await startRedis();
    // No timeout covers a command once written (v6's timeout is for the unsent queue).
    const plain = makeClient(redis.url);
    // pingInterval keeps a healthy connection busy; socketTimeout drops a silent one.
    const guarded = makeClient(redis.url, { pingInterval: 200, socket: { socketTimeout: 600 } });
    // node-redis's default strategy gives up for good on a socket timeout.
    const defaults = createClient({
      url: redis.url,
      maintNotifications: "disabled",
      pingInterval: 200,
      socket: { socketTimeout: 600 },
    }) as Client;
    const defaultsEvents: Events = [];
    watch(defaults, defaultsEvents);
    await Promise.all([plain.client.connect(), guarded.client.connect(), defaults.connect()]);
    await delay(700); // a healthy idle connection survives socketTimeout thanks to the PINGs
    assert.ok(guarded.client.isReady && defaults.isReady);

    redis.freeze();
    let plainPong = false;
    const plainPing = plain.client.ping().then(() => plainPong = true);
    const frozenAt = performance.now();
    await assert.rejects(guarded.client.ping(), SocketTimeoutError);
    const noticed = performance.now() - frozenAt;
    assert.ok(noticed < 1_500, `${noticed.toFixed(0)} ms`);
    await until(() => defaultsEvents.some((e) => e.type === "terminated"), 1_500, "terminated");
    assert.equal(defaults.isOpen, false, "the default strategy closed the client for good");
    assert.equal(plainPong, false);
    assert.equal(plain.client.isReady, true, "the plain client sees nothing wrong");

    redis.thaw();
    await within(plainPing, 1_000, "the plain PING, answered late");
    await until(() => guarded.client.isReady, 2_000, "guarded client back");
    console.log(`  frozen server noticed after ${noticed.toFixed(0)} ms`);
    await shutdown(plain.client, plain.backoff);
    await shutdown(guarded.client, guarded.backoff);
    defaults.destroy();
    await assertNoClients(redis);
  },
);

redisTest(
  "the reconnect backoff timer outlives destroy(): connect() settles only when it ends",
  async () => {
    // Why shutdown() waits for Backoff.settled(): node-redis sleeps between
    // attempts with node:timers/promises setTimeout and checks for a closed client
    // only when it wakes. A test that ends before then fails the ops sanitizer.
    await using redis = await startRedis();
    await redis.kill();
    const events: Events = [];
    const client = createClient({
      url: redis.url,
      maintNotifications: "disabled",
      socket: { reconnectStrategy: () => 400 },
    }) as Client;
    watch(client, events);
    const connecting = client.connect();
    await until(() => events.some((e) => e.type === "error"), 1_000, "first failure");
    const destroyedAt = performance.now();
    client.destroy();
    await assert.rejects(connecting, /ECONNREFUSED/);
    const settledAfter = performance.now() - destroyedAt;
    assert.ok(
      settledAfter > 300,
      `connect() settled ${settledAfter.toFixed(0)} ms after destroy()`,
    );
    assert.ok(!events.some((e) => e.type === "reconnecting"), "no attempt after destroy()");
  },
);

redisTest(
  "close() while disconnected with queued commands never resolves, even after destroy()",
  async () => {
    await using redis = await startRedis();
    const { client, backoff } = makeClient(redis.url, { commandOptions: { timeout: 200 } });
    await client.connect();
    await redis.kill();
    await until(() => !client.isReady, 1_000, "disconnect");
    const queued = client.ping();
    queued.catch(() => {});
    let closed = false;
    client.close().then(() => closed = true); // stops reconnecting, waits for the queue
    await assert.rejects(queued, TimeoutError); // the queue empties, but close() re-checks only on data
    client.destroy(); // no socket left to end, so no 'end' event settles close() either
    await delay(300);
    assert.equal(closed, false, "close() is still pending (a bare promise: sanitizers pass)");
    await backoff.settled();
  },
);

redisTest(
  "throughput: 100k pipelined 128-byte PUBLISHes received on a second connection",
  async () => {
    await using redis = await startRedis();
    const results: string[] = [];
    for (const timeout of [undefined, 0]) {
      // `timeout: 0` turns off v6's per-command AbortSignal.timeout (default 5 s).
      const extra = timeout === undefined ? {} : { commandOptions: { timeout } };
      const { client, backoff } = makeClient(redis.url, extra);
      await client.connect();
      const sub = makeClient(redis.url);
      await sub.client.connect();
      const total = 100_000;
      const window = 2_000;
      const latencies = new Float64Array(total);
      let received = 0;
      let done!: () => void;
      const all = new Promise<void>((resolve) => done = resolve);
      await sub.client.subscribe("bench", (message) => {
        latencies[received++] = performance.now() - message.readDoubleBE(0);
        if (received === total) done();
      }, true);
      const started = performance.now();
      for (let sent = 0; sent < total; sent += window) {
        const batch: Promise<number>[] = [];
        for (let i = 0; i < window; i++) {
          const payload = Buffer.alloc(128);
          payload.writeDoubleBE(performance.now(), 0);
          batch.push(client.publish("bench", payload));
        }
        await Promise.all(batch);
      }
      await within(all, 15_000, "all messages");
      const seconds = (performance.now() - started) / 1_000;
      const sorted = Array.from(latencies).sort((a, b) => a - b);
      results.push(
        `commandTimeout ${timeout ?? "default"}: ${Math.round(total / seconds)} msg/s, ` +
          `p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${
            percentile(sorted, 0.99).toFixed(1)
          } ms`,
      );
      await shutdown(sub.client, sub.backoff);
      await shutdown(client, backoff);
    }
    console.log(`  ${results.join("\n  ")}`);
    await assertNoClients(redis);
  },
);
