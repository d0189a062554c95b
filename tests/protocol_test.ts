// The wshub.v1 codec (src/protocol.ts): decoding what framed clients send,
// encoding payloads and coalesced `b` frames, UTF-8 sizes, and a fuzz of the
// decoder with random strings and bytes (it must never throw).

import assert from "node:assert/strict";
import { parseJsonObject } from "../src/protocol/json_object.ts";
import {
  BINARY_TAG,
  type ClientFrame,
  decodeClientFrame,
  encodeBatch,
  encodeHello,
  encodePayload,
  framedOnly,
  joinFrames,
  parseHello,
  Payload,
  roomPayload,
  splitBatch,
  utf8Length,
} from "../src/protocol/mod.ts";
import { unbatch } from "./_helpers.ts";
import { random, randomBytes, randomString } from "./_wire.ts";

const encoder = new TextEncoder();

Deno.test("decodeClientFrame: text tags m, p and P; everything else is a protocol error", () => {
  assert.deepEqual(decodeClientFrame("mhello"), { kind: "message", data: "hello" });
  assert.deepEqual(decodeClientFrame("m"), { kind: "message", data: "" });
  assert.deepEqual(decodeClientFrame("mp1"), { kind: "message", data: "p1" });
  assert.deepEqual(decodeClientFrame("mP1"), { kind: "message", data: "P1" });
  assert.deepEqual(decodeClientFrame("p1"), { kind: "ping", token: "1" });
  assert.deepEqual(decodeClientFrame("Pabc"), { kind: "pong", token: "abc" });
  assert.deepEqual(decodeClientFrame("p" + "x".repeat(32)), {
    kind: "ping",
    token: "x".repeat(32),
  });
  for (const bad of ["", "p", "P", "p" + "x".repeat(33), "x", "M1", "b1:a", "h{}", " m", "\0"]) {
    assert.equal(decodeClientFrame(bad).kind, "invalid", JSON.stringify(bad));
  }
  const invalid = decodeClientFrame("zzz");
  assert.ok(invalid.kind === "invalid" && invalid.reason.length > 0 && invalid.reason.length < 123);
});

Deno.test("decodeClientFrame: binary frames need the m byte; a p byte is data, never a ping", () => {
  const frame = decodeClientFrame(new Uint8Array([BINARY_TAG, 0x70, 0x31]));
  assert.equal(frame.kind, "message");
  assert.deepEqual((frame as { data: Uint8Array }).data, new Uint8Array([0x70, 0x31]));
  // ArrayBuffer input, as the socket delivers it.
  const fromBuffer = decodeClientFrame(new Uint8Array([BINARY_TAG, 9]).buffer);
  assert.deepEqual((fromBuffer as { data: Uint8Array }).data, new Uint8Array([9]));
  // A view with an offset is read from its own start.
  const backing = new Uint8Array([0x70, 0x70, BINARY_TAG, 7, 8]);
  const view = decodeClientFrame(backing.subarray(2));
  assert.deepEqual((view as { data: Uint8Array }).data, new Uint8Array([7, 8]));
  assert.deepEqual(decodeClientFrame(new Uint8Array([BINARY_TAG])), {
    kind: "message",
    data: new Uint8Array(0),
  });
  for (const bad of [[], [0x70, 0x31], [0x50, 0x31], [0x00], [0x4d]]) {
    assert.equal(decodeClientFrame(new Uint8Array(bad)).kind, "invalid", String(bad));
  }
});

Deno.test("a user payload, text or binary, always decodes as a message, whatever it contains", () => {
  const { seed, next } = random(20260101);
  for (let i = 0; i < 2000; i++) {
    const text = i < 4 ? ["p1", "P1", "", "h{}"][i] : randomString(next, 40);
    const framed = new Payload(text).framed as string;
    assert.deepEqual(decodeClientFrame(framed), { kind: "message", data: text }, `seed ${seed}`);
    const bytes = randomBytes(next, 40);
    const tagged = new Payload(bytes).framed as Uint8Array;
    const decoded = decodeClientFrame(tagged);
    assert.equal(decoded.kind, "message", `seed ${seed}`);
    assert.deepEqual((decoded as { data: Uint8Array }).data, bytes, `seed ${seed}`);
  }
});

