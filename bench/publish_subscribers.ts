/**
 * The subscribers of the publish scenario (bench/publish_scenario.ts): `--subs` `wshub.v1`
 * connections to one room of bench/publish_server.ts, each counting the room's messages (`r`
 * frames, alone or in `B` batches) and checking their order.
 *
 * `deno run -A bench/publish_subscribers.ts --url=ws://127.0.0.1:N/ws?room=R --subs=1000`
 *
 * Prints `{"ready":true,"subs":N}` once every connection is open. Then, for each line
 * `{"expect":C,"ordered":B}` on stdin (`ordered` false: the publisher promises no order, so it
 * is not checked), it starts counting afresh, prints `{"armed":true}`, and once every
 * connection has received C messages (or on a line `{"report":true}`, for what came so far)
 * prints `{"done", "received", "lastAt", "p50", "p99", "outOfOrder", "closed", "closeCodes"}`: `lastAt` the time
 * the last message of the run arrived (ms since the epoch), the latencies (ms, from the payload's
 * send time, over every tenth connection) and anything wrong. Ends when stdin closes.
 *
 * @module
 */

import { SUBPROTOCOL } from "../mod.ts";
import { parsePayload } from "./publish_payload.ts";

const flag = (name: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const url = flag("url")!;
const subs = Number(flag("subs") ?? 1000);

interface Sub {
  received: number;
  next: number;
  sampled: boolean;
  /** Answers a ping (the hub's heartbeat: a framed client answers every one, or is cut). */
  pong: (token: string) => void;
}
const state = {
  expect: 0,
  ordered: true,
  lastAt: 0,
  outOfOrder: 0,
  closed: 0,
  complete: 0,
  total: 0,
};
let latencies: number[] = [];
/** How the connections that closed were closed: code → count. */
const closeCodes: Record<number, number> = {};

/**
 * `count` room frames arrived on `sub`, the last of them `last` (`r<len>:<room><offset>:<text>`):
 * counted, the order checked by the last one's sequence number (a run's messages are numbered
 * from 0, and a connection gets them in order), its latency kept on a sampled connection. Only
 * the last frame of a batch is read: the subscribers are the load generator, and reading every
 * one would make them the bottleneck sooner.
 */
function arrived(sub: Sub, count: number, last: string): void {
  const now = performance.timeOrigin + performance.now();
  sub.received += count;
  state.total += count;
  state.lastAt = now;
  const colon = last.indexOf(":");
  const length = Number(last.slice(1, colon));
  const message = parsePayload(last.slice(last.indexOf(":", colon + 1 + length) + 1));
  if (message !== undefined) {
    if (state.ordered && message.seq !== sub.next + count - 1) state.outOfOrder++;
    sub.next = message.seq + 1;
    if (sub.sampled) latencies.push(now - message.sentAt);
  }
  if (sub.received >= state.expect && sub.received - count < state.expect) state.complete++;
}

/** The frames of a `B` batch body, counted without copying but the last. */
function batch(sub: Sub, body: string): void {
  let at = 0;
  let count = 0;
  let last = "";
  while (at < body.length) {
    const colon = body.indexOf(":", at);
    if (colon < 0) return;
    const end = colon + 1 + Number(body.slice(at, colon));
    if (body[colon + 1] === "r") {
      count++;
      if (end >= body.length) last = body.slice(colon + 1, end);
    } else if (body[colon + 1] === "p") sub.pong(body.slice(colon + 2, end));
    at = end;
  }
  if (count > 0) arrived(sub, count, last === "" ? "r0::" : last);
}

function open(index: number): Promise<Sub> {
  const socket = new WebSocket(url, SUBPROTOCOL);
  const sub: Sub = {
    received: 0,
    next: 0,
    sampled: index % 10 === 0,
    pong: (token) => socket.send(`P${token}`),
  };
  socket.onmessage = (event) => {
    const data = event.data;
    if (typeof data !== "string") return;
    if (data[0] === "r") arrived(sub, 1, data);
    else if (data[0] === "B") batch(sub, data.slice(1));
    else if (data[0] === "p") sub.pong(data.slice(1));
  };
  socket.onclose = (event) => {
    state.closed++;
    closeCodes[event.code] = (closeCodes[event.code] ?? 0) + 1;
  };
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(sub);
    socket.onerror = () => reject(new Error(`connection ${index} failed`));
  });
}

const all: Sub[] = [];
for (let i = 0; i < subs; i += 100) {
  const batch = [];
  for (let j = i; j < Math.min(subs, i + 100); j++) batch.push(open(j));
  all.push(...await Promise.all(batch));
}
console.log(JSON.stringify({ ready: true, subs: all.length }));

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

let watcher: ReturnType<typeof setInterval> | undefined;
function report(done: boolean): void {
  clearInterval(watcher);
  watcher = undefined;
  const sorted = latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({
    done,
    received: state.total,
    lastAt: state.lastAt,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    outOfOrder: state.outOfOrder,
    closed: state.closed,
    closeCodes,
  }));
  latencies = [];
}

let rest = "";
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  rest += chunk;
  let newline: number;
  while ((newline = rest.indexOf("\n")) >= 0) {
    const command = JSON.parse(rest.slice(0, newline));
    rest = rest.slice(newline + 1);
    if (command.expect !== undefined) {
      Object.assign(state, {
        expect: command.expect,
        ordered: command.ordered !== false,
        lastAt: 0,
        outOfOrder: 0,
        complete: 0,
        total: 0,
      });
      for (const sub of all) Object.assign(sub, { received: 0, next: 0 });
      latencies = [];
      watcher = setInterval(() => {
        if (state.complete === all.length) report(true);
      }, 5);
      console.log(JSON.stringify({ armed: true }));
    } else if (command.report) {
      report(false);
    }
  }
}
clearInterval(watcher);
Deno.exit(0);
