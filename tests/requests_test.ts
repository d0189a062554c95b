// Requests with replies (issue #13) between a real Hub and the real client
// module over 127.0.0.1: replies, errors, timeouts, bounds, connections that
// drop, and order with plain messages, in both directions.

import assert from "node:assert/strict";
import { type Client, type HubOptions, ReplyError } from "../mod.ts";
import {
  connect,
  ConnectionClosedError,
  type ConnectOptions,
  type HubClient,
  ProtocolError,
  RequestError,
  RequestTimeoutError,
} from "../src/client/mod.ts";
import { tickInterval } from "../src/server/heartbeat.ts";
import { delay, type Served, serveHub, TestClient, until, within } from "./_helpers.ts";

const fast = { initialDelay: 10, maxDelay: 50 };

interface Pair<In> {
  served: Served<unknown, In>;
  client: HubClient<unknown, unknown>;
  /** The hub's view of the client's current connection. */
  view: () => Client<unknown>;
  errors: Error[];
  close(): Promise<void>;
}

/** A hub and a connected client module; `view()` is the hub's latest Client. */
async function pair<In = unknown>(
  hubOptions: HubOptions<unknown, In> = {},
  clientOptions: ConnectOptions<unknown> = {},
): Promise<Pair<In>> {
  let latest: Client<unknown> | undefined;
  const served = serveHub<unknown, In>({
    ...hubOptions,
    onConnect(client, hub) {
      latest = client;
      hubOptions.onConnect?.(client, hub);
    },
  });
  const client = connect<unknown, unknown>(served.url, { reconnect: fast, ...clientOptions });
  const errors: Error[] = [];
  client.on("error", (error) => errors.push(error));
  await until(() => client.state === "open" && latest !== undefined, 3000, "the client to open");
  return {
    served,
    client,
    view: () => latest!,
    errors,
    async close() {
      await client.close();
      await served.close();
    },
  };
}

/** Marks a promise as handled (a test that fails early leaves no unhandled rejection). */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** The rejection of `promise` (fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    const value = await promise;
    assert.fail(`expected a rejection, got ${JSON.stringify(value)}`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return error as Error;
  }
}

Deno.test("client to hub: the reply of onRequest, sync or async, string or JSON", async () => {
  const seen: { message: unknown; user: string | undefined }[] = [];
  const p = await pair<unknown>({
    decode: (data) => JSON.parse(data as string),
    async onRequest(message, client) {
      seen.push({ message, user: client.user });
      const { op, n } = message as { op: string; n: number };
      if (op === "later") await delay(20);
      if (op === "text") return `n is ${n}`;
      if (op === "nothing") return undefined;
      return { doubled: n * 2 };
    },
  });
  try {
    assert.deepEqual(await p.client.request({ op: "double", n: 21 }), { doubled: 42 });
    assert.deepEqual(await p.client.request({ op: "later", n: 2 }), { doubled: 4 });
    // wshub.v2: a string reply travels as a JSON string, and comes back the same string.
    assert.equal(await p.client.request({ op: "text", n: 3 }), "n is 3");
    assert.equal(await p.client.request({ op: "nothing", n: 0 }), null, "undefined replies null");
    const many = await Promise.all(
      Array.from({ length: 20 }, (_, n) => p.client.request<{ doubled: number }>({ op: "x", n })),
    );
    assert.deepEqual(
      many.map((reply) => reply.doubled),
      Array.from({ length: 20 }, (_, n) => 2 * n),
    );
    assert.equal(seen.length, 24);
    const stats = p.served.hub.stats();
    assert.equal(stats.requests.received, 24);
    assert.equal(stats.requests.answered, 24);
    assert.equal(stats.requests.inFlight, 0);
    assert.equal(stats.messagesIn, 0, "requests are not counted as messages");
  } finally {
    await p.close();
  }
});

