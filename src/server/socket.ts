/**
 * What the hub does to a Deno `WebSocket` directly: close it with a code and
 * reason that are valid on the wire, detach its event handlers, and release
 * it by force when its peer never completes the close.
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

/** Deno's private `core.tryClose`, when this runtime has it. */
const tryClose = (() => {
  try {
    const key = (Deno as unknown as { internal?: symbol }).internal;
    if (typeof key !== "symbol") return undefined;
    const internal = (Deno as unknown as Record<symbol, unknown>)[key] as
      | { core?: { tryClose?: unknown } }
      | undefined;
    const candidate = internal?.core?.tryClose;
    return typeof candidate === "function" ? candidate as (rid: number) => void : undefined;
  } catch {
    return undefined;
  }
})();

/**
 * Releases a socket whose peer never completed the close handshake: Deno
 * offers no public way (no close timeout, no `terminate()`; see
 * `docs/deno-limits.md`), so this uses Deno's private `core.tryClose` on the
 * socket's resource id when both exist, and otherwise does nothing. What it
 * frees: the socket's resource and, when no write is stuck, its descriptor;
 * a peer that never reads keeps the descriptor until the kernel gives up.
 *
 * @returns Whether the runtime offered a way to release it.
 */
export function forceRelease(socket: WebSocket): boolean {
  if (tryClose === undefined) return false;
  const symbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === "[[rid]]");
  const rid = symbol === undefined
    ? undefined
    : (socket as unknown as Record<symbol, unknown>)[symbol];
  if (typeof rid !== "number") return false;
  try {
    tryClose(rid);
    return true;
  } catch {
    return false;
  }
}
