// Socket.IO peer with the fan-out contract of bench/raw_server.ts, in Socket.IO terms:
// `node bench/node/socketio_server.mjs --port=N` accepts Socket.IO v4 clients at
// ws://127.0.0.1:N/socket.io/?EIO=4&transport=websocket; every "message" event (`socket.send(x)`)
// from any client is emitted to every connected client, the sender included (`io.emit`).
// Default options otherwise (heartbeat 25 s / 20 s, no per-message deflate).
import { createServer } from "node:http";
import { createRequire } from "node:module";

// createRequire keeps `deno check bench/` from resolving npm packages Deno does not manage.
const { Server } = createRequire(import.meta.url)("socket.io");

const arg = process.argv.find((a) => a.startsWith("--port="));
const port = arg ? Number(arg.slice("--port=".length)) : 8080;

const http = createServer();
const io = new Server(http, { transports: ["websocket"], serveClient: false });
io.on("connection", (socket) => {
  socket.on("message", (data) => io.emit("message", data));
});
http.listen(port, "127.0.0.1", () => console.log(`listening on ws://127.0.0.1:${port}/socket.io/`));
