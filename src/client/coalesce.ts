/**
 * Coalescing what the client sends: the text frames written to a socket in
 * one turn of the event loop go out as one `B` frame, for a hub whose hello
 * announces `batch` (see `docs/protocol.md`, "Batches from a client").
 *
 * @module
 */

import { joinFrames } from "../protocol/mod.ts";

/**
 * Makes `ws.send` hold the text frames written in one turn and send them at
 * its end (a microtask) as one `B` frame of at most `max` UTF-8 bytes, or as
 * itself when there is one. A binary frame, a frame too large to share a
 * `B`, and `ws.close` send what is held first, so that frames leave in the
 * order written.
 */
export function coalesce(ws: WebSocket, max: number): void {
  const send = ws.send.bind(ws);
  const close = ws.close.bind(ws);
  let held: string[] = [];
  // The B frame's size bound so far: its tag, then each frame's at most 3 bytes a UTF-16 unit
  // and its length's digits and colon.
  let bytes = 1;
  const flush = () => {
    const frames = held;
    held = [];
    bytes = 1;
    if (frames.length > 0 && ws.readyState === 1) { // WebSocket.OPEN
      send(frames.length === 1 ? frames[0] : joinFrames(frames));
    }
  };
  ws.send = (data) => {
    const size = typeof data === "string" ? 3 * data.length + 17 : Infinity;
    if (bytes + size > max) {
      flush();
      if (1 + size > max) return send(data);
    }
    if (held.length === 0) queueMicrotask(flush);
    held.push(data as string);
    bytes += size;
  };
  ws.close = (code, reason) => {
    flush();
    close(code, reason);
  };
}
