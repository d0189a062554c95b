/**
 * Microbenchmarks of room history: what keeping a room's publications costs the hub.
 * Run with `deno bench -A bench/history_bench.ts` (part of `deno task bench`).
 *
 * - `MemoryHistory.append` to a full stream (every append drops the oldest) of 100 and 1,000;
 * - `MemoryHistory.read` of such a stream: what a reconnecting client's join asks (`since` its
 *   last offset, `limit` the hub's `maxRecover` + 1), what a join without a position asks
 *   (`limit: 0`), and the newest 20 (`hub.history(room, { limit: 20 })`);
 * - `recoveryVerdict` on the pages those reads return;
 * - the hub's publish to a room of N framed members (N = 10, the rooms scenario's room, and
 *   1,000), without history and with memory history on the room (size 100, ttl 60 s, as
 *   `bench/rooms_server.ts --history`).
 *
 * The publish group runs the hub's own scheduler (the event loop that `hub.publish` feeds: event
 * queue, rooms, history, framing, the members' writers, the flush at the end of the batch) with
 * connections whose socket `send` does nothing, as bench/metrics_bench.ts does for its writers:
 * the figures are the hub's work alone. A real `send` costs microseconds per member (~4 µs for
 * 128 B on the machine of docs/benchmarks.md), the same with and without history; what history
 * adds is per publication (one append, the offset in the frame), not per member.
 *
 * @module
 */

import { encodePayload } from "../src/protocol/mod.ts";
import { ClientView } from "../src/server/client_view.ts";
import { Connection } from "../src/server/connection.ts";
import {
  type HistoryOptions,
  MemoryHistory,
  type Position,
  recoveryVerdict,
  type StoredPage,
} from "../src/server/history.ts";
import { type ResolvedOptions, resolveOptions } from "../src/server/options.ts";
import { Scheduler } from "../src/server/scheduler.ts";
import { type Parts, wire } from "../src/server/wiring.ts";

/** A 128-byte payload, as the load generator sends. */
const TEXT = "0:1:1234567890:".padEnd(128, "x");
const TTL = 60_000;
/** What a recovering join reads: the hub's default `maxRecover` (1,000) + 1. */
const RECOVER_LIMIT = 1001;

// --- MemoryHistory -----------------------------------------------------------------------------

/** A stream of `size` publications, full: each further append drops the oldest. */
function fullStream(
  size: number,
): { history: MemoryHistory; last: Position; options: HistoryOptions } {
  const history = new MemoryHistory();
  const options = { size, ttl: TTL };
  let last: Position = { offset: 0, epoch: "" };
  for (let i = 0; i < size; i++) last = history.append("room", TEXT, options);
  return { history, last, options };
}

for (const size of [100, 1000]) {
  const { history, options } = fullStream(size);
  Deno.bench({
    name: `append to a full stream of ${size.toLocaleString("en-US")}`,
    group: "MemoryHistory.append (128 B)",
    baseline: size === 100,
    fn() {
      if (history.append("room", TEXT, options).offset < 1) throw new Error("unreachable");
    },
  });
}

/** The stream after `size` appends, and the positions a client could come back with. */
const streams = [100, 1000].map((size) => {
  const { history, last } = fullStream(size);
  const tenBack: Position = { offset: last.offset - 10, epoch: last.epoch };
  const start: Position = { offset: last.offset - size, epoch: last.epoch };
  return { size, history, last, tenBack, start };
});

for (const { size, history, tenBack, start } of streams) {
  const n = size.toLocaleString("en-US");
  const group = `MemoryHistory.read, stream of ${n}`;
  Deno.bench({
    name: `since 10 back, limit ${RECOVER_LIMIT} (a recovering join that missed 10)`,
    group,
    baseline: true,
    fn() {
      const page = history.read("room", { since: tenBack, limit: RECOVER_LIMIT });
      if (page.publications.length !== 10) throw new Error("expected 10");
    },
  });
  Deno.bench({
    name: `since the oldest kept, limit ${RECOVER_LIMIT} (missed all ${n})`,
    group,
    fn() {
      const page = history.read("room", { since: start, limit: RECOVER_LIMIT });
      if (page.publications.length !== size) throw new Error(`expected ${size}`);
    },
  });
  Deno.bench({
    name: "no since, limit 0 (what a join without a position asks)",
    group,
    fn() {
      const page = history.read("room", { limit: 0 });
      if (page.offset === 0) throw new Error("no position");
    },
  });
  Deno.bench({
    name: "no since, limit 20 (the newest 20, hub.history)",
    group,
    fn() {
      const page = history.read("room", { limit: 20 });
      if (page.publications.length !== 20) throw new Error("expected 20");
    },
  });
}

// --- recoveryVerdict ---------------------------------------------------------------------------

