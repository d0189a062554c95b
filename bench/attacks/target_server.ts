/**
 * The attack target: a `Hub` from `../../mod.ts`, served with `Deno.serve` on
 * 127.0.0.1, measured from the inside and otherwise left as shipped (no
 * global error handlers, no logger, no `onError`).
 *
 * ```sh
 * deno run -A bench/attacks/target_server.ts --port=N \
 *   [--chat] [--slow-handler=MS] [--slow-identify=MS] [--options=JSON]
 * ```
 *
 * Flags:
 * - `--port=N`          port on 127.0.0.1 (0: any free port; the first line says which)
 * - `--chat`            the README's chat pattern: `onMessage` → `hub.broadcast({ from, text })`
 * - `--slow-handler=MS` an async `onMessage` that awaits MS ms (after the chat broadcast, if both)
 * - `--slow-identify=MS` an async `identify` that awaits MS ms, then admits anonymously
 * - `--options=JSON`    more hub options, passed as they are (`{"pingInterval":1000}`); options
 *                       this build does not know are ignored by the hub, so later builds' options
 *                       (rate limits, maxConnections…) can be set without changing this script
 *
 * Requests to `/__close` call `hub.close()` (answered at once; a `{"event":"closed"}` line follows
 * when it resolves); every other request goes to `hub.upgrade(req)`.
 *
 * `-A` because Deno asks for every permission before it lists `/proc/self/fd`.
 *
 * Output on stdout, one JSON object per line:
 * - first `{"event":"listening","port":N,"pid":P}`;
 * - then once a second `{"t", "rss", "heapUsed", "heapTotal", "external", "fds", "lagMaxMs",
 *   "lagMeanMs", "stats", "closeCodes", "onMessage", "identify"}`: `Deno.memoryUsage()`, open
 *   descriptors (`/proc/self/fd`), the lateness of a 100 ms interval timer over the last second,
 *   `hub.stats()`, a histogram of `onDisconnect` codes (`"1013"` when the hub closed the client,
 *   `"1006 peer"` when the peer did), `onMessage` calls and how many of them came for a client
 *   whose `onDisconnect` had already run, and async identify calls started / settled.
 *
 * @module
 */

import { type Client, Hub, type HubOptions } from "../../mod.ts";
import { delay } from "../../testing/async.ts";

const args = new Map(Deno.args.map((a) => {
  const m = /^--([^=]+)(?:=(.*))?$/s.exec(a);
  return m ? [m[1], m[2] ?? "true"] as const : [a, "true"] as const;
}));
const port = Number(args.get("port") ?? "8080");
const chat = args.has("chat");
const slowHandler = Number(args.get("slow-handler") ?? 0);
const slowIdentify = Number(args.get("slow-identify") ?? 0);
const extra = JSON.parse(args.get("options") ?? "{}") as Record<string, unknown>;

interface ChatMessage {
  from?: string;
  text: string;
}

const closeCodes: Record<string, number> = {};
const disconnected = new WeakSet<Client<ChatMessage>>();
const onMessageCount = { calls: 0, afterDisconnect: 0 };
const identifyCount = { started: 0, done: 0 };

const options: HubOptions<ChatMessage> = {
  ...(extra as HubOptions<ChatMessage>),
  onMessage: slowHandler > 0
    ? async (message, client, hub) => {
      count(client);
      if (chat && typeof message === "string") hub.broadcast({ from: client.user, text: message });
      await delay(slowHandler);
    }
    : (message, client, hub) => {
      count(client);
      // The README's chat pattern, as written there.
      if (chat && typeof message === "string") hub.broadcast({ from: client.user, text: message });
    },
  onDisconnect(client, info) {
    disconnected.add(client);
    const key = info.byHub ? String(info.code) : `${info.code} peer`;
    closeCodes[key] = (closeCodes[key] ?? 0) + 1;
  },
};
if (slowIdentify > 0) {
  options.identify = async () => {
    identifyCount.started++;
    await delay(slowIdentify);
    identifyCount.done++;
    return undefined;
  };
}

function count(client: Client<ChatMessage>): void {
  onMessageCount.calls++;
  if (disconnected.has(client)) onMessageCount.afterDisconnect++;
}

let hub: Hub<ChatMessage>;
try {
  hub = new Hub<ChatMessage>(options);
} catch (error) {
  console.log(JSON.stringify({ event: "bad-options", error: String(error) }));
  Deno.exit(2);
}

Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen({ port }) {
    console.log(JSON.stringify({ event: "listening", port, pid: Deno.pid }));
  },
}, (req) => {
  if (req.url.endsWith("/__close")) {
    const started = performance.now();
    hub.close().then(() =>
      console.log(JSON.stringify({
        event: "closed",
        ms: Math.round(performance.now() - started),
      }))
    );
    return new Response("closing\n");
  }
  return hub.upgrade(req);
});

function openFds(): number {
  let n = 0;
  try {
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
  } catch {
    return -1;
  }
  return n;
}

const started = performance.now();
let last = started;
let windowStart = started;
let lagMax = 0;
let lagSum = 0;
let lagTicks = 0;
setInterval(() => {
  const now = performance.now();
  const late = Math.max(0, now - last - 100);
  last = now;
  lagMax = Math.max(lagMax, late);
  lagSum += late;
  lagTicks++;
  if (now - windowStart < 1000) return;
  windowStart = now;
  const memory = Deno.memoryUsage();
  console.log(JSON.stringify({
    t: Math.round(now - started),
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    fds: openFds(),
    lagMaxMs: Math.round(lagMax * 10) / 10,
    lagMeanMs: Math.round((lagSum / lagTicks) * 10) / 10,
    stats: hub.stats(),
    closeCodes,
    onMessage: onMessageCount,
    identify: identifyCount,
  }));
  lagMax = 0;
  lagSum = 0;
  lagTicks = 0;
}, 100);
