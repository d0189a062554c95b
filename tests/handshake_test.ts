// The opening handshake over real sockets (issue #9): subprotocol lists in
// every spacing RFC 7230 allows, credentials never echoed, lists that cannot
// be negotiated refused with a 400 that says why, and versions other than 13
// refused with 426. Each accepted connection is then used, so a handshake
// that answers 101 but never connects the socket cannot pass.

import assert from "node:assert/strict";
import { protocolToken } from "../mod.ts";
import { RawPeer, serveHub, until, within } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Reads the next data frame as text. */
async function nextText(peer: RawPeer): Promise<string> {
  const frame = await within(peer.next(), 3000, "a frame from the hub");
  assert.ok(frame !== null, "the hub closed the connection");
  assert.equal(frame.opcode, 1, "a text frame");
  return decoder.decode(frame.payload);
}

Deno.test("lists joined with ',' and any spacing negotiate wshub.v1; the socket really opens", async () => {
  const received: string[] = [];
  const tokens: (string | undefined)[] = [];
  const served = serveHub<string>({
    identify(req) {
      tokens.push(protocolToken(req));
      return undefined;
    },
    onMessage(message) {
      received.push(message as string);
    },
  });
  const lists: [string, string | undefined][] = [
    ["foo,wshub.v1", undefined], // Node's ws
    ["foo ,wshub.v1", undefined],
    ["foo,  wshub.v1", undefined],
    ["foo,\twshub.v1", undefined],
    ["wshub.v1,wshub.token.s3cr3t", "s3cr3t"], // the token pattern, as ws sends it
    ["wshub.token.s3cr3t , wshub.v1", "s3cr3t"],
  ];
  for (const [list, token] of lists) {
    const peer = await RawPeer.connect(served.port, {
      headers: { "Sec-WebSocket-Protocol": list },
    });
    try {
      assert.equal(peer.status, 101, list);
      assert.equal(peer.header("sec-websocket-protocol"), "wshub.v1", list);
      assert.ok(!peer.headers.includes("s3cr3t"), `the token is never echoed: ${peer.headers}`);
      const reader = peer;
      assert.match(await nextText(reader), /^h\{"v":1,/, `the hello arrives for ${list}`);
      await peer.sendFrame(1, encoder.encode("m" + list));
      await until(() => received.includes(list), 3000, `the hub to receive over ${list}`);
      assert.equal(tokens.at(-1), token, `protocolToken for ${list}`);
      const [client] = served.hub.clients();
      assert.equal(client.framed, true, list);
      assert.equal(client.protocol, "wshub.v1", list);
    } finally {
      peer.close();
    }
    await until(() => served.hub.size === 0, 3000, "unregistration");
  }
  await served.close();
});

Deno.test("a plain list joined with ',' echoes its first offer (or the preferred one), never a token", async () => {
  const served = serveHub<string | Uint8Array, string | Uint8Array>({
    onMessage(message, client) {
      client.send(message);
    },
  });
  const lists: [string, string][] = [
    ["chat,superchat", "chat"],
    ["wshub.token.s3cr3t,chat", "chat"],
    ["  chat  ,  superchat  ", "chat"],
  ];
  for (const [list, echoed] of lists) {
    const peer = await RawPeer.connect(served.port, {
      headers: { "Sec-WebSocket-Protocol": list },
    });
    try {
      assert.equal(peer.status, 101, list);
      assert.equal(peer.header("sec-websocket-protocol"), echoed, list);
      assert.ok(!peer.headers.includes("s3cr3t"), peer.headers);
      await peer.sendFrame(1, encoder.encode("p1 exactly"));
      assert.equal(await nextText(peer), "p1 exactly", "plain: no tag");
    } finally {
      peer.close();
    }
    await until(() => served.hub.size === 0, 3000, "unregistration");
  }
  await served.close();

  // UpgradeOptions.protocol picks among the offers; a credential is never picked.
  const picky = serveHub<string>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      picky.hub.upgrade(req, {
        protocol: new URL(req.url).searchParams.get("pick") ?? undefined,
      }),
  );
  for (const [pick, echoed] of [["superchat", "superchat"], ["wshub.token.s3cr3t", "chat"]]) {
    const peer = await within(
      RawPeer.connect(server.addr.port, {
        path: `/ws?pick=${pick}`,
        headers: { "Sec-WebSocket-Protocol": "wshub.token.s3cr3t,chat,superchat" },
      }),
      3000,
      "the response head",
    );
    peer.close();
    assert.equal(peer.status, 101);
    assert.equal(peer.header("sec-websocket-protocol"), echoed, `pick ${pick}`);
  }
  await until(() => picky.hub.size === 0, 3000, "unregistration");
  await picky.close();
  await server.shutdown();
});

Deno.test("lists that cannot be negotiated get a 400 that says why, before identify runs", async () => {
  let identified = 0;
  const served = serveHub({
    identify() {
      identified++;
      return undefined;
    },
  });
  const cases: [string, RegExp][] = [
    ["wshub.token.s3cr3t", /only a credential .*offer wshub\.v1/],
    ["wshub.token.a,wshub.token.b", /only a credential/],
    ["wshub.v1, not a token", /"not a token", which is not a subprotocol name/],
  ];
  for (const [list, why] of cases) {
    const peer = await RawPeer.connect(served.port, {
      headers: { "Sec-WebSocket-Protocol": list },
    });
    try {
      assert.equal(peer.status, 400, list);
      assert.equal(peer.header("sec-websocket-protocol"), undefined);
      const length = Number(peer.header("content-length"));
      const body = new Uint8Array(length);
      let read = 0;
      while (read < length) {
        const n = await within(peer.readBytes(body.subarray(read)), 3000, "the body");
        if (n === null) break;
        read += n;
      }
      assert.match(decoder.decode(body), why, list);
    } finally {
      peer.close();
    }
  }
  assert.equal(identified, 0);
  assert.equal(served.hub.size, 0);
  await served.close();
});

Deno.test("Sec-WebSocket-Version other than 13, or none, gets 426 with Sec-WebSocket-Version: 13", async () => {
  const served = serveHub();
  for (const version of ["8", "12", "", undefined]) {
    const headers: Record<string, string> = {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    };
    if (version !== undefined) headers["sec-websocket-version"] = version;
    const response = await fetch(`http://127.0.0.1:${served.port}/ws`, { headers });
    assert.equal(response.status, 426, `version ${JSON.stringify(version)}`);
    assert.equal(response.headers.get("sec-websocket-version"), "13");
    assert.match(await response.text(), /send Sec-WebSocket-Version: 13/);
  }
  assert.equal(served.hub.size, 0);
  assert.equal(served.hub.stats().connected, 0);
  await served.close();
});