Deno.test("client to hub: a ReplyError's message reaches the client; any other error stays private", async () => {
  const reported: Error[] = [];
  const p = await pair({
    onRequest(message) {
      if (message === "reply-error") throw new ReplyError("no such account", "not_found");
      if (message === "reply-error-async") return Promise.reject(new ReplyError("later, no"));
      if (message === "crash") throw new Error("db password is hunter2");
      if (message === "crash-async") return Promise.reject(new TypeError("secret stack"));
      if (message === "bytes") return new Uint8Array([1, 2]);
      if (message === "cycle") {
        const cycle: Record<string, unknown> = {};
        cycle.self = cycle;
        return cycle;
      }
      return "ok";
    },
    onError: (error) => reported.push(error),
  });
  try {
    const exposed = await rejection(p.client.request("reply-error"));
    assert.ok(exposed instanceof RequestError);
    assert.equal(exposed.code, "not_found");
    assert.equal(exposed.message, "no such account");
    const exposedAsync = await rejection(p.client.request("reply-error-async"));
    assert.equal((exposedAsync as RequestError).code, "handler_error");
    assert.equal(exposedAsync.message, "later, no");
    for (const request of ["crash", "crash-async", "bytes", "cycle"]) {
      const hidden = await rejection(p.client.request(request));
      assert.ok(hidden instanceof RequestError, request);
      assert.equal(hidden.code, "handler_error", request);
      assert.equal(hidden.message, "The request failed", request);
      assert.doesNotMatch(hidden.message, /hunter2|secret|at /);
    }
    assert.equal(reported.length, 4, "each hidden failure reached onError");
    assert.match(reported[0].message, /onRequest callback failed: db password is hunter2/);
    assert.match(reported[2].message, /replies are text only/);
    assert.match(reported[3].message, /JSON\.stringify failed/);
    assert.equal(await p.client.request("fine"), "ok", "the connection is still fine");
    const { requests } = p.served.hub.stats();
    assert.equal(requests.failed, 6);
    assert.equal(requests.answered, 1);
  } finally {
    await p.close();
  }
});

Deno.test("client to hub: no onRequest answers no_handler", async () => {
  const p = await pair({ onMessage() {} });
  try {
    const error = await rejection(p.client.request("anyone?"));
    assert.ok(error instanceof RequestError);
    assert.equal(error.code, "no_handler");
    assert.equal(p.served.hub.stats().requests.failed, 1);
  } finally {
    await p.close();
  }
});

Deno.test("client to hub: a timeout rejects with RequestTimeoutError, the late answer is ignored", async () => {
  const release = Promise.withResolvers<void>();
  const p = await pair({
    async onRequest(message) {
      if (message === "slow") await release.promise;
      return message;
    },
  }, { requestTimeout: 80 });
  try {
    const started = performance.now();
    const error = await rejection(p.client.request("slow"));
    const took = performance.now() - started;
    assert.ok(error instanceof RequestTimeoutError);
    assert.equal(error.timeout, 80);
    assert.ok(took >= 75 && took < 1000, `timed out after ${took.toFixed(0)} ms`);
    const perCall = await rejection(p.client.request("slow", { timeout: 30 }));
    assert.equal((perCall as RequestTimeoutError).timeout, 30);
    release.resolve(); // both answers now arrive late and are ignored
    assert.equal(await p.client.request("fast", { timeout: 2000 }), "fast");
    assert.deepEqual(p.errors, [], "late answers are not errors");
    assert.equal(p.client.state, "open");
  } finally {
    await p.close();
  }
});

Deno.test("client to hub: a request pending when the connection drops is rejected at once, never replayed", async () => {
  let calls = 0;
  const p = await pair({
    onRequest() {
      calls++;
      return new Promise(() => {}); // never answers
    },
  }, { requestTimeout: 30_000 });
  try {
    const pending = p.client.request("hold");
    await until(() => calls === 1, 2000, "the handler");
    const first = p.view();
    const closedAt = performance.now();
    first.close(4100, "kicked"); // the client reconnects after 4100
    const error = await rejection(pending);
    const after = performance.now() - closedAt;
    assert.ok(error instanceof ConnectionClosedError);
    assert.equal(error.code, 4100);
    assert.match(error.message, /4100 kicked/);
    assert.ok(after < 1000, `rejected ${after.toFixed(0)} ms after the close`);
    await until(() => p.client.state === "open" && p.view() !== first, 3000, "the reconnection");
    await delay(100);
    assert.equal(calls, 1, "not sent again on the new connection");
    const { requests } = p.served.hub.stats();
    assert.equal(requests.received, 1);
    assert.equal(requests.dropped, 1, "the hub dropped it: no answer can be sent");
    assert.equal(requests.inFlight, 0);
  } finally {
    await p.close();
  }
});

Deno.test("client: a request while not open fails at once and is not queued", async () => {
  const served = serveHub({ onRequest: () => "hi" });
  const client = connect(served.url, { reconnect: false });
  try {
    assert.equal(client.state, "connecting");
    const early = await rejection(client.request("too early"));
    assert.ok(early instanceof ConnectionClosedError);
    assert.match(early.message, /connecting, not open; requests are not queued/);
    await until(() => client.state === "open", 3000, "open");
    assert.equal(await client.request("now"), "hi");
    await client.close();
    const late = await rejection(client.request("too late"));
    assert.ok(late instanceof ConnectionClosedError);
    assert.match(late.message, /the client is closed/);
    assert.equal(served.hub.stats().requests.received, 1);
  } finally {
    await client.close();
    await served.close();
  }
});

