// keepServing (src/server/keep_serving.ts) and maxConnections against a real
// descriptor limit: a hub process under `prlimit --nofile=256` refuses
// upgrades past maxConnections with 503, survives idle TCP connections that
// use up every descriptor, and accepts again once they are gone.

import assert from "node:assert/strict";
import { Hub } from "../mod.ts";
import { keepServing } from "../src/serve/mod.ts";
import { delay, TestClient, until, within } from "./_helpers.ts";
import { startHubProcess } from "./_process.ts";

Deno.test("keepServing serves like Deno.serve and shuts down cleanly", async () => {
  const hub = new Hub<string>({
    onMessage: (message, client) => void client.send(message as string),
  });
  const server = keepServing({ hostname: "127.0.0.1", port: 0 }, (req) => hub.upgrade(req));
  const client = await TestClient.open(`ws://127.0.0.1:${server.addr.port}/ws`);
  client.socket.send("echo");
  assert.deepEqual(await client.received(1), ["echo"]);
  assert.equal(server.restarts, 0);
  await hub.close();
  await client.closed;
  await server.shutdown();
  await within(server.finished, 1000, "finished");
});

Deno.test("descriptors run out: 503 past maxConnections, the listener comes back, the process lives", async () => {
  const nofile = 256;
  const hub = await startHubProcess({ options: { maxConnections: 100 } }, { nofile });
  const sockets: WebSocket[] = [];
  const idle: Deno.TcpConn[] = [];
  try {
    // Deno panics if descriptors run out in its first ~500 ms (docs/deno-limits.md): let it settle.
    await delay(1000);
    // 120 WebSocket clients: 100 are accepted, 20 refused with 503.
    const results = await Promise.all(Array.from({ length: 120 }, () => {
      const socket = new WebSocket(hub.url);
      sockets.push(socket);
      return new Promise<boolean>((resolve) => {
        socket.onopen = () => resolve(true);
        socket.onerror = () => resolve(false);
      });
    }));
    assert.equal(results.filter((open) => open).length, 100, "maxConnections accepted");
    const full = await hub.until((s) => s.refusedForCapacity >= 20, 5000, "the refusals");
    assert.equal(full.sockets, 100);
    // Idle TCP connections (no request: no handler ever sees them) until accept() fails.
    for (let i = 0; i < nofile && hub.alive; i++) {
      try {
        idle.push(await Deno.connect({ hostname: "127.0.0.1", port: hub.port }));
      } catch {
        break; // the listener is gone
      }
    }
    await hub.until((s) => s.sockets === 100, 5000, "a stats line after the flood");
    assert.equal(hub.alive, true, "the process survived the exhaustion");
    for (const conn of idle.splice(0)) conn.close();
    // Once descriptors are free again, the listener is back and accepts WebSockets.
    // Close 50 of the accepted ones: which 20 were refused depends on arrival order.
    const accepted = sockets.filter((s) => s.readyState === WebSocket.OPEN);
    assert.equal(accepted.length, 100);
    for (const socket of accepted.slice(0, 50)) socket.close();
    await hub.until((s) => s.sockets <= 50, 10_000, "the closed clients to be released");
    const late = await within(
      (async () => {
        while (true) {
          try {
            return await TestClient.open(hub.url);
          } catch {
            await delay(100);
          }
        }
      })(),
      15_000,
      "a new connection to be accepted",
    );
    const stats = await hub.until((s) => s.connections === 51, 5000, "the late client");
    assert.ok(stats.restarts >= 1, `the listener was restarted (${stats.restarts})`);
    await late.close();
  } finally {
    for (const conn of idle) conn.close();
    for (const socket of sockets) socket.close();
    await until(() => sockets.every((s) => s.readyState === WebSocket.CLOSED), 5000, "closes");
    const status = await hub.stop();
    assert.equal(status.code, 0, hub.stderr);
  }
});
