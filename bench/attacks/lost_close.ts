/**
 * Issue #8 item 7: close codes lost while frames are still buffered.
 *
 * Part A — a flooding client's close code. The target runs `--slow-handler=1000`. `--flooders`
 * clients (half raw plain peers, half Deno `WebSocket`s) each send `--flood` messages of 100 bytes
 * as fast as they can while reading; the hub closes each with 1008 once its inbox overflows. Did
 * the 1008 close frame reach them?
 *
 * Part B — `hub.close()` with traffic. A fresh `--chat` target; `--clients` clients (a quarter each:
 * raw plain, raw framed, `WebSocket` plain, `WebSocket` framed), all reading, each sending
 * `--rate` chat messages of `--size` bytes per second. After `--traffic` seconds the attack asks the target for
 * `hub.close()` (`GET /__close`) while the traffic goes on, and records the close code each client
 * saw: a raw peer's close frame (or none, and how TCP ended), a `WebSocket`'s close event (Deno's
 * client reports 1006, or 0, when no close frame arrived).
 *
 * Flags: `--flooders=N` (4), `--flood=N` (20000), `--clients=N` (40), `--rate=N` (200: 8,000 broadcasts/s to 40 clients, below the rate where they overflow),
 * `--size=B` (5), `--traffic=S` (3), `--rounds=N` (3, each on a fresh target), `--timeout=S` (90), and the common flags of lib.ts.
 *
 * ```sh
 * deno run -A bench/attacks/lost_close.ts
 * ```
 *
 * @module
 */

import { atMost, delay } from "../../testing/async.ts";
import { histogram, Peer, runAttack, textFrame } from "./lib.ts";

/** What a Deno WebSocket client saw. */
interface WsOutcome {
  code: number | null;
  wasClean: boolean | null;
  reason: string | null;
  /** The code of the hub's close notice (framed clients), if one arrived first. */
  notice?: number;
}

function wsClient(
  port: number,
  framed: boolean,
): { socket: WebSocket; opened: Promise<void>; closed: Promise<WsOutcome> } {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, framed ? ["wshub.v1"] : []);
  const opened = new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error("WebSocket error before open"));
  });
  let notice: number | undefined;
  const closed = new Promise<WsOutcome>((resolve) => {
    socket.addEventListener("close", (e) => {
      resolve({ code: e.code, wasClean: e.wasClean, reason: e.reason, notice });
    });
  });
  socket.onmessage = (e) => {
    // A close notice says the code before the close frame (which may be lost): the reference
    // client acts on it and closes from its side.
    if (framed && typeof e.data === "string" && e.data[0] === "c") {
      notice = JSON.parse(e.data.slice(1)).code;
      socket.close(1000);
      return;
    }
    // Answer the hub's heartbeat pings like the reference client.
    if (framed && typeof e.data === "string" && e.data[0] === "p") {
      try {
        socket.send("P" + e.data.slice(1));
      } catch { /* closing */ }
    }
  };
  return { socket, opened, closed };
}

// The code a client learned: the close notice's (framed) when one came, else the close frame's.
const describeWs = (o: WsOutcome | null) =>
  o === null ? "open" : o.notice !== undefined ? String(o.notice) : String(o.code);
const describePeer = (p: Peer) =>
  p.noticeCode !== null
    ? String(p.noticeCode)
    : p.closeCode !== null
    ? String(p.closeCode)
    : `none(${p.end})`;