Deno.test("client to hub: past maxRequestsInFlight, each side refuses at once", async () => {
  const holds: (() => void)[] = [];
  const p = await pair({
    maxRequestsInFlight: 3,
    onRequest: (message) => new Promise((resolve) => holds.push(() => resolve(message))),
  }, { maxRequestsInFlight: 2 });
  // A second client allowed more than the hub takes.
  const greedy = connect<string, string>(p.served.url, {
    maxRequestsInFlight: 10,
    reconnect: false,
  });
  try {
    // The client's own bound: two pending, the third fails at once, unsent.
    const mine = [p.client.request("a"), p.client.request("b")].map(handled);
    const local = await rejection(p.client.request("c"));
    assert.ok(local instanceof RequestError);
    assert.equal(local.code, "too_many_requests");
    assert.match(local.message, /2 requests are already waiting/);
    await until(() => p.served.hub.stats().requests.received === 2, 2000, "a and b");
    await delay(20);
    assert.equal(p.served.hub.stats().requests.received, 2, "c was never sent");

    // The hub's bound, per connection: 3 in flight (one running, two in the
    // inbox); the 4th and 5th are answered too_many_requests at once.
    await until(() => greedy.state === "open", 3000, "the second client");
    const theirs = Array.from({ length: 5 }, (_, i) => handled(greedy.request(`g${i}`)));
    for (const refused of await Promise.all([rejection(theirs[3]), rejection(theirs[4])])) {
      assert.ok(refused instanceof RequestError);
      assert.equal(refused.code, "too_many_requests");
      assert.match(refused.message, /3 requests from this connection/);
    }
    // Release every handler as it comes (each connection runs one at a time):
    // nothing accepted was dropped.
    for (let released = 0; released < 5; released++) {
      await until(() => holds.length > released, 2000, "the next handler");
      holds[released]();
    }
    assert.deepEqual(await Promise.all(mine), ["a", "b"]);
    assert.deepEqual(await Promise.all(theirs.slice(0, 3)), ["g0", "g1", "g2"]);
    const { requests } = p.served.hub.stats();
    assert.equal(requests.received, 7);
    assert.equal(requests.refused, 2);
    assert.equal(requests.answered, 5);
    assert.equal(requests.inFlight, 0);
  } finally {
    await greedy.close();
    await p.close();
  }
});

Deno.test("client to hub: requests and messages are handled in the order they were sent", async () => {
  const log: string[] = [];
  const p = await pair({
    async onMessage(message) {
      log.push(`m:${message}`);
      if (message !== "end") await delay(5); // holds back what follows, requests included
    },
    async onRequest(message) {
      log.push(`q:${message}`);
      await delay(3);
      return message;
    },
  });
  try {
    const answers: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) {
      p.client.send(`${i}`);
      answers.push(p.client.request(`${i}`));
    }
    p.client.send("end");
    assert.deepEqual(await Promise.all(answers), Array.from({ length: 10 }, (_, i) => `${i}`));
    await until(() => log.length === 21, 2000, "every message");
    const expected = Array.from({ length: 10 }, (_, i) => [`m:${i}`, `q:${i}`]).flat();
    assert.deepEqual(log, [...expected, "m:end"]);
  } finally {
    await p.close();
  }
});

Deno.test("client to hub: text only; the hub's decode applies to requests (1007 when it throws)", async () => {
  const p = await pair<unknown>({
    decode: (data) => {
      const value = JSON.parse(data as string); // wshub.v2: the JSON of the client's value
      if (value === "refuse me") throw new Error("not a request this hub takes");
      return value;
    },
    onRequest: (message) => message,
  });
  try {
    const binary = await rejection(p.client.request(new Uint8Array([1])));
    assert.ok(binary instanceof TypeError);
    assert.match(binary.message, /text only/);
    const undefinedData = await rejection(p.client.request(undefined));
    assert.ok(undefinedData instanceof TypeError);
    assert.equal(await p.client.request("a string"), "a string", "the same value back");
    const closed = new Promise((resolve) => p.client.on("close", resolve));
    const pending = p.client.request("refuse me"); // the hub's decode throws
    assert.ok((await rejection(pending)) instanceof ConnectionClosedError);
    assert.equal(((await closed) as { code: number }).code, 1007);
  } finally {
    await p.close();
  }
});

