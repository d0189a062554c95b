// The oversized-message guard (src/server/runtime_guard.ts): it recognises
// exactly Deno's failure on a text message too large for a string, and with
// it a hub process survives a 520 MiB message, keeps serving, and releases
// the connection whose reader Deno gave up on.

import assert from "node:assert/strict";
import { isOversizedMessageRejection } from "../src/server/runtime_guard.ts";
import { encodeClientFrame, Opcode } from "../testing/ws_frames.ts";
import { RawPeer, TestClient } from "./_helpers.ts";
import { startHubProcess } from "./_process.ts";

Deno.test("the guard takes only Deno's string-allocation failure from its WebSocket", () => {
  const deno = new TypeError("failed to allocate string; buffer exceeds maximum length");
  deno.stack = "TypeError: failed to allocate string; buffer exceeds maximum length\n" +
    "    at WebSocket.[[[eventLoop]]] (ext:deno_websocket/01_websocket.js:1:10077)";
  assert.equal(isOversizedMessageRejection(deno), true);
  const elsewhere = new TypeError("failed to allocate string; buffer exceeds maximum length");
  elsewhere.stack = "TypeError: failed to allocate string\n    at app.ts:1:1";
  assert.equal(isOversizedMessageRejection(elsewhere), false, "the same error from the app");
  const other = new TypeError("boom");
  other.stack = "TypeError: boom\n    at (ext:deno_websocket/01_websocket.js:1:1)";
  assert.equal(isOversizedMessageRejection(other), false, "another error from Deno's WebSocket");
  assert.equal(isOversizedMessageRejection("failed to allocate string"), false);
  assert.equal(isOversizedMessageRejection(undefined), false);
});

Deno.test({
  name: "a 520 MiB text message: the process survives, others are served, the sender is released",
  // About 1 GiB of memory in the child for a few seconds, as Deno assembles the message.
  async fn() {
    const hub = await startHubProcess({
      chat: true,
      options: {
        // Long enough that the attacker (busy writing, it answers no ping) is not cut while
        // it sends; after the guard fires the hub pings at once, and cuts it a second later.
        pingInterval: 60_000,
        pongTimeout: 1000,
        closeTimeout: 500,
        rateLimit: { bytesPerSecond: 1024 * 1024 * 1024 },
      },
    });
    try {
      const attacker = await RawPeer.connect(hub.port, {
        headers: { "Sec-WebSocket-Protocol": "wshub.v1" },
      });
      assert.equal(attacker.status, 101);
      await hub.until((stats) => stats.connections === 1, 5000, "the attacker's registration");
      // 520 fragments of 1 MiB: each frame is encoded once and written again and again.
      const chunk = new Uint8Array(1024 * 1024).fill(0x78); // "x"
      const first = encodeClientFrame(Opcode.Text, chunk.with(0, 0x6d), { fin: false });
      const middle = encodeClientFrame(Opcode.Continuation, chunk, { fin: false });
      const last = encodeClientFrame(Opcode.Continuation, chunk, { fin: true });
      await attacker.write(first);
      for (let i = 1; i < 519; i++) await attacker.write(middle);
      await attacker.write(last);

      await hub.until((s) => s.oversizedMessages === 1, 30_000, "the guard");
      assert.equal(hub.alive, true, "the process is alive");
      // Another client is served while the attacker's connection is still held.
      const healthy = await TestClient.open(hub.url);
      healthy.socket.send("still here");
      assert.deepEqual(await healthy.received(1), ["still here"]);
      // The attacker, whose reader Deno abandoned, is cut by the heartbeat and released.
      const released = await hub.until(
        (stats) => stats.connections === 1 && stats.forcedReleases >= 1 && stats.sockets === 1,
        10_000,
        "the attacker to be cut and released",
      );
      assert.equal(released.closeCodes["4000"], 1, "cut by the heartbeat (4000)");
      attacker.close();
      await healthy.close();
    } finally {
      const status = await hub.stop();
      assert.equal(status.code, 0, `the hub process ended cleanly: ${hub.stderr}`);
    }
  },
});
