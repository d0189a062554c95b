import assert from "node:assert/strict";
import { checkOrigin, checkUpgrade, negotiate } from "../src/admission.ts";

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

Deno.test("negotiate: wshub.v1 when offered, else the first offer, as Deno splits the list", () => {
  assert.deepEqual(negotiate(request({})), { protocol: undefined, framed: false });
  assert.deepEqual(negotiate(request({ "sec-websocket-protocol": "wshub.v1" })), {
    protocol: "wshub.v1",
    framed: true,
  });
  assert.deepEqual(negotiate(request({ "sec-websocket-protocol": "chat, wshub.v1" })), {
    protocol: "wshub.v1",
    framed: true,
  });
  assert.deepEqual(negotiate(request({ "sec-websocket-protocol": "alice" })), {
    protocol: "alice",
    framed: false,
  });
  assert.deepEqual(negotiate(request({ "sec-websocket-protocol": "a, b" }), "b"), {
    protocol: "b",
    framed: false,
  });
  // Deno splits on ", " exactly: "chat,wshub.v1" is one protocol to it, so that is what must be echoed.
  assert.deepEqual(negotiate(request({ "sec-websocket-protocol": "chat,wshub.v1" })), {
    protocol: "chat,wshub.v1",
    framed: false,
  });
});