Deno.test("hub to client: the client's onRequest answers; ReplyError, hidden errors and no_handler", async () => {
  const p = await pair({}, {
    onRequest(message) {
      if (message === "name") return "alice";
      if (message === "async") return delay(10).then(() => ({ ok: true }));
      if (message === "nope") throw new ReplyError("not today", "busy");
      if (message === "crash") throw new Error("private detail");
      return null;
    },
  });
  try {
    const view = p.view();
    assert.equal(await view.request("name"), "alice");
    assert.deepEqual(
      await view.request("async"),
      { ok: true },
      "no decode on the hub: wshub.v2 gives the value",
    );
    const exposed = await rejection(view.request("nope"));
    assert.ok(exposed instanceof RequestError);
    assert.equal(exposed.code, "busy");
    assert.equal(exposed.message, "not today");
    const hidden = await rejection(view.request("crash"));
    assert.equal((hidden as RequestError).code, "handler_error");
    assert.equal(hidden.message, "The request failed");
    assert.equal(p.errors.length, 1, "the client reported its handler's failure");
    assert.match(p.errors[0].message, /onRequest handler failed: private detail/);
    p.client.onRequest(undefined);
    const none = await rejection(view.request("anyone?"));
    assert.equal((none as RequestError).code, "no_handler");
    p.client.onRequest((message) => `new handler: ${message}`);
    assert.equal(await view.request("x"), "new handler: x");
    const { requests } = p.served.hub.stats();
    assert.equal(requests.sent, 6);
    assert.equal(requests.succeeded, 3);
    assert.equal(requests.rejected, 3);
  } finally {
    await p.close();
  }
});

Deno.test("hub to client: timeouts are checked on the shared tick", async () => {
  const pingInterval = 400, pongTimeout = 400;
  const tick = tickInterval({ pingInterval, pongTimeout, writeTimeout: 10_000 });
  const p = await pair({ pingInterval, pongTimeout, requestTimeout: 150 }, {
    onRequest: () => new Promise(() => {}),
  });
  try {
    const view = p.view();
    for (const timeout of [undefined, 60]) {
      const started = performance.now();
      const error = await rejection(view.request("wait", timeout ? { timeout } : undefined));
      const took = performance.now() - started;
      const expected = timeout ?? 150;
      assert.ok(error instanceof RequestTimeoutError);
      assert.equal(error.timeout, expected);
      assert.ok(
        took >= expected - 1 && took <= expected + 2 * tick + 50,
        `a ${expected} ms timeout fired after ${took.toFixed(0)} ms (tick ${tick} ms)`,
      );
    }
    const { requests } = p.served.hub.stats();
    assert.equal(requests.timedOut, 2);
    assert.equal(requests.pending, 0);
    const invalid = await rejection(view.request("x", { timeout: 0 }));
    assert.ok(invalid instanceof RangeError);
  } finally {
    await p.close();
  }
});

Deno.test("hub to client: pending requests are rejected at once when the client leaves", async () => {
  const p = await pair({}, { onRequest: () => new Promise(() => {}) });
  try {
    const view = p.view();
    const pending = [view.request("a"), view.request("b")].map(handled);
    await delay(50);
    const closedAt = performance.now();
    void p.client.close(4321, "bye");
    const errors = await Promise.all(pending.map(rejection));
    assert.ok(performance.now() - closedAt < 1000);
    for (const error of errors) {
      assert.ok(error instanceof ConnectionClosedError);
      assert.equal(error.code, 4321);
    }
    const after = await rejection(view.request("c"));
    assert.ok(after instanceof ConnectionClosedError);
    assert.match(after.message, /not connected/);
    const { requests } = p.served.hub.stats();
    assert.equal(requests.aborted, 2);
    assert.equal(requests.pending, 0);
  } finally {
    await p.close();
  }
});

Deno.test("hub to client: past maxRequestsInFlight, each side refuses at once", async () => {
  const holds: (() => void)[] = [];
  const p = await pair({ maxRequestsInFlight: 3 }, {
    maxRequestsInFlight: 2,
    onRequest: (message) => new Promise((resolve) => holds.push(() => resolve(message))),
  });
  try {
    const view = p.view();
    const sent = [view.request("a"), view.request("b"), view.request("c")];
    const local = await rejection(view.request("d")); // the hub's own bound: not sent
    assert.ok(local instanceof RequestError);
    assert.equal(local.code, "too_many_requests");
    assert.match(local.message, /3 requests to this client/);
    const refused = await rejection(sent[2]); // the client handles 2 at most
    assert.equal((refused as RequestError).code, "too_many_requests");
    assert.match(refused.message, /2 requests are already being handled by this client/);
    await until(() => holds.length === 2, 2000, "two handlers running");
    for (const hold of holds) hold();
    assert.deepEqual(await Promise.all(sent.slice(0, 2)), ["a", "b"]);
    const { requests } = p.served.hub.stats();
    assert.equal(requests.limited, 1);
    assert.equal(requests.sent, 3);
    assert.equal(requests.rejected, 1);
  } finally {
    await p.close();
  }
});

