/**
 * Issue #8 item 4: running out of file descriptors.
 *
 * The target runs under `prlimit --nofile=N`. One framed probe (pinging) and one plain probe
 * connect first. Then plain raw peers open WebSocket connections, `--concurrency` at a time, each
 * held open and read; a connection counts as opened on a 101. The attack stops opening at
 * `--max` connections, when the target dies, or after `--stop-after` consecutive failures. It holds
 * everything for `--hold` seconds, then closes the attack connections, waits 3 s, and tries
 * `--retry` new connections: are new clients accepted once descriptors are free again?
 *
 * Flags: `--nofile=N` (1024), `--max=N` (3000), `--concurrency=N` (16), `--stop-after=N` (50),
 * `--handshake-timeout=MS` (3000), `--hold=S` (5), `--retry=N` (10), `--timeout=S` (120), and
 * the common flags of lib.ts.
 *
 * ```sh
 * deno run -A bench/attacks/fd_exhaustion.ts --nofile=1024
 * ```
 *
 * @module
 */

import { histogram, openProbes, Peer, probesSummary, runAttack } from "./lib.ts";

await runAttack("fd_exhaustion", 120, async ({ flags, start, finish }) => {
  const nofile = flags.num("nofile", 1024);
  const max = flags.num("max", 3000);
  const concurrency = flags.num("concurrency", 16);
  const stopAfter = flags.num("stop-after", 50);
  const handshakeTimeout = flags.num("handshake-timeout", 3000);
  const hold = flags.num("hold", 5);
  const retry = flags.num("retry", 10);

  const target = await start({ nofile });
  const probes = await openProbes(target.port, 1, 1);

  const peers: Peer[] = [];
  const failures: string[] = [];
  let firstFailure: { at: number; error: string; serverAlive: boolean; serverFds: number } | null =
    null;
  let consecutive = 0;
  let attempts = 0;

  async function one(): Promise<void> {
    attempts++;
    try {
      const peer = await Peer.open(target.port, { timeoutMs: handshakeTimeout });
      if (peer.status !== 101) {
        peer.close();
        throw new Error(`status ${peer.status}`);
      }
      void peer.read();
      peers.push(peer);
      consecutive = 0;
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      const kind = message.replace(/\(os error \d+\)/, "").replace(/\d+/g, "#").slice(0, 80);
      failures.push(kind);
      consecutive++;
      firstFailure ??= {
        at: peers.length,
        error: message,
        serverAlive: !target.exited,
        serverFds: target.fds(),
      };
    }
  }

  const openStart = performance.now();
  while (peers.length < max && consecutive < stopAfter && !target.exited) {
    const wave = Math.min(concurrency, max - peers.length);
    await Promise.all(Array.from({ length: wave }, one));
  }
  const openMs = Math.round(performance.now() - openStart);
  const opened = peers.length;
  const fdsAtPeak = target.fds();
  await target.wait(hold * 1000);
  const stillOpen = peers.filter((p) => p.end === "open").length;
  const aliveAfterHold = !target.exited;
  const probeSummary = probesSummary(probes);
  const stderrDuring = target.report(target.before).stderrTail;

  // Free the descriptors, then see whether new clients get in.
  for (const p of peers) p.close();
  await target.wait(3000);
  const fdsAfterRelease = target.fds();
  let accepted = 0;
  const retryErrors: string[] = [];
  for (let i = 0; i < retry; i++) {
    try {
      const p = await Peer.open(target.port, { timeoutMs: handshakeTimeout });
      if (p.status === 101) accepted++;
      else retryErrors.push(`status ${p.status}`);
      p.close();
    } catch (error) {
      retryErrors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    }
  }
  const server = await finish(target, probes, 1000);

  const emfile = /Too many open files/.test(stderrDuring + server.stderrTail);
  return {
    params: { nofile, max, concurrency },
    opened,
    attempts,
    openMs,
    firstFailure,
    failureKinds: histogram(failures),
    fdsAtPeak,
    serverAliveAfterHold: aliveAfterHold,
    attackConnectionsStillOpenAfterHold: stillOpen,
    fdsAfterRelease,
    newConnectionsAccepted: `${accepted}/${retry}`,
    retryErrors: histogram(retryErrors),
    emfileInStderr: emfile,
    server,
    probes: probeSummary,
    summary: `nofile=${nofile}: ${opened} connections opened, first failure ${
      firstFailure === null ? "none" : `at ${(firstFailure as { at: number }).at}`
    }; server ${server.survived ? "survived" : `DIED (exit ${server.exitCode ?? server.signal})`}${
      emfile ? ", 'Too many open files' in stderr" : ""
    }; afterwards ${accepted}/${retry} new connections accepted; probes closed ${probeSummary.closed}/${probeSummary.count}`,
  };
});
