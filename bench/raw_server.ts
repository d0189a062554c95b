/**
 * The reference fan-out server: no hub, just a `Set` of sockets and a loop.
 *
 * `deno run -A bench/raw_server.ts --port=N` serves `ws://127.0.0.1:N/ws`. Every text message
 * received from any client is sent, bytes unchanged, to every connected client, the sender
 * included. Binary messages are relayed the same way.
 *
 * @module
 */

function flag(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  const arg = Deno.args.find((a) => a.startsWith(prefix));
  return arg === undefined ? fallback : arg.slice(prefix.length);
}

const port = Number(flag("port", "8080"));
const sockets = new Set<WebSocket>();

Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, (req) => {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("raw fan-out server: connect a WebSocket to /ws\n");
  }
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onopen = () => sockets.add(socket);
  socket.onclose = () => sockets.delete(socket);
  socket.onerror = () => sockets.delete(socket);
  socket.onmessage = (e) => {
    const data = e.data;
    for (const s of sockets) s.send(data);
  };
  return response;
});
console.log(`listening on ws://127.0.0.1:${port}/ws`);
