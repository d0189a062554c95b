// Pure unit tests of the client's side of the codec (what it sends, how it
// reads server frames) and of the backoff arithmetic (no sockets).
import assert from "node:assert/strict";
import { decodeServerFrame, encodePayload, splitBatch } from "../src/protocol/mod.ts";
import { backoffCap, backoffDelay, pacedDelay, resolveBackoff } from "../src/client/reconnect.ts";
import { diffOf } from "../src/client/presence.ts";

/** What the client puts on the wire for `client.send(data)`. */
const encodeMessage = (data: unknown) => encodePayload(data).framed;

const text = (frame: string | Uint8Array) => frame as string;

Deno.test("encodeMessage: strings raw, bytes binary, the rest JSON", () => {
  assert.equal(encodeMessage("hi"), "mhi");
  assert.equal(encodeMessage(""), "m");
  assert.equal(encodeMessage({ a: 1 }), 'm{"a":1}');
  assert.equal(encodeMessage(42), "m42");
  assert.equal(encodeMessage(null), "mnull");
  const bytes = new Uint8Array([1, 2, 3]);
  assert.deepEqual(encodeMessage(bytes), new Uint8Array([0x6d, 1, 2, 3]));
  assert.deepEqual(encodeMessage(bytes.buffer), new Uint8Array([0x6d, 1, 2, 3]));
  assert.deepEqual(encodeMessage(bytes.subarray(1)), new Uint8Array([0x6d, 2, 3]));
  assert.equal(encodeMessage(new Uint16Array([1])), 'm{"0":1}'); // as the hub does: JSON
  const encoded = encodeMessage(bytes) as Uint8Array;
  bytes[0] = 9; // the frame is a copy
  assert.equal(encoded[1], 1);
  assert.throws(() => encodeMessage(undefined), /has no JSON form/);
});

Deno.test("decodeServerFrame: every tag of wshub.v1", () => {
  assert.deepEqual(decodeServerFrame("m{}"), { kind: "text", texts: ["{}"] });
  assert.deepEqual(decodeServerFrame("m"), { kind: "text", texts: [""] });
  assert.deepEqual(decodeServerFrame("b5:hello2:hi"), { kind: "text", texts: ["hello", "hi"] });
  assert.deepEqual(decodeServerFrame("p7"), { kind: "ping", token: "7" });
  assert.deepEqual(decodeServerFrame("P7"), { kind: "pong", token: "7" });
  const hello = decodeServerFrame(
    'h{"v":1,"id":"c1","user":null,"pingInterval":25000,"pongTimeout":10000,"extra":true}',
  );
  assert.deepEqual(hello, {
    kind: "hello",
    hello: { v: 1, id: "c1", user: null, pingInterval: 25000, pongTimeout: 10000 },
  });
  const binary = decodeServerFrame(new Uint8Array([0x6d, 7, 8]).buffer);
  assert.deepEqual(binary, { kind: "binary", bytes: new Uint8Array([7, 8]) });
});

Deno.test("decodeServerFrame: anything else is a protocol error", () => {
  for (
    const bad of [
      "",
      "x",
      "M",
      "p",
      "p" + "1".repeat(33),
      "h[]",
      "hnot json",
      'h{"v":3,"id":"c","user":null,"pingInterval":1,"pongTimeout":1}',
      'h{"v":1,"id":"c","user":null,"pingInterval":0,"pongTimeout":1}',
      "b",
      "b3:ab",
      "bx:a",
      "b1:a2",
    ]
  ) {
    assert.equal(decodeServerFrame(bad).kind, "invalid", `should reject ${JSON.stringify(bad)}`);
  }
  assert.equal(decodeServerFrame(new ArrayBuffer(0)).kind, "invalid");
  const badTag = decodeServerFrame(new Uint8Array([0x62, 1]).buffer);
  assert.match(badTag.kind === "invalid" ? badTag.reason : "", /0x62/);
});

Deno.test("splitBatch counts UTF-16 code units, and texts may contain digits and colons", () => {
  const parts = ["😀", "é", "12:34", "", "a:b:c", '{"n":1}'];
  const body = parts.map((part) => `${part.length}:${part}`).join("");
  assert.deepEqual(splitBatch(body), parts);
  assert.equal(text(encodeMessage("😀")).length, 3); // 1 tag + 2 code units
});

Deno.test("backoff: full jitter within [0, min(cap, base * factor^n)]", () => {
  const backoff = resolveBackoff({ initialDelay: 100, maxDelay: 1_000, factor: 3 });
  const caps = [0, 1, 2, 3, 4, 10].map((n) => backoffCap(n, backoff));
  assert.deepEqual(caps, [100, 300, 900, 1_000, 1_000, 1_000]);
  for (let attempt = 0; attempt < 8; attempt++) {
    const cap = backoffCap(attempt, backoff);
    assert.equal(backoffDelay(attempt, backoff, () => 0), 0);
    assert.equal(backoffDelay(attempt, backoff, () => 0.999999), Math.floor(cap * 0.999999));
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(attempt, backoff);
      assert.ok(delay >= 0 && delay <= cap, `attempt ${attempt}: ${delay} outside [0, ${cap}]`);
    }
  }
  assert.deepEqual(resolveBackoff(), { initialDelay: 500, maxDelay: 10_000, factor: 2 });
  assert.throws(() => resolveBackoff({ factor: 0.5 }), /factor must be/);
  assert.throws(() => resolveBackoff({ initialDelay: 10, maxDelay: 5 }), /maxDelay must be/);
  assert.throws(() => resolveBackoff({ initialDelay: -1 }), /initialDelay must be/);
});

Deno.test("pacedDelay: the hub's retryAfter plus up to a fifth more; diffOf: a run of u events as one diff", () => {
  assert.equal(pacedDelay(1000, () => 0), 1000);
  assert.equal(pacedDelay(1000, () => 0.5), 1100);
  assert.equal(pacedDelay(1000, () => 0.999999), 1199);
  for (let i = 0; i < 100; i++) {
    const delay = pacedDelay(2500);
    assert.ok(delay >= 2500 && delay < 3000, `${delay}`);
  }
  assert.deepEqual(
    diffOf("doc", [
      { user: "a", event: "join" },
      { user: "b", event: "leave" },
      { user: "a", event: "leave" }, // a's last event counts, in the order of last events
      { user: "c", event: "join" },
    ]),
    { room: "doc", joins: ["c"], leaves: ["b", "a"] },
  );
  assert.deepEqual(diffOf("doc", []), { room: "doc", joins: [], leaves: [] });
});

Deno.test("decodeServerFrame reads a presence diff (U), and a close notice's retryAfter", () => {
  assert.deepEqual(decodeServerFrame('U{"room":"doc","joins":["a"],"leaves":[]}'), {
    kind: "presenceDiff",
    diff: { room: "doc", joins: ["a"], leaves: [] },
  });
  assert.equal(decodeServerFrame('U{"room":"doc","joins":[1],"leaves":[]}').kind, "invalid");
  assert.equal(decodeServerFrame('U{"room":"doc","joins":[]}').kind, "invalid");
  assert.deepEqual(decodeServerFrame('c{"code":1013,"reason":"later","retryAfter":250}'), {
    kind: "close",
    notice: { code: 1013, reason: "later", retryAfter: 250 },
  });
  assert.deepEqual(decodeServerFrame('c{"code":1013,"reason":"later","retryAfter":-1}'), {
    kind: "close",
    notice: { code: 1013, reason: "later" },
  });
});
