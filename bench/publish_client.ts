/**
 * A publisher of the publish scenario (bench/publish_scenario.ts) in a process of its own, as a
 * job worker or another backend would be: through a `RedisEmitter`, or through the hub's HTTP API
 * (`createApi`) with `fetch`, one publication a request (`/api/publish`) or B a request
 * (`/api/batch`).
 *
 * ```sh
 * deno run -A bench/publish_client.ts --mode=emitter --redis=URL --room=R --count=C --size=S --window=W [--history]
 * deno run -A bench/publish_client.ts --mode=api --api=http://127.0.0.1:N/api --key=K --room=R --count=C --size=S --window=W
 * deno run -A bench/publish_client.ts --mode=batch --batch=B --api=… --key=K --room=R --count=C --size=S --window=W
 * ```
 *
 * Connects (and makes one call to a room nobody is in, so that connections are open), prints
 * `{"ready":true}`, waits for a line on stdin, then publishes C payloads (bench/publish_payload.ts)
 * with at most W calls unanswered at once (W = 1: each awaited; with `--mode=batch`, W
 * publications rounded down to whole requests of B, at least one request), and prints
 * `{"startedAt", "endedAt", "failed"}` (ms since the epoch; `failed`: calls that rejected or were
 * not answered 200), and ends when stdin closes.
 *
 * @module
 */

import { RedisEmitter } from "../src/redis/mod.ts";
import { payload } from "./publish_payload.ts";

const flag = (name: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const mode = flag("mode");
const room = flag("room")!;
const count = Number(flag("count"));
const size = Number(flag("size"));
const window = Number(flag("window"));

/** Publishes `texts` to `room`: whether every one was accepted. */
let publish: (room: string, texts: string[]) => Promise<boolean>;
let close = () => Promise.resolve();
/** Publications a call carries. */
let perCall = 1;
if (mode === "emitter") {
  const emitter = new RedisEmitter<string>({
    url: flag("redis")!,
    history: Deno.args.includes("--history") ? { size: 100, ttl: 60_000 } : undefined,
  });
  publish = (room, [data]) => emitter.publish(room, data).then(() => true, () => false);
  close = () => emitter.close();
} else if (mode === "api" || mode === "batch") {
  const headers = { authorization: `Bearer ${flag("key")}`, "content-type": "application/json" };
  const post = (route: string, body: unknown) =>
    fetch(`${flag("api")}/${route}`, { method: "POST", headers, body: JSON.stringify(body) });
  if (mode === "api") {
    publish = async (room, [data]) => {
      const response = await post("publish", { room, data });
      await response.body?.cancel();
      return response.status === 200;
    };
  } else {
    perCall = Number(flag("batch"));
    publish = async (room, texts) => {
      const response = await post("batch", {
        commands: texts.map((data) => ({ publish: { room, data } })),
      });
      const { replies } = await response.json() as { replies?: Record<string, unknown>[] };
      return response.status === 200 && replies!.every((reply) => !("error" in reply));
    };
  }
} else {
  throw new Error("--mode=emitter, --mode=api or --mode=batch");
}

await publish("warmup", ["warm-up"]);
console.log(JSON.stringify({ ready: true }));
const reader = Deno.stdin.readable.getReader();
await reader.read();

let failed = 0;
const calls = Math.max(1, Math.floor(window / perCall));
const startedAt = performance.timeOrigin + performance.now();
const inFlight: Promise<boolean>[] = [];
for (let seq = 0; seq < count; seq += perCall) {
  if (inFlight.length >= calls && !await inFlight.shift()) failed++;
  const texts = [];
  for (let i = seq; i < Math.min(count, seq + perCall); i++) texts.push(payload(i, size));
  inFlight.push(publish(room, texts));
}
for (const ok of await Promise.all(inFlight)) if (!ok) failed++;
const endedAt = performance.timeOrigin + performance.now();
console.log(JSON.stringify({ startedAt, endedAt, failed }));
// Alive until told, so that its CPU time can still be read.
await reader.read();
reader.releaseLock();
await close();
Deno.exit(0);
