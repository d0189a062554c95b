// A WebSocket client built on Node's `ws` 8.x (pinned in package-lock.json,
// installed with `npm ci` here), driven by tests/interop_test.ts under Node.
//
// Usage: node ws_client.mjs MODE URL [PROTOCOLS]
//
// PROTOCOLS is a JSON array of subprotocols to offer (ws joins them with ","
// and no space). MODE is handshake, echo or drain, as for the Python and Go
// clients; output is one JSON object per line on stdout.

import { createRequire } from "node:module";
import process from "node:process";

// createRequire keeps `deno check tests/` from resolving npm packages Deno does not manage.
const WebSocket = createRequire(import.meta.url)("ws");

const [mode, url, protocolsJson] = process.argv.slice(2);
const protocols = protocolsJson === undefined ? [] : JSON.parse(protocolsJson);

function emit(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

const deadline = setTimeout(() => {
  emit({ event: "error", message: "gave up after 30 s" });
  process.exit(4);
}, 30_000);

const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
let header = null;
ws.on("upgrade", (response) => {
  header = response.headers["sec-websocket-protocol"] ?? null;
});
ws.on("open", () => {
  // The test checks this is Node itself: Deno runs "node" as itself when no Node is on PATH.
  const runtime = process.versions.deno
    ? `deno ${process.versions.deno}`
    : `node ${process.version}`;
  emit({ event: "open", protocol: ws.protocol, header, runtime });
  if (mode === "handshake") ws.close(1000);
});
ws.on("message", (data, isBinary) => {
  emit({
    event: "message",
    type: isBinary ? "binary" : "text",
    hex: data.toString("hex"),
  });
  if (mode !== "echo") return;
  if (!isBinary && data.toString("utf8") === "bye") ws.close(1000);
  else ws.send(data, { binary: isBinary });
});
ws.on("error", (error) => {
  emit({ event: "error", message: error.message });
  process.exitCode = 2;
});
ws.on("close", (code, reason) => {
  emit({ event: "close", code, reason: reason.toString("utf8") });
  clearTimeout(deadline);
  if (process.exitCode === undefined) {
    process.exitCode = mode === "drain" || code === 1000 ? 0 : 1;
  }
});
