// The client against hand-written servers on raw TCP sockets: a hub that goes
// silent after its hello (a half-open connection, as far as the client can
// tell), one that breaks the protocol, one that never answers the handshake,
// no server at all (backoff timings), and servers that record what the client
// sends (B frames only when the hello announces batch).
import assert from "node:assert/strict";
import { type ClientState, type CloseInfo, connect } from "../src/client/mod.ts";
import { delay, nextEvent, unbatch, until, within } from "./_helpers.ts";
import { writeAll } from "../testing/ws_frames.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();

/** One accepted TCP connection, after (or instead of) the WebSocket handshake. */
interface RawPeer {
  conn: Deno.Conn;
  /** The Sec-WebSocket-Protocol header the client offered. */
  offered: string;
  /** Sends one unmasked text frame. */
  sendText(text: string): Promise<void>;
}

/**
 * A TCP server on 127.0.0.1 that completes WebSocket handshakes by hand
 * (unless `handshake` is false) and then runs `script` on each connection.
 * It never reads after the handshake: a client's frames, pongs and close
 * frames go unanswered.
 */
class RawServer {
  readonly listener: Deno.TcpListener;
  readonly peers: RawPeer[] = [];
  #loop: Promise<void>;

  constructor(
    script: (peer: RawPeer, index: number) => Promise<void> | void,
    options: { handshake?: boolean; protocol?: string } = {},
  ) {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#loop = this.#accept(script, options.handshake ?? true, options.protocol ?? "wshub.v1");
  }

  get url(): string {
    return `ws://127.0.0.1:${this.listener.addr.port}/ws`;
  }

  async #accept(
    script: (peer: RawPeer, index: number) => Promise<void> | void,
    handshake: boolean,
    protocol: string,
  ): Promise<void> {
    try {
      for await (const conn of this.listener) {
        const peer: RawPeer = {
          conn,
          offered: "",
          sendText: (text) => writeAll(conn, frame(0x1, encoder.encode(text))),
        };
        this.peers.push(peer);
        if (!handshake) continue;
        const request = await readHead(conn);
        const key = /sec-websocket-key: *(\S+)/i.exec(request)?.[1] ?? "";
        peer.offered = /sec-websocket-protocol: *([^\r\n]+)/i.exec(request)?.[1] ?? "";
        const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID));
        const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
        await writeAll(
          conn,
          encoder.encode(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
              `Sec-WebSocket-Accept: ${accept}\r\n` +
              (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") + "\r\n",
          ),
        );
        await script(peer, this.peers.length - 1);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }

  /** Closes the listener and every connection (which lets abandoned client sockets finish). */
  async close(): Promise<void> {
    this.listener.close();
    for (const { conn } of this.peers) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    await this.#loop;
  }
}

async function readHead(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(4096);
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) break;
    head += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return head;
}

function frame(opcode: number, payload: Uint8Array): Uint8Array {
  assert.ok(payload.length < 126, "test frames are short");
  return new Uint8Array([0x80 | opcode, payload.length, ...payload]);
}

function hello(id: string, pingInterval: number, pongTimeout: number): string {
  return "h" + JSON.stringify({ v: 1, id, user: null, pingInterval, pongTimeout });
}

Deno.test("a server that goes silent after its hello is dropped and the client reconnects", async () => {
  // Tiny intervals: the client must give up after 60 + 60 ms (+ slack) of silence.
  const server = new RawServer((peer, index) => peer.sendText(hello(`c${index}`, 60, 60)));
  const client = connect(server.url, {
    reconnect: { initialDelay: 10, maxDelay: 20 },
    pingInterval: false,
  });
  const closes: CloseInfo[] = [];
  client.on("close", (info) => closes.push(info));
  const opened: string[] = [];
  client.on("open", (h) => opened.push(h.id));
  try {
    await nextEvent(client, "open", () => opened.length === 2, 3_000);
    assert.deepEqual(opened, ["c0", "c1"]);
    assert.equal(closes[0].code, 4000);
    assert.match(closes[0].reason, /heartbeat timeout: nothing heard from the server for \d+ ms/);
    assert.equal(closes[0].reconnecting, true);
    assert.equal(server.peers[0].offered, "wshub.v2, wshub.v1");
  } finally {
    await server.close(); // ends the abandoned half-open socket too
    await client.close();
  }
  assert.equal(client.state, "closed");
});

