/**
 * Microbenchmarks of the hub's hot paths: the scheduler's event queue, the user index, the
 * frame codec and the encode-once payload. Run with `deno bench -A bench/` (part of
 * `deno task bench`). Each group has a baseline doing the least the same job could do, so
 * the ratios say what the hub's structure costs.
 *
 * @module
 */

import type { Connection } from "../src/server/connection.ts";
import { EventQueue } from "../src/server/event_queue.ts";
import {
  decodeClientFrame,
  encodeBatch,
  encodePayload,
  type Payload,
  utf8Length,
} from "../src/protocol/mod.ts";
import { Registry } from "../src/server/registry.ts";

const EVENTS = 1000;

Deno.bench({
  name: "array push + shift, 1,000 events (baseline)",
  group: "scheduler dispatch",
  baseline: true,
  async fn() {
    const items: number[] = [];
    for (let i = 0; i < EVENTS; i++) items.push(i);
    let sum = 0;
    while (items.length > 0) {
      sum += items.shift()!;
      await null; // one microtask per event, as any async loop pays
    }
    if (sum < 0) throw new Error("unreachable");
  },
});

Deno.bench({
  name: "EventQueue push + for await, 1,000 events",
  group: "scheduler dispatch",
  async fn() {
    const queue = new EventQueue<number>();
    for (let i = 0; i < EVENTS; i++) queue.push(i);
    queue.close();
    let sum = 0;
    for await (const item of queue) sum += item;
    if (sum < 0) throw new Error("unreachable");
  },
});

// 10,000 connections of 2,000 users; look up one user's connections.
const registry = new Registry();
const byUser = new Map<string, Connection[]>();
for (let i = 0; i < 10_000; i++) {
  const connection = { user: `user-${i % 2000}` } as Connection;
  registry.add(connection);
  const list = byUser.get(connection.user!) ?? [];
  list.push(connection);
  byUser.set(connection.user!, list);
}
const all = [...registry.connections()];

Deno.bench({
  name: "Map<user, array> get + iterate (baseline)",
  group: "user lookup among 10,000 connections",
  baseline: true,
  fn() {
    let count = 0;
    for (const _ of byUser.get("user-1234") ?? []) count++;
    if (count !== 5) throw new Error("expected 5");
  },
});

Deno.bench({
  name: "Registry.ofUser + iterate",
  group: "user lookup among 10,000 connections",
  fn() {
    let count = 0;
    for (const _ of registry.ofUser("user-1234")) count++;
    if (count !== 5) throw new Error("expected 5");
  },
});

Deno.bench({
  name: "linear scan for the user (what a hub without an index does)",
  group: "user lookup among 10,000 connections",
  fn() {
    let count = 0;
    for (const connection of all) if (connection.user === "user-1234") count++;
    if (count !== 5) throw new Error("expected 5");
  },
});

const text = JSON.stringify({ type: "message", from: "alice", text: "x".repeat(90) });
const framedText = "m" + text;
const bytes = new Uint8Array(129).fill(0x6d);

Deno.bench({
  name: "string slice(1) (baseline)",
  group: "decode an inbound frame",
  baseline: true,
  fn() {
    if (framedText.slice(1).length !== text.length) throw new Error("length");
  },
});

Deno.bench({
  name: "decodeClientFrame, text message",
  group: "decode an inbound frame",
  fn() {
    const frame = decodeClientFrame(framedText);
    if (frame.kind !== "message") throw new Error("kind");
  },
});

Deno.bench({
  name: "decodeClientFrame, binary message",
  group: "decode an inbound frame",
  fn() {
    const frame = decodeClientFrame(bytes);
    if (frame.kind !== "message") throw new Error("kind");
  },
});

Deno.bench({
  name: "JSON.stringify (baseline)",
  group: "encode a broadcast once",
  baseline: true,
  fn() {
    if (JSON.stringify({ text }).length === 0) throw new Error("empty");
  },
});

Deno.bench({
  name: "encodePayload: JSON + UTF-8 length + framed form",
  group: "encode a broadcast once",
  fn() {
    const payload = encodePayload({ text });
    if (payload.bytes === 0 || payload.framed.length === 0) throw new Error("empty");
  },
});

Deno.bench({
  name: "TextEncoder.encode for the byte length",
  group: "UTF-8 length of a 100-character message",
  baseline: true,
  fn() {
    if (new TextEncoder().encode(text).length === 0) throw new Error("empty");
  },
});

Deno.bench({
  name: "utf8Length (no encoding)",
  group: "UTF-8 length of a 100-character message",
  fn() {
    if (utf8Length(text) === 0) throw new Error("empty");
  },
});

const queued: Payload[] = Array.from({ length: 32 }, () => encodePayload(text));

Deno.bench({
  name: "32 separate framed strings (baseline: what 32 sends would carry)",
  group: "coalesce 32 queued messages",
  baseline: true,
  fn() {
    let total = 0;
    for (const payload of queued) total += (payload.framed as string).length;
    if (total === 0) throw new Error("empty");
  },
});

Deno.bench({
  name: "encodeBatch: one b frame",
  group: "coalesce 32 queued messages",
  fn() {
    const batch = encodeBatch(queued, 0, queued.length);
    if (batch.bytes === 0) throw new Error("empty");
  },
});