await runAttack("lost_close", 90, async ({ flags, start, finish }) => {
  const flooders = flags.num("flooders", 4);
  const flood = flags.num("flood", 20_000);
  const clients = flags.num("clients", 40);
  const rate = flags.num("rate", 200);
  const traffic = flags.num("traffic", 3);
  const size = flags.num("size", 5);
  const roundCount = flags.num("rounds", 3);

  // -------------------------------------------------------------- part A
  const targetA = await start({ args: ["--slow-handler=1000"] });
  const message = textFrame("x".repeat(100));
  const rawCount = Math.ceil(flooders / 2);
  const raw = await Promise.all(Array.from({ length: rawCount }, () => Peer.open(targetA.port)));
  for (const p of raw) void p.read();
  const rawSends = raw.map((p) => p.flood(message, { max: flood }));
  const ws = Array.from({ length: flooders - rawCount }, () => wsClient(targetA.port, false));
  await Promise.all(ws.map((w) => w.opened));
  for (const w of ws) {
    const text = "x".repeat(100);
    for (let i = 0; i < flood && w.socket.readyState === WebSocket.OPEN; i++) w.socket.send(text);
  }
  await Promise.all(rawSends);
  const wsOutcomes = await Promise.all(ws.map((w) => atMost(w.closed, 10_000, null)));
  await Promise.all(raw.map((p) => atMost(p.ended, 5_000, undefined)));
  await targetA.nextSample();
  const partA = {
    raw: raw.map((p) => p.outcome()),
    websocket: wsOutcomes,
    seen: histogram([...raw.map(describePeer), ...wsOutcomes.map(describeWs)]),
    hubSent: targetA.last?.closeCodes ?? {},
    server: await finish(targetA),
  };
  for (const p of raw) p.close();
  for (const w of ws) w.socket.close();

  // -------------------------------------------------------------- part B
  async function partB() {
    const targetB = await start({ args: ["--chat"] });
    const quarter = Math.floor(clients / 4);
    const rawPlain = await Promise.all(
      Array.from({ length: quarter }, () => Peer.open(targetB.port)),
    );
    const rawFramed = await Promise.all(
      Array.from({ length: quarter }, () => Peer.open(targetB.port, { protocols: ["wshub.v1"] })),
    );
    const wsPlain = Array.from({ length: quarter }, () => wsClient(targetB.port, false));
    const wsFramed = Array.from(
      { length: clients - 3 * quarter },
      () => wsClient(targetB.port, true),
    );
    await Promise.all([...wsPlain, ...wsFramed].map((w) => w.opened));
    const rawAll = [...rawPlain, ...rawFramed];
    for (const p of rawAll) void p.read();
    await delay(500);

    const until = performance.now() + 60_000;
    const text = "h".repeat(size);
    const rawTraffic = rawAll.map((p) => p.flood(textFrame(text, p.framed), { rate, until }));
    const wsTimer = setInterval(() => {
      for (const w of wsPlain) if (w.socket.readyState === WebSocket.OPEN) w.socket.send(text);
      for (const w of wsFramed) {
        if (w.socket.readyState === WebSocket.OPEN) w.socket.send("m" + text);
      }
    }, 1000 / rate);
    await delay(traffic * 1000);
    const closeAsked = performance.now();
    await targetB.closeHub();
    const wsAll = [...wsPlain, ...wsFramed];
    const wsClosed = await Promise.all(wsAll.map((w) => atMost(w.closed, 15_000, null)));
    await Promise.all(rawAll.map((p) => atMost(p.ended, 5_000, undefined)));
    clearInterval(wsTimer);
    for (const p of rawAll) p.close();
    await Promise.all(rawTraffic);
    const closeMs = Math.round(performance.now() - closeAsked);
    await targetB.nextSample();
    const closedEvent = targetB.events.find((e) => e.event === "closed") ?? null;
    const group = (seen: string[]) => histogram(seen);
    return {
      rawPlain: group(rawPlain.map(describePeer)),
      rawFramed: group(rawFramed.map(describePeer)),
      websocketPlain: group(wsClosed.slice(0, quarter).map(describeWs)),
      websocketFramed: group(wsClosed.slice(quarter).map(describeWs)),
      websocketUnclean: wsClosed.filter((o) => o !== null && !o.wasClean).length,
      all: group([...rawAll.map(describePeer), ...wsClosed.map(describeWs)]),
      hubSent: targetB.last?.closeCodes ?? {},
      hubCloseResolvedMs: closedEvent === null ? null : (closedEvent as { ms: number }).ms,
      allEndedMs: closeMs,
      server: await finish(targetB),
    };
  }

  const rounds: Awaited<ReturnType<typeof partB>>[] = [];
  for (let i = 0; i < roundCount; i++) rounds.push(await partB());
  const allB = histogram(
    rounds.flatMap((r) => Object.entries(r.all).flatMap(([k, n]) => Array<string>(n).fill(k))),
  );

  const saw1008 = partA.seen["1008"] ?? 0;
  const saw1001 = allB["1001"] ?? 0;
  return {
    params: { flooders, flood, clients, rate, size, traffic, rounds: roundCount },
    partA,
    partB: { all: allB, rounds },
    summary: `flooders: ${saw1008}/${flooders} saw their 1008 (${
      JSON.stringify(partA.seen)
    }); hub.close() with traffic, ${roundCount} rounds: ${saw1001}/${
      clients * roundCount
    } saw 1001 (${JSON.stringify(allB)})`,
  };
});
