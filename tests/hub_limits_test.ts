// What the hub refuses or bounds at the upgrade: maxConnections, a slow
// identify, a client that hangs up while identify runs, hosts and origins;
// and how Deno's own idle timeout is reported.

import assert from "node:assert/strict";
import type { DisconnectInfo } from "../mod.ts";
import { checkHost, checkOrigin } from "../src/server/handshake.ts";
import { IDLE_TIMEOUT_REASON } from "../src/server/reader.ts";
import { delay, RawPeer, serveHub, TestClient, until, within } from "./_helpers.ts";
import { rawPeer } from "./_wire.ts";
import { handshakeRequest, writeAll } from "../testing/ws_frames.ts";

Deno.test("past maxConnections an upgrade gets 503 with Retry-After; a freed place is taken again", async () => {
  const served = serveHub({ maxConnections: 3 });
  const clients = await Promise.all([0, 1, 2].map(() => TestClient.open(served.url)));
  await until(() => served.hub.size === 3, 2000, "three registrations");
  const refused = await RawPeer.connect(served.port);
  assert.equal(refused.status, 503);
  assert.match(refused.headers, /retry-after: 5/i);
  refused.close();
  assert.equal(served.hub.stats().refusedForCapacity, 1);
  assert.equal(served.hub.stats().sockets, 3);
  await clients[0].close();
  await until(() => served.hub.stats().sockets === 2, 2000, "the socket's release");
  const fourth = await TestClient.open(served.url);
  await until(() => served.hub.size === 3, 2000, "the new registration");
  await served.close();
  await Promise.all([...clients.slice(1), fourth].map((client) => client.closed));
});

Deno.test("an identify that does not settle within identifyTimeout refuses with 503", async () => {
  const errors: string[] = [];
  const served = serveHub({
    identifyTimeout: 100,
    identify: () => new Promise<string>(() => {}),
    onError: (error) => void errors.push(error.message),
  });
  const peer = await within(RawPeer.connect(served.port), 2000, "the refusal");
  assert.equal(peer.status, 503);
  peer.close();
  assert.match(errors[0], /did not settle within identifyTimeout \(100 ms\)/);
  assert.equal(served.hub.stats().sockets, 0);
  await served.close();
});

Deno.test("a client that hangs up while identify runs is not upgraded, and nothing leaks", async () => {
  let identified = 0;
  const served = serveHub({
    identify: async () => {
      await delay(200);
      identified++;
      return "alice";
    },
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: served.port });
  await writeAll(conn, handshakeRequest({ host: "127.0.0.1" }));
  await delay(50);
  conn.close(); // gone before identify settles
  await until(() => identified === 1, 2000, "identify to settle");
  await delay(50);
  assert.equal(served.hub.stats().sockets, 0, "no socket was created for it");
  // Deno's shutdown would never resolve had the socket been upgraded (docs/deno-limits.md).
  await within(served.close(), 3000, "the server to shut down");
});

Deno.test("allowedHosts refuses other Host headers with 403 (DNS rebinding)", async () => {
  const request = (host: string) =>
    new Request("http://x/ws", { headers: { host, origin: `http://${host}` } });
  assert.equal(checkHost(request("chat.example.com"), undefined), undefined, "any host by default");
  assert.equal(checkHost(request("Chat.Example.com"), ["chat.example.com"]), undefined);
  const refusal = checkHost(request("evil.example"), ["chat.example.com"]);
  assert.equal(refusal?.status, 403);
  assert.match(await refusal!.text(), /Host "evil.example" is not served here; list it/);
  // Over the wire: the rebinding pair (Host and Origin agree) passes same-origin, not allowedHosts.
  const served = serveHub({ allowedHosts: ["127.0.0.1"] });
  const evil = await RawPeer.connect(served.port, {
    headers: { Host: "evil.example", Origin: "http://evil.example" },
  });
  assert.equal(evil.status, 403);
  evil.close();
  const own = await RawPeer.connect(served.port, { headers: { Host: "127.0.0.1" } });
  assert.equal(own.status, 101);
  own.close();
  await served.close();
});

Deno.test("the default origin check compares schemes: https pages may reach http, never the reverse", () => {
  const check = (url: string, origin: string) =>
    checkOrigin(new Request(url, { headers: { host: "chat.example.com", origin } }), undefined)
      ?.status;
  assert.equal(check("http://chat.example.com/ws", "http://chat.example.com"), undefined);
  assert.equal(check("https://chat.example.com/ws", "https://chat.example.com"), undefined);
  assert.equal(
    check("http://chat.example.com/ws", "https://chat.example.com"),
    undefined,
    "TLS terminated in front of Deno",
  );
  assert.equal(check("https://chat.example.com/ws", "http://chat.example.com"), 403);
  assert.equal(check("http://chat.example.com/ws", "http://chat.example.com:8080"), 403);
  assert.equal(check("http://chat.example.com/ws", "ftp://chat.example.com"), 403);
  assert.equal(check("http://chat.example.com/ws", "null"), 403);
});

Deno.test("a plain client cut by Deno's idle timeout is reported as the hub's timeout", async () => {
  const infos: DisconnectInfo[] = [];
  const served = serveHub({
    idleTimeout: 1000, // ms: a protocol ping after 0.5 s of silence, the close 0.5 s later
    onDisconnect: (_client, info) => void infos.push(info),
  });
  const peer = await rawPeer(served.port); // never reads, never answers a ping
  await until(() => infos.length === 1, 4000, "the idle timeout");
  assert.deepEqual(infos, [{ code: 1001, reason: IDLE_TIMEOUT_REASON, byHub: true }]);
  assert.equal(served.hub.stats().timedOut, 1);
  peer.close();
  await served.close();
});