Deno.test("server pings keep a quiet connection alive and are answered with a pong", async () => {
  const received: string[] = [];
  const server = new RawServer(async (peer) => {
    await peer.sendText(hello("c0", 100, 100));
    // Read the client's frames (masked, short) in the background.
    (async () => {
      const buffer = new Uint8Array(1024);
      try {
        for (;;) {
          const n = await peer.conn.read(buffer);
          if (n === null) return;
          let at = 0;
          while (at + 6 <= n) {
            const length = buffer[at + 1] & 0x7f;
            const mask = buffer.subarray(at + 2, at + 6);
            const body = buffer.slice(at + 6, at + 6 + length).map((b, i) => b ^ mask[i % 4]);
            received.push(new TextDecoder().decode(body));
            at += 6 + length;
          }
        }
      } catch { /* closed */ }
    })();
    for (let i = 1; i <= 12; i++) {
      await delay(50);
      await peer.sendText(`p${i}`);
    }
  });
  const client = connect(server.url, { pingInterval: false, reconnect: false });
  try {
    await nextEvent(client, "open", () => true);
    // 12 pings 50 ms apart: 600 ms, far past the 250 ms deadline without them.
    await until(() => received.includes("P12"), 2_000, "the 12th pong").catch(() => {});
    assert.deepEqual(
      received.filter((f) => f.startsWith("P")),
      Array.from({ length: 12 }, (_, i) => `P${i + 1}`),
    );
    assert.equal(client.state, "open");
  } finally {
    await server.close(); // first: this server never answers the client's close frame
    await client.close();
  }
});

Deno.test("an unknown frame tag closes the client for good with 1002", async () => {
  const server = new RawServer(async (peer) => {
    await peer.sendText(hello("c0", 10_000, 10_000));
    await peer.sendText("x-what-is-this");
  });
  const client = connect(server.url, { reconnect: { initialDelay: 1, maxDelay: 1 } });
  const errors: Error[] = [];
  client.on("error", (error) => errors.push(error));
  const closed = nextEvent(client, "close", () => true);
  try {
    await closed;
    assert.equal(client.state, "closed");
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /protocol error: unknown text frame tag "x"/);
    await delay(50);
    assert.equal(server.peers.length, 1, "no reconnect after a protocol error");
    assert.throws(() => client.send("late"), /client is closed/);
  } finally {
    await server.close();
    await client.close();
  }
});

Deno.test("a server that does not speak wshub.v1 is a protocol error, not a retry loop", async () => {
  const server = new RawServer(() => {}, { protocol: "" });
  const client = connect(server.url, { reconnect: { initialDelay: 1, maxDelay: 1 } });
  const errors: Error[] = [];
  client.on("error", (error) => errors.push(error));
  try {
    await nextEvent(client, "state", (state) => state === "closed");
    assert.match(errors[0]?.message ?? "", /accepted neither wshub\.v2 nor wshub\.v1/);
    assert.equal(server.peers.length, 1);
  } finally {
    await server.close();
    await client.close();
  }
});

Deno.test("a handshake that never completes times out and is retried", async () => {
  const server = new RawServer(() => {}, { handshake: false });
  const client = connect(server.url, {
    connectTimeout: 50,
    reconnect: { initialDelay: 1, maxDelay: 1 },
  });
  const closes: CloseInfo[] = [];
  client.on("close", (info) => closes.push(info));
  try {
    await nextEvent(client, "close", () => closes.length === 2);
    assert.equal(closes[0].code, 1006);
    assert.match(closes[0].reason, /no hello within 50 ms \(connectTimeout\)/);
    assert.equal(client.state, "reconnecting");
  } finally {
    await server.close();
    await client.close();
  }
});

Deno.test("backoff: delays grow with full jitter and stay within [0, min(cap, base * factor^n)]", async () => {
  // Nothing listens on this port: every attempt fails at once with 1006.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const randoms = [0.999, 0.999, 0.999, 0.999, 0.5, 0.5, 0];
  let calls = 0;
  const client = connect(`ws://127.0.0.1:${port}/ws`, {
    reconnect: { initialDelay: 8, maxDelay: 40, factor: 2 },
    random: () => randoms[calls++ % randoms.length],
  });
  const states: ClientState[] = [];
  client.on("state", (state) => states.push(state));
  const closes: { delay: number; at: number }[] = [];
  client.on("close", (info) => closes.push({ delay: info.delay!, at: performance.now() }));
  try {
    await nextEvent(client, "close", () => closes.length === randoms.length, 5_000);
  } finally {
    await client.close();
  }
  closes.pop(); // the final close, from client.close()
  const expected = [7, 15, 31, 39, 20, 20, 0]; // floor(random * min(40, 8 * 2^n))
  assert.deepEqual(closes.map((c) => c.delay), expected);
  for (let i = 1; i < closes.length; i++) {
    // The next attempt fails only after its delay has passed (timers never fire early).
    const gap = closes[i].at - closes[i - 1].at;
    assert.ok(
      gap >= closes[i - 1].delay - 1,
      `attempt ${i}: ${gap} ms < ${closes[i - 1].delay} ms`,
    );
  }
  assert.equal(states[0], "reconnecting");
  assert.equal(states.at(-1), "closed");
});

