/**
 * Issue #8 item 6: peers that never answer the hub's close frame, and hang-ups during an async
 * `identify`.
 *
 * Phase A — the target runs `--chat` with `pingInterval` and `pongTimeout` of 1 s. For each kind
 * of hub-initiated close, `--per-kind` raw peers that read everything but never answer the close
 * frame nor hang up (zombies):
 * - `1002`: a framed peer sends a frame with an unknown tag;
 * - `1009`: a plain peer sends one message of 1 MiB + 1 byte;
 * - `4000`: a framed peer that reads but never sends anything;
 * - `1013`: a plain peer that does not read while another client's `--flood` chat messages of
 *   1 KiB are broadcast; once its close is queued it reads (and so receives the close frame);
 * and, as a control, `1002 answering`: like `1002`, but it answers the close frame as a client
 * must. The attack then watches for `--observe` seconds: which peers had their TCP connection
 * closed by the server, when, and the server's descriptors against its baseline.
 *
 * Phase B — a fresh target runs `--slow-identify=MS`. `--hangups` TCP connections send an upgrade
 * request and hang up 200 ms later, while `identify` is still running; `--hangups` more complete
 * the upgrade and then hang up (control). Descriptors are compared with the baseline 3 s after
 * the last identify settled.
 *
 * Flags: `--per-kind=N` (10), `--flood=N` (30000), `--observe=S` (30), `--hangups=N` (50),
 * `--identify-ms=MS` (2000), `--timeout=S` (150), and the common flags of lib.ts.
 *
 * ```sh
 * deno run -A bench/attacks/zombies.ts --observe=60
 * ```
 *
 * @module
 */

import { delay } from "../../testing/async.ts";
import { handshakeRequest, writeAll } from "../../testing/ws_frames.ts";
import { histogram, Peer, runAttack, textFrame } from "./lib.ts";

