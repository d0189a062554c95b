/**
 * The rooms contract of bench/raw_rooms_server.ts, through the Hub.
 *
 * `deno run -A bench/rooms_server.ts --port=N` serves `ws://127.0.0.1:N/ws` (any path). A client
 * connecting with `?room=R` is joined to room R by the server (`hub.join` in `onConnect`); every
 * message it sends is published to R (`hub.publish`), the sender included. Plain clients get
 * exactly the bytes sent; `wshub.v1` clients get `r<len>:R:<text>` frames, or several of them
 * coalesced in a `B` batch, after a `J` frame telling them they joined R. A connection without
 * `?room=`, or with a room name the hub refuses, is refused (400). Other tools drive this file:
 * keep its flags and behaviour fixed.
 *
 * A default Hub (heartbeats, coalescing, send queues at their defaults) but for one option:
 * `rateLimit: false`. The benchmark's publishers send as fast as the server takes them, and the
 * default inbound limit (100 messages a second, bursts of 200) closed one of the 1,000 with 1008
 * now and then (seen in 1 of 6 framed runs of 10,000 connections in 1,000 rooms): the limit
 * guards against abusive clients and is not what this server measures; raw has none.
 *
 * The room travels from the upgrade to `onConnect` as the connection's user id (`identify`
 * returns it): the public API has no other per-connection field, and the user index it fills is
 * O(1) per connection and off the publish path (presence events are off by default).
 *
 * Four flags change it, all off by default (without them the server is exactly the one above):
 *
 * - `--history`: every room keeps its history (`history: { size: 100, ttl: 60_000 }`): each
 *   publication is appended to the room's stream and `wshub.v1` clients get its offset
 *   (`r<len>:R<offset>:<text>`), plain clients the same bytes as without. What that costs is the
 *   `hub-framed-history` server of bench/run.ts.
 * - `--redis=URL` (e.g. `redis://127.0.0.1:6379`): the hub gets a `RedisBackplane` on that Redis,
 *   so that several of these processes are one rooms server (bench/redis_scenario.ts). With
 *   `--history` too, the streams are kept in Redis: a publication is appended and published by
 *   one Lua script, and every process, the publisher's included, delivers it when it comes back
 *   from Redis. It listens only once the backplane is up (exits with code 1 after 10 s without
 *   it). Without the flag the backplane module is not even loaded. With a backplane, the room as
 *   user id also makes each join a presence change in Redis (at connect time, not per message).
 * - `--redis-cluster=URL,URL…`: the same on a Redis Cluster (its seed nodes), streams included.
 * - `--nats=URL` (e.g. `nats://127.0.0.1:4222`): the same with a `NatsBackplane` on that NATS
 *   server (JetStream on, for presence); not with `--history`, which the NATS backplane refuses.
 *
 * @module
 */

import { Hub } from "../mod.ts";
import { backplaneUp, flagBackplane } from "./backplane_flag.ts";
import { isRoomName } from "../src/protocol/mod.ts";

const arg = Deno.args.find((a) => a.startsWith("--port="));
const port = arg === undefined ? 8080 : Number(arg.slice("--port=".length));
const history = Deno.args.includes("--history") ? { size: 100, ttl: 60_000 } : undefined;

const backplane = await flagBackplane(Deno.args);
const hub = new Hub({
  backplane,
  history,
  rateLimit: false,
  // The load generator opens every connection at once; this measures throughput, not admission.
  admissionRate: 1_000_000,
  identify(req) {
    const room = new URL(req.url).searchParams.get("room");
    if (room === null) return new Response("missing ?room=\n", { status: 400 });
    if (!isRoomName(room)) return new Response("invalid room name\n", { status: 400 });
    return room;
  },
  onConnect(client, hub) {
    hub.join(client, client.user!);
  },
  onMessage(message, client, hub) {
    hub.publish(client.user!, message);
  },
});
if (backplane !== undefined) await backplaneUp(backplane);
Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, (req) => hub.upgrade(req));
console.log(`listening on ws://127.0.0.1:${port}/ws?room=R`);