Deno.test("a join in flight when the server went silent is sent again on the next connection", async () => {
  // The first connection never answers the join, then goes silent: the client drops it (4000)
  // without waiting for its socket to close. The join must not stay pending on the dead
  // connection: it goes out again (id 2) on the next one, whose answer settles it.
  const server = new RawServer(async (peer, index) => {
    if (index === 0) return await peer.sendText(hello("c0", 100, 100));
    await peer.sendText(hello(`c${index}`, 25_000, 10_000));
    await delay(50);
    await peer.sendText('J{"id":2,"room":"lobby"}');
  });
  const client = connect(server.url, {
    reconnect: { initialDelay: 10, maxDelay: 20 },
    pingInterval: false,
  });
  try {
    await until(() => client.state === "open", 2_000, "the first connection");
    assert.deepEqual(await within(client.join("lobby"), 3_000, "the join"), { room: "lobby" });
    assert.equal(client.hello?.id, "c1");
    assert.deepEqual([...client.rooms], ["lobby"]);
  } finally {
    await server.close();
    await client.close();
  }
});

/**
 * A hand-written wshub.v1 server on Deno.serve: its hello has `batch` when given, and it records
 * every WebSocket message a client sends, one entry each, as it arrived.
 */
function recordingServer(batch: number | undefined) {
  const received: (string | Uint8Array)[] = [];
  const sockets: WebSocket[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "wshub.v1" });
    socket.binaryType = "arraybuffer";
    sockets.push(socket);
    socket.onopen = () => {
      const fields = { v: 1, id: "c0", user: null, pingInterval: 25_000, pongTimeout: 10_000 };
      socket.send("h" + JSON.stringify(batch === undefined ? fields : { ...fields, batch }));
    };
    socket.onmessage = (event) => {
      const data = event.data;
      received.push(typeof data === "string" ? data : new Uint8Array(data));
    };
    return response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}/ws`,
    received,
    async close() {
      for (const socket of sockets) socket.close();
      await server.shutdown();
    },
  };
}

Deno.test("the client coalesces what it sends in one turn into one B frame, and a lone send goes as itself", async () => {
  const server = recordingServer(1024 * 1024 + 1);
  const client = connect(server.url, { pingInterval: false });
  try {
    await until(() => client.state === "open", 2_000, "the connection");
    client.send("alone");
    await until(() => server.received.length === 1, 2_000, "the lone frame");
    assert.deepEqual(server.received, ["malone"]);
    client.send("one");
    client.send({ n: 2 });
    client.send("three");
    await until(() => server.received.length === 2, 2_000, "the batch");
    assert.equal(server.received[1], 'B4:mone8:m{"n":2}6:mthree');
    // A binary frame cannot go in a B: what was held goes first, then it, then the rest.
    client.send("before");
    client.send(new Uint8Array([1, 2]));
    client.send("after1");
    client.send("after2");
    await until(() => server.received.length === 5, 2_000, "three frames");
    assert.deepEqual(server.received.slice(2), [
      "mbefore",
      new Uint8Array([0x6d, 1, 2]),
      "B7:mafter17:mafter2",
    ]);
    // What is sent just before close() goes out before the close frame.
    client.send("last");
    client.send("words");
    await client.close();
    await until(() => server.received.length === 6, 2_000, "the last batch");
    assert.equal(server.received[5], "B5:mlast6:mwords");
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("the client's B frames stay within the hello's batch, and without batch it sends none", async () => {
  // batch 60: the client counts up to 3 bytes a unit and 17 for each length, so a 2-unit frame
  // counts 23 bytes and at most two share a B.
  const small = recordingServer(60);
  const client = connect(small.url, { pingInterval: false });
  try {
    await until(() => client.state === "open", 2_000, "the connection");
    for (const text of ["a", "b", "c", "dd", "e"]) client.send(text);
    await until(() => small.received.length === 3, 2_000, "every frame");
    assert.deepEqual(small.received, ["B2:ma2:mb", "B2:mc3:mdd", "me"]);
    const texts = small.received as string[];
    assert.ok(texts.every((frame) => new TextEncoder().encode(frame).length <= 60));
    const unpacked = texts.flatMap((frame) => frame[0] === "B" ? unbatch(frame) : [frame]);
    assert.deepEqual(unpacked, ["ma", "mb", "mc", "mdd", "me"]);
  } finally {
    await client.close();
    await small.close();
  }
  const old = recordingServer(undefined);
  const plain = connect(old.url, { pingInterval: false });
  try {
    await until(() => plain.state === "open", 2_000, "the connection");
    for (const text of ["a", "b", "c"]) plain.send(text);
    await until(() => old.received.length === 3, 2_000, "three frames");
    assert.deepEqual(old.received, ["ma", "mb", "mc"]);
  } finally {
    await plain.close();
    await old.close();
  }
});
