/**
 * The hub of the publish scenario (bench/publish_scenario.ts): one hub with a `RedisBackplane`,
 * its subscribers in rooms, its HTTP API, and a route that publishes from inside the process.
 *
 * `deno run -A bench/publish_server.ts --port=N --redis=URL --key=K [--history]` serves:
 * - `ws://127.0.0.1:N/ws?room=R`: a connection joined to room R (by the server, `hub.join`);
 * - `/api/…`: `createApi(hub, { key: K })`;
 * - `POST /burst?room=R&count=C&size=S&window=W`: `hub.publish` C times from this process, at
 *   most W not yet applied at once (W = 1: each awaited), each payload `<seq>:<send time>:x…`
 *   of S bytes (the send time in ms since the epoch, with decimals); answers
 *   `{"startedAt", "endedAt"}` once the last is applied. The reference the emitter and the API
 *   are compared with. Unauthenticated: for a benchmark on 127.0.0.1 only.
 *
 * `--history`: every room keeps its history (in Redis). `rateLimit: false`, as the other bench
 * servers, and `pongTimeout: 60_000` (see below). Prints `listening` once the backplane is up.
 *
 * @module
 */

import { createApi, Hub } from "../mod.ts";
import { backplaneUp, flagBackplane } from "./backplane_flag.ts";
import { isRoomName } from "../src/protocol/mod.ts";
import { payload } from "./publish_payload.ts";

const flag = (name: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const port = Number(flag("port") ?? 8080);
const key = flag("key");
if (key === undefined) throw new Error("--key=K is required (the HTTP API's key)");

const backplane = await flagBackplane(Deno.args);
const hub = new Hub<string>({
  backplane,
  history: Deno.args.includes("--history") ? { size: 100, ttl: 60_000 } : undefined,
  rateLimit: false,
  // A publisher that is not paced by the deliveries (hub.publish awaited in a loop flushes each
  // message alone: 1,000 frames) puts seconds of frames in front of the subscribers; a ping waits
  // behind them, and with the default 10 s the load generator's backlog was taken for dead peers
  // (4000) in a long run. The benchmark measures throughput, not the heartbeat.
  pongTimeout: 60_000,
  identify(req) {
    const room = new URL(req.url).searchParams.get("room");
    if (room === null || !isRoomName(room)) return new Response("?room=R\n", { status: 400 });
    return room;
  },
  onConnect(client, hub) {
    hub.join(client, client.user!);
  },
});
const api = createApi(hub, { key });

/** `count` in-process publishes, at most `window` in flight. */
async function burst(room: string, count: number, size: number, window: number) {
  const startedAt = performance.timeOrigin + performance.now();
  const inFlight: Promise<number>[] = [];
  for (let seq = 0; seq < count; seq++) {
    if (inFlight.length >= window) await inFlight.shift();
    inFlight.push(hub.publish(room, payload(seq, size)));
  }
  await Promise.all(inFlight);
  return { startedAt, endedAt: performance.timeOrigin + performance.now() };
}

if (backplane !== undefined) await backplaneUp(backplane);
Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
  const url = new URL(req.url);
  if (url.pathname === "/ws") return hub.upgrade(req);
  if (url.pathname.startsWith("/api/")) return await api(req);
  if (url.pathname === "/burst" && req.method === "POST") {
    const q = url.searchParams;
    return Response.json(
      await burst(
        q.get("room")!,
        Number(q.get("count")),
        Number(q.get("size")),
        Number(q.get("window")),
      ),
    );
  }
  return new Response("not found\n", { status: 404 });
});
console.log(`listening on ws://127.0.0.1:${port}/ws?room=R`);
