// The opening handshake over real sockets (issue #9): versions other than 13
// are refused with 426.

import assert from "node:assert/strict";
import { serveHub } from "./_helpers.ts";

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
