/**
 * Issue #8 item 8: connections that never become WebSockets.
 *
 * Against a default target: `--silent` TCP connections that connect and send nothing, and one
 * "slowloris" connection that sends an upgrade request one byte every `--drip-ms` (the request is
 * padded so it cannot complete during the observation). Each has a read pending, so the attack
 * sees when the server closes it. One framed probe stays connected. The attack watches for
 * `--observe` seconds: how many silent connections the server still holds at 10, 30, 60… s, and
 * whether it still holds the slow request; then whether a new client still gets in, and the
 * server's descriptors once everything is closed.
 *
 * Flags: `--silent=N` (1000), `--observe=S` (60; the issue watched 90), `--drip-ms=MS` (1000),
 * `--timeout=S` (observe + 60), and the common flags of lib.ts.
 *
 * ```sh
 * deno run -A bench/attacks/idle_tcp.ts --observe=90
 * ```
 *
 * @module
 */

import { handshakeRequest } from "../../testing/ws_frames.ts";
import { histogram, openProbes, Peer, probesSummary, runAttack } from "./lib.ts";

/** A TCP connection with a read pending: when (and how) did the server end it? */
interface Held {
  conn: Deno.TcpConn;
  endedAt: number | null;
  how: string | null;
}

function watch(conn: Deno.TcpConn): Held {
  const held: Held = { conn, endedAt: null, how: null };
  (async () => {
    const buf = new Uint8Array(4096);
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) {
          held.how = "eof";
          break;
        }
        held.how = `data: ${new TextDecoder().decode(buf.subarray(0, Math.min(n, 40)))}`;
      }
    } catch (error) {
      held.how = error instanceof Deno.errors.ConnectionReset ? "reset" : "closed by us";
    }
    held.endedAt ??= performance.now();
  })();
  return held;
}

await runAttack("idle_tcp", (flags) => flags.num("observe", 60) + 60, async (attack) => {
  const { flags, start, finish } = attack;
  const silent = flags.num("silent", 1000);
  const observe = flags.num("observe", 60);
  const dripMs = flags.num("drip-ms", 1000);

  const target = await start();
  const probes = await openProbes(target.port, 1, 0, 1000);

  const t0 = performance.now();
  const conns: Held[] = [];
  for (let i = 0; i < silent; i++) {
    conns.push(watch(await Deno.connect({ hostname: "127.0.0.1", port: target.port })));
  }

  // The slowloris: a real upgrade request, padded so it cannot complete, one byte at a time.
  const request = handshakeRequest({
    host: `127.0.0.1:${target.port}`,
    headers: { "X-Pad": "p".repeat(4000) },
  });
  const slow = watch(await Deno.connect({ hostname: "127.0.0.1", port: target.port }));
  let dripped = 0;
  let dripError: string | null = null;
  const dripper = setInterval(async () => {
    if (slow.endedAt !== null || dripped >= request.length) return;
    try {
      await slow.conn.write(request.subarray(dripped, dripped + 1));
      dripped++;
    } catch (error) {
      dripError = error instanceof Error ? error.name : String(error);
    }
  }, dripMs);

  const checkpoints: { s: number; silentHeld: number; slowHeld: boolean; fds: number }[] = [];
  for (let s = 1; s <= observe && !target.exited; s++) {
    await target.wait(t0 + s * 1000 - performance.now());
    if ([10, 30, 60, 90, 120, 180].includes(s) || s === observe) {
      checkpoints.push({
        s,
        silentHeld: conns.filter((c) => c.endedAt === null).length,
        slowHeld: slow.endedAt === null,
        fds: target.fds(),
      });
    }
  }
  clearInterval(dripper);

  // Does a new client still get in?
  let newClient = "refused";
  try {
    const p = await Peer.open(target.port, { timeoutMs: 3000 });
    newClient = p.status === 101 ? "accepted" : `status ${p.status}`;
    p.close();
  } catch (error) {
    newClient = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }

  const ended = conns.filter((c) => c.endedAt !== null);
  const silentEndedAfterS = ended.map((c) => Math.round((c.endedAt! - t0) / 1000));
  const slowloris = {
    bytesSent: dripped,
    requestBytes: request.length,
    held: slow.endedAt === null,
    endedAfterS: slow.endedAt === null ? null : Math.round((slow.endedAt - t0) / 1000),
    how: slow.how,
    writeError: dripError,
  };
  const probeSummary = probesSummary(probes);
  const server = await finish(target, [...conns.map((c) => c.conn), slow.conn, ...probes], 2000);

  const last = checkpoints.at(-1);
  return {
    params: { silent, observe, dripMs },
    checkpoints,
    silentEnded: ended.length,
    silentEndedHow: histogram(ended.map((c) => c.how ?? "?")),
    silentEndedAfterS: histogram(silentEndedAfterS),
    slowloris,
    newClient,
    server,
    probes: probeSummary,
    summary:
      `after ${last?.s ?? 0} s: ${last?.silentHeld ?? "?"}/${silent} silent TCP connections ` +
      `still held, slow upgrade request ${
        last?.slowHeld ? `still held (${dripped} bytes sent)` : `ended (${slowloris.how})`
      }; server fds ${target.before?.fds} → ${
        last?.fds ?? "?"
      } (→ ${server.fdsAfter} once closed); ` +
      `new client ${newClient}`,
  };
});
