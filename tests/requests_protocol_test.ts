// The request and answer codec (q and a frames, issue #13), without sockets:
// what is valid, what is not, and that decoding never throws.

import assert from "node:assert/strict";
import {
  decodeClientFrame,
  decodeRequestFrame,
  decodeServerFrame,
  encodeAnswer,
  encodeFailure,
  encodePayload,
  encodeRequest,
  isRequestId,
  MAX_REQUEST_ID,
  parseAnswer,
  parseRequest,
  ReplyError,
  RequestErrorCode,
  Tag,
} from "../src/protocol/mod.ts";
import { resolveOptions as resolveHubOptions } from "../src/server/options.ts";
import { resolveRequestOptions as resolveClientOptions } from "../src/client/options.ts";
import { random, randomString } from "./_wire.ts";

Deno.test("requests codec: q and a frames round-trip, texts may hold anything", () => {
  for (const text of ["", "hello", '{"a":[1,2]}', "12:34!x", "a1:b!c", "😀é\u0000", "q1:x"]) {
    for (const id of [1, 9, 10, 12345, MAX_REQUEST_ID]) {
      assert.deepEqual(decodeClientFrame(encodeRequest(id, text)), {
        kind: "request",
        request: { id, text },
      });
      assert.deepEqual(decodeServerFrame(encodeRequest(id, text)), {
        kind: "request",
        request: { id, text },
      });
      assert.deepEqual(decodeClientFrame(encodeAnswer(id, text)), {
        kind: "answer",
        answer: { id, ok: true, text },
      });
      const failure = { error: "handler_error", message: text };
      assert.deepEqual(decodeServerFrame(encodeFailure(id, failure)), {
        kind: "answer",
        answer: { id, ok: false, failure },
      });
    }
  }
  assert.equal(encodeRequest(7, encodePayload({ a: 1 }).plain as string), 'q7:{"a":1}');
  assert.equal(encodeAnswer(7, "ok"), "a7:ok");
  assert.equal(
    encodeFailure(12, { error: "no_handler", message: "none" }),
    'a12!{"error":"no_handler","message":"none"}',
  );
  assert.equal(Tag.Request, "q");
  assert.equal(Tag.Answer, "a");
});

Deno.test("requests codec: malformed ids, separators and failures are invalid", () => {
  const bad = [
    "q",
    "q:",
    "q:x",
    "q0:x", // ids start at 1
    "q01:x", // no leading zero
    "q1000000000000000:x", // 16 digits
    "q12", // no separator
    "q1x",
    "q1!{}", // a request has no failure form
    "q-1:x",
    "q+1:x",
    "q 1:x",
    "q１:x", // a full-width digit
    "a",
    "a:x",
    "a0:x",
    "a1",
    "a1?x",
    "a1!",
    "a1!not json",
    "a1![]",
    "a1!null",
    'a1!"x"',
    'a1!{"error":"x"}',
    'a1!{"message":"x"}',
    'a1!{"error":"","message":"x"}',
    'a1!{"error":1,"message":"x"}',
    'a1!{"error":"x","message":null}',
  ];
  for (const frame of bad) {
    for (const decoded of [decodeClientFrame(frame), decodeServerFrame(frame)]) {
      assert.equal(decoded.kind, "invalid", `should reject ${JSON.stringify(frame)}`);
      if (decoded.kind === "invalid") assert.match(decoded.reason, /malformed (request|answer)/);
    }
  }
  // Unknown fields of a failure are ignored.
  assert.deepEqual(parseAnswer('5!{"error":"e","message":"m","extra":[1]}'), {
    id: 5,
    ok: false,
    failure: { error: "e", message: "m" },
  });
  assert.deepEqual(parseRequest("999999999999999:"), { id: MAX_REQUEST_ID, text: "" });
  assert.ok(isRequestId(1) && isRequestId(MAX_REQUEST_ID));
  assert.ok(!isRequestId(0) && !isRequestId(MAX_REQUEST_ID + 1) && !isRequestId(1.5));
});

Deno.test("requests codec: decoding random q and a frames never throws", () => {
  const { seed, next } = random(1313);
  const pieces = ["q", "a", "1", "0", "99", ":", "!", "{", '"error"', '"message"', "}", ","];
  for (let i = 0; i < 20_000; i++) {
    let frame = next() < 0.5 ? "q" : "a";
    const parts = Math.floor(next() * 8);
    for (let p = 0; p < parts; p++) {
      frame += next() < 0.7 ? pieces[Math.floor(next() * pieces.length)] : randomString(next, 6);
    }
    let decoded;
    try {
      decoded = decodeRequestFrame(frame);
    } catch (error) {
      assert.fail(`seed ${seed}: decoding ${JSON.stringify(frame)} threw ${error}`);
    }
    if (decoded.kind === "request") {
      assert.equal(encodeRequest(decoded.request.id, decoded.request.text), frame);
    } else if (decoded.kind === "answer" && decoded.answer.ok) {
      assert.equal(encodeAnswer(decoded.answer.id, decoded.answer.text), frame);
    }
  }
});

Deno.test("ReplyError: a message to expose and a code, checked", () => {
  const error = new ReplyError("not found");
  assert.equal(error.code, RequestErrorCode.HandlerError);
  assert.equal(error.message, "not found");
  assert.equal(new ReplyError("x", "not_found").code, "not_found");
  assert.throws(() => new ReplyError("x", ""), RangeError);
  assert.throws(() => new ReplyError("x", "has space"), RangeError);
  assert.throws(() => new ReplyError("x", "a".repeat(65)), RangeError);
});

Deno.test("request options: documented defaults, and out-of-range values refused by name", () => {
  const hub = resolveHubOptions({});
  assert.equal(hub.maxRequestsInFlight, 64);
  assert.equal(hub.requestTimeout, 10_000);
  assert.equal(hub.onRequest, undefined);
  assert.throws(() => resolveHubOptions({ maxRequestsInFlight: 0 }), /maxRequestsInFlight: 0/);
  assert.throws(() => resolveHubOptions({ requestTimeout: Number.NaN }), /requestTimeout: NaN/);
  const client = resolveClientOptions({});
  assert.equal(client.maxRequestsInFlight, 64);
  assert.equal(client.requestTimeout, 10_000);
  assert.throws(() => resolveClientOptions({ maxRequestsInFlight: 1.5 }), /maxRequestsInFlight/);
  assert.throws(() => resolveClientOptions({ requestTimeout: 0 }), /requestTimeout/);
});
