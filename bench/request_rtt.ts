/**
 * Request round trips between a hub and a client on 127.0.0.1: `client.request()` alone,
 * `hub.clients()[0].request()` alone, and the two alternating (what tests/encoding_test.ts does),
 * with `@wshub/hub/client` on Deno's `WebSocket`; then the alternation from Node's `ws` (when
 * `npm ci --prefix tests/interop/node` was run), which turns Nagle's algorithm off. Deno's
 * `WebSocket` client leaves it on (docs/deno-limits.md, 9): a client request sent right after the
 * client's answer to the hub waits for the hub's delayed ACK, about 40 ms.
 *
 * ```sh
 * deno run -A bench/request_rtt.ts
 * ```
 *
 * @module
 */

import { Hub, quietLogger } from "../mod.ts";
import { connect } from "../src/client/mod.ts";

const ROUNDS = 10;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

const hub = new Hub<unknown>({
  logger: quietLogger,
  onRequest: (request) => request,
  // The Node client's cue: send me a request now.
  onMessage(_message, client) {
    client.request("x").catch(() => {});
  },
});
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  (req) => hub.upgrade(req),
);
const url = `ws://127.0.0.1:${server.addr.port}/ws`;

const client = connect(url, { reconnect: false, onRequest: (request) => request });
while (!(client.state === "open" && hub.size === 1)) await new Promise((r) => setTimeout(r, 5));
const view = hub.clients()[0];
const toHub: number[] = [];
const toClient: number[] = [];
const alternating: [number, number][] = [];
for (let i = 0; i < ROUNDS; i++) toHub.push(await time(() => client.request(i)));
for (let i = 0; i < ROUNDS; i++) toClient.push(await time(() => view.request(i)));
for (let i = 0; i < ROUNDS; i++) {
  alternating.push([await time(() => client.request(i)), await time(() => view.request(i))]);
}
await client.close();
console.log(`@wshub/hub/client (Deno WebSocket), medians of ${ROUNDS}:`);
console.log(`  client → hub alone   ${median(toHub).toFixed(2)} ms`);
console.log(`  hub → client alone   ${median(toClient).toFixed(2)} ms`);
console.log(
  `  alternating: client → hub ${median(alternating.map((a) => a[0])).toFixed(2)} ms, ` +
    `hub → client ${median(alternating.map((a) => a[1])).toFixed(2)} ms`,
);

// The same alternation from Node's ws: answer the hub's request, then send one's own at once.
const nodeClient = `
const WebSocket = require(${
  JSON.stringify(new URL("../tests/interop/node/node_modules/ws", import.meta.url).pathname)
});
const ws = new WebSocket(process.argv[1], ["wshub.v1"], { perMessageDeflate: false });
let id = 0, t0 = 0; const times = [];
const ask = () => { t0 = performance.now(); ws.send("q" + (++id) + ":1"); };
ws.on("message", (data) => {
  const s = data.toString();
  if (s[0] === "h") return ask();
  if (s[0] === "q") { ws.send("a" + s.slice(1)); return ask(); }
  if (s[0] === "a") {
    times.push(performance.now() - t0);
    if (id >= ${ROUNDS + 1}) { console.log(JSON.stringify(times.slice(1))); process.exit(0); }
    ws.send("mgo");
  }
});`;
try {
  const out = await new Deno.Command("node", { args: ["-e", nodeClient, url], stderr: "piped" })
    .output();
  const times = JSON.parse(new TextDecoder().decode(out.stdout)) as number[];
  console.log(
    `Node ws (TCP_NODELAY on), alternating: client → hub ${median(times).toFixed(2)} ms`,
  );
} catch (error) {
  console.log(`Node ws: not run (${error instanceof Error ? error.message : error})`);
}
await hub.close();
await server.shutdown();
