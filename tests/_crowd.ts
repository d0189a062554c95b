// A crowd of plain WebSocket connections held open by a child process (the test's own process
// holds the hub's ends: one process could not hold both under a 20,000-descriptor limit).
//
//     deno run --allow-net=127.0.0.1 tests/_crowd.ts <port> <count>
//
// Connection i asks for /ws?u=user<i % 1000>; it completes its handshake and then reads nothing.
// Prints "ready <count>" once every handshake is done, and closes them all when stdin closes.

import { handshake } from "../testing/raw_peer.ts";

const port = Number(Deno.args[0]);
const count = Number(Deno.args[1]);
const conns: Deno.TcpConn[] = [];
const BATCH = 200;
for (let i = 0; i < count; i += BATCH) {
  const batch = [];
  for (let j = i; j < Math.min(count, i + BATCH); j++) {
    batch.push(handshake(port, { path: `/ws?u=user${j % 1000}` }));
  }
  for (const done of await Promise.all(batch)) {
    if (!done.head.startsWith("HTTP/1.1 101")) throw new Error(`refused: ${done.head}`);
    conns.push(done.conn);
  }
}
console.log(`ready ${conns.length}`);
for await (const _ of Deno.stdin.readable) { /* until the test is done */ }
for (const conn of conns) {
  try {
    conn.close();
  } catch { /* closed by the server */ }
}
