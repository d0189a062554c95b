// The cut storm: a framed client in a room with history is cut off again and
// again while publications keep coming; it must end up with every
// publication, once, in order. Run against history in memory and in Redis
// (tests/history_test.ts, tests/redis_history_test.ts).

import assert from "node:assert/strict";
import { delay, follower, type Served, until } from "./_helpers.ts";

/** How one storm runs: who publishes, who cuts, and how long. */
export interface CutStorm {
  /** The hub URL the client connects to. */
  url: string;
  /** Publishes the next batch of numbered texts (`from` … `from + count - 1`) to `room`. */
  publish(room: string, from: number, count: number): Promise<void>;
  /** Cuts the client off (its server closes it). Resolves once asked. */
  cut(): Promise<void>;
  /** Whether the client is registered on its server again. */
  registered(): Promise<boolean>;
  /** Cuts to make. */
  cuts: number;
  /** The longest pause between a reconnect and the next cut, in ms. */
  spacing: number;
}

/** What a storm saw. */
export interface StormResult {
  published: number;
  delivered: number;
  gaps: number;
  duplicates: number;
  unrecovered: number;
}

/**
 * Runs a storm: ~2,000 publications a second (batches of 20 every 10 ms)
 * while the client is cut `cuts` times; then checks that it got every
 * publication once, in order, and that every rejoin recovered.
 */
export async function cutStorm(storm: CutStorm): Promise<StormResult> {
  const f = follower(storm.url);
  try {
    await f.client.join("ticks");
    let published = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await storm.publish("ticks", published, 20);
        published += 20;
        await delay(10);
      }
    })();
    for (let cut = 0; cut < storm.cuts; cut++) {
      await until(
        async () => f.client.state === "open" && await storm.registered(),
        5000,
        `reconnect ${cut}`,
      );
      await delay(Math.floor(Math.random() * storm.spacing));
      await storm.cut();
    }
    await until(() => f.client.state === "open", 5000, "the last reconnect");
    publishing = false;
    await publisher;
    await until(() => f.seen.length >= published, 10_000, `all ${published} publications`);
    let gaps = 0, duplicates = 0;
    for (let i = 0; i < f.seen.length; i++) {
      const n = Number(f.seen[i].text);
      if (n < i) duplicates++;
      else if (n > i) gaps++;
    }
    const result = {
      published,
      delivered: f.seen.length,
      gaps,
      duplicates,
      unrecovered: f.recoveries.filter((r) => !r.recovered).length,
    };
    console.log(
      `${published} publications, ${storm.cuts} cuts: ${result.delivered} delivered, ` +
        `${gaps} gaps, ${duplicates} duplicates, ${result.unrecovered} unrecovered`,
    );
    assert.equal(gaps, 0, "no gap");
    assert.equal(duplicates, 0, "no duplicate");
    assert.deepEqual(
      f.seen.map((s) => Number(s.text)),
      Array.from({ length: published }, (_, i) => i),
    );
    assert.deepEqual(
      f.seen.map((s) => s.offset),
      Array.from({ length: published }, (_, i) => i + 1),
      "offsets follow each other",
    );
    assert.deepEqual(f.recoveries.filter((r) => !r.recovered), [], "every rejoin recovered");
    return result;
  } finally {
    await f.client.close();
  }
}

/** A storm against a hub served in this process: it publishes and cuts through the hub's API. */
export function inProcess(
  served: Served<string, unknown>,
  cuts: number,
  spacing: number,
): CutStorm {
  return {
    url: served.url,
    async publish(room, from, count) {
      for (let i = from; i < from + count; i++) await served.hub.publish(room, String(i));
    },
    cut: () => Promise.resolve(served.hub.clients()[0]?.close(4000, "cut")),
    registered: () => Promise.resolve(served.hub.size === 1),
    cuts,
    spacing,
  };
}