await runAttack("zombies", 150, async ({ flags, start, finish }) => {
  const perKind = flags.num("per-kind", 10);
  const flood = flags.num("flood", 30_000);
  const observe = flags.num("observe", 30);
  const hangups = flags.num("hangups", 50);
  const identifyMs = flags.num("identify-ms", 2000);

  // -------------------------------------------------------------- phase A
  const target = await start({
    args: ["--chat"],
    options: { pingInterval: 1000, pongTimeout: 1000 },
  });
  const before = target.before!;

  const framed = { protocols: ["wshub.v1"] };
  const kinds: Record<string, Peer[]> = {
    "1002 answering": [],
    "1002": [],
    "1009": [],
    "4000": [],
    "1013": [],
  };
  for (let i = 0; i < perKind; i++) {
    kinds["1002 answering"].push(await Peer.open(target.port, framed));
    kinds["1002"].push(await Peer.open(target.port, { ...framed, answerClose: false }));
    kinds["1009"].push(await Peer.open(target.port, { answerClose: false }));
    kinds["4000"].push(
      await Peer.open(target.port, { ...framed, answerClose: false, answerPings: false }),
    );
    kinds["1013"].push(await Peer.open(target.port, { answerClose: false }));
  }
  const sender = await Peer.open(target.port);
  void sender.read();
  for (const [kind, peers] of Object.entries(kinds)) {
    if (kind !== "1013") { for (const p of peers) void p.read(); }
  }
  await delay(500);
  const fdsConnected = target.fds();

  const invalid = textFrame("x"); // a wshub.v1 frame with an unknown tag
  const tooBig = textFrame("a".repeat(1024 * 1024 + 1));
  for (const p of kinds["1002 answering"]) await p.send(invalid);
  for (const p of kinds["1002"]) await p.send(invalid);
  for (const p of kinds["1009"]) await p.send(tooBig);
  await delay(3500); // the 4000s: pingInterval + pongTimeout + ticks

  // 1013: flood broadcasts while these peers do not read; read once their close is queued.
  const floodStart = performance.now();
  const floodDone = sender.flood(textFrame("z".repeat(1024)), { max: flood });
  const closed1013 = (async () => {
    while (performance.now() - floodStart < 60_000 && !target.exited) {
      const codes = target.last?.closeCodes ?? {};
      if ((codes["1013"] ?? 0) >= perKind) break;
      await delay(100);
    }
    for (const p of kinds["1013"]) void p.read();
  })();
  await floodDone;
  await closed1013;
  const closesAt = performance.now();

  // Watch.
  const fdsOverTime: [number, number][] = [];
  for (let s = 0; s < observe && !target.exited; s++) {
    await target.wait(1000);
    if ([1, 5, 10, 20, 30, 60, 90, 120].includes(s + 1) || s + 1 === observe) {
      fdsOverTime.push([s + 1, target.fds()]);
    }
  }

  const byKind = Object.fromEntries(
    Object.entries(kinds).map(([kind, peers]) => {
      const tcpClosed = peers.filter((p) => p.end !== "open");
      return [kind, {
        count: peers.length,
        closeFrames: histogram(peers.map((p) => p.closeCode ?? "none")),
        serverClosedTcp: tcpClosed.length,
        tcpEnds: histogram(peers.map((p) => p.end)),
        stillOpenAfterObserve: peers.length - tcpClosed.length,
      }];
    }),
  );
  const serverA = await finish(target);
  const fdsEndA = serverA.fdsAfter;
  for (const peers of Object.values(kinds)) for (const p of peers) p.close();
  sender.close();

  // -------------------------------------------------------------- phase B
  const targetB = await start({ args: [`--slow-identify=${identifyMs}`] });
  const beforeB = targetB.before!;

  async function hangUp(afterMs: number): Promise<void> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: targetB.port });
    await writeAll(conn, handshakeRequest({ host: `127.0.0.1:${targetB.port}` }));
    await delay(afterMs);
    conn.close();
  }
  await Promise.all(Array.from({ length: hangups }, () => hangUp(200)));
  const fdsDuringIdentify = targetB.fds();
  await delay(identifyMs + 3000);
  const fdsAfterHangups = targetB.fds();

  // Control: the upgrade completes (after identify), then the client hangs up.
  const controls = await Promise.all(
    Array.from(
      { length: hangups },
      () => Peer.open(targetB.port, { timeoutMs: identifyMs + 5000 }),
    ),
  );
  const controlUpgraded = controls.filter((p) => p.status === 101).length;
  for (const p of controls) p.close();
  await delay(3000);
  const fdsAfterControl = targetB.fds();
  const serverB = await finish(targetB);

  const zombieKinds = ["1002", "1009", "4000", "1013"];
  const held = zombieKinds.reduce((n, k) => n + byKind[k].stillOpenAfterObserve, 0);
  const leaked = fdsAfterHangups - beforeB.fds;
  return {
    params: { perKind, flood, observe, hangups, identifyMs },
    phaseA: {
      byKind,
      fds: {
        baseline: before.fds,
        connected: fdsConnected,
        overTimeAfterCloses: fdsOverTime,
        end: fdsEndA,
      },
      floodMsUntil1013s: Math.round(closesAt - floodStart),
      server: serverA,
    },
    phaseB: {
      hangups,
      fds: {
        baseline: beforeB.fds,
        duringIdentify: fdsDuringIdentify,
        afterHangups: fdsAfterHangups,
        leakedByHangups: leaked,
        afterControl: fdsAfterControl,
      },
      controlUpgraded,
      identify: targetB.last?.identify ?? null,
      server: serverB,
    },
    summary: `after ${observe} s, ${held}/${
      zombieKinds.length * perKind
    } zombies still held by the server (1002 ${byKind["1002"].stillOpenAfterObserve}, 1009 ${
      byKind["1009"].stillOpenAfterObserve
    }, 4000 ${byKind["4000"].stillOpenAfterObserve}, 1013 ${
      byKind["1013"].stillOpenAfterObserve
    }; answering control ${
      byKind["1002 answering"].stillOpenAfterObserve
    }/${perKind}); fds ${before.fds} → ${fdsEndA}; ${hangups} hang-ups during identify leaked ${leaked} fds`,
  };
});
