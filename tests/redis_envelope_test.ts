// The envelopes carried on Redis channels between hub processes
// (src/redis/envelope.ts): every kind round-trips, bytes stay bytes, a room
// publication's position is read from the header the append script
// completes, a `ref` is kept only by its own process, anything malformed
// decodes to undefined, and a header of another version is not decoded.

import assert from "node:assert/strict";
import {
  decodeEnvelope,
  encodeAppendHeader,
  encodeMessage,
  encodePresenceEnvelope,
} from "../src/redis/envelope.ts";

const encoder = new TextEncoder();

Deno.test("envelopes: broadcast, user and room messages, text and bytes, round-trip", () => {
  const bytes = new Uint8Array([0, 10, 255]);
  for (
    const message of [
      { kind: "broadcast" as const, data: "hello\nworld" },
      { kind: "user" as const, user: "alice", data: bytes },
      { kind: "room" as const, room: "chat:1", data: "é" },
    ]
  ) {
    assert.deepEqual(decodeEnvelope(encodeMessage("node-1", message), "node-2"), {
      origin: "node-1",
      message,
    });
  }
  const presence = { room: "doc", user: "bob", event: "join" as const };
  assert.deepEqual(decodeEnvelope(encodePresenceEnvelope("n", presence), "n"), {
    origin: "n",
    presence,
  });
});

Deno.test("envelopes: the append script's header gives the position; ref only to its origin", () => {
  // What HISTORY_APPEND publishes: the header without its brace, then the position, then the payload.
  const completed = (origin: string, data: string | Uint8Array) => {
    const head = encoder.encode(
      `${encodeAppendHeader(origin, "news", data, 7)},"x":12,"e":"ab12"}\n`,
    );
    const body = typeof data === "string" ? encoder.encode(data) : data;
    const out = new Uint8Array(head.length + body.length);
    out.set(head);
    out.set(body, head.length);
    return out;
  };
  const position = { offset: 12, epoch: "ab12" };
  assert.deepEqual(decodeEnvelope(completed("me", "hi"), "me"), {
    origin: "me",
    message: { kind: "room", room: "news", data: "hi", position, ref: 7 },
  });
  assert.deepEqual(decodeEnvelope(completed("other", new Uint8Array([1, 2])), "me"), {
    origin: "other",
    message: { kind: "room", room: "news", data: new Uint8Array([1, 2]), position },
  }, "another process's ref means nothing here");
});

Deno.test("envelopes: malformed ones decode to undefined", () => {
  for (
    const text of [
      "no newline",
      "not json\nbody",
      '{"k":"b"}\nno origin',
      '{"o":"n","k":"u"}\nno user',
      '{"o":"n","k":"z","n":"x"}\nunknown kind',
      '{"o":"n","k":"p"}\nnot json',
      '{"o":"n","k":"p"}\n{"room":"r","user":"u","event":"wave"}',
      '{"o":"n","k":"p"}\n{"room":"r","event":"join"}',
      '{"o":"n","k":"d","n":"u"}\n{"code":"4003","reason":"r"}',
      "[1,2]\nan array",
      "null\nnull",
    ]
  ) {
    assert.equal(decodeEnvelope(encoder.encode(text), "n"), undefined, text);
  }
});

Deno.test("envelopes: version 1 is v absent or 1; any other v is reported, not decoded", () => {
  const one = { origin: "n", message: { kind: "broadcast", data: "hi" } };
  assert.deepEqual(decodeEnvelope(encoder.encode('{"o":"n","k":"b","t":1}\nhi'), "me"), one);
  assert.deepEqual(decodeEnvelope(encoder.encode('{"v":1,"o":"n","k":"b","t":1}\nhi'), "me"), one);
  for (const [header, version] of [["2", 2], ['"1"', "1"], ["1.5", 1.5], ["null", null]]) {
    assert.deepEqual(
      decodeEnvelope(encoder.encode(`{"v":${header},"o":"n","k":"b","t":1}\nhi`), "me"),
      { version, origin: "n" },
      `v ${header}`,
    );
  }
  // A future version may lay out its header differently: no origin needed to be reported.
  assert.deepEqual(decodeEnvelope(encoder.encode('{"v":3,"from":7}\n'), "me"), {
    version: 3,
    origin: undefined,
  });
  // What this release writes carries no v (version 1).
  const written = new TextDecoder().decode(encodeMessage("n", { kind: "broadcast", data: "x" }));
  assert.equal(written, '{"o":"n","k":"b","t":1}\nx');
  assert.ok(!encodeAppendHeader("n", "news", "x", undefined).includes('"v"'));
});