Deno.test("decodeClientFrame fuzz: random strings and bytes never throw and decode consistently", () => {
  const { seed, next } = random(424242);
  const kinds = new Map<string, number>();
  const check = (input: string | Uint8Array | ArrayBuffer, frame: ClientFrame) => {
    kinds.set(frame.kind, (kinds.get(frame.kind) ?? 0) + 1);
    const text = typeof input === "string";
    const first = text
      ? input.charCodeAt(0)
      : (input instanceof Uint8Array ? input : new Uint8Array(input))[0];
    const length = text ? input.length : (input as Uint8Array | ArrayBuffer).byteLength;
    switch (frame.kind) {
      case "message":
        assert.equal(first, 0x6d);
        assert.equal(
          typeof frame.data === "string" ? frame.data.length : frame.data.byteLength,
          length - 1,
        );
        break;
      case "ping":
      case "pong":
        assert.ok(text, "only text frames carry pings and pongs");
        assert.equal(first, frame.kind === "ping" ? 0x70 : 0x50);
        assert.ok(frame.token.length >= 1 && frame.token.length <= 32);
        assert.equal(frame.token, (input as string).slice(1));
        break;
      case "invalid":
        assert.equal(typeof frame.reason, "string");
        assert.ok(encoder.encode(frame.reason).length <= 123, "the reason fits a close frame");
        break;
      default:
        assert.fail(`unknown kind ${(frame as { kind: string }).kind}`);
    }
  };
  let throws = 0;
  for (let i = 0; i < 20_000; i++) {
    const input: string | Uint8Array | ArrayBuffer = i % 3 === 0
      ? randomString(next, i % 7 === 0 ? 40 : 3)
      : i % 3 === 1
      ? randomBytes(next, i % 5 === 0 ? 40 : 3)
      : randomBytes(next, 6).buffer as ArrayBuffer;
    let frame: ClientFrame;
    try {
      frame = decodeClientFrame(input);
    } catch (error) {
      throws++;
      console.error(`seed ${seed}: decodeClientFrame threw on`, input, error);
      continue;
    }
    check(input, frame);
  }
  assert.equal(throws, 0, `seed ${seed}`);
  // The fuzz reached every kind (otherwise it would not test much).
  for (const kind of ["message", "ping", "pong", "invalid"]) {
    assert.ok((kinds.get(kind) ?? 0) > 0, `fuzz never produced a ${kind} (seed ${seed})`);
  }
});

Deno.test("utf8Length matches TextEncoder, surrogates included", () => {
  const edges = [
    "",
    "a",
    "\x7f",
    "\x80",
    "\u07ff",
    "\u0800",
    "\uffff",
    "é",
    "😀",
    "\ud800",
    "\udc00",
    "\ud800\udc00",
    "\udc00\ud800",
    "a\ud800",
    "\ud800a",
    "\ud83d\ud83d\ude00",
    "x".repeat(1000),
    // Past 31 characters a regular expression finds the first non-ASCII one.
    "x".repeat(40) + "\x80",
    "x".repeat(40) + "\uffff",
    "x".repeat(40) + "\ud800",
    "x".repeat(40) + "😀" + "x".repeat(40),
  ];
  for (const text of edges) {
    assert.equal(utf8Length(text), encoder.encode(text).length, JSON.stringify(text));
  }
  const { seed, next } = random(777);
  for (let i = 0; i < 5000; i++) {
    const text = randomString(next, 64);
    assert.equal(utf8Length(text), encoder.encode(text).length, `seed ${seed}: ${text}`);
  }
});

Deno.test("encodePayload: strings and bytes as they are, other values as JSON, once", () => {
  const text = encodePayload("héllo");
  assert.equal(text.plain, "héllo");
  assert.equal(text.bytes, 6);
  assert.equal(text.text, true);
  assert.equal(text.framed, "mhéllo");
  assert.equal(text.framed, text.framed, "the framed form is built once");

  const bytes = new Uint8Array([1, 2, 3]);
  const binary = encodePayload(bytes);
  assert.equal(binary.plain, bytes);
  assert.equal(binary.bytes, 3);
  assert.equal(binary.text, false);
  assert.deepEqual(binary.framed, new Uint8Array([BINARY_TAG, 1, 2, 3]));

  const buffer = encodePayload(new Uint8Array([4, 5]).buffer);
  assert.deepEqual(buffer.plain, new Uint8Array([4, 5]));

  assert.equal(encodePayload({ a: [1, "é"] }).plain, '{"a":[1,"é"]}');
  assert.equal(encodePayload(null).plain, "null");
  assert.equal(encodePayload(7).plain, "7");
  assert.throws(() => encodePayload(undefined), TypeError);
  assert.throws(() => encodePayload(() => 1), TypeError);
  assert.throws(() => encodePayload(10n), TypeError);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => encodePayload(cyclic), /JSON\.stringify failed/);
});

