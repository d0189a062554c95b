/**
 * Issue #8 item 5: the README's chat pattern (`onMessage` → `hub.broadcast`) under one client's
 * message rate.
 *
 * The target runs `--chat`. Two scenarios:
 * - `--scenario=flooder` (default): `--clients` connections in all (24): one plain flooder that
 *   sends `--size`-byte messages at `--rate` per second (17,000) and reads what it is sent, three
 *   framed probes (pinging every 100 ms, and sending a chat message every 200 ms whose broadcast
 *   back to them is timed: `echoP50/P99`), and plain readers for the rest.
 * - `--scenario=fanout`: `--clients` reading clients (500: three framed probes, the rest plain
 *   readers) and one more plain client, the sender, at `--rate` messages per second (2,000).
 *
 * Every client reads as fast as it can. The flood lasts `--duration` seconds; then the attack
 * waits (up to 30 s) until the server has caught up (two calm per-second lines); the result says who
 * was closed, with what code and when (ms after the flood began), how many messages each group
 * received, and what the probes measured. Readers' frames are parsed without copying, and the
 * attacker's own event-loop lag is reported, so a slow attacker would show.
 *
 * Flags: `--scenario=flooder|fanout`, `--rate=N`, `--clients=N`, `--size=B` (16), `--duration=S`
 * (10), `--framed-readers` (readers speak wshub.v1 instead of plain), `--timeout=S` (90), and the
 * common flags of lib.ts.
 *
 * ```sh
 * deno run -A bench/attacks/chat_flood.ts --rate=17000
 * deno run -A bench/attacks/chat_flood.ts --rate=1000
 * deno run -A bench/attacks/chat_flood.ts --scenario=fanout --clients=500 --rate=2000
 * ```
 *
 * @module
 */

import { delay } from "../../testing/async.ts";
import { histogram, Peer, probesSummary, quantile, runAttack, textFrame } from "./lib.ts";
import { selfCpuMs } from "../proc.ts";

await runAttack("chat_flood", 90, async ({ flags, start, finish }) => {
  const scenario = flags.str("scenario", "flooder");
  if (scenario !== "flooder" && scenario !== "fanout") {
    throw new Error("--scenario=flooder|fanout");
  }
  const rate = flags.num("rate", scenario === "flooder" ? 17_000 : 2_000);
  const clients = flags.num("clients", scenario === "flooder" ? 24 : 500);
  const size = flags.num("size", 16);
  const duration = flags.num("duration", 10);
  const framedReaders = flags.bool("framed-readers");

  const target = await start({ args: ["--chat"] });
  const probeCount = 3;
  const readerCount = clients - probeCount - (scenario === "flooder" ? 1 : 0);
  const probes: Peer[] = [];
  for (let i = 0; i < probeCount; i++) {
    const p = await Peer.open(target.port, { protocols: ["wshub.v1"], echoMarker: `PROBE${i}` });
    void p.read();
    probes.push(p);
  }
  const readers: Peer[] = [];
  for (let i = 0; i < readerCount; i++) {
    const p = await Peer.open(target.port, framedReaders ? { protocols: ["wshub.v1"] } : {});
    void p.read();
    readers.push(p);
  }
  const sender = await Peer.open(target.port);
  void sender.read();
  await delay(1000);

  const frame = textFrame("f".repeat(size));
  const cpu0 = selfCpuMs();
  const t0 = performance.now();
  for (const p of probes) p.pingEvery(100);
  const echoTimer = setInterval(() => {
    for (const p of probes) if (p.end === "open" && p.closeCode === null) p.echo();
  }, 200);
  const sent = await sender.flood(frame, { rate, until: t0 + duration * 1000 });
  const floodMs = performance.now() - t0;
  clearInterval(echoTimer);
  // The server may be seconds behind: let it catch up before reading what everyone saw.
  const settleMs = await target.settle(30_000);
  await delay(500);
  const attackerCpuPct = Math.round((selfCpuMs() - cpu0) / (performance.now() - t0) * 100);

  function group(peers: Peer[]) {
    const closed = peers.filter((p) => p.closeCode !== null || p.end !== "open");
    const at = closed.map((p) => (p.closeAt ?? p.endAt ?? t0) - t0);
    const received = peers.map((p) => p.messages);
    return {
      count: peers.length,
      closed: closed.length,
      closeCodes: histogram(closed.map((p) => p.closeCode ?? `none(${p.end})`)),
      firstCloseAfterMs: at.length === 0 ? null : Math.round(Math.min(...at)),
      lastCloseAfterMs: at.length === 0 ? null : Math.round(Math.max(...at)),
      receivedMin: received.length === 0 ? 0 : Math.min(...received),
      receivedMedian: quantile(received, 0.5),
    };
  }

  const result = {
    sender: { sent, ratePerS: Math.round(sent / (floodMs / 1000)), ...sender.outcome() },
    readers: group(readers),
    probes: { ...group(probes), ...probesSummary(probes) },
  };
  const all = group(
    scenario === "flooder" ? [sender, ...readers, ...probes] : [...readers, ...probes],
  );
  const server = await finish(target, [...probes, ...readers, sender], 2000);
  return {
    params: { scenario, rate, clients, size, duration, framedReaders },
    server,
    ...result,
    all,
    settleMs,
    attackerCpuPct,
    summary:
      `${scenario} at ${result.sender.ratePerS}/s (asked ${rate}) to ${clients} clients: ${all.closed}/${all.count} closed ${
        JSON.stringify(all.closeCodes)
      }${
        all.firstCloseAfterMs === null ? "" : ` from ${all.firstCloseAfterMs} ms`
      }; probes ping p99 ${result.probes.rttP99} ms, echo p99 ${
        quantile(probes.flatMap((p) => p.echoRtts), 0.99)
      } ms; server lag max ${server.lagMaxMs} ms, longest silence ${server.lineGapMaxMs} ms, peak RSS ${server.peakRssMiB} MiB`,
  };
});
