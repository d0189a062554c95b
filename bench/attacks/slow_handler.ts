/**
 * Issue #8 item 2: a slow async `onMessage` and clients that send faster than it handles.
 *
 * The target runs `--slow-handler=MS`. `--clients` plain raw peers each send `--messages` text
 * messages of `--size-kib` KiB as fast as TCP takes them, reading meanwhile (to see their close
 * frame). Two framed probes and one plain probe stay connected. After the sends, the attack
 * watches for `--observe` seconds (or until the target dies). The target counts `onMessage` calls
 * made for a client whose `onDisconnect` had already run (`server.onMessageAfterDisconnect`).
 *
 * Flags: `--clients=N` (5), `--messages=M` (1030), `--size-kib=K` (1024), `--handler-ms=MS`
 * (1000), `--observe=S` (20), `--timeout=S` (120), and the common flags of lib.ts (`--rss-cap`
 * defaults to 6144 MiB: the default V8 heap limit here is about 4 GiB, so an unbounded inbox dies
 * of V8's own out-of-memory before the cap).
 *
 * ```sh
 * deno run -A bench/attacks/slow_handler.ts                       # 5 × 1030 × 1 MiB
 * deno run -A bench/attacks/slow_handler.ts --clients=1 --messages=1100 --size-kib=1 --observe=5
 * ```
 *
 * @module
 */

import { histogram, openProbes, Peer, probesSummary, runAttack, textFrame } from "./lib.ts";

await runAttack("slow_handler", 120, async ({ flags, start, finish }) => {
  const clients = flags.num("clients", 5);
  const messages = flags.num("messages", 1030);
  const sizeKiB = flags.num("size-kib", 1024);
  const handlerMs = flags.num("handler-ms", 1000);
  const observe = flags.num("observe", 20);

  const target = await start({ args: [`--slow-handler=${handlerMs}`] });
  const probes = await openProbes(target.port, 2, 1);

  const frame = textFrame("a".repeat(sizeKiB * 1024));
  const attackStart = performance.now();
  const peers = await Promise.all(Array.from({ length: clients }, () => Peer.open(target.port)));
  for (const p of peers) void p.read();
  const sent = await Promise.all(peers.map((p) => p.flood(frame, { max: messages })));
  const sendMs = Math.round(performance.now() - attackStart);
  await target.wait(observe * 1000);
  const diedAfterS = target.exited
    ? Math.round((performance.now() - attackStart) / 100) / 10
    : null;

  const probeSummary = probesSummary(probes);
  const attackers = peers.map((p, i) => ({ sent: sent[i], ...p.outcome() }));
  const server = await finish(target, [...peers, ...probes], 2000);

  const oom = /out of memory/i.test(server.stderrTail);
  const attackerCloseCodes = histogram(attackers.map((a) => a.closeCode ?? `none(${a.end})`));
  return {
    params: { clients, messages, sizeKiB, handlerMs },
    sendMs,
    diedAfterS,
    oom,
    server,
    attackers,
    attackerCloseCodes,
    probes: probeSummary,
    summary: `${clients}×${messages}×${sizeKiB} KiB to a ${handlerMs} ms handler: server ${
      server.survived ? "survived" : `DIED after ${diedAfterS} s${oom ? " (V8 out of memory)" : ""}`
    }, peak RSS ${server.peakRssMiB} MiB, heap ${server.peakHeapUsedMiB} MiB; attackers saw ${
      JSON.stringify(attackerCloseCodes)
    }; onMessage after onDisconnect: ${server.onMessageAfterDisconnect}`,
  };
});
