// The one parser of the offered subprotocol list (src/protocol/subprotocols.ts),
// used by negotiation and by protocolToken alike.

import assert from "node:assert/strict";
import { protocolToken } from "../mod.ts";
import { parseSubprotocols } from "../src/protocol/mod.ts";
import { chooseSubprotocol } from "../src/protocol/subprotocols.ts";

function offering(list: string): Request {
  return new Request("http://127.0.0.1/ws", { headers: { "sec-websocket-protocol": list } });
}

Deno.test("parseSubprotocols: commas with any optional whitespace, empty elements ignored", () => {
  const same = [
    "foo, wshub.v1",
    "foo,wshub.v1",
    "foo ,wshub.v1",
    "foo,  wshub.v1",
    "foo\t,\twshub.v1",
    ",foo,,wshub.v1,",
    " , foo , , wshub.v1 , ",
  ];
  for (const header of same) {
    assert.deepEqual(parseSubprotocols(header), ["foo", "wshub.v1"], JSON.stringify(header));
  }
  assert.deepEqual(parseSubprotocols(null), []);
  assert.deepEqual(parseSubprotocols(""), []);
  assert.deepEqual(parseSubprotocols(" ,\t, "), []);
  assert.deepEqual(parseSubprotocols("a,a"), ["a", "a"], "duplicates are kept, in order");
  assert.deepEqual(parseSubprotocols("!#$%&'*+-.^_`|~09AZaz"), ["!#$%&'*+-.^_`|~09AZaz"]);
});

Deno.test("parseSubprotocols: an element that is not a token makes the header malformed", () => {
  for (
    const header of [
      "a b",
      "a;b",
      '"a"',
      "a/b",
      "a=b",
      "a:b",
      "(a)",
      "a\u00e9",
      "a\u0001",
      "wshub.v1, a b",
    ]
  ) {
    assert.throws(
      () => parseSubprotocols(header),
      (error: unknown) =>
        error instanceof SyntaxError && /is not a subprotocol name: offer/.test(error.message),
      JSON.stringify(header),
    );
  }
});

Deno.test("protocolToken reads the credential with the same parser, whatever the spacing", () => {
  for (
    const header of [
      "wshub.v1, wshub.token.s3cr3t",
      "wshub.v1,wshub.token.s3cr3t",
      "wshub.v1 ,\twshub.token.s3cr3t",
      "wshub.token.s3cr3t",
      "wshub.token.s3cr3t,wshub.token.other",
      "chat,wshub.token.,wshub.token.s3cr3t", // an empty token is skipped
    ]
  ) {
    assert.equal(protocolToken(offering(header)), "s3cr3t", JSON.stringify(header));
  }
  assert.equal(protocolToken(new Request("http://127.0.0.1/ws")), undefined);
  assert.equal(protocolToken(offering("wshub.v1")), undefined);
  assert.equal(protocolToken(offering("wshub.token.")), undefined);
  assert.equal(protocolToken(offering("xwshub.token.a")), undefined);
  assert.equal(protocolToken(offering("wshub.v1, wshub.token.a b")), undefined, "malformed");
});

Deno.test("chooseSubprotocol never echoes a credential, and framed/protocolToken agree", () => {
  const headers = [
    "wshub.v1,wshub.token.s3cr3t",
    "wshub.v1, wshub.token.s3cr3t",
    "wshub.token.s3cr3t,wshub.v1",
    "foo,wshub.v1",
    "foo ,wshub.v1",
    "foo,  wshub.v1",
    "wshub.token.s3cr3t,foo",
    "wshub.token.s3cr3t",
  ];
  for (const header of headers) {
    const choice = chooseSubprotocol(header);
    const hasToken = protocolToken(offering(header)) !== undefined;
    if (!choice.ok) {
      assert.equal(header, "wshub.token.s3cr3t", "only a list of credentials is refused");
      continue;
    }
    assert.ok(choice.protocol !== undefined && !choice.protocol.includes("token"), header);
    assert.ok(!choice.protocol.includes(","), `one protocol is echoed, not a list: ${header}`);
    assert.equal(choice.framed, header.includes("wshub.v1"), header);
    assert.equal(hasToken, header.includes("s3cr3t"), header);
  }
});
