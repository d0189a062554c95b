/**
 * What the hub does to a Deno `WebSocket` directly: close it with a code and
 * reason that are valid on the wire, and detach its event handlers.
 *
 * @module
 */

import { CloseCode, isSendableCloseCode, truncateReason } from "../protocol/mod.ts";

/**
 * Closes a socket with a code and reason that are valid on the wire (Deno's
 * server-side `close()` checks neither), and never throws (the socket may
 * already be closing).
 */
export function closeSocket(socket: WebSocket, code: number, reason: string): void {
  const safeCode = isSendableCloseCode(code) ? code : CloseCode.InternalError;
  try {
    socket.close(safeCode, truncateReason(reason));
  } catch {
    // Already closing or closed: nothing to do.
  }
}

/** Stops the socket's events from reaching the hub (its record can then be freed). */
export function detach(socket: WebSocket): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onerror = null;
  socket.onclose = null;
}
