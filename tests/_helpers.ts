// Test helpers: a hub served on 127.0.0.1 port 0, real WebSocket clients
// that collect what they receive, and raw TCP peers for misbehaviour.

import {
  Hub,
  type HubOptions,
  type PresenceDiff,
  type PresenceEvent,
  quietLogger,
} from "../mod.ts";
import { splitBatch } from "../src/protocol/mod.ts";
import {
  type ClientEventMap,
  connect,
  type HubClient,
  type MessageMeta,
  type RecoveryEvent,
} from "../src/client/mod.ts";
import { within } from "../testing/async.ts";

export { delay, until, within } from "../testing/async.ts";
export { freePort } from "../testing/net.ts";

/** A presence diff as one event per user: its joins, then its leaves. */
export function eventsOf(diff: PresenceDiff): PresenceEvent[] {
  return [
    ...diff.joins.map((user) => ({ room: diff.room, user, event: "join" as const })),
    ...diff.leaves.map((user) => ({ room: diff.room, user, event: "leave" as const })),
  ];
}

/** A hub served by Deno.serve on a free port. */
export interface Served<T, In> {
  hub: Hub<T, In>;
  server: Deno.HttpServer<Deno.NetAddr>;
  port: number;
  url: string;
  /** Closes the hub, then the server. */
  close(): Promise<void>;
}

/**
 * Serves a new hub on 127.0.0.1 at /ws, on a free port unless `port` is
 * given. It logs nothing unless `options.logger` says otherwise (tests
 * provoke warnings on purpose).
 */
export function serveHub<T = unknown, In = unknown>(
  options: HubOptions<T, In> = {},
  port = 0,
): Served<T, In> {
  const hub = new Hub<T, In>({ logger: quietLogger, ...options });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen() {} },
    (req) => hub.upgrade(req),
  );
  return {
    hub,
    server,
    port: server.addr.port,
    url: `ws://127.0.0.1:${server.addr.port}/ws`,
    async close() {
      await hub.close();
      await server.shutdown();
    },
  };
}

/**
 * Sends a valid upgrade request over plain `fetch`, for a hub expected to
 * refuse it: the status and body of the answer (a 101 would leave the
 * socket to the caller, so do not use it where the upgrade may succeed).
 */
export async function refusedUpgrade(
  url: string,
): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url.replace(/^ws/, "http"), {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    },
  });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/**
 * Promises of a socket's open (rejected if it fails to open; the rejection is
 * handled, so a test that never awaits it does not crash) and of its close event.
 */
export function lifecycle(
  socket: WebSocket,
): { opened: Promise<void>; closed: Promise<CloseEvent> } {
  const opened = new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error("WebSocket failed to open")), {
      once: true,
    });
  });
  opened.catch(() => {});
  const closed = new Promise<CloseEvent>((resolve) => {
    socket.addEventListener("close", (event) => resolve(event), { once: true });
  });
  return { opened, closed };
}

/** A real WebSocket client that records every message and its close event. */
export class TestClient {
  readonly socket: WebSocket;
  readonly messages: (string | Uint8Array)[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseEvent>;
  #waiters: (() => void)[] = [];

  constructor(url: string, protocols?: string | string[]) {
    this.socket = new WebSocket(url, protocols);
    this.socket.binaryType = "arraybuffer";
    ({ opened: this.opened, closed: this.closed } = lifecycle(this.socket));
    this.socket.addEventListener("message", (event) => {
      const data = event.data;
      // A framed hub pings "close" after a close notice and waits for the pong (or a second)
      // before its close frame: answer it, as any client that reads what it is sent does.
      if (data === "pclose") this.socket.send("Pclose");
      this.messages.push(typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer));
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
  }

  /** Opens a client and waits for the handshake. */
  static async open(url: string, protocols?: string | string[]): Promise<TestClient> {
    const client = new TestClient(url, protocols);
    await within(client.opened, 5000, "the WebSocket to open");
    return client;
  }

  /** Waits until at least `count` messages arrived. */
  async received(count: number, ms = 5000): Promise<(string | Uint8Array)[]> {
    const deadline = performance.now() + ms;
    while (this.messages.length < count) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`expected ${count} messages within ${ms} ms, got ${this.messages.length}`);
      }
      await within(new Promise<void>((resolve) => this.#waiters.push(resolve)), left, "messages")
        .catch(() => {});
    }
    return this.messages;
  }

  /**
   * Application messages only: on a wshub.v1 connection, drops hello and
   * ping frames, strips the tag and unpacks batches; on a plain one, all.
   */
  appMessages(): (string | Uint8Array)[] {
    if (this.socket.protocol !== "wshub.v1") return [...this.messages];
    const out: (string | Uint8Array)[] = [];
    for (const message of this.messages) {
      if (typeof message !== "string") {
        out.push(message.subarray(1));
      } else if (message[0] === "m") {
        out.push(message.slice(1));
      } else if (message[0] === "b") {
        out.push(...unbatch(message));
      }
    }
    return out;
  }

  /** Closes the socket and waits for the close event. */
  async close(code?: number, reason?: string): Promise<CloseEvent> {
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close(code, reason);
    return await within(this.closed, 5000, "the WebSocket to close");
  }
}

/**
 * The first payload of `client`'s event `type` that satisfies `predicate`;
 * rejects after `ms`.
 */
export function nextEvent<T, K extends keyof ClientEventMap<T>, S = T>(
  client: HubClient<T, S>,
  type: K,
  predicate: (value: ClientEventMap<T>[K]) => boolean = () => true,
  ms = 3_000,
): Promise<ClientEventMap<T>[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching ${String(type)} event within ${ms} ms`));
    }, ms);
    const off = client.on(type, (value) => {
      if (!predicate(value)) return;
      clearTimeout(timer);
      off();
      resolve(value);
    });
  });
}

/** Splits a `b<len>:<text>…` frame into its messages. */
export function unbatch(frame: string): string[] {
  const texts = splitBatch(frame.slice(1));
  if (typeof texts === "string") throw new Error(`the server sent a bad b frame: ${texts}`);
  return texts;
}

export { RawPeer } from "../testing/raw_peer.ts";
export { encodeClientFrame as maskedFrame } from "../testing/ws_frames.ts";

/** A room publication a {@link follower} got, with its offset (rooms with history). */
export type Seen = { text: string; offset?: number };

/**
 * A client-module client that records the room publications it gets and
 * its recovery events. It reconnects after `initialDelay` ms (and at most
 * `max(initialDelay, 20)` ms later ones).
 */
export function follower(url: string, initialDelay = 0): {
  client: HubClient<string>;
  seen: Seen[];
  recoveries: RecoveryEvent[];
} {
  const client = connect<string>(url, {
    reconnect: { initialDelay, maxDelay: Math.max(initialDelay, 20) },
  });
  const seen: Seen[] = [];
  const recoveries: RecoveryEvent[] = [];
  client.on("message", (text, meta: MessageMeta) => {
    if (meta.room !== undefined) seen.push({ text, offset: meta.offset });
  });
  client.on("recovery", (event) => recoveries.push(event));
  return { client, seen, recoveries };
}
