import assert from "node:assert/strict";
import { checkOrigin, checkUpgrade, negotiate } from "../src/server/handshake.ts";

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
