/**
 * Child processes for tests, benchmarks and attack scripts: signalling one
 * that may already be gone, and stopping one politely, then surely. Not part
 * of the published package.
 *
 * @module
 */

import { atMost } from "./async.ts";

/** Sends `sig` to `child`; nothing happens when it has already exited. */
export function signal(child: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    child.kill(sig);
  } catch {
    // already exited
  }
}

/**
 * Sends SIGTERM to `child` and waits for it to exit, sending SIGKILL after
 * `graceMs`; resolves with its status.
 */
export async function terminate(
  child: Deno.ChildProcess,
  graceMs = 3000,
): Promise<Deno.CommandStatus> {
  signal(child, "SIGTERM");
  const status = await atMost(child.status, graceMs, undefined);
  if (status !== undefined) return status;
  signal(child, "SIGKILL");
  return await child.status;
}
