/**
 * How long recovering 1,000 missed publications takes (issue #12): a framed client rejoins a room
 * with the position it had before 1,000 publications were made, and the time is measured from its
 * `j` request to the last of the 1,000 `r` frames it is sent, over a real socket on 127.0.0.1. Once
 * with the room's history in this process (`MemoryHistory`), once in Redis (`RedisBackplane`, a
 * private redis-server started and stopped here; skipped when redis-server is absent).
 *
 * ```sh
 * deno run -A bench/recovery.ts                 # 30 trials of each; prints a Markdown table
 * deno run -A bench/recovery.ts --trials=5 --json
 * ```
 *
 * Each trial uses a fresh room, publishes 1,000 messages of 100 bytes, then asks; two warm-up
 * trials are not counted. The client is a
 * web-standard `WebSocket`; it counts `r` frames, whether alone or batched in `B` frames.
 *
 * @module
 */

import { Hub, SUBPROTOCOL } from "../mod.ts";
import { RedisBackplane } from "../src/redis/mod.ts";
import { splitBatch } from "../src/protocol/mod.ts";
import { redisAvailable, startRedis } from "../testing/redis.ts";
import { backplaneUp } from "./backplane_flag.ts";

const MISSED = 1000;
/** Trials run first and not counted (the JIT, the first Redis scripts' loading). */
const WARMUP = 2;
const SIZE = 100;
const trialsArg = Deno.args.find((a) => a.startsWith("--trials="));
const TRIALS = trialsArg === undefined ? 30 : Number(trialsArg.slice("--trials=".length));
const json = Deno.args.includes("--json");

interface Result {
  store: "memory" | "redis";
  trials: number;
  /** Milliseconds from the request to the last missed publication, per trial. */
  ms: number[];
  p50: number;
  p90: number;
  max: number;
}

/** Times `TRIALS` recoveries of `MISSED` publications from `hub`. */
async function measure(hub: Hub<string>, store: Result["store"]): Promise<Result> {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => hub.upgrade(req),
  );
  const socket = new WebSocket(`ws://127.0.0.1:${server.addr.port}/ws`, SUBPROTOCOL);
  let onFrame: (frame: string) => void = () => {};
  socket.onmessage = (event) => {
    const frame = String(event.data);
    if (frame[0] !== "B") return onFrame(frame);
    const inner = splitBatch(frame.slice(1));
    if (typeof inner === "string") throw new Error(`bad B frame: ${inner}`);
    for (const item of inner) onFrame(item);
  };
  await new Promise((resolve) => socket.onopen = resolve);
  const payload = "x".repeat(SIZE);
  const ms: number[] = [];
  for (let trial = 0; trial < TRIALS + WARMUP; trial++) {
    const room = `${store}-${trial}`;
    const first = await hub.publish(room, payload); // creates the stream: its epoch
    const { epoch, offset } = await hub.history(room, { limit: 1 });
    if (first !== 0 || offset !== 1) throw new Error("unexpected members or offset");
    for (let i = 0; i < MISSED; i++) await hub.publish(room, payload);
    let got = 0;
    let answer = "";
    const done = new Promise<void>((resolve) => {
      onFrame = (frame) => {
        if (frame[0] === "J") answer = frame;
        else if (frame.startsWith(`r${room.length}:${room}`) && ++got === MISSED) resolve();
      };
    });
    const started = performance.now();
    socket.send(`j${JSON.stringify({ id: trial + 1, room, since: { offset: 1, epoch } })}`);
    await done;
    if (trial >= WARMUP) ms.push(performance.now() - started);
    if (!answer.includes('"recovered":true')) throw new Error(`not recovered: ${answer}`);
    socket.send(`l${JSON.stringify({ id: 100_000 + trial, room })}`); // an empty room again
  }
  socket.close();
  await new Promise((resolve) => socket.onclose = resolve);
  await server.shutdown();
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { store, trials: TRIALS, ms, p50: at(0.5), p90: at(0.9), max: sorted.at(-1)! };
}

const history = { size: 2000, ttl: 600_000 };
const results: Result[] = [];
{
  const hub = new Hub<string>({ history, rateLimit: false });
  results.push(await measure(hub, "memory"));
  await hub.close();
}
if (await redisAvailable()) {
  const redis = await startRedis();
  try {
    const backplane = new RedisBackplane({ url: redis.url });
    const hub = new Hub<string>({ history, rateLimit: false, backplane });
    await backplaneUp(backplane);
    results.push(await measure(hub, "redis"));
    await hub.close();
  } finally {
    await redis.stop();
  }
} else {
  console.error("redis-server not found: the Redis store is skipped");
}

if (json) {
  console.log(JSON.stringify({ missed: MISSED, size: SIZE, results }));
} else {
  console.log(`Recovering ${MISSED.toLocaleString("en-US")} missed publications of ${SIZE} B`);
  console.log("(from the rejoin request to the last one received; one client, 127.0.0.1):\n");
  console.log("| History kept in | Trials | p50 | p90 | max |");
  console.log("| --- | --: | --: | --: | --: |");
  for (const r of results) {
    const f = (x: number) => `${x.toFixed(1)} ms`;
    console.log(`| ${r.store} | ${r.trials} | ${f(r.p50)} | ${f(r.p90)} | ${f(r.max)} |`);
  }
}
