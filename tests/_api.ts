// What the tests of the HTTP API (tests/api_test.ts, tests/api_batch_test.ts) share: a hub and
// its API served together on 127.0.0.1, a call that checks every answer is JSON without a stack
// trace, and the hub they use (identified by ?u=, history in rooms named h:…).

import assert from "node:assert/strict";
import { type ApiOptions, createApi, Hub, quietLogger } from "../mod.ts";
import { TestClient, until } from "./_helpers.ts";
import { HISTORY, recorder } from "./_publishers.ts";

export const KEY = "test-key-0123456789";

/** A hub and its API served together: /ws upgrades, /api/ is the API. */
export function serveApi(hub: Hub<unknown>, options: Partial<ApiOptions> = {}) {
  const api = createApi(hub, { key: KEY, ...options });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { pathname } = new URL(req.url);
    return pathname === "/ws" ? hub.upgrade(req) : api(req);
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    ws: `ws://127.0.0.1:${server.addr.port}/ws`,
    /** A request to `path`: JSON `body` POSTed (a string as it is), with the key unless `key` says otherwise. */
    async call(
      path: string,
      init: { body?: unknown; method?: string; key?: string | null; headers?: HeadersInit } = {},
    ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
      const headers = new Headers(init.headers);
      const key = init.key === undefined ? KEY : init.key;
      if (key !== null) headers.set("authorization", `Bearer ${key}`);
      let body: BodyInit | undefined;
      if (init.body !== undefined) {
        const raw = typeof init.body === "string" || init.body instanceof ReadableStream ||
          init.body instanceof Uint8Array;
        body = raw ? init.body as BodyInit : JSON.stringify(init.body);
        if (!headers.has("content-type")) headers.set("content-type", "application/json");
      }
      const response = await fetch(`${base}${path}`, {
        method: init.method ?? (init.body === undefined ? "GET" : "POST"),
        headers,
        body,
      });
      const text = await response.text();
      assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
      assert.doesNotMatch(text, /\n\s+at /, "never a stack trace");
      return { status: response.status, body: JSON.parse(text), headers: response.headers };
    },
    async close() {
      await hub.close();
      await server.shutdown();
    },
  };
}

export function newHub(): Hub<unknown> {
  return new Hub({
    logger: quietLogger,
    identify: (req) => new URL(req.url).searchParams.get("u") ?? undefined,
    history: (room) => room.startsWith("h:") ? HISTORY : undefined,
  });
}

/** Status and body of an answer, for deepEqual. */
export const answer = ({ status, body }: { status: number; body: unknown }) => ({ status, body });

/**
 * Three clients of `hub` at `ws`, registered: alice (client module, in lobby and h:news), bob
 * (`plain`, a plain WebSocket, in lobby) and carol (client module, in no room).
 */
export async function audience(hub: Hub<unknown>, ws: string) {
  const alice = recorder(`${ws}?u=alice`);
  const plain = await TestClient.open(`${ws}?u=bob`);
  const carol = recorder(`${ws}?u=carol`);
  await alice.client.join("lobby");
  await alice.client.join("h:news");
  await until(() => hub.size === 3, 2000, "all registered");
  await hub.join(hub.clientsOf("bob")[0], "lobby");
  return { alice, plain, carol };
}
