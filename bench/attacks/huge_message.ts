/**
 * Issue #8 item 1: a huge fragmented text message.
 *
 * One (or `--parallel`) plain raw peer(s) send a text message of `--size` MiB in `--fragment` MiB
 * fragments (a text frame without FIN, continuations, a final continuation with FIN); each then
 * reads until the server's close frame or EOF. Two framed probes (pinging every 100 ms) and one
 * plain probe are connected throughout. Memory: the attacker holds three fragments; the target is
 * killed if its RSS passes `--rss-cap` (default 6144 MiB).
 *
 * Flags: `--size=MiB` (600), `--fragment=MiB` (1), `--parallel=N` (1), `--wait=S` seconds to wait
 * for the close after the last fragment (20), `--after=S` seconds before the probes and RSS-after are read (5),
 * `--timeout=S` (120), and the common flags of lib.ts.
 *
 * ```sh
 * deno run -A bench/attacks/huge_message.ts --size=200 --parallel=3
 * ```
 *
 * @module
 */

import { atMost, delay } from "../../testing/async.ts";
import { encodeClientFrame, Opcode } from "../../testing/ws_frames.ts";
import { MiB, openProbes, Peer, probesSummary, runAttack } from "./lib.ts";

await runAttack("huge_message", 120, async ({ flags, start, finish }) => {
  const size = flags.num("size", 600);
  const fragment = flags.num("fragment", 1);
  const parallel = flags.num("parallel", 1);
  const waitS = flags.num("wait", 20);
  const afterS = flags.num("after", 5);

  const target = await start();
  const probes = await openProbes(target.port, 2, 1);

  const payload = new Uint8Array(fragment * MiB).fill(0x61); // "a"
  const count = Math.max(2, Math.ceil(size / fragment));
  const first = encodeClientFrame(Opcode.Text, payload, { fin: false });
  const middle = encodeClientFrame(Opcode.Continuation, payload, { fin: false });
  const lastFrame = encodeClientFrame(Opcode.Continuation, payload, { fin: true });

  async function attack() {
    const peer = await Peer.open(target.port);
    void peer.read();
    const t0 = performance.now();
    let sent = 0;
    for (let i = 0; i < count && peer.end === "open"; i++) {
      await peer.send(i === 0 ? first : i === count - 1 ? lastFrame : middle);
      sent++;
    }
    const sendDone = performance.now();
    await atMost(peer.ended, waitS * 1000, undefined);
    const report = {
      sentMiB: sent * fragment,
      sendMs: Math.round(sendDone - t0),
      closeCode: peer.closeCode,
      closeReason: peer.closeReason,
      closeFrame: peer.closeCode !== null,
      end: peer.end,
      endAfterSendMs: peer.endAt === null ? null : Math.round(peer.endAt - sendDone),
    };
    peer.close();
    return report;
  }

  const attackers = await Promise.all(Array.from({ length: parallel }, attack));
  await target.wait(afterS * 1000);
  await delay(200); // a dead target's connections end within milliseconds
  const probeSummary = probesSummary(probes);
  const server = await finish(target, probes, 1000);

  const a = attackers[0];
  return {
    params: { size, fragment, parallel },
    server,
    attackers,
    probes: probeSummary,
    summary: `${parallel}×${size} MiB: server ${server.survived ? "survived" : "DIED"}` +
      `${server.survived ? "" : ` (exit ${server.exitCode ?? server.signal})`}, peak RSS ` +
      `${server.peakRssMiB} MiB; attacker saw ${
        a.closeCode === null ? `no close frame (${a.end})` : `close ${a.closeCode}`
      }; probes closed ${probeSummary.closed}/${probeSummary.count}`,
  };
});
