/**
 * The reference rooms server: no hub, just a `Map` of rooms to `Set`s of sockets.
 *
 * `deno run -A bench/raw_rooms_server.ts --port=N` serves `ws://127.0.0.1:N/ws` (any path). A
 * client connecting with `?room=R` is in room R; every text message it sends goes, bytes
 * unchanged, to every client of room R, the sender included. Binary messages are relayed the same
 * way. A connection without `?room=` is refused (400). bench/rooms_server.ts is the same contract
 * through the Hub.
 *
 * @module
 */

function flag(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  const arg = Deno.args.find((a) => a.startsWith(prefix));
  return arg === undefined ? fallback : arg.slice(prefix.length);
}

const port = Number(flag("port", "8080"));
const rooms = new Map<string, Set<WebSocket>>();

function leave(room: string, socket: WebSocket): void {
  const members = rooms.get(room);
  if (members?.delete(socket) && members.size === 0) rooms.delete(room);
}

Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, (req) => {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("raw rooms server: connect a WebSocket to /ws?room=R\n");
  }
  const room = new URL(req.url).searchParams.get("room");
  if (room === null) return new Response("missing ?room=\n", { status: 400 });
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onopen = () => {
    let members = rooms.get(room);
    if (!members) rooms.set(room, members = new Set());
    members.add(socket);
  };
  socket.onclose = () => leave(room, socket);
  socket.onerror = () => leave(room, socket);
  socket.onmessage = (e) => {
    const data = e.data;
    const members = rooms.get(room);
    if (members) { for (const s of members) s.send(data); }
  };
  return response;
});
console.log(`listening on ws://127.0.0.1:${port}/ws?room=R`);