Deno.test("a payload's sizes are its forms' UTF-8 sizes: plain, tagged v1 and v2, room copies", () => {
  const size = (data: string | Uint8Array) =>
    typeof data === "string" ? encoder.encode(data).length : data.byteLength;
  const { seed, next } = random(7);
  const values: unknown[] = ["", "hello", "héllo", "é😀", "\ud800 lone", { a: ["é", 1] }, 42];
  for (let i = 0; i < 200; i++) values.push(randomString(next, 30));
  values.push(new Uint8Array([1, 2, 3]), new Uint8Array(0));
  for (const value of values) {
    const message = encodePayload(value);
    const payloads = [
      message,
      roomPayload("chat:general", message),
      roomPayload("r1", message, "17"),
      framedOnly('J{"room":"é"}'),
    ];
    for (const payload of payloads) {
      const what = `${JSON.stringify(String(value))} (seed ${seed})`;
      assert.equal(payload.bytes, size(payload.plain), `bytes of ${what}`);
      assert.equal(payload.framedBytes, size(payload.framed), `framedBytes of ${what}`);
      assert.equal(payload.framed2Bytes, size(payload.framed2), `framed2Bytes of ${what}`);
    }
  }
});

Deno.test("encodeBatch: a b frame that unpacks to the same messages, with its exact UTF-8 size", () => {
  const fixed = ["hello", "hi", "", "1:2", "b3:abc", "é😀", "::", "10:"];
  const payloads = fixed.map((text) => new Payload(text));
  const whole = encodeBatch(payloads, 0, payloads.length);
  assert.ok(whole.frame.startsWith("b"));
  assert.deepEqual(unbatch(whole.frame), fixed);
  assert.equal(whole.bytes, encoder.encode(whole.frame).length);
  assert.equal(encodeBatch([new Payload("hello"), new Payload("hi")], 0, 2).frame, "b5:hello2:hi");
  // A slice of the queue only.
  assert.deepEqual(unbatch(encodeBatch(payloads, 2, 5).frame), fixed.slice(2, 5));

  const { seed, next } = random(99);
  for (let i = 0; i < 500; i++) {
    const texts = Array.from({ length: 1 + Math.floor(next() * 8) }, () => randomString(next, 20));
    const batch = encodeBatch(texts.map((text) => new Payload(text)), 0, texts.length);
    assert.deepEqual(unbatch(batch.frame), texts, `seed ${seed}`);
    assert.equal(batch.bytes, encoder.encode(batch.frame).length, `seed ${seed}`);
  }
});

Deno.test("encodeHello: an h frame with the documented fields", () => {
  const hello = encodeHello({
    v: 1,
    id: "abc",
    user: null,
    pingInterval: 25000,
    pongTimeout: 10000,
  });
  assert.equal(hello[0], "h");
  assert.deepEqual(JSON.parse(hello.slice(1)), {
    v: 1,
    id: "abc",
    user: null,
    pingInterval: 25000,
    pongTimeout: 10000,
  });
  // A hello is never mistaken for a message by a decoder that follows the same rules.
  assert.equal(decodeClientFrame(hello).kind, "invalid");
});

Deno.test("the hello's batch: encoded when given, parsed only as a positive integer", () => {
  const base = { v: 2, id: "abc", user: "ann", pingInterval: 25000, pongTimeout: 10000 };
  const hello = encodeHello({ ...base, batch: 1048577 });
  assert.deepEqual(parseHello(hello.slice(1)), { ...base, batch: 1048577 });
  for (const batch of [0, -1, 1.5, "9", null, Infinity]) {
    const parsed = parseHello(JSON.stringify({ ...base, batch }));
    assert.deepEqual(parsed, base, `batch ${String(batch)} is ignored: no B frames`);
  }
});

Deno.test("joinFrames: a B frame that splitBatch opens into the same frames; a B inside a B is invalid", () => {
  const frames = ["mhello", 'j{"id":1,"room":"x"}', "m😀:1:", "q1:ask", "m", "pt"];
  const frame = joinFrames(frames);
  assert.equal(frame[0], "B");
  assert.equal(joinFrames(["m1", "m22"]), "B2:m13:m22");
  assert.deepEqual(splitBatch(frame.slice(1)), frames);
  assert.deepEqual(decodeClientFrame(frame), {
    kind: "invalid",
    reason: "a B frame inside a B frame",
  });
});

Deno.test("parseJsonObject: an object, or what is wrong with the body", () => {
  assert.deepEqual(parseJsonObject('{"a":1}', "x"), { a: 1 });
  assert.equal(parseJsonObject("{", "hello frame"), "hello frame is not JSON");
  for (const body of ["[]", "null", "3", '"s"']) {
    assert.equal(parseJsonObject(body, "close notice"), "close notice is not a JSON object", body);
  }
});
