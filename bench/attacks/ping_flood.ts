/**
 * Issue #8 item 3: application pings (`p<token>` text frames on a `wshub.v1` connection).
 *
 * One framed raw peer sends `p<token>` pings (a token of `--token-length` characters) as fast as TCP takes them (or at `--rate` per second) for
 * `--duration` seconds. Without `--reading` it never reads, so every pong the server answers piles
 * up server-side; with `--reading` it reads (and counts) the pongs. Three framed probes (pinging
 * every 100 ms: their RTT) and two plain probes stay connected. When the flood ends the flooder
 * hangs up, and the attack watches the server's RSS for `--after` more seconds.
 *
 * Flags: `--reading` (off), `--duration=S` (12), `--rate=N` pings per second (0: unpaced),
 * `--token-length=N` (32, the longest a token may be), `--after=S` (10), `--timeout=S` (90), and the common flags of lib.ts (`--rss-cap` 6144 MiB).
 *
 * ```sh
 * deno run -A bench/attacks/ping_flood.ts
 * deno run -A bench/attacks/ping_flood.ts --reading
 * ```
 *
 * @module
 */

import { openProbes, Peer, probesSummary, runAttack } from "./lib.ts";
import { delay } from "../../testing/async.ts";
import { encodeClientText } from "../../testing/ws_frames.ts";

await runAttack("ping_flood", 90, async ({ flags, start, finish }) => {
  const reading = flags.bool("reading");
  const duration = flags.num("duration", 12);
  const rate = flags.num("rate", 0);
  const afterS = flags.num("after", 10);
  const tokenLength = flags.num("token-length", 32);

  const target = await start();
  const probes = await openProbes(target.port, 3, 2);
  await delay(500);

  const flooder = await Peer.open(target.port, { protocols: ["wshub.v1"], answerPings: false });
  if (reading) void flooder.read();
  const ping = encodeClientText("p" + "t".repeat(tokenLength));
  const floodStart = performance.now();
  const sent = await flooder.flood(ping, { rate, until: floodStart + duration * 1000 });
  const floodMs = performance.now() - floodStart;
  const rssAtEnd = target.rssMiB();
  const pongs = flooder.frames;
  const flooderOutcome = flooder.outcome();
  const probeSummary = probesSummary(probes);
  flooder.close();

  // RSS after the flooder left, sampled each second.
  const rssAfter: number[] = [];
  for (let i = 0; i < afterS && !target.exited; i++) {
    await target.wait(1000);
    rssAfter.push(target.rssMiB());
  }
  const server = await finish(target, probes, 1000);

  const pingsPerS = Math.round(sent / (floodMs / 1000));
  return {
    params: { reading, duration, rate, tokenLength },
    server: { ...server, rssAtFloodEndMiB: rssAtEnd, rssAfterFlooderLeftMiB: rssAfter },
    flooder: { pingsSent: sent, pingsPerS, pongsRead: reading ? pongs : null, ...flooderOutcome },
    probes: probeSummary,
    summary: `${reading ? "reading" : "non-reading"} flooder, ${pingsPerS} pings/s for ${
      Math.round(floodMs / 1000)
    } s: server ${server.survived ? "survived" : "DIED"}${
      server.killedByHarness ? " (killed at RSS cap)" : ""
    }, RSS ${server.rssBeforeMiB} → peak ${server.peakRssMiB} MiB, ${
      rssAfter.at(-1) ?? "n/a"
    } MiB ${afterS} s after it left; probes RTT p50 ${probeSummary.rttP50} / p99 ${probeSummary.rttP99} ms, closed ${probeSummary.closed}/${probeSummary.count}`,
  };
});
