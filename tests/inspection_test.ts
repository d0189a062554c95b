// The hub's internal inspection (src/server/inspection.ts) and its tap (src/server/tap.ts), over
// real sockets: the tap is off until listened to and reports nothing then; listened to, it reports
// connections (with the address given to upgrade), joins, refused joins, leaves, publications,
// refused upgrades and disconnections, in the loop's order; detached, it is off again. The
// inspection reads what the public API does not say: addresses, buffered bytes, history positions.

import assert from "node:assert/strict";
import { Hub, quietLogger } from "../mod.ts";
import { connect } from "../src/client/mod.ts";
import { inspectionOf } from "../src/server/inspection.ts";
import type { TapEvent } from "../src/server/tap.ts";
import { until } from "./_helpers.ts";

function serve(hub: Hub<string>) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req, info) => hub.upgrade(req, { address: info.remoteAddr.hostname }),
  );
  return {
    url: `ws://127.0.0.1:${server.addr.port}/ws`,
    async close() {
      await hub.close();
      await server.shutdown();
    },
  };
}

Deno.test("the tap: off and silent until listened to; then every change, in order", async () => {
  const hub = new Hub<string>({
    logger: quietLogger,
    identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
    authorizeJoin: (_client, room) => room !== "secret",
    history: (room) => room === "news" ? { size: 10, ttl: 60_000 } : undefined,
  });
  const served = serve(hub);
  const inspection = inspectionOf(hub);
  assert.throws(() => inspectionOf({}), TypeError);
  assert.equal(inspection.tap.on, false);

  // Unwatched: nothing is reported (nobody listens), and nothing breaks.
  const early = connect<string>(`${served.url}?u=early`);
  await until(() => hub.size === 1, 2000, "early's registration");

  const events: TapEvent[] = [];
  const stop = inspection.tap.listen((event) => events.push(event));
  assert.equal(inspection.tap.on, true);
  const alice = connect<string>(`${served.url}?u=alice`);
  await until(() => hub.size === 2, 2000, "alice's registration");
  const id = hub.clientsOf("alice")[0].id;
  await alice.join("news");
  await alice.join("secret").catch(() => {});
  await hub.publish("news", "hello");
  await alice.leave("news");
  const refused = await fetch(served.url.replace("ws:", "http:")); // not an upgrade: 426
  await refused.body?.cancel();
  await alice.close();
  await until(() => hub.size === 1, 2000, "alice's departure");

  const [view] = hub.clientsOf("early");
  const connection = inspection.find(view.id)!;
  assert.equal(connection.address, "127.0.0.1");
  assert.equal(inspection.buffered(connection), 0);
  assert.equal(inspection.expiresAt(connection), undefined);
  assert.deepEqual(await inspection.position("news"), {
    epoch: (await hub.history("news")).epoch,
    offset: 1,
  });
  assert.equal(await inspection.position("lobby"), undefined, "no history: no position");
  assert.equal(inspection.backplane(), undefined);

  stop();
  assert.equal(inspection.tap.on, false);
  await early.close();
  await until(() => hub.size === 0, 2000, "early's departure");

  const seen = events.map((event) => {
    if (event.type === "publish") {
      return { type: event.type, room: event.room, members: event.members, offset: event.offset };
    }
    return event;
  });
  assert.deepEqual(seen, [
    { type: "connect", id, user: "alice", framed: true, address: "127.0.0.1" },
    { type: "join", id, user: "alice", room: "news" },
    { type: "joinRefused", id, user: "alice", room: "secret", error: "forbidden" },
    { type: "publish", room: "news", members: 1, offset: 1 },
    { type: "leave", id, user: "alice", room: "news" },
    { type: "refused", status: 426, address: "127.0.0.1" },
    { type: "disconnect", id, user: "alice", code: 1000, reason: "", byHub: false },
  ]);
  await served.close();
});
