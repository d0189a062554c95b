import assert from "node:assert/strict";
import { protocolToken } from "../mod.ts";
import { type CloseInfo, connect } from "../src/client/mod.ts";
import { checkOrigin, checkUpgrade, negotiate } from "../src/server/handshake.ts";
import { refusedUpgrade, serveHub, TestClient, until, within } from "./_helpers.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function request(headers: Record<string, string>, method = "GET"): Request {
  return new Request("http://127.0.0.1:8000/ws", { method, headers });
}

const V13 = { upgrade: "websocket", "sec-websocket-version": "13" };

Deno.test("checkUpgrade: 426 without Upgrade, 405 for other methods, 400 for a bad key", () => {
  assert.equal(checkUpgrade(request({}))?.status, 426);
  assert.equal(checkUpgrade(request({ upgrade: "h2c" }))?.status, 426);
  assert.equal(checkUpgrade(request({ ...V13, "sec-websocket-key": KEY }, "PUT"))?.status, 405);
  assert.equal(checkUpgrade(request(V13))?.status, 400);
  assert.equal(checkUpgrade(request({ ...V13, "sec-websocket-key": "short" }))?.status, 400);
  assert.equal(
    checkUpgrade(request({ ...V13, upgrade: "WebSocket", "sec-websocket-key": KEY })),
    undefined,
  );
  assert.equal(
    checkUpgrade(request({ ...V13, "sec-websocket-version": " 13 ", "sec-websocket-key": KEY })),
    undefined,
    "surrounding whitespace is not part of a header value",
  );
});

Deno.test("checkUpgrade: a version other than 13, or none, gets 426 naming version 13", async () => {
  for (const version of [undefined, "8", "", "12", "13, 8", "14"]) {
    const headers: Record<string, string> = { upgrade: "websocket", "sec-websocket-key": KEY };
    if (version !== undefined) headers["sec-websocket-version"] = version;
    const refusal = checkUpgrade(request(headers));
    assert.equal(refusal?.status, 426, `version ${JSON.stringify(version)}`);
    assert.equal(refusal.headers.get("sec-websocket-version"), "13");
    assert.equal(
      refusal.headers.get("upgrade"),
      "websocket",
      "RFC 7230 §6.7: a 426 names the upgrade",
    );
    assert.match(await refusal.text(), /version 13 only .*send Sec-WebSocket-Version: 13/);
  }
});

Deno.test("checkOrigin: same origin by default, a list, or anything", () => {
  const host = { host: "127.0.0.1:8000" };
  assert.equal(checkOrigin(request(host), undefined), undefined, "no Origin: not a browser");
  assert.equal(
    checkOrigin(request({ ...host, origin: "http://127.0.0.1:8000" }), undefined),
    undefined,
  );
  assert.equal(
    checkOrigin(request({ ...host, origin: "http://127.0.0.1:9000" }), undefined)?.status,
    403,
  );
  assert.equal(checkOrigin(request({ ...host, origin: "null" }), undefined)?.status, 403);
  assert.equal(
    checkOrigin(request({ ...host, origin: "https://a.example" }), ["https://a.example"]),
    undefined,
  );
  assert.equal(
    checkOrigin(request({ ...host, origin: "https://b.example" }), ["https://a.example"])?.status,
    403,
  );
  assert.equal(checkOrigin(request({ ...host, origin: "https://b.example" }), "*"), undefined);
});

function offering(list: string): Request {
  return request({ "sec-websocket-protocol": list });
}

Deno.test("negotiate: wshub.v2, else wshub.v1 when offered, else the preferred or first offer, never a credential", () => {
  assert.deepEqual(negotiate(request({})), {
    protocol: undefined,
    framed: false,
    version: 0,
    offered: [],
  });
  const cases: [string, string | undefined, string, boolean][] = [
    // header, preferred, echoed, framed
    ["wshub.v2, wshub.v1", undefined, "wshub.v2", true],
    ["wshub.v1,wshub.v2", undefined, "wshub.v2", true], // v2 wins wherever it is
    ["wshub.v2, wshub.token.s3cr3t", undefined, "wshub.v2", true],
    ["wshub.v1", undefined, "wshub.v1", true],
    ["chat, wshub.v1", undefined, "wshub.v1", true],
    ["chat,wshub.v1", undefined, "wshub.v1", true], // Node's ws joins without a space
    ["chat ,wshub.v1", undefined, "wshub.v1", true],
    ["chat,  \twshub.v1", undefined, "wshub.v1", true],
    ["wshub.v1,wshub.token.s3cr3t", undefined, "wshub.v1", true],
    ["wshub.token.s3cr3t, wshub.v1", undefined, "wshub.v1", true],
    ["alice", undefined, "alice", false],
    ["a, b", "b", "b", false],
    ["a,b", "b", "b", false],
    ["a,b", "c", "a", false],
    ["wshub.token.x, chat", undefined, "chat", false],
    ["wshub.token.x, chat", "wshub.token.x", "chat", false], // not even when preferred
  ];
  for (const [header, preferred, protocol, framed] of cases) {
    const negotiated = negotiate(offering(header), preferred);
    assert.ok(!(negotiated instanceof Response), header);
    assert.equal(negotiated.protocol, protocol, header);
    assert.equal(negotiated.framed, framed, header);
    assert.equal(negotiated.version, !framed ? 0 : protocol === "wshub.v2" ? 2 : 1, header);
  }
  // Blank lists offer nothing: nothing is echoed.
  for (const header of ["", " ", ",", " , ,\t"]) {
    assert.deepEqual(negotiate(offering(header)), {
      protocol: undefined,
      framed: false,
      version: 0,
      offered: [],
    });
  }
});

