/**
 * Microbenchmarks behind the hub's design: encode a broadcast once or once per client, and what
 * one `WebSocket.send` costs. Run with `deno bench -A bench/` (part of `deno task bench`).
 *
 * @module
 */

const CLIENTS = 1000;
const message = {
  type: "price",
  symbol: "ACME",
  price: 123.45,
  at: 1_700_000_000_000,
  note: "x".repeat(60),
};
const sink: unknown[] = new Array(CLIENTS);

Deno.bench({
  name: "JSON.stringify once, shared by 1,000 clients",
  group: "encode a broadcast",
  baseline: true,
  fn() {
    const text = JSON.stringify(message);
    for (let i = 0; i < CLIENTS; i++) sink[i] = text;
  },
});

Deno.bench({
  name: "JSON.stringify per client, 1,000 clients",
  group: "encode a broadcast",
  fn() {
    for (let i = 0; i < CLIENTS; i++) sink[i] = JSON.stringify(message);
  },
});

Deno.bench({
  name: 'frame once ("m" + text), shared by 1,000 clients',
  group: "frame a broadcast",
  baseline: true,
  fn() {
    const framed = "m" + JSON.stringify(message);
    for (let i = 0; i < CLIENTS; i++) sink[i] = framed;
  },
});

Deno.bench({
  name: "TextEncoder.encode once, shared by 1,000 clients",
  group: "frame a broadcast",
  fn() {
    const bytes = new TextEncoder().encode("m" + JSON.stringify(message));
    for (let i = 0; i < CLIENTS; i++) sink[i] = bytes;
  },
});

// One real WebSocket pair on 127.0.0.1: the server sends, a client in this process reads.
const BATCH = 100;
let got = 0;
let wake: (() => void) | undefined;
const serverSide = Promise.withResolvers<WebSocket>();
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onopen = () => serverSide.resolve(socket);
  return response;
});
const peer = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
peer.binaryType = "arraybuffer";
peer.onmessage = () => {
  if (++got === BATCH) wake?.();
};
const ws = await serverSide.promise;
const text128 = "x".repeat(128);
const bytes128 = new Uint8Array(128).fill(0x78);
const text16k = "x".repeat(16 * 1024);

function sendBatch(data: string | Uint8Array): Promise<void> {
  got = 0;
  const { promise, resolve } = Promise.withResolvers<void>();
  wake = resolve;
  for (let i = 0; i < BATCH; i++) ws.send(data);
  return promise;
}

Deno.bench({
  name: "send 100 × 128 B string, until the peer has them",
  group: "WebSocket.send",
  baseline: true,
  fn: () => sendBatch(text128),
});

Deno.bench({
  name: "send 100 × 128 B Uint8Array, until the peer has them",
  group: "WebSocket.send",
  fn: () => sendBatch(bytes128),
});

Deno.bench({
  name: "send 100 × 16 KiB string, until the peer has them",
  group: "WebSocket.send",
  fn: () => sendBatch(text16k),
});

Deno.bench({
  name: "send 100 × 128 B string, queue only (no wait)",
  group: "WebSocket.send",
  n: 2000,
  fn() {
    for (let i = 0; i < BATCH; i++) ws.send(text128);
  },
});

globalThis.addEventListener("unload", () => {
  peer.close();
  ws.close();
  server.shutdown();
});
