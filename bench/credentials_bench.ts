/**
 * What expiring credentials add to the heartbeat's tick (issue #18): no timer per connection, but
 * one check per connection per tick (at most once a second). The group measures one tick's pass
 * over 10,000 connections with an expiring credential, with the check (`credentialDue`) and
 * without it (the loop alone), so the difference is what expiries cost a hub of that size per
 * tick. Run with `deno bench -A bench/credentials_bench.ts` (part of `deno task bench`).
 *
 * The connections are the fields the check reads, not sockets: the tick's other work (liveness,
 * write deadlines) is the same with or without credentials.
 *
 * @module
 */

import { credentialDue } from "../src/server/credentials.ts";
import type { Connection } from "../src/server/connection.ts";

const CONNECTIONS = 10_000;
const now = Date.now();
// Credentials granted in the last hour, expiring within the next hour: none due this tick.
const connections = Array.from({ length: CONNECTIONS }, (_, i) => ({
  closing: false,
  json: true,
  credential: {
    expiresAt: now + 3_600_000 + i,
    grantedAt: now - (i % 3_600) * 1000,
    asked: false,
    checking: false,
  },
})) as unknown as Connection[];
const timing = { delay: 25_000, tick: 1000, ask: true };

Deno.bench({
  name: "tick pass, 10,000 connections, no credential check (baseline)",
  group: "expiry checks per tick",
  baseline: true,
  fn() {
    let open = 0;
    for (const connection of connections) if (!connection.closing) open++;
    if (open !== CONNECTIONS) throw new Error("unreachable");
  },
});

Deno.bench({
  name: "tick pass, 10,000 connections, each credential checked",
  group: "expiry checks per tick",
  fn() {
    let due = 0;
    for (const connection of connections) {
      if (connection.closing) continue;
      if (credentialDue(connection, now, timing) !== undefined) due++;
    }
    if (due !== 0) throw new Error("no credential is due in this benchmark");
  },
});
