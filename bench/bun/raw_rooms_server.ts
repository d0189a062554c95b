/**
 * A reference rooms server on Bun (not Deno): the contract of bench/raw_rooms_server.ts — a client
 * connecting with `?room=R` is in room R, and every text message it sends goes, bytes unchanged,
 * to every client of R, the sender included — with Bun's own WebSocket pub/sub (one topic per
 * room, `server.publish`). For a reference figure only: `bun bench/bun/raw_rooms_server.ts
 * --port=N`, then the Go load generator in plain mode with `--rooms` (docs/benchmarks.md, "Bun").
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
    const room = new URL(req.url).searchParams.get("room");
    if (room === null) return new Response("missing ?room=\n", { status: 400 });
    if (server.upgrade(req, { data: { room } })) return undefined;
    return new Response("Bun raw rooms server: connect a WebSocket to /ws?room=R\n");
  },
  websocket: {
    idleTimeout: 0,
    perMessageDeflate: false,
    open(ws: any) {
      ws.subscribe(ws.data.room);
    },
    message(ws: any, message: string | Uint8Array) {
      server.publish(ws.data.room, message);
    },
  },
});
console.log(`listening on ws://127.0.0.1:${port}/ws?room=R`);