Deno.test("hub to client: requests and messages reach the client in the order they were queued", async () => {
  const log: string[] = [];
  const p = await pair({}, {
    onRequest(message) {
      log.push(`q:${message}`);
      return message;
    },
  });
  p.client.on("message", (message) => log.push(`m:${message}`));
  try {
    const view = p.view();
    const answers: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) {
      view.send(`${i}`);
      answers.push(view.request(`${i}`));
    }
    void p.served.hub.broadcast("end");
    assert.deepEqual(await Promise.all(answers), Array.from({ length: 10 }, (_, i) => `${i}`));
    await until(() => log.length === 21, 2000, "everything");
    const expected = Array.from({ length: 10 }, (_, i) => [`m:${i}`, `q:${i}`]).flat();
    assert.deepEqual(log, [...expected, "m:end"]);
  } finally {
    await p.close();
  }
});

Deno.test("hub to client: text only, plain clients cannot be asked, the hub's decode reads replies", async () => {
  const reported: Error[] = [];
  const p = await pair<unknown>({
    // The hub's decode reads replies too: this one refuses the reply "refused".
    decode: (data) => {
      const value = JSON.parse(data as string);
      if (value === "refused") throw new Error("not a reply this hub takes");
      return value;
    },
    onError: (error) => reported.push(error),
  }, {
    onRequest: (message) => (message as { raw?: boolean }).raw ? "refused" : { echo: message },
  });
  try {
    const view = p.view();
    assert.deepEqual(await view.request({ a: 1 }), { echo: { a: 1 } });
    const binary = await rejection(view.request(new Uint8Array([1])));
    assert.ok(binary instanceof TypeError);
    // The hub's decode throws on the reply; that request fails, the connection stays.
    const undecodable = await rejection(view.request({ raw: true }));
    assert.ok(undecodable instanceof TypeError);
    assert.match(undecodable.message, /Could not decode the answer/);
    assert.deepEqual(await view.request(2), { echo: 2 });
    assert.equal(view.open, true);
    const plain = await TestClient.open(p.served.url);
    await until(() => p.served.hub.size === 2, 2000, "the plain client");
    const plainView = p.served.hub.clients().find((client) => !client.framed)!;
    const refused = await rejection(plainView.request("hi"));
    assert.ok(refused instanceof TypeError);
    assert.match(refused.message, /plain client/);
    await plain.close();
    assert.deepEqual(reported, []);
  } finally {
    await p.close();
  }
});

Deno.test("hub to client: requests in flight at shutdown are rejected; a request inside onRequest works", async () => {
  const p = await pair({
    async onRequest(message, client) {
      // Asking the same client back while handling its request: answers do
      // not wait in the inbox, so this does not deadlock.
      const confirmed = await client.request(`confirm ${message}?`);
      return { message, confirmed };
    },
  }, {
    onRequest: (question) => question === "hold" ? new Promise(() => {}) : "yes",
  });
  try {
    assert.deepEqual(await p.client.request("pay"), { message: "pay", confirmed: "yes" });
    const pending = p.view().request("hold");
    const closing = p.served.hub.close();
    const error = await rejection(pending);
    assert.ok(error instanceof ConnectionClosedError);
    assert.equal(error.code, 1001);
    await closing;
  } finally {
    await p.close();
  }
});

Deno.test("client: an answer to an id it never sent is a protocol error (1002, not retried)", async () => {
  // A hub that answers an id the client never sent breaks the protocol: the
  // client reports it and closes (4002 on the wire, 1002 locally).
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, signal: ac.signal },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "wshub.v1" });
      socket.onopen = () => {
        socket.send('h{"v":1,"id":"x","user":null,"pingInterval":25000,"pongTimeout":10000}');
        socket.send('a7:"never asked"');
      };
      return response;
    },
  );
  const client = connect(`ws://127.0.0.1:${server.addr.port}/ws`, { reconnect: false });
  const errors: Error[] = [];
  client.on("error", (error) => errors.push(error));
  try {
    const info = await within(
      new Promise<{ code: number }>((resolve) => client.on("close", resolve)),
      3000,
      "the close",
    );
    assert.equal(info.code, 1002);
    assert.ok(errors[0] instanceof ProtocolError);
    assert.match(errors[0].message, /answer to request 7, never sent/);
  } finally {
    await client.close();
    ac.abort();
    await server.finished;
  }
});
