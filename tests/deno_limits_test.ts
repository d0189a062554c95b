// Records what Deno's own WebSocket server (`Deno.upgradeWebSocket` under
// `Deno.serve`, no hub involved) does today with frames that RFC 6455 forbids
// or restricts. These are not wishes: each expectation is the behaviour
// measured on Deno 2.9.6.
//
// A FAILURE HERE MEANS DENO CHANGED. Re-measure, then update
// docs/deno-limits.md (the table and the workarounds the hub relies on) before
// changing an expectation.
//
// Each case starts a fresh server on 127.0.0.1:0 and a raw TCP peer that does
// the handshake by hand; every wait is bounded (a case takes well under 2 s).

import assert from "node:assert/strict";
import { maskedFrame, RawPeer } from "./_helpers.ts";
import { closeInfo } from "./_wire.ts";
import { atMost } from "../testing/async.ts";

/** What one case observed: server frames on the wire, and the server's JS events. */
interface Observed {
  /** Server frames as the peer read them, then `EOF` if the server closed TCP. */
  wire: string[];
  /** `message`, `error` and `close` events of the server-side WebSocket, in order. */
  js: string[];
}

interface Case {
  /** Sends whatever the case is about, after the handshake. */
  act?: (peer: RawPeer) => Promise<void>;
  /** The server calls `socket.close(code, "r")` as soon as the socket opens. */
  serverClose?: number;
}

const QUIET_MS = 400;
const CASE_MS = 1500;

function describe(frame: { opcode: number; payload: Uint8Array }): string {
  if (frame.opcode === 8) {
    const { code } = closeInfo(frame.payload);
    return `close ${code} (${frame.payload.byteLength}-byte payload)`;
  }
  if (frame.opcode === 1) return `text ${JSON.stringify(new TextDecoder().decode(frame.payload))}`;
  return `opcode ${frame.opcode} (${frame.payload.byteLength}-byte payload)`;
}

/**
 * Runs one case. The peer reads server frames until the server closes TCP,
 * or until nothing arrives for a short while (the connection is then still
 * open: the peer ends it with a proper close handshake, recorded as well).
 * A close frame from the server is not answered: the peer closes TCP instead,
 * so that what the server's JS reports is what Deno decides on its own.
 */
async function observe(testCase: Case): Promise<Observed> {
  const js: string[] = [];
  const serverClosed = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
    socket.onopen = () => {
      if (testCase.serverClose !== undefined) socket.close(testCase.serverClose, "r");
    };
    socket.onmessage = (event) => {
      js.push(`message ${JSON.stringify(event.data)}`);
      socket.send(`echo ${event.data}`);
    };
    socket.onerror = (event) => js.push(`error ${JSON.stringify((event as ErrorEvent).message)}`);
    socket.onclose = (event) => {
      js.push(
        `close ${event.code} ${JSON.stringify(event.reason)} ${
          event.wasClean ? "clean" : "unclean"
        }`,
      );
      serverClosed.resolve();
    };
    return response;
  });
  const peer = await RawPeer.connect(server.addr.port);
  const wire: string[] = [];
  let pending: Promise<unknown> = Promise.resolve();
  try {
    assert.equal(peer.status, 101, "the handshake must succeed");
    await testCase.act?.(peer);
    const deadline = performance.now() + CASE_MS;
    while (performance.now() < deadline) {
      const next = peer.next();
      pending = next;
      const frame = await atMost(next, QUIET_MS, undefined);
      if (frame === undefined) {
        // Still open and quiet: end it properly and record the server's answer.
        wire.push("(still open)");
        await peer.sendFrame(8, new Uint8Array([0x03, 0xe8]));
        const answer = await atMost(next, QUIET_MS, undefined);
        if (answer) wire.push(describe(answer));
        break;
      }
      if (frame === null) {
        wire.push("EOF");
        break;
      }
      wire.push(describe(frame));
      if (frame.opcode === 8) {
        peer.close();
        break;
      }
    }
  } finally {
    peer.close();
    await pending; // the peer's last read resolves once its connection is closed
    await atMost(serverClosed.promise, CASE_MS, undefined);
    await server.shutdown();
  }
  return { wire, js };
}

function expectDeno(actual: Observed, expected: Observed, what: string): void {
  assert.deepEqual(
    actual,
    expected,
    `Deno ${Deno.version.deno} no longer behaves as recorded for ${what}: ` +
      "update docs/deno-limits.md, then this expectation",
  );
}

const text = (s: string) => new TextEncoder().encode(s);

/** A dropped connection: no close frame, TCP closed, an error then an unclean close with code 0. */
const dropped = (message: string): Observed => ({
  wire: ["EOF"],
  js: [`error ${JSON.stringify(message)}`, `close 0 "" unclean`],
});

