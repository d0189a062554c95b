/**
 * Microbenchmarks of the inspector's tables at 100,000 connections (issue #23): a page of the
 * client table (newest first, sorted by queue depth, filtered by room, a deep sorted page), a
 * page of the room table over 10,000 rooms, and the walk over every connection that `hub.stats()`
 * does once per tick of the live stream. Run with `deno bench -A bench/inspector_bench.ts` (part
 * of `deno task bench`).
 *
 * The connections are the hub's own records (`Connection`, `Registry`) over sockets that send
 * nothing: one process could not hold 100,000 real sockets (and their peers) under the usual
 * descriptor limits. One in a hundred has messages waiting in its send queue.
 *
 * @module
 */

import { encodePayload } from "../src/protocol/mod.ts";
import { clientQuery, clientsPage, roomQuery, roomsPage } from "../src/inspector/queries.ts";
import type { Hub } from "../src/server/hub.ts";
import { Connection } from "../src/server/connection.ts";
import { HandOffs } from "../src/server/hand_offs.ts";
import { MemoryHistory } from "../src/server/history.ts";
import { Inspection } from "../src/server/inspection.ts";
import { Registry } from "../src/server/registry.ts";
import { Tap } from "../src/server/tap.ts";
import type { Client } from "../src/server/types.ts";
import type { Admission } from "../src/server/admission.ts";
import type { Parts } from "../src/server/wiring.ts";

const CONNECTIONS = 100_000;
const ROOMS = 10_000;

const registry = new Registry();
const payload = encodePayload("x".repeat(100));
for (let i = 0; i < CONNECTIONS; i++) {
  const stalled = i % 100 === 0;
  // A socket that takes everything, or (one in a hundred) whose buffer is full.
  const socket = { send() {}, bufferedAmount: stalled ? 1e9 : 0, readyState: 1 };
  const connection = new Connection(
    socket as unknown as WebSocket,
    {
      user: `user${i % 20_000}`,
      framed: i % 2 === 0,
      json: false,
      protocol: i % 2 === 0 ? "wshub.v1" : "",
      rooms: [],
      address: "127.0.0.1",
    },
    {
      framed: i % 2 === 0,
      coalesce: false,
      sendQueueLimit: 1024,
      overflow: "close",
      maxBufferedBytes: stalled ? 1 : 1024 * 1024, // stalled: what it is sent waits in its queue
    },
    () => ({}) as Client<unknown>,
  );
  connection.markOpen();
  registry.add(connection);
  registry.join(connection, `room${i % ROOMS}`);
  if (stalled) { for (let n = 0; n < 1 + (i % 7); n++) connection.writer.push(payload, 0); }
}
const parts = {
  registry,
  tap: new Tap(),
  handOffs: new HandOffs(),
  options: { history: () => undefined },
  store: new MemoryHistory(),
  backplane: undefined,
} as unknown as Parts;
const inspection = new Inspection(parts, { sockets: CONNECTIONS } as unknown as Admission);
const hub = {} as Hub<unknown, unknown>; // asked only for cluster-wide presence: no backplane here

const query = (text: string) => clientQuery(new URLSearchParams(text));
const group = "inspector, 100,000 connections";

Deno.bench({
  name: "client table: newest 50",
  group,
  baseline: true,
  fn() {
    if (clientsPage(inspection, query("")).rows.length !== 50) throw new Error("unreachable");
  },
});

Deno.bench({
  name: "client table: 50 by queue depth (a partial sort)",
  group,
  fn() {
    const page = clientsPage(inspection, query("sort=queued"));
    if (page.rows[0].queued === 0) throw new Error("unreachable");
  },
});

Deno.bench({
  name: "client table: page 101 by queue depth (a full sort)",
  group,
  fn() {
    if (clientsPage(inspection, query("sort=queued&offset=5000")).rows.length !== 50) {
      throw new Error("unreachable");
    }
  },
});

Deno.bench({
  name: "client table: one room's members (10), by queue depth",
  group,
  fn() {
    if (clientsPage(inspection, query("room=room7&sort=queued")).total !== 10) {
      throw new Error("unreachable");
    }
  },
});

Deno.bench({
  name: "client table: a page as JSON (50 rows)",
  group,
  fn() {
    if (JSON.stringify(clientsPage(inspection, query(""))).length < 1000) {
      throw new Error("unreachable");
    }
  },
});

Deno.bench({
  name: "room table: 50 largest of 10,000 rooms",
  group,
  async fn() {
    if ((await roomsPage(hub, inspection, roomQuery(new URLSearchParams()))).rows.length !== 50) {
      throw new Error("unreachable");
    }
  },
});

Deno.bench({
  name: "a tick's walk over every connection (what hub.stats() reads)",
  group,
  fn() {
    let framed = 0;
    let dropped = 0;
    for (const connection of registry.connections()) {
      dropped += connection.writer.dropped;
      if (connection.framed) framed++;
    }
    if (framed + dropped !== CONNECTIONS / 2) throw new Error("unreachable");
  },
});
