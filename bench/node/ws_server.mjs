// Node `ws` peer with the fan-out contract of bench/raw_server.ts:
// `node bench/node/ws_server.mjs --port=N` serves ws://127.0.0.1:N/ws; every message received
// from any client goes to every connected client, the sender included, bytes unchanged.
import { createRequire } from "node:module";

// createRequire keeps `deno check bench/` from resolving npm packages Deno does not manage.
const { WebSocketServer } = createRequire(import.meta.url)("ws");

const arg = process.argv.find((a) => a.startsWith("--port="));
const port = arg ? Number(arg.slice("--port=".length)) : 8080;

const wss = new WebSocketServer({ host: "127.0.0.1", port, path: "/ws" });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => {
    for (const client of wss.clients) client.send(data, { binary: isBinary });
  });
  ws.on("error", () => {});
});
wss.on("listening", () => console.log(`listening on ws://127.0.0.1:${port}/ws`));
