/**
 * A reference fan-out server on Bun (not Deno): the contract of bench/raw_server.ts — every text
 * message received from any client goes, bytes unchanged, to every connected client, the sender
 * included — with Bun's own WebSocket pub/sub (`server.publish` to one topic every client
 * subscribes to: uWebSockets' fan-out, which corks the writes of one event-loop turn). For a
 * reference figure only: `bun bench/bun/raw_server.ts --port=N`, then the Go load generator in
 * plain mode (docs/benchmarks.md, "Bun").
 *
 * @module
 */

// deno-lint-ignore-file no-explicit-any
declare const Bun: any;
declare const process: { argv: string[] };

const portArg = process.argv.find((a) => a.startsWith("--port="));
const port = portArg === undefined ? 8080 : Number(portArg.slice("--port=".length));

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(req: Request, server: any) {
    if (server.upgrade(req)) return undefined;
    return new Response("Bun raw fan-out server: connect a WebSocket to /ws\n");
  },
  websocket: {
    idleTimeout: 0,
    perMessageDeflate: false,
    open(ws: any) {
      ws.subscribe("all");
    },
    message(_ws: any, message: string | Uint8Array) {
      server.publish("all", message);
    },
  },
});
console.log(`listening on ws://127.0.0.1:${port}/ws`);