Deno.test("control: a valid masked text frame is echoed and a normal close is clean", async () => {
  expectDeno(
    await observe({ act: (peer) => peer.sendFrame(1, text("hi")) }),
    {
      wire: ['text "echo hi"', "(still open)", "close 1000 (2-byte payload)"],
      js: ['message "hi"', 'close 1000 "" clean'],
    },
    "a valid text frame",
  );
});

Deno.test("invalid UTF-8 in a text frame: TCP dropped without a 1007 close frame", async () => {
  expectDeno(
    await observe({ act: (peer) => peer.sendFrame(1, new Uint8Array([0xc3, 0x28])) }),
    dropped("Invalid UTF-8"),
    "invalid UTF-8",
  );
});

Deno.test("invalid UTF-8 split across fragments: TCP dropped without a 1007 close frame", async () => {
  expectDeno(
    await observe({
      act: async (peer) => {
        await peer.sendFrame(1, new Uint8Array([0x61, 0xc3]), false);
        await peer.sendFrame(0, new Uint8Array([0x28]), true);
      },
    }),
    dropped("Invalid UTF-8"),
    "invalid UTF-8 across fragments",
  );
});

for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
  Deno.test(`reserved opcode 0x${opcode.toString(16)}: TCP dropped without a 1002 close frame`, async () => {
    expectDeno(
      await observe({ act: (peer) => peer.sendFrame(opcode, text("x")) }),
      dropped("Invalid value"),
      `reserved opcode ${opcode}`,
    );
  });
}

for (const [bit, name] of [[0x40, "RSV1"], [0x20, "RSV2"], [0x10, "RSV3"]] as const) {
  Deno.test(`${name} set without an extension: TCP dropped without a 1002 close frame`, async () => {
    const frame = maskedFrame(1, text("x"));
    frame[0] |= bit;
    expectDeno(
      await observe({ act: (peer) => peer.write(frame) }),
      dropped("Reserved bits are not zero"),
      name,
    );
  });
}

Deno.test("control: a ping with a 125-byte payload is answered with its pong", async () => {
  expectDeno(
    await observe({ act: (peer) => peer.sendFrame(9, new Uint8Array(125)) }),
    {
      wire: ["opcode 10 (125-byte payload)", "(still open)", "close 1000 (2-byte payload)"],
      js: ['close 1000 "" clean'],
    },
    "a 125-byte ping",
  );
});

Deno.test("a ping with a 126-byte payload: TCP dropped without a 1002 close frame", async () => {
  expectDeno(
    await observe({ act: (peer) => peer.sendFrame(9, new Uint8Array(126)) }),
    dropped("Ping frame too large"),
    "a 126-byte ping",
  );
});

Deno.test("a fragmented ping: TCP dropped without a 1002 close frame", async () => {
  expectDeno(
    await observe({
      act: async (peer) => {
        await peer.sendFrame(9, text("ab"), false);
        await peer.sendFrame(0, text("cd"), true);
      },
    }),
    dropped("Control frame must not be fragmented"),
    "a fragmented ping",
  );
});

Deno.test("a close frame with a 1-byte payload: TCP dropped without a 1002 close frame", async () => {
  expectDeno(
    await observe({ act: (peer) => peer.sendFrame(8, new Uint8Array([0x03])) }),
    dropped("Invalid close frame"),
    "a 1-byte close payload",
  );
});

Deno.test("unmasked client frames are accepted (RFC 6455 requires failing the connection)", async () => {
  expectDeno(
    await observe({
      act: (peer) => peer.write(new Uint8Array([0x81, 0x02, 0x68, 0x69])),
    }),
    {
      wire: ['text "echo hi"', "(still open)", "close 1000 (2-byte payload)"],
      js: ['message "hi"', 'close 1000 "" clean'],
    },
    "an unmasked text frame",
  );
});

Deno.test("a 200-byte close reason is echoed in a 202-byte control frame (limit: 125)", async () => {
  const reason = "a".repeat(200);
  expectDeno(
    await observe({
      act: (peer) => peer.sendFrame(8, new Uint8Array([0x03, 0xe8, ...text(reason)])),
    }),
    {
      wire: ["close 1000 (202-byte payload)"],
      js: [`close 1000 ${JSON.stringify(reason)} clean`],
    },
    "a 200-byte close reason",
  );
});

for (const code of [1005, 1006, 1015, 999, 5000]) {
  Deno.test(`a client close with code ${code} is answered 1002; JS sees an error and close code 0`, async () => {
    expectDeno(
      await observe({ act: (peer) => peer.sendFrame(8, new Uint8Array([code >> 8, code & 0xff])) }),
      {
        wire: ["close 1002 (2-byte payload)"],
        js: ['error "Invalid close code"', 'close 0 "" unclean'],
      },
      `a client close code ${code}`,
    );
  });

  Deno.test(`server close(${code}) is not validated: ${code} goes on the wire`, async () => {
    expectDeno(
      await observe({ serverClose: code }),
      {
        wire: [`close ${code} (3-byte payload)`],
        js: ['close 1005 "" clean'],
      },
      `server close(${code})`,
    );
  });
}