Deno.test("negotiate: 400 saying why for malformed lists and lists of credentials only", async () => {
  const cases: [string, RegExp][] = [
    ["wshub.token.s3cr3t", /only a credential .*offer wshub\.v1/],
    ["wshub.token.a, wshub.token.b", /only a credential/],
    ["chat wshub.v1", /"chat wshub\.v1", which is not a subprotocol name/],
    ['wshub.v1, "quoted"', /"\\"quoted\\"", which is not a subprotocol name/],
    ["wshub.v1;q=1", /not a subprotocol name/],
    ["wshub.v1, caf\u00e9", /not a subprotocol name/],
  ];
  for (const [header, reason] of cases) {
    const refusal = negotiate(offering(header));
    assert.ok(refusal instanceof Response, header);
    assert.equal(refusal.status, 400, header);
    assert.match(await refusal.text(), reason, header);
  }
});

Deno.test("admission pace: past admissionRate a framed client is told when to come back, first thing (1013)", async () => {
  const served = serveHub<string>({ admissionRate: 2 });
  const admitted = [await TestClient.open(served.url, "wshub.v1")];
  admitted.push(await TestClient.open(served.url, "wshub.v1"));
  const paced = await TestClient.open(served.url, "wshub.v1");
  const closed = await within(paced.closed, 3000, "the paced close");
  assert.equal(closed.code, 1013);
  const [notice] = paced.messages as string[];
  assert.match(notice, /^c\{"code":1013,"reason":"the server is admitting connections at its pace/);
  const { retryAfter } = JSON.parse(notice.slice(1));
  assert.ok(retryAfter > 0 && retryAfter <= 1000, `retryAfter ${retryAfter} ms: the next slot`);
  assert.equal(paced.messages.filter((m) => m === "pclose" || m[0] === "h").length, 1, "no hello");
  // A plain client can read a status: 503 with Retry-After, in whole seconds.
  const plain = await refusedUpgrade(served.url);
  assert.equal(plain.status, 503);
  assert.match(plain.body, /admitting connections at its pace/);
  assert.ok(["1", "2"].includes(plain.headers.get("retry-after")!), "the next slot, in seconds");
  const stats = served.hub.stats();
  assert.equal(stats.admissionsPaced, 2);
  assert.equal(stats.connections, 2, "the paced ones were never registered");
  assert.match(served.hub.metrics(), /^wshub_admissions_paced_total 2$/m);
  for (const client of admitted) client.socket.close();
  await Promise.all(admitted.map((client) => client.closed));
  await served.close();
});

Deno.test("admission pace: the reference client waits the retryAfter it is given (plus jitter), with a fresh token", async () => {
  const tokens: string[] = [];
  const served = serveHub<string>({
    admissionRate: 4,
    identify: (req) => {
      const token = protocolToken(req)!;
      tokens.push(token);
      return token.split("-")[0];
    },
  });
  const asked = new Map<number, number>();
  const closes: CloseInfo[] = [];
  const clients = Array.from({ length: 10 }, (_, i) => {
    const client = connect(served.url, {
      getToken: () => {
        const n = (asked.get(i) ?? 0) + 1;
        asked.set(i, n);
        return `user${i}-${n}`;
      },
      reconnect: { initialDelay: 60_000, maxDelay: 60_000 }, // a backoff would be far longer
    });
    client.on("close", (info) => closes.push(info));
    return client;
  });
  const started = performance.now();
  await until(() => clients.every((client) => client.state === "open"), 10_000, "all admitted");
  const took = performance.now() - started;
  assert.ok(closes.length >= 6, `${closes.length} paced: 4 admitted at once, then 4 a second`);
  for (const info of closes) {
    assert.equal(info.code, 1013);
    assert.equal(info.reconnecting, true);
    assert.ok(info.retryAfter! > 0, "the hub said when");
    assert.ok(
      info.delay! >= info.retryAfter! && info.delay! <= info.retryAfter! * 1.2,
      `delay ${info.delay} for retryAfter ${info.retryAfter}`,
    );
  }
  assert.ok(took < 5000, `every client in within the pace (${took.toFixed(0)} ms), not a backoff`);
  // getToken was called before every attempt, paced ones included (the pace is decided before
  // identify, which saw only the attempts admitted: each client's last token).
  const calls = [...asked.values()].reduce((sum, n) => sum + n, 0);
  assert.equal(calls, 10 + closes.length);
  assert.deepEqual(tokens.sort(), [...asked].map(([i, n]) => `user${i}-${n}`).sort());
  assert.equal(served.hub.size, 10);
  await Promise.all(clients.map((client) => client.close()));
  await served.close();
});
