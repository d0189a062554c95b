// What the inspector's tests share: a hub and its inspector served together on 127.0.0.1 (the hub
// on /ws with the peer's address, the inspector under /inspector), authenticated requests, the
// live stream read event by event, and a peer that never reads (a stalled client).

import { Hub, type HubOptions, quietLogger } from "../mod.ts";
import { createInspector, type InspectorOptions } from "../src/inspector/mod.ts";
import type { Hello, Tick } from "../src/inspector/api.ts";
import { RawPeer } from "../testing/raw_peer.ts";
import { within } from "../testing/async.ts";

export const USER = "admin";
export const PASSWORD = "s3cret pässword";
export const AUTH = { authorization: `Basic ${basic(USER, PASSWORD)}` };

/** `user:password` in base64, UTF-8 first (as browsers send it with `charset="UTF-8"`). */
export function basic(user: string, password: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)));
}

/** A hub and its inspector on one server. */
export interface Inspected {
  hub: Hub<unknown, unknown>;
  port: number;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** `ws://127.0.0.1:<port>/ws` */
  ws: string;
  /** GET (or another method) under the inspector, with the credentials unless `headers` says otherwise. */
  get(path: string, init?: RequestInit): Promise<Response>;
  /** POSTs an action's JSON body, with the credentials and the page's own headers. */
  act(name: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

/** Serves a hub (users from `?u=`) and its inspector (`inspector` options over the defaults). */
export function serveInspected(
  options: HubOptions<unknown, unknown> = {},
  inspector: Partial<InspectorOptions> = {},
): Inspected {
  const hub = new Hub<unknown, unknown>({
    logger: quietLogger,
    identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
    ...options,
  });
  const handler = createInspector(hub, {
    auth: { user: USER, password: PASSWORD },
    interval: 100,
    ...inspector,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req, info) => {
    const { pathname } = new URL(req.url);
    if (pathname === "/ws") return hub.upgrade(req, { address: info.remoteAddr.hostname });
    return handler(req);
  });
  const port = server.addr.port;
  const base = `http://127.0.0.1:${port}`;
  return {
    hub,
    port,
    base,
    ws: `ws://127.0.0.1:${port}/ws`,
    get: (path, init = {}) =>
      fetch(`${base}${path}`, { redirect: "manual", ...init, headers: init.headers ?? AUTH }),
    act: (name, body, headers = {}) =>
      fetch(`${base}/inspector/api/${name}`, {
        method: "POST",
        headers: { ...AUTH, "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      }),
    async close() {
      await hub.close();
      await server.shutdown();
    },
  };
}

/** A live stream's events, read one at a time. */
export class Stream {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(response: Response) {
    this.#reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next event: its name and its data, parsed. */
  async next(ms = 5000): Promise<{ event: string; data: unknown } | undefined> {
    const deadline = performance.now() + ms;
    while (true) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        let event = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data === "") continue; // retry: lines alone
        return { event, data: JSON.parse(data) };
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no event within ${ms} ms`);
      const { value, done } = await within(this.#reader.read(), left, "the stream's next event");
      if (done) return undefined;
      this.#buffer += value;
    }
  }

  /** The `hello` event (the first one). */
  async hello(): Promise<Hello> {
    const first = await this.next();
    if (first?.event !== "hello") throw new Error(`expected hello, got ${first?.event}`);
    return first.data as Hello;
  }

  /** Ticks until one satisfies `predicate` (each tick's events are handed to `seen`). */
  async until(predicate: (tick: Tick) => boolean, ms = 5000): Promise<Tick> {
    const deadline = performance.now() + ms;
    while (true) {
      const got = await this.next(Math.max(1, deadline - performance.now()));
      if (got === undefined) throw new Error("the stream ended");
      if (got.event === "tick" && predicate(got.data as Tick)) return got.data as Tick;
    }
  }

  /** Whether the stream has ended (read to its end, within `ms`). */
  async ended(ms = 5000): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (true) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const { done } = await within(this.#reader.read(), left, "the stream's end");
      if (done) return true;
    }
  }

  /** Stops reading (the server sees the stream cancelled). */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/**
 * A plain client that never reads: what the hub sends it piles up in the kernel's buffers, then
 * Deno's, then its send queue.
 */
export async function stalledPeer(port: number, user: string): Promise<RawPeer> {
  return await RawPeer.connect(port, { path: `/ws?u=${user}`, expectUpgrade: true });
}