{
  const { history, tenBack, start, size } = streams[1];
  const missed10: StoredPage = history.read("room", { since: tenBack, limit: RECOVER_LIMIT });
  const missedAll: StoredPage = history.read("room", { since: start, limit: RECOVER_LIMIT });
  // Five more were missed than the stream keeps (from the stream of 100: within maxRecover).
  const small = streams[0];
  const trimmedSince: Position = { offset: small.start.offset - 5, epoch: small.last.epoch };
  const trimmed: StoredPage = small.history.read("room", {
    since: trimmedSince,
    limit: RECOVER_LIMIT,
  });
  const otherEpoch: Position = { offset: tenBack.offset, epoch: "0000000000000000" };
  const group = "recoveryVerdict";
  Deno.bench({
    name: "recovered: 10 missed",
    group,
    baseline: true,
    fn() {
      if (!recoveryVerdict(tenBack, missed10, RECOVER_LIMIT - 1).recovered) throw new Error("no");
    },
  });
  Deno.bench({
    name: `recovered: ${size.toLocaleString("en-US")} missed`,
    group,
    fn() {
      if (!recoveryVerdict(start, missedAll, RECOVER_LIMIT - 1).recovered) throw new Error("no");
    },
  });
  Deno.bench({
    name: "not recovered: trimmed",
    group,
    fn() {
      const verdict = recoveryVerdict(trimmedSince, trimmed, RECOVER_LIMIT - 1);
      if (verdict.recovered || verdict.reason !== "trimmed") throw new Error("expected trimmed");
    },
  });
  Deno.bench({
    name: "not recovered: epoch changed",
    group,
    fn() {
      const verdict = recoveryVerdict(otherEpoch, missed10, RECOVER_LIMIT - 1);
      if (verdict.recovered || verdict.reason !== "epoch_changed") {
        throw new Error("expected epoch");
      }
    },
  });
}

// --- The hub's publish to a room ---------------------------------------------------------------

/** A socket that takes everything and sends nothing: the hub's work alone is measured. */
function nullSocket(): WebSocket {
  return {
    readyState: WebSocket.OPEN,
    bufferedAmount: 0,
    send() {},
    close() {},
    addEventListener() {},
    removeEventListener() {},
  } as unknown as WebSocket;
}

/**
 * A hub's scheduler with `members` framed connections in room "room", history on or off; the
 * connections are registered and joined as `hub.upgrade` and `hub.join` would (no reader: they
 * send nothing). It stays up until the process ends: `deno bench` exits once the benchmarks are
 * done.
 */
async function roomOf(members: number, history: boolean): Promise<Parts> {
  const options = resolveOptions({
    pingInterval: 600_000, // nothing but the benchmark runs meanwhile
    rateLimit: false,
    guardOversizedMessages: false,
    history: history ? { size: 100, ttl: TTL } : undefined,
  }) as ResolvedOptions<unknown, unknown>;
  const parts = wire(options, {
    released() {},
    onMessage: undefined,
    onRequest: undefined,
    onConnect: undefined,
    onDisconnect: undefined,
    authorizeJoin: undefined,
    onPresence: undefined,
    refresh: undefined,
    report(error) {
      throw error;
    },
  });
  new Scheduler(parts);
  const writer = {
    framed: true,
    coalesce: options.coalesce,
    sendQueueLimit: options.sendQueueLimit,
    overflow: options.overflow,
    maxBufferedBytes: options.maxBufferedBytes,
  };
  const view = { push: parts.push, requestTimeout: options.requestTimeout };
  for (let i = 0; i < members; i++) {
    const connection = new Connection(
      nullSocket(),
      { user: undefined, framed: true, json: false, protocol: "wshub.v1", rooms: [] },
      writer,
      (connection) => new ClientView(connection, view),
      parts.handOffs,
    );
    parts.push({ type: "register", connection });
    const joined = await new Promise<boolean>((done) =>
      parts.push({ type: "join", connection, room: "room", done })
    );
    if (!joined) throw new Error("join refused");
  }
  return parts;
}

/** What `hub.publish(room, TEXT)` does: encode once, queue the event, wait until applied. */
function publish(parts: Parts): Promise<number> {
  return new Promise((done) =>
    parts.push({
      type: "publish",
      room: "room",
      payload: encodePayload(TEXT),
      except: undefined,
      done,
    })
  );
}

for (const members of [10, 1000]) {
  const n = members.toLocaleString("en-US");
  const group = `publish to a room of ${n} framed members`;
  for (const history of [false, true]) {
    const scheduler = await roomOf(members, history);
    Deno.bench({
      name: history ? "memory history (size 100, ttl 60 s)" : "no history (baseline)",
      group,
      baseline: !history,
      async fn() {
        if (await publish(scheduler) !== members) throw new Error(`expected ${members}`);
      },
    });
  }
}
