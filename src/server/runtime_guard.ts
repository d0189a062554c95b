/**
 * The oversized-message guard: one narrow `unhandledrejection` listener for
 * the process, shared by every hub that asks for it.
 *
 * Deno assembles a fragmented message before JavaScript sees it, with no size
 * limit. A text message too large for a JavaScript string (over ~512 MiB)
 * then makes Deno's own WebSocket read loop reject, unhandled, with
 * `TypeError: failed to allocate string; buffer exceeds maximum length` —
 * which ends the process and drops every client. The guard prevents exactly
 * that rejection from ending the process (a `TypeError` with that message
 * whose stack names `ext:deno_websocket`) and tells the hubs; every other
 * unhandled rejection is left alone. The socket whose read loop died is not
 * named by the event: the hubs find it by its silence (heartbeat for framed
 * clients, Deno's idle timeout for plain ones). See `docs/deno-limits.md`.
 *
 * @module
 */

/** Whether `reason` is the rejection the guard exists for. */
export function isOversizedMessageRejection(reason: unknown): boolean {
  return reason instanceof TypeError &&
    reason.message.includes("failed to allocate string") &&
    String(reason.stack ?? "").includes("ext:deno_websocket");
}

const watchers = new Set<() => void>();

function onUnhandledRejection(event: PromiseRejectionEvent): void {
  if (!isOversizedMessageRejection(event.reason)) return;
  event.preventDefault();
  for (const watcher of watchers) {
    try {
      watcher();
    } catch {
      // A watcher's failure must not turn this back into a crash.
    }
  }
}

/**
 * Registers `watcher` to be called when the guard catches the rejection,
 * installing the listener if it is the first. Returns the function that
 * unregisters it (and removes the listener after the last one).
 */
export function watchOversizedMessages(watcher: () => void): () => void {
  if (watchers.size === 0) globalThis.addEventListener("unhandledrejection", onUnhandledRejection);
  watchers.add(watcher);
  return () => {
    if (!watchers.delete(watcher)) return;
    if (watchers.size === 0) {
      globalThis.removeEventListener("unhandledrejection", onUnhandledRejection);
    }
  };
}
